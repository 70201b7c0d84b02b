"""Box lifecycle policy over REST: auto_stop, auto_delete, auto_resume act, and are validated.

Pins the contract of upstream's control plane (apps/api/src/box: resolveLifecyclePolicy in
box.service.ts, the auto-stop/auto-delete crons in managers/box.manager.ts,
BoxAutoResumeService) and the bug class boxlite-ai/boxlite#1407 (fixed by PR #1411): the
fields were accepted, echoed back, and never acted on, so an idle box ran forever. This
harness leans on them: the bounded lifetime every case box gets is what reclaims a box a
killed run strands. Upstream's own lifecycle case (apps/e2e/cases) checks the same windows.

Windows are the stack's auto_stop floor (`e2e_config.lifecycle_floor`: upstream's 60 s on
the real API; the stand-in reports the lowered floor it was started with, stand-in only),
so the same case takes seconds on the stand-in and a few minutes on the real stack. Waits
poll the box's state with a deadline (a GET is not activity, so polling cannot keep the box
alive); nothing sleeps for a fixed time. Stand-in fault: `lifecycle-timers-never-fire`.
"""

from __future__ import annotations

import asyncio
import time

import boxlite
import pytest

from lib.harness.case_helpers import describe, error_code, refused, sh


def _windows(floor: int) -> tuple[int, int, float, float]:
    """(auto_stop, auto_delete, deadline per transition, poll interval) for a floor."""
    # Upstream ticks every 10 s; the stand-in at floor/6. A transition is due `window`
    # after the last activity and seen within a tick or two: window + floor + 10 s bounds it.
    stop, delete = floor, 2 * floor
    return stop, delete, delete + floor + 10.0, min(5.0, max(0.25, floor / 4))


async def _status(api, box_id: str) -> str | None:
    """The box's status as the API reports it, None once it is gone (404)."""
    resp = await api.get(f"/boxes/{box_id}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, describe(resp)
    return resp.json()["status"]


async def _wait_for(api, box_id: str, wanted: str | None, deadline_s: float, poll: float):
    """Poll until the box is `wanted` (None: gone); returns the states seen; bounded."""
    seen: list[str | None] = []
    end = time.monotonic() + deadline_s
    while True:
        state = await _status(api, box_id)
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == wanted:
            return seen
        if time.monotonic() >= end:
            pytest.fail(
                f"box {box_id} not {wanted or 'gone'} within {deadline_s:.0f}s "
                f"(states seen: {seen})",
                pytrace=False,
            )
        await asyncio.sleep(poll)  # the poll interval of a bounded wait, not a readiness sleep


async def test_policy_round_trips_and_defaults(box_factory, api, e2e_config):
    stop, delete, _, _ = _windows(e2e_config.lifecycle_floor)
    box = await box_factory(auto_stop=stop * 3, auto_delete=delete * 3, auto_resume=False)
    doc = (await api.get(f"/boxes/{box.id}")).json()
    assert (doc["auto_stop"], doc["auto_delete"], doc["auto_resume"]) == (
        stop * 3,
        delete * 3,
        False,
    ), doc
    # Raw create without any lifecycle field: upstream's defaults (900 s, off, resume on).
    resp = await api.create_box({"image": e2e_config.image}, raw=True)
    assert resp.status_code == 201, describe(resp)
    raw = resp.json()
    await api.delete(f"/boxes/{raw['box_id']}", params={"force": "true"})
    assert (raw["auto_stop"], raw["auto_delete"], raw["auto_resume"]) == (900, 0, True), raw


@pytest.mark.parametrize(
    "field",
    [
        {"auto_stop": -1},
        {"auto_stop": 1.5},
        {"auto_delete": -1},
        {"auto_resume": "yes"},
        "below-floor",
    ],
    ids=["stop-negative", "stop-fraction", "delete-negative", "resume-not-bool", "below-floor"],
)
async def test_bad_lifecycle_values_are_400(api, e2e_config, field):
    floor = e2e_config.lifecycle_floor
    if field == "below-floor":
        if floor < 2:
            pytest.skip(f"not applicable: the stack's auto_stop floor is {floor} s")
        field = {"auto_stop": floor - 1}
    body = {"image": e2e_config.image, **field}
    resp = await api.create_box(body, raw=True)
    await refused(api, resp, statuses=[400], codes=["invalid_argument"])
    if "auto_stop" in field and field["auto_stop"] == floor - 1:
        # The message names the floor, so a caller learns the rule from the refusal.
        assert str(floor) in describe(resp), describe(resp)
    assert error_code(resp) == "invalid_argument"


@pytest.mark.catches("lifecycle-timers-never-fire")
async def test_idle_box_stops_then_is_deleted(box_factory, api, e2e_config):
    stop, delete, deadline, poll = _windows(e2e_config.lifecycle_floor)
    box = await box_factory(auto_stop=stop, auto_delete=delete)
    # One exec: the idle clock starts at the last activity (and upstream's auto-delete only
    # considers a box with recorded activity).
    out = await sh(box, "echo idle-clock-starts-here")
    assert out.stdout == "idle-clock-starts-here\n", out
    seen = await _wait_for(api, box.id, "stopped", deadline, poll)
    seen += await _wait_for(api, box.id, None, deadline, poll)
    assert "stopped" in seen, f"box vanished without being seen stopped: {seen}"


@pytest.mark.catches("lifecycle-timers-never-fire")
async def test_auto_stopped_box_resumes_on_exec(box_factory, api, e2e_config):
    stop, _, deadline, poll = _windows(e2e_config.lifecycle_floor)
    box = await box_factory(auto_stop=stop, auto_delete=0, auto_resume=True)
    assert (await sh(box, "echo up")).stdout == "up\n"
    await _wait_for(api, box.id, "stopped", deadline, poll)
    out = await sh(box, "echo resumed")  # access resumes the auto-stopped box
    assert (out.exit_code, out.stdout) == (0, "resumed\n"), out
    assert await _status(api, box.id) == "running"


async def test_stopped_box_without_auto_resume_stays_stopped(box_factory, api):
    box = await box_factory(auto_resume=False)
    await box.stop()
    with pytest.raises(boxlite.BoxliteError):
        await sh(box, "echo should-not-run")
    assert await _status(api, box.id) == "stopped"
