"""The stand-in API's lifecycle policy: validation, activity, auto-stop/delete, auto-resume.

Upstream contract in `standin/api/lifecycle.py`'s docstring. The timers are driven here
with `Reaper.check(now=...)` (an explicit clock), so no test waits for wall time; the
end-to-end timing is the e2e case `cases/test_lifecycle_policy.py`.
"""

from __future__ import annotations

import time

import aiohttp
import pytest

from standin.api import lifecycle
from standin.api.context import CTX
from standin.errors import ApiError
from tests.standin.api_fixtures import in_process_api, register_active, set_quota

IMG = "e2e/busybox:stable"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.mark.parametrize(
    ("body", "floor", "expect"),
    [
        ({}, 60, (900, 0, True)),  # upstream defaults
        ({"auto_stop": 0}, 60, (0, 0, True)),  # 0 disables, below the floor or not
        ({"auto_stop": 60, "auto_delete": 120, "auto_resume": False}, 60, (60, 120, False)),
        ({"auto_stop": 3, "auto_delete": 6}, 2, (3, 6, True)),
    ],
)
def test_policy_defaults_and_accepted_values(body, floor, expect) -> None:
    p = lifecycle.check_policy(body, floor)
    assert (p.auto_stop, p.auto_delete, p.auto_resume) == expect


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"auto_stop": 59}, "at least 60"),
        ({"auto_stop": 1}, "at least 60"),
        ({"auto_stop": -1}, "between 0"),
        ({"auto_stop": 1.5}, "integer"),
        ({"auto_stop": True}, "integer"),
        ({"auto_delete": -5}, "between 0"),
        ({"auto_delete": "10"}, "integer"),
        ({"auto_stop": 2**31}, "between 0"),
        ({"auto_resume": "yes"}, "boolean"),
    ],
)
def test_policy_refusals_are_400_and_say_why(body, needle) -> None:
    with pytest.raises(ApiError) as caught:
        lifecycle.check_policy(body, 60)
    assert caught.value.code == "invalid_argument" and needle in str(caught.value)


def test_due_follows_activity_and_status() -> None:
    rec = type("R", (), {})()
    rec.runner_id, rec.status, rec.updated_at = "rb1", "running", "2026-01-01T00:00:00Z"
    rec.auto_stop, rec.auto_delete, rec.last_activity = 10, 20, 1000.0
    assert lifecycle.due(rec, 1009.0) is None
    assert lifecycle.due(rec, 1010.0) == "stop"
    rec.status = "stopped"
    assert lifecycle.due(rec, 1019.0) is None
    assert lifecycle.due(rec, 1020.0) == "delete"
    rec.last_activity = None  # upstream joins on the activity row: no activity, no delete
    assert lifecycle.due(rec, 10**10) is None
    rec.status, rec.auto_stop = "running", 0  # disabled
    assert lifecycle.due(rec, 10**10) is None


async def _api_with_box(tmp_path, session, body, faults=()):
    cm = in_process_api(tmp_path, faults, lifecycle_floor=2)
    api = await cm.__aenter__()
    await set_quota(api, session, maxCpuPerBox=4, maxMemoryPerBox=8, maxDiskPerBox=20)
    await register_active(api, session, IMG)
    async with session.post(
        api.box_url(), json={"image": IMG, **body}, headers=api.headers()
    ) as resp:
        doc = await resp.json()
        assert resp.status == 201, doc
    return cm, api, doc


async def test_idle_box_is_stopped_then_deleted(tmp_path, session) -> None:
    cm, api, doc = await _api_with_box(tmp_path, session, {"auto_stop": 3, "auto_delete": 6})
    try:
        assert (doc["auto_stop"], doc["auto_delete"], doc["auto_resume"]) == (3, 6, True)
        reaper = api.app[CTX].reaper
        t0 = api.store.boxes[doc["box_id"]].last_activity
        assert await reaper.check(now=t0 + 1) == []
        # polling does not count as activity: the box still stops on time
        async with session.get(api.box_url(f"/{doc['box_id']}"), headers=api.headers()):
            pass
        assert await reaper.check(now=t0 + 3) == [(doc["box_id"], "stop")]
        assert api.runner.boxes["rb1"]["status"] == "stopped"
        assert await reaper.check(now=t0 + 5) == []
        assert await reaper.check(now=t0 + 6) == [(doc["box_id"], "delete")]
        assert "rb1" not in api.runner.boxes and doc["box_id"] not in api.store.boxes
        async with session.get(api.box_url(f"/{doc['box_id']}"), headers=api.headers()) as r:
            assert r.status == 404
        log = api.log_path.read_text()
        assert "event=box.auto_stop" in log and "event=box.auto_delete" in log
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_proxied_request_resets_the_idle_clock(tmp_path, session) -> None:
    cm, api, doc = await _api_with_box(tmp_path, session, {"auto_stop": 3, "auto_delete": 6})
    try:
        rec = api.store.boxes[doc["box_id"]]
        before = rec.last_activity
        async with session.post(
            api.box_url(f"/{doc['box_id']}/exec"), json={"command": "true"}, headers=api.headers()
        ) as resp:
            assert resp.status == 201
        assert rec.last_activity > before
        assert await api.app[CTX].reaper.check(now=before + 3) == []  # idle < 3 s since exec
    finally:
        await cm.__aexit__(None, None, None)


@pytest.mark.parametrize(("auto_resume", "status"), [(True, 201), (False, 409)])
async def test_exec_on_a_stopped_box_resumes_only_when_asked(
    tmp_path, session, auto_resume, status
) -> None:
    cm, api, doc = await _api_with_box(tmp_path, session, {"auto_resume": auto_resume})
    try:
        url = api.box_url(f"/{doc['box_id']}")
        async with session.post(url + "/stop", headers=api.headers()) as resp:
            assert resp.status == 200
        async with session.post(
            url + "/exec", json={"command": "true"}, headers=api.headers()
        ) as r:
            assert r.status == status, await r.text()
        expected = "running" if auto_resume else "stopped"
        assert api.runner.boxes["rb1"]["status"] == expected
    finally:
        await cm.__aexit__(None, None, None)


async def test_fault_keeps_the_timers_from_acting(tmp_path, session) -> None:
    cm, api, doc = await _api_with_box(
        tmp_path, session, {"auto_stop": 3, "auto_delete": 6}, faults=[lifecycle.FAULT]
    )
    try:
        assert await api.app[CTX].reaper.check(now=time.time() + 3600) == []
        assert api.runner.boxes["rb1"]["status"] == "running"
        assert f"name={lifecycle.FAULT}" in api.log_path.read_text()
    finally:
        await cm.__aexit__(None, None, None)


async def test_floor_is_enforced_and_reported(tmp_path, session) -> None:
    cm, api, _ = await _api_with_box(tmp_path, session, {})
    try:
        async with session.post(
            api.box_url(), json={"image": IMG, "auto_stop": 1}, headers=api.headers()
        ) as resp:
            body = await resp.json()
            assert resp.status == 400 and "at least 2 seconds" in body["error"]["message"]
        async with session.get(f"{api.url}/v1/_standin/lifecycle", headers=api.headers()) as r:
            info = await r.json()
        assert info["min_auto_stop_s"] == 2 and info["upstream_min_auto_stop_s"] == 60
        assert info["stand_in_only"] is True and info["tick_s"] == 0.5
    finally:
        await cm.__aexit__(None, None, None)
