"""Every runner fault shown two-sided: the bug is visible with the fault and absent without.

This is what lets a regression case prove it detects its bug (it must fail against a runner
with the fault) and passes on a fixed build (the clean runner).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import boxlite
import pytest

from tests.standin.runner_fixtures import (
    BUSYBOX_REF,
    RunnerProcess,
    drain,
    run,
    start_runner,
)

pytestmark = pytest.mark.timeout(180)

OS_RELEASE_LINES = 4  # lines of the stand-in image's /etc/os-release


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, busybox_rootfs, runner_token) -> Iterator[RunnerProcess]:
    """One runner with the three independent deterministic faults on."""
    proc = start_runner(
        tmp_path_factory.mktemp("faulty") / "state",
        token=runner_token,
        image_dirs={BUSYBOX_REF: busybox_rootfs},
        faults=["attach-no-replay", "exec-on-stopped-500", "spawn-failed-500"],
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def faulty_box(faulty):
    rt = faulty.sdk()
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF))
    try:
        yield box
    finally:
        await rt.remove(box.id, force=True)


# --------------------------------------------------------------------------- #563


async def test_exec_stdout_drop_loses_trailing_output(runner_factory):
    racy = runner_factory(faults=["exec-stdout-drop=1"])
    with racy.http() as http:
        [reported] = http.get("/v1/_standin/faults").json()["faults"]
    assert reported["name"] == "exec-stdout-drop" and reported["probability"] == 1.0
    assert reported["issue"] == "boxlite-ai/boxlite#563"
    rt = racy.sdk()
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF))
    try:
        # The whole output of a short command is the trailing chunk: it is lost every time,
        # while the exit code still arrives (what made #563 look like "empty stdout").
        for _ in range(5):
            result = await run(box, "cat", "/etc/os-release")
            assert (result.stdout, result.exit_code) == ("", 0)
        # Earlier output gets through; only the tail is overtaken by the exit frame.
        result = await run(box, "sh", "-c", "echo early; sleep 0.5; echo late")
        assert (result.stdout, result.exit_code) == ("early\n", 0)
    finally:
        await rt.remove(box.id, force=True)


async def test_without_the_fault_no_exec_loses_output_in_200_runs(box):
    lost = 0
    for _ in range(200):
        result = await run(box, "cat", "/etc/os-release")
        assert result.exit_code == 0
        lost += len(result.stdout.splitlines()) != OS_RELEASE_LINES
    assert lost == 0


# --------------------------------------------------------------------------- #1046


async def _reattach_output(box: boxlite.Box) -> tuple[str, int]:
    ex = await box.exec("sh", ["-c", "echo one; echo two"])
    first = await drain(ex)
    assert (first.stdout, first.exit_code) == ("one\ntwo\n", 0)  # the exec stream replays
    again = await drain(await box.attach(execution_id=ex.id()))
    return again.stdout, again.exit_code


async def test_attach_no_replay_loses_the_backlog_on_reattach(faulty_box, box):
    assert await _reattach_output(faulty_box) == ("", 0)
    assert await _reattach_output(box) == ("one\ntwo\n", 0)


# --------------------------------------------------------------------------- #678


async def test_exec_on_stopped_500_is_internal_error_where_clean_is_stopped_error(faulty_box, box):
    await asyncio.gather(faulty_box.stop(), box.stop())
    with pytest.raises(boxlite.InternalError):
        await faulty_box.exec("true", [])
    with pytest.raises(boxlite.StoppedError):
        await box.exec("true", [])


async def test_spawn_failed_500_is_internal_error_where_clean_is_execution_error(faulty_box, box):
    with pytest.raises(boxlite.InternalError) as caught:
        await faulty_box.exec("/nonexistent/binary", [])
    assert "spawn_failed" in str(caught.value)
    with pytest.raises(boxlite.ExecutionError):
        await box.exec("/nonexistent/binary", [])


async def test_faults_endpoint_reports_active_faults_only(faulty, runner):
    with faulty.http() as http:
        report = http.get("/v1/_standin/faults").json()
    assert report["component"] == "runner"
    assert sorted(f["name"] for f in report["faults"]) == [
        "attach-no-replay",
        "exec-on-stopped-500",
        "spawn-failed-500",
    ]
    assert all(f["issue"].startswith("boxlite-ai/boxlite#") for f in report["faults"])
    with runner.http() as http:
        assert http.get("/v1/_standin/faults").json() == {"component": "runner", "faults": []}


# --------------------------------------------------------------------------- issue 14: resume


BOOTS = "/root/boots"
MAIN = ["sh", "-c", f"echo boot >> {BOOTS}; exec sleep 600"]


async def _boots(box: boxlite.Box, want: int, within: float) -> int:
    """The box's boot count once it reaches `want`, else what it is after `within` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        got = len((await run(box, "sh", "-c", f"cat {BOOTS} 2>/dev/null")).stdout.splitlines())
        if got >= want or loop.time() >= deadline:
            return got
        await asyncio.sleep(0.1)


async def _resume_effects(proc: RunnerProcess, within: float) -> tuple[int, bool]:
    """(boot count after stop/start, whether a setsid'd exec outlived it)."""
    rt = proc.sdk()
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF, cmd=MAIN))
    try:
        assert await _boots(box, 1, 10.0) == 1
        started = await run(box, "sh", "-c", "setsid sleep 7777 </dev/null >/dev/null 2>&1 &")
        assert started.exit_code == 0
        await box.stop()
        await box.start()
        boots = await _boots(box, 2, within)
        ps = await run(box, "ps", "-o", "args")
        return boots, "sleep 7777" in ps.stdout
    finally:
        await rt.remove(box.id, force=True)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (None, (2, False)),  # a start reboots the box and replays its cmd
        ("service-killed-on-resume", (1, False)),  # rebooted, cmd not replayed
        ("stop-keeps-processes", (2, True)),  # cmd re-run, but the box never went down
    ],
)
async def test_resume_replays_the_main_command_and_ends_the_old_processes(
    runner_factory, fault, expected
):
    proc = runner_factory(faults=[fault] if fault else [])
    # The clean side replays within milliseconds; under service-killed-on-resume the count
    # is read after the same bounded wait, so 1 there means "not replayed in 3 s".
    assert await _resume_effects(proc, within=3.0) == expected
