"""Executions when their box stops: `wait()` resolves, and a new exec is a typed error.

Pins the stopped-box contract whose breakage PR #678's REST suite found in the Go runner
(boxlite-ai/boxlite#678): an exec on a stopped box answered a bare 500 instead of 409
`stopped`, so the SDK raised an untyped `InternalError` and callers could not tell "start
the box first" from "the server broke". The stand-in reproduces it with the fault
`exec-on-stopped-500`; the fix (the runner's stopped-exec classification, PR #810) is what
this case guards. Upstream's lifecycle case accepted "fails or does not run"; here the
exception must be `StoppedError` (or `InvalidStateError`, the other typed 409), never 5xx.

The first case ports upstream's "exec resolves after stop" from test_runner_concurrency:
a running exec's `wait()` must resolve within a bound once the box stops, with a non-zero
exit (killed), instead of hanging on a WebSocket nobody will ever close.
"""

from __future__ import annotations

import asyncio

import boxlite
import pytest

from lib.harness.case_helpers import DRAIN_TIMEOUT_S, assert_typed, drain, sh

STOPPED_ERRORS = (boxlite.StoppedError, boxlite.InvalidStateError)


async def test_wait_resolves_after_stop(box):
    running = await box.exec("sh", ["-c", "echo started; sleep 300"])
    stdout = running.stdout()
    # Stop only once the command provably runs (its first line arrived), not after a sleep.
    first = await asyncio.wait_for(anext(stdout), DRAIN_TIMEOUT_S)
    assert first == "started\n"
    await box.stop()

    async def rest() -> str:
        return "".join([chunk async for chunk in stdout])

    assert await asyncio.wait_for(rest(), DRAIN_TIMEOUT_S) == ""
    result = await asyncio.wait_for(running.wait(), DRAIN_TIMEOUT_S)
    assert result.exit_code != 0, "a command killed by stop reported success"


@pytest.mark.catches("exec-on-stopped-500")
async def test_exec_on_stopped_box_is_a_typed_error(box_factory):
    # auto_resume off: upstream's API defaults it on, and then the exec would start the box.
    box = await box_factory(auto_resume=False)
    await box.stop()
    with pytest.raises(boxlite.BoxliteError) as caught:
        await drain(await box.exec("echo", ["should-not-run"]))
    assert_typed(caught.value, *STOPPED_ERRORS)


@pytest.mark.catches("exec-on-stopped-500")
async def test_box_runs_again_after_a_refused_exec(box_factory):
    box = await box_factory(auto_resume=False)
    await box.stop()
    with pytest.raises(boxlite.BoxliteError) as caught:
        await box.exec("true", [])
    assert_typed(caught.value, *STOPPED_ERRORS)
    await box.start()
    out = await sh(box, "echo back")
    assert (out.exit_code, out.stdout) == (0, "back\n"), out
