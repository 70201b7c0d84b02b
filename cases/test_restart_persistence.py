"""A box's own disk survives its restart: what a box wrote is there after stop and start.

Port of upstream's scripts/test/e2e/cases/test_restart_persistence.py (durable filesystem:
files written to the rootfs must be there after the box is stopped and started again, the
guarantee an agent's on-box store relies on). Upstream's positive control is a new kernel
boot id; the control here works on every stack: a process started before the stop must be
gone after the start (a stop/start that silently did nothing would keep it, and the data
check would then prove nothing). Surviving a *runner* restart, where the runner process
itself goes down under running boxes, cannot be driven from inside a case without cutting
every other box in flight; the stand-in's self-tests cover it (the runner keeps its boxes
stopped with their files, the API loses no box; upstream's file, read at cd610e94, the one
era indexed, restarts only the box, never the runner). The stand-in's `rootfs-reset-on-start`
fault starts the box from a fresh copy of its image; `stop-keeps-processes` leaves the box
up under a stop, which the positive control must catch.
"""

from __future__ import annotations

import pytest

from lib.harness.case_helpers import run, sh

FILE = "/root/e2e-persist.txt"
SENTINEL = "persist-across-restart-a91f2c"


@pytest.mark.catches("rootfs-reset-on-start")
# The positive control's own fault: a stop that leaves the box up keeps the sleep alive.
@pytest.mark.catches("stop-keeps-processes")
async def test_files_survive_stop_and_start(box):
    wrote = await sh(
        box,
        f"printf {SENTINEL} > {FILE} && mkdir -p /root/e2e-dir/sub && "
        "echo nested > /root/e2e-dir/sub/n.txt && sync",
    )
    assert wrote.exit_code == 0, wrote
    marker = await sh(box, "setsid sleep 7777 >/dev/null 2>&1 < /dev/null & echo started")
    assert marker.stdout == "started\n", marker
    await box.stop()
    await box.start()
    # Positive control: the box really went down (its processes did not survive).
    ps = await sh(box, "ps -o args 2>/dev/null || ps")
    assert ps.exit_code == 0 and "sleep 7777" not in ps.stdout, (
        f"a process from before the stop is still running, so the box never restarted: {ps}"
    )
    read = await run(box, "cat", FILE)
    assert (read.exit_code, read.stdout) == (0, SENTINEL), f"the file did not survive: {read}"
    nested = await run(box, "cat", "/root/e2e-dir/sub/n.txt")
    assert nested.stdout == "nested\n", nested


@pytest.mark.catches("rootfs-reset-on-start")
async def test_a_removed_file_stays_removed(box):
    made = await sh(box, "echo doomed > /root/e2e-doomed && rm /root/e2e-doomed")
    assert made.exit_code == 0, made
    image_file = await sh(box, "rm /etc/os-release && echo removed")
    assert image_file.stdout == "removed\n", image_file
    await box.stop()
    await box.start()
    back = await run(box, "cat", "/etc/os-release")
    assert back.exit_code != 0, f"an image file the box deleted came back after restart: {back}"
