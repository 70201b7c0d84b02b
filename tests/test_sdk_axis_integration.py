"""The SDK axis end to end on the real stand-in, through the real `cases/conftest.py`.

The claims, each run as a user runs `make test:e2e` (pytester subprocess, env only): a Node
box gets the harness's name, is path-checked on both hops and removed; a driver killed in
the middle of a case fails that case with a message naming it, leaves no box on the stack,
and the failure folder holds the driver's own log; the next case gets a fresh driver; the
summary has the per-SDK table with `go` not applicable and its reason.
"""

from __future__ import annotations

import re

import pytest

from lib.harness.sdk.availability import detect_node
from tests.harness_pytester import point_harness_at, summary, use_cases_conftest
from tests.test_harness_integration import box_exists
from tests.test_harness_integration import stack as stack  # noqa: PLC0414 (module fixture)

pytest_plugins = ["pytester"]

NODE = detect_node(None, None)
pytestmark = pytest.mark.skipif(not NODE.available, reason=f"not applicable: {NODE.reason}")

CASES = """
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


async def test_next_case_gets_a_fresh_driver(sdk_box):
    out = await sdk_box.sh("echo again")
    assert out.stdout == "again\\n"
"""


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
        extra={"BOXLITE_E2E_PATH_DEADLINE": "5"},
    )


def test_node_boxes_are_owned_and_a_driver_crash_fails_only_its_case(pytester, e2e_env, stack):
    _, api = stack
    use_cases_conftest(pytester, "-ra")
    pytester.makepyfile(test_axis=CASES)
    result = pytester.runpytest_subprocess("-k", "node or go", "-s", timeout=240)
    result.assert_outcomes(passed=2, failed=1, skipped=3)
    text = result.stdout.str()
    boxes = re.findall(r"BOX (\S+) (\S+)", text)
    assert len(boxes) == 2 and all(name.startswith("e2e-") for _, name in boxes), boxes
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
