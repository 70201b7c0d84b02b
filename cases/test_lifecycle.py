"""Box lifecycle over REST: create, list, get_info, stop/start, remove.

Ported from upstream's e2e case `test_lifecycle_comprehensive.py`, which
pinned the create/stop/start/remove contract after the REST suite of PR #678 found the REST
path diverging from the in-process runtime. Differences from the port's source:

- no fixed sleeps around stop/start: each call returns when the state changed, and the case
  asserts the state it reads back (`get_info`) instead of waiting and hoping;
- "the rootfs survives stop/start" has a positive control: the marker is read back *before*
  the stop too, so a box that never wrote it cannot pass as "persisted";
- a second remove must raise `NotFoundError` specifically (upstream accepted any exception);
- rapid create/remove cycles are checked against the API's own list, by id.

Exec on a stopped box lives in test_execution_shutdown.py (it is what the
`exec-on-stopped-500` fault is pinned to).
"""

from __future__ import annotations

import secrets

import boxlite
import pytest

from lib.harness.case_helpers import assert_typed, drain, sh


async def test_create_list_get_info_remove(rt, image):
    box = await rt.create(boxlite.BoxOptions(image=image))
    try:
        info = await rt.get_info(box.id)
        assert info is not None and info.id == box.id
        assert info.state.status == "running" and info.state.running
        assert info.image == image
        listed = {i.id: i for i in await rt.list_info()}
        assert box.id in listed, "a created box is missing from list_info()"
        assert listed[box.id].name == info.name
    finally:
        await rt.remove(box.id, force=True)
    assert await rt.get_info(box.id) is None, "get_info() must say None for a removed box"
    assert box.id not in {i.id for i in await rt.list_info()}


async def test_rootfs_survives_stop_and_start(box, rt):
    marker = "persist-" + secrets.token_hex(6)
    out = await sh(box, f"echo {marker} > /root/e2e-marker && cat /root/e2e-marker")
    assert out.exit_code == 0 and out.stdout == marker + "\n", out  # positive control

    await box.stop()
    info = await rt.get_info(box.id)
    assert info is not None and info.state.status == "stopped" and not info.state.running

    await box.start()
    info = await rt.get_info(box.id)
    assert info is not None and info.state.status == "running"
    out = await sh(box, "cat /root/e2e-marker")
    assert out.exit_code == 0 and out.stdout == marker + "\n", out


async def test_get_works_through_stop(box, rt):
    await box.stop()
    again = await rt.get(box.id)
    assert again is not None and again.id == box.id
    assert (await again.info()).state.status == "stopped"


async def test_remove_running_box_needs_force(rt, image):
    box = await rt.create(boxlite.BoxOptions(image=image))
    try:
        with pytest.raises(boxlite.BoxliteError) as caught:
            await rt.remove(box.id)
        # A refusal must say "wrong state", not crash: InvalidStateError (409).
        assert_typed(caught.value, boxlite.InvalidStateError)
        assert (await rt.get_info(box.id)) is not None, "a refused remove removed the box"
    finally:
        await rt.remove(box.id, force=True)


async def test_force_remove_of_a_running_box(rt, image):
    box = await rt.create(boxlite.BoxOptions(image=image))
    running = await box.exec("sh", ["-c", "sleep 300"])
    await rt.remove(box.id, force=True)
    assert await rt.get_info(box.id) is None
    # The exec's wait() must resolve once its box is gone (bounded, never a hang).
    out = await drain(running)
    assert out.exit_code != 0, out


async def test_second_remove_raises_not_found(rt, image):
    box = await rt.create(boxlite.BoxOptions(image=image))
    await rt.remove(box.id, force=True)
    with pytest.raises(boxlite.NotFoundError):
        await rt.remove(box.id, force=True)


async def test_rapid_create_remove_cycles_leave_nothing(rt, image):
    made = []
    for _ in range(5):
        box = await rt.create(boxlite.BoxOptions(image=image))
        made.append(box.id)
        await rt.remove(box.id, force=True)
    listed = {i.id for i in await rt.list_info()}
    assert not listed & set(made), f"removed boxes still listed: {listed & set(made)}"
    assert len(set(made)) == len(made), "box ids were reused across cycles"
