"""The end-of-run check that a run left zero boxes on the stack
(lib.harness.runguard.RunGuard.final_check).

The ledger removes what it recorded; this check asks the API independently, after every
worker's teardown, for boxes still carrying this run's name prefix, so a box that escaped the
ledger (a subprocess, a hand-rolled HTTP call) fails the run and is named in the summary.
Runs the real conftest with pytester against the fake stack (tests/plugin/conftest.py).
"""

from __future__ import annotations

from types import SimpleNamespace

from lib.harness.runguard import RunGuard
from lib.stack.private_stack import free_ports
from tests.harness_pytester import summary


def test_clean_run_reports_zero_boxes_left(run, env):
    result = run(
        """
async def test_uses_a_box(box):
    assert box.id
"""
    )
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["boxes left on the stack by this run: 0 (API list after*"])
    left = summary(env)["stack_boxes_left"]
    assert left["checked"] is True and left["left"] == []


def test_a_box_that_escaped_the_ledger_fails_the_run(run, stack, env):
    result = run(
        """
import httpx

def test_escapes(e2e, e2e_config):
    # Created behind the harness's back, with this run's name: only the API list knows.
    name = e2e.ledger.new_name()
    resp = httpx.post(
        f"{e2e_config.api_url}/v1/{e2e_config.prefix}/boxes",
        json={"name": name, "image": "x"},
        headers={"Authorization": f"Bearer {e2e_config.api_key}"},
    )
    assert resp.status_code in (200, 201)
"""
    )
    result.assert_outcomes(passed=1)
    assert result.ret == 1, "a box left on the stack must fail an otherwise green run"
    result.stdout.fnmatch_lines(["boxes left on the stack by this run: 1 (*"])
    found = summary(env)["stack_boxes_left"]
    (left,) = found["left"]
    assert found["stranded"] == [left] and found["remaining"] == []
    # Named by this run, so provably ours: the final check removed it (and said so).
    assert left["name"].startswith("e2e-") and left["box_id"] not in stack.boxes
    result.stdout.fnmatch_lines(["*stranded (left by the run; removed by the final check): 1"])


def test_a_box_created_without_the_runs_name_is_counted_not_touched(run, stack, env):  # noqa: F811
    result = run(
        """
import httpx

def test_unnamed(e2e_config):
    resp = httpx.post(
        f"{e2e_config.api_url}/v1/{e2e_config.prefix}/boxes",
        json={"name": "hand-made", "image": "x"},
        headers={"Authorization": f"Bearer {e2e_config.api_key}"},
    )
    assert resp.status_code in (200, 201)
"""
    )
    assert result.ret == 1, "a box made during the run and left must fail it"
    found = summary(env)["stack_boxes_left"]
    assert [b["name"] for b in found["unattributed"]] == ["hand-made"]
    assert any(b.get("name") == "hand-made" for b in stack.boxes.values()), "not ours: untouched"


def test_unaskable_stack_is_not_checked_rather_than_zero():
    (port,) = free_ports(1)  # nothing listens there
    cfg = SimpleNamespace(
        api_url=f"http://127.0.0.1:{port}/api", prefix="org", api_key="k", runs_dir="/tmp"
    )
    found = RunGuard(cfg, "abcd1234", None).final_check(interrupted=False)
    assert found["checked"] is False and found["left"] == []
    assert "ConnectError" in found["error"]
