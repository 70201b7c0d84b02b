"""Attaching to executions over REST: bogus ids are typed errors, re-attach replays output.

Ported from upstream's e2e case `test_exec_attach.py`, where the replay case was a
*non-strict* xfail that could never turn red. Pins boxlite-ai/boxlite#1046: a re-attach to an
execution (`box.attach(execution_id=...)`, the same WebSocket the SDK reconnects with,
`GET .../executions/{id}/attach`) must replay the output backlog, or everything printed
before the re-attach is silently lost. #1046 ("preserve output across reconnects", open)
asks for exactly that, and the guest's attach stayed single-consumer (PR #1022's review), so
it is a strict known bug on the real stack. The stand-in models it with the fault
`attach-no-replay` (a re-attach starts at the live end). This case was once attributed to
#627, which is a different bug: the client not re-attaching at all after a cut
(cases/test_net_cut_attach.py).

The other cases pin what must hold either way: attaching to an id that never existed is a
typed error naming the session (never a 500), and a second client on an attached execution
is refused (one client at a time: a 409 before the upgrade) without disturbing the first.
"""

from __future__ import annotations

import asyncio
import secrets

import boxlite
import pytest

from lib.harness.case_helpers import DRAIN_TIMEOUT_S, assert_typed, drain


async def test_attach_to_a_bogus_execution_is_a_typed_error(box):
    bogus = "ex-e2e-" + secrets.token_hex(6)
    with pytest.raises(boxlite.BoxliteError) as caught:
        await drain(await box.attach(execution_id=bogus))
    assert_typed(caught.value, boxlite.SessionReapedError, boxlite.NotFoundError)
    assert bogus in str(caught.value), caught.value


@pytest.mark.known_bug("boxlite-ai/boxlite#1046")
@pytest.mark.catches("attach-no-replay")
async def test_reattach_after_completion_replays_the_output(box):
    first = await box.exec("sh", ["-c", "echo one; echo two >&2; echo three; exit 5"])
    execution_id = first.id()
    original = await drain(first)
    assert (original.stdout, original.stderr, original.exit_code) == ("one\nthree\n", "two\n", 5)

    again = await drain(await box.attach(execution_id=execution_id))
    assert again.exit_code == 5, again
    assert (again.stdout, again.stderr) == ("one\nthree\n", "two\n"), again


async def test_second_attach_while_attached_is_refused(box):
    execution = await box.exec("sh", ["-c", "echo ready; read go; echo done"])
    stdout = execution.stdout()
    # The exec's own stream is attached once its first line arrives (it connects in the
    # background a few ms after `exec()` returns); only then is the slot taken.
    assert await asyncio.wait_for(anext(stdout), DRAIN_TIMEOUT_S) == "ready\n"
    with pytest.raises(boxlite.BoxliteError) as caught:
        # Short bound: if the attach wrongly succeeds, it would wait on `read` forever.
        await drain(await box.attach(execution_id=execution.id()), timeout=15)
    assert_typed(caught.value, boxlite.AlreadyExistsError, boxlite.InvalidStateError)
    await execution.stdin().send_input(b"go\n")

    async def rest() -> str:
        return "".join([chunk async for chunk in stdout])

    assert await asyncio.wait_for(rest(), DRAIN_TIMEOUT_S) == "done\n"
    result = await asyncio.wait_for(execution.wait(), DRAIN_TIMEOUT_S)
    assert result.exit_code == 0
