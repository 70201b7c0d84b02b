"""Attach and re-attach through every SDK that can: `Box.attach(execution_id)`.

The contract of cases/test_exec_attach.py on the SDK axis. Pins boxlite-ai/boxlite#1046:
a re-attach to a finished execution must replay its output backlog, or what was printed
before the re-attach is silently lost; open upstream (strict known bug on the real stack),
stand-in fault `attach-no-replay`. (Not #627, the client never re-attaching after a cut:
the netfault cases pin that one.) Attaching to an id that never existed is a typed error
naming the id. An SDK whose binding has no `attach(execution_id)` (the Node SDK 0.10.0)
is not applicable here, with that reason, from the capabilities its driver reports.
"""

from __future__ import annotations

import secrets

import pytest

from lib.harness.sdk.base import ClientError, assert_kind

pytestmark = pytest.mark.sdk_needs("attach")


async def test_attach_to_a_bogus_execution_is_a_typed_error(sdk_box):
    bogus = "ex-e2e-" + secrets.token_hex(6)
    with pytest.raises(ClientError) as caught:
        await (await sdk_box.attach(bogus)).drain()
    assert_kind(caught.value, "session_reaped", "not_found")
    assert bogus in caught.value.message, caught.value


@pytest.mark.known_bug("boxlite-ai/boxlite#1046")
@pytest.mark.catches("attach-no-replay")
async def test_reattach_after_completion_replays_the_output(sdk_box):
    first = await sdk_box.exec("sh", ["-c", "echo one; echo two >&2; echo three; exit 5"])
    original = await first.drain()
    assert (original.stdout, original.stderr, original.exit_code) == ("one\nthree\n", "two\n", 5)
    again = await (await sdk_box.attach(first.id)).drain()
    assert (again.stdout, again.stderr, again.exit_code) == ("one\nthree\n", "two\n", 5), again
