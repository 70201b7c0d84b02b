"""The box's main command over REST: `cmd` and `entrypoint` replace the image's init.

Port of upstream's apps/e2e/cases/test_box_main_command.py (itself a port of
src/boxlite/tests/run_main_command.rs). Both fields cross the wire
(`CreateBoxRequest::from_options`) and reach the control plane, yet nothing had set either,
so a cloud box always booted the image's own init. The assertion goes through a side effect,
not an attach stream: the main command writes a marker that the next exec reads back (an
attach cannot see output produced before it connected). The stand-in's
`main-command-ignored` fault boots the image's init instead.
"""

from __future__ import annotations

import asyncio

import pytest

from lib.harness.case_helpers import run, sh

MARKER = "/tmp/main-command-ran"
LINGER = "sleep 600"
WAIT_S = 10.0


async def _marker(box) -> str:
    """The marker's content once the main command wrote it (bounded wait, then fail)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        out = await run(box, "cat", MARKER)
        if out.exit_code == 0 or loop.time() > deadline:
            return out.stdout.strip() if out.exit_code == 0 else f"<absent: {out}>"
        await asyncio.sleep(0.2)


@pytest.mark.catches("main-command-ignored")
async def test_cmd_replaces_the_image_default_init(box_factory):
    made = await box_factory(cmd=["sh", "-c", f"echo cmd-init > {MARKER}; {LINGER}"])
    assert await _marker(made) == "cmd-init", "the box booted something other than its cmd"


@pytest.mark.catches("main-command-ignored")
async def test_entrypoint_replaces_the_image_entrypoint(box_factory):
    made = await box_factory(
        entrypoint=["sh", "-c"], cmd=[f"echo entrypoint-init > {MARKER}; {LINGER}"]
    )
    assert await _marker(made) == "entrypoint-init", "the entrypoint never reached the init"


@pytest.mark.catches("main-command-ignored")
async def test_the_main_command_runs_once_and_keeps_running(box_factory):
    made = await box_factory(cmd=["sh", "-c", f"echo x >> {MARKER}; {LINGER}"])
    assert await _marker(made) == "x"
    ps = await sh(made, "ps -o args 2>/dev/null || ps")
    assert ps.exit_code == 0, ps
    assert "sleep 600" in ps.stdout, f"the main command is not running in the box: {ps}"
