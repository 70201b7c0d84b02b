"""Per-box and runtime metrics over REST: the counters track what the test did.

Port of upstream's apps/e2e/cases/test_box_metrics.py and
scripts/test/e2e/cases/test_box_metrics.py: `box.metrics()` is proxied to the runner
(apps/api/src/boxlite-rest/boxlite-proxy.controller.ts), and `commands_executed_total` is
produced there, so a value that follows the execs this test ran proves the chain client ->
API -> runner -> box -> back is wired, not only that the route answers. A failed exec must
count as an error, a successful one must not; metrics of an unknown box are 404.
"""

from __future__ import annotations

import asyncio

import boxlite
import pytest

from lib.harness.case_helpers import describe, run

EXECS = 3


async def _settled(box, want: int):
    """Metrics once `commands_executed_total` reaches `want` (the runner counts on its own
    clock; bounded by a few reads, then the last reading is returned)."""
    metrics = await box.metrics()
    for _ in range(20):
        if metrics.commands_executed_total >= want:
            break
        await asyncio.sleep(0.25)
        metrics = await box.metrics()
    return metrics


async def test_box_metrics_count_the_execs_that_ran(box):
    before = (await box.metrics()).commands_executed_total
    for i in range(EXECS):
        out = await run(box, "echo", f"metric-probe-{i}")
        assert out.exit_code == 0 and f"metric-probe-{i}" in out.stdout, out
    metrics = await _settled(box, before + EXECS)
    assert metrics.commands_executed_total == before + EXECS, (
        f"{EXECS} execs, counter went {before} -> {metrics.commands_executed_total}"
    )
    assert metrics.exec_errors_total == 0, metrics.exec_errors_total
    for name in ("memory_bytes", "cpu_percent"):
        value = getattr(metrics, name)
        assert value is None or value >= 0, f"{name} reported as {value!r}"
    assert metrics.total_create_duration_ms is None or metrics.total_create_duration_ms >= 0


async def test_a_refused_exec_counts_as_an_error(box):
    before = (await box.metrics()).exec_errors_total
    with pytest.raises(boxlite.BoxliteError):
        out = await run(box, "/nonexistent/e2e-binary")
        assert out.exit_code != 0
    after = (await box.metrics()).exec_errors_total
    assert after == before + 1, f"exec_errors_total went {before} -> {after}"


async def test_metrics_of_an_unknown_box_are_404(api):
    resp = await api.get("/boxes/00000000-0000-0000-0000-000000000000/metrics")
    assert resp.status_code == 404, describe(resp)


async def test_runtime_metrics_count_created_boxes(rt, box_factory):
    before = await rt.metrics()
    await box_factory()
    after = await rt.metrics()
    assert after.boxes_created_total >= before.boxes_created_total + 1, (before, after)
    assert after.num_running_boxes >= 1, after
