"""The harness end to end on the real stand-in stack (runner + API processes, real SDK).

Each test copies the real `cases/conftest.py` (and the meta-test) into a pytester dir and
runs pytest in a subprocess, configured only through the BOXLITE_E2E_* environment, the way
a user runs `make test:e2e`. The claims: the meta-test passes; pointed straight at the
runner it fails with "bypassed api"; with an unreadable runner log it fails with "cannot
verify", not "bypassed"; a leaked box is reported and removed; `-n 2` passes. The SDK
axis: a Node box gets the harness's name, is path-checked and removed; a driver killed in
the middle of a case fails that case with a message naming it, leaves no box on the stack,
and the failure folder holds the driver's own log; the next case gets a fresh driver; the
summary's per-SDK table reports `go` not applicable with its reason.
"""

from __future__ import annotations

import re
import secrets

import pytest

from lib.harness.sdk.availability import detect_node
from tests.harness_pytester import CASES, point_harness_at, summary, use_cases_conftest
from tests.standin.api_fixtures import api_process, fixture_setup, wait_ready
from tests.standin.runner_fixtures import BUSYBOX_REF, make_busybox_rootfs, runner_process

pytestmark = pytest.mark.stack  # a real stand-in API + runner
NODE = detect_node(None, None)
needs_node = pytest.mark.skipif(not NODE.available, reason=f"not applicable: {NODE.reason}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    rootfs = make_busybox_rootfs(root / "rootfs")
    token = secrets.token_urlsafe(16)
    with (
        runner_process(root / "runner", token=token, image_dirs={BUSYBOX_REF: rootfs}) as runner,
        api_process(
            root / "api", runner_url=runner.url, runner_key=token, org_id="org-e2e/team-1"
        ) as api,
    ):
        wait_ready(api)
        fixture_setup(api, BUSYBOX_REF)
        yield runner, api


@pytest.fixture
def e2e_env(stack, tmp_path, monkeypatch):
    runner, api = stack
    return point_harness_at(
        monkeypatch,
        tmp_path,
        api_url=api.url,
        api_key=api.admin_key,
        runner_log=runner.log_path,
        api_log=api.log_path,
        extra={"BOXLITE_E2E_PATH_DEADLINE": "2"},
    )


@pytest.fixture
def run_cases(pytester, e2e_env):
    use_cases_conftest(pytester, "-ra")
    pytester.makepyfile(test_path_verification=(CASES / "test_path_verification.py").read_text())

    def run(*args: str, extra: str | None = None):
        if extra is not None:
            pytester.makepyfile(test_extra=extra)
        return pytester.runpytest_subprocess(*args, timeout=240)

    return run


def box_exists(api, box_id: str) -> bool:
    with api.http() as http:
        return http.get(f"/v1/{api.org_id}/boxes/{box_id}").status_code == 200


def test_meta_test_passes_through_api_and_runner(run_cases, e2e_env, stack):
    result = run_cases("test_path_verification.py")
    result.assert_outcomes(passed=2)
    s = summary(e2e_env)
    assert s["stack"] == "standin"
    assert s["prefix"] == "org-e2e/team-1"  # discovered from /v1/me
    assert s["path_problems"] == [] and s["leaked_boxes"] == []
    assert s["sdk"]["version"] == "0.10.8"
    result.stdout.fnmatch_lines(["*stack standin*prefix 'org-e2e/team-1'*"])


def test_pointed_at_the_runner_fails_bypassed_api(run_cases, e2e_env, stack, monkeypatch):
    runner, _ = stack
    monkeypatch.setenv("BOXLITE_E2E_API_URL", runner.url)
    monkeypatch.setenv("BOXLITE_E2E_API_KEY", runner.token)
    monkeypatch.setenv("BOXLITE_E2E_PREFIX", "")
    monkeypatch.setenv("BOXLITE_E2E_PATH_DEADLINE", "0.5")  # each miss waits this long
    result = run_cases("test_path_verification.py")
    out = result.stdout.str()
    assert result.ret == 1
    assert "bypassed api: box" in out
    assert "bypassed runner" not in out and "cannot verify" not in out
    problems = summary(e2e_env)["path_problems"]
    assert problems and all(p["outcome"] == "bypassed" for p in problems)
    with runner.http() as http:
        names = [b.get("name") or "" for b in http.get("/v1/boxes").json()["boxes"]]
    assert not [n for n in names if n.startswith("e2e-")]  # removed even though it failed


@pytest.mark.parametrize("kind", ["directory", "missing"])
def test_unreadable_runner_log_is_cannot_verify(run_cases, e2e_env, tmp_path, monkeypatch, kind):
    target = tmp_path / "not-a-log"
    if kind == "directory":
        target.mkdir()
    monkeypatch.setenv("BOXLITE_E2E_RUNNER_LOG", str(target))
    result = run_cases("test_path_verification.py", "-k", "both_logs")
    out = result.stdout.str()
    assert result.ret == 1
    assert "cannot verify: runner log unreadable" in out
    assert "BOXLITE_E2E_RUNNER_LOG" in out
    assert "bypassed" not in out
    (problem,) = {p["outcome"] for p in summary(e2e_env)["path_problems"]}
    assert problem == "cannot verify"


LEAKY = """
import boxlite

async def test_leaks_on_purpose(rt, image):
    box = await rt.create(boxlite.BoxOptions(image=image))
    print("LEAKED", box.id)
"""


def test_leaked_box_is_reported_and_removed(run_cases, e2e_env, stack):
    _, api = stack
    result = run_cases("test_extra.py", "-s", extra=LEAKY)
    result.assert_outcomes(passed=1)
    (box_id,) = re.findall(r"LEAKED (\S+)", result.stdout.str())
    (leak,) = summary(e2e_env)["leaked_boxes"]
    assert leak["box_id"] == box_id and leak["route"] == "create"
    assert leak["name"].startswith("e2e-")
    result.stdout.fnmatch_lines(["*BoxLeakWarning*", "leaked boxes (removed by the harness): 1"])
    assert not box_exists(api, box_id)


def test_meta_test_passes_with_two_workers(run_cases, e2e_env):
    result = run_cases("test_path_verification.py", "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=2)
    assert summary(e2e_env)["counts"]["passed"] == 2


AXIS_CASES = """
import os
import signal


async def test_box_is_named_and_checked(client, image):
    made = await client.create(image)
    out = await made.sh("echo hello")
    print("BOX", made.id, made.name)
    assert (out.exit_code, out.stdout) == (0, "hello\\n")


async def test_driver_dies_mid_case(client, image, e2e):
    made = await client.create(image)
    print("BOX", made.id, made.name)
    execution = await made.exec("sh", ["-c", "sleep 60"])
    os.kill(e2e.drivers.procs["node"].pid, signal.SIGKILL)
    await execution.drain()


async def test_client_at_reaches_the_stack_through_another_url(client_at, e2e_config, image):
    # The network-fault cases' hook: a second client of the same SDK at another URL (here
    # the API by its name instead of its address; a fault proxy in those cases).
    other = await client_at(e2e_config.api_url.replace("127.0.0.1", "localhost"))
    made = await other.create(image)
    out = await made.sh("echo via-other-url")
    print("BOX", made.id, made.name)
    assert out.stdout == "via-other-url\\n"


async def test_next_case_gets_a_fresh_driver(sdk_box):
    out = await sdk_box.sh("echo again")
    assert out.stdout == "again\\n"
"""


def test_node_boxes_are_owned_and_a_driver_crash_fails_only_its_case(pytester, e2e_env, stack):
    _, api = stack
    use_cases_conftest(pytester, "-ra")
    pytester.makepyfile(test_axis=AXIS_CASES)
    result = pytester.runpytest_subprocess("-k", "node or go", "-s", timeout=240)
    result.assert_outcomes(passed=3, failed=1, skipped=4)
    text = result.stdout.str()
    boxes = re.findall(r"BOX (\S+) (\S+)", text)
    assert len(boxes) == 3 and all(name.startswith("e2e-") for _, name in boxes), boxes
    assert re.search(
        r"node driver \(pid \d+\) was killed by signal 9 during "
        r"test_axis\.py::test_driver_dies_mid_case\[node\]",
        text,
    ), text[-3000:]
    for box_id, _ in boxes:
        assert not box_exists(api, box_id), f"{box_id} left on the stack"
    doc = summary(e2e_env)
    assert doc["stack_boxes_left"]["left"] == [] and doc["path_problems"] == []
    axis = doc["sdk_axis"]["cases"]
    assert axis["test_axis.py::test_driver_dies_mid_case"]["node"] == "failed"
    assert axis["test_axis.py::test_next_case_gets_a_fresh_driver"]["node"] == "passed"
    assert axis["test_axis.py::test_box_is_named_and_checked"]["go"] == "not applicable"
    assert "no Go driver" in doc["sdks"]["go"]["reason"]
    (folder,) = (e2e_env / "failures").glob("*test_driver_dies_mid_case*")
    driver_log = (folder / "driver-node.log").read_text()
    assert 'op="exec"' in driver_log and "driver died" in driver_log, driver_log
