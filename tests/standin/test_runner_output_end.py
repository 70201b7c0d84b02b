"""When an execution's output ends: at EOF on its pipes, not at its process's exit.

The exit frame is terminal for the SDK (it stops reading), so the runner may send it only
once nothing more can come. A deadline counted from the exit (the runner used to wait 2 s)
drops output on a clean run: a background child of the command still writing, or simply a
starved runner reading late. Contract (standin/runner/executions.py, ORPHAN_GRACE):
- the command's process group (its background children) is waited for, however long;
- a timeout or a kill takes that group, so neither is held up by it;
- only a holder outside the group (a daemon that left it with setsid) is cut off, after
  ORPHAN_GRACE seconds without output; what it wrote before is kept.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from standin.runner.executions import ORPHAN_GRACE
from tests.standin.runner_fixtures import run

pytestmark = pytest.mark.timeout(120)


async def test_a_background_child_writing_late_is_waited_for(box):
    started = time.monotonic()
    result = await run(box, "sh", "-c", "(sleep 3; echo late; echo late-err >&2) & echo early")
    assert (result.stdout, result.stderr, result.exit_code) == ("early\nlate\n", "late-err\n", 0)
    assert time.monotonic() - started >= 3


async def test_a_daemon_outside_the_group_is_cut_off_after_the_grace(box):
    started = time.monotonic()
    result = await run(box, "sh", "-c", "setsid sh -c 'echo from-daemon; sleep 60' & echo main")
    elapsed = time.monotonic() - started
    assert (sorted(result.stdout.splitlines()), result.exit_code) == (["from-daemon", "main"], 0)
    assert ORPHAN_GRACE <= elapsed < ORPHAN_GRACE + 10, elapsed


async def test_a_timeout_takes_the_background_children_holding_the_output(box):
    started = time.monotonic()
    result = await run(box, "sh", "-c", "sleep 60 & echo hi", timeout_secs=1.0)
    assert (result.stdout, result.exit_code) == ("hi\n", 0)  # the command itself ended in time
    assert time.monotonic() - started < 10


async def test_kill_after_the_command_exited_takes_its_background_children(box):
    ex = await box.exec("sh", ["-c", "sleep 60 & echo hi"])
    stdout = ex.stdout()
    assert await asyncio.wait_for(stdout.__anext__(), 10) == "hi\n"
    await asyncio.sleep(0.3)  # the shell is gone; its sleep still holds stdout
    started = time.monotonic()
    await ex.kill()
    rest = await asyncio.wait_for(_collect(stdout), 10)
    result = await asyncio.wait_for(ex.wait(), 10)
    assert (rest, result.exit_code) == ("", 0)  # the command's own code: it ended by itself
    assert time.monotonic() - started < 5


async def _collect(stream) -> str:
    return "".join([chunk async for chunk in stream])
