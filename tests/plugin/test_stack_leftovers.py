"""The end-of-run check that a run left zero boxes on the stack
(lib.harness.plugin.stack_leftovers).

The ledger removes what it recorded; this check asks the API independently, after every
worker's teardown, for boxes still carrying this run's name prefix, so a box that escaped the
ledger (a subprocess, a hand-rolled HTTP call) fails the run and is named in the summary.
Runs the real conftest with pytester against the fake stack (tests/plugin/conftest.py).
"""

from __future__ import annotations

from types import SimpleNamespace

from lib.harness.plugin import stack_leftovers
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
    (left,) = summary(env)["stack_boxes_left"]["left"]
    assert left["name"].startswith("e2e-") and left["box_id"] in stack.boxes


def test_unaskable_stack_is_not_checked_rather_than_zero():
    (port,) = free_ports(1)  # nothing listens there
    cfg = SimpleNamespace(api_url=f"http://127.0.0.1:{port}/api", prefix="org", api_key="k")
    found = stack_leftovers(SimpleNamespace(config=cfg, run_id="abcd1234"), timeout=5)
    assert found["checked"] is False and found["left"] == []
    assert "ConnectError" in found["error"]
