"""Typed errors through every SDK on the axis: each failure is one the caller can act on.

The contract of cases/test_errors.py and cases/test_execution_shutdown.py, stated through
the neutral client (lib/harness/sdk): every SDK error becomes a `ClientError` whose `kind`
is the family of the error envelope's `code` (the SDKs dispatch on it, else on the HTTP
status), and "typed" means any kind but `internal` (what the client core makes of a 5xx)
or `unknown`. Pins, per SDK:

- missing binary: `execution` (or `not_found`); open upstream as boxlite-ai/boxlite#1472
  (the guest's spawn_failed answered 500), stand-in fault `spawn-failed-500`;
- exec on a stopped box: `stopped` (boxlite-ai/boxlite#678, fault `exec-on-stopped-500`),
  and the box runs again after a start;
- the stopped-box error names the box the way the client knows it (the API's id), not the
  runner's internal id: the Node SDK's first run against the stand-in showed `box rb... is
  stopped` (boxlite-e2e issue 15); fault `error-names-runner-id` restores that;
- unknown image: `image` (or `not_found`), naming the image;
- bad key: `auth`. The Node SDK 0.10.0 reports the API's 401 (a body without an error code)
  as `internal error: ...`; Python 0.10.8 falls back on the status and raises
  ConfigError("auth: ..."). A client-side bug, so `sdk_bug` for node;
- quota: a box over the org's per-box limit is `resource_exhausted` and never created
  (boxlite-ai/boxlite#662, fault `quota-clamp`); a zero `cpus` is `invalid_argument` and
  never created (faults `quota-clamp`, `validation-coerce`).
"""

from __future__ import annotations

import re
import secrets

import pytest
import pytest_asyncio

from lib.harness.sdk.base import Client, ClientError, assert_kind

RUNNER_ID = re.compile(r"\brb[0-9a-f]{6,}\b")  # the stand-in runner's internal box ids


@pytest.mark.known_bug("boxlite-ai/boxlite#1472")
@pytest.mark.catches("spawn-failed-500")
async def test_missing_binary_is_a_typed_error(sdk_box):
    with pytest.raises(ClientError) as caught:
        await sdk_box.run("/nonexistent/e2e-binary")
    assert_kind(caught.value, "execution", "not_found")
    out = await sdk_box.sh("echo still-usable")
    assert out.stdout == "still-usable\n", out


@pytest_asyncio.fixture(loop_scope="session")
async def no_resume_box(client: Client, image: str, e2e):
    """A box made with auto_resume off: upstream's API defaults it on, and then an exec on the
    stopped box would start it instead of answering `stopped`."""
    made = await client.create(image, auto_resume=False)
    e2e.ledger.claim(made.id)  # removed by the path check's teardown, not a leak
    return made


@pytest.mark.catches("exec-on-stopped-500")
@pytest.mark.sdk_needs("box_lifetimes")  # auto_resume=False, or the exec resumes it
async def test_exec_on_stopped_box_is_stopped(no_resume_box):
    box = no_resume_box
    await box.stop()
    with pytest.raises(ClientError) as caught:
        await box.run("true")
    assert_kind(caught.value, "stopped")
    await box.start()
    out = await box.sh("echo running-again")
    assert (out.exit_code, out.stdout) == (0, "running-again\n"), out


@pytest.mark.catches("error-names-runner-id")
@pytest.mark.sdk_needs("box_lifetimes")  # auto_resume=False, or the exec resumes it
async def test_stopped_box_error_names_the_box_as_the_client_knows_it(no_resume_box):
    box = no_resume_box
    await box.stop()
    with pytest.raises(ClientError) as caught:
        await box.run("true")
    message = caught.value.message
    assert box.id in message, f"the error does not name box {box.id}: {message!r}"
    leaked = RUNNER_ID.findall(message)
    assert not leaked, f"the error names the runner's internal id {leaked}: {message!r}"


async def test_unknown_image_is_a_typed_error(client):
    image = f"e2e/does-not-exist-{secrets.token_hex(4)}:never"
    with pytest.raises(ClientError) as caught:
        await client.create(image)
    assert_kind(caught.value, "image", "not_found")
    assert image in caught.value.message or "image" in caught.value.message.lower(), caught.value


@pytest.mark.sdk_bug(
    "node",
    "a 401 whose body has no error code (the API's NestJS body) is reported as "
    "`internal error: Invalid API key` instead of an auth error",
)
async def test_bad_key_is_an_auth_error(client):
    bad = await client.with_key("e2e-wrong-" + secrets.token_hex(8))
    try:
        with pytest.raises(ClientError) as caught:
            await bad.list_ids()
    finally:
        await bad.close()
    assert_kind(caught.value, "auth")


@pytest.mark.catches("quota-clamp")
async def test_over_quota_box_is_refused_and_not_created(client, image):
    try:
        made = await client.create(image, cpus=64)
    except ClientError as exc:
        assert_kind(exc, "resource_exhausted")
    else:
        await client.remove(made.id, force=True)
        raise AssertionError(f"a 64-cpu box was created ({made.id}); expected resource_exhausted")


@pytest.mark.catches("quota-clamp", "validation-coerce")
async def test_zero_cpus_is_invalid_argument_and_not_created(client, image):
    # A zero size is invalid, not "the default" (boxlite-ai/boxlite#662): each binding must
    # send the 0 it was given (a binding that drops a falsy option hides the bug).
    try:
        made = await client.create(image, cpus=0)
    except ClientError as exc:
        assert_kind(exc, "invalid_argument")
    else:
        await client.remove(made.id, force=True)
        raise AssertionError(f"a 0-cpu box was created ({made.id}); expected invalid_argument")
