"""Managed volumes over REST: CRUD, mounting, and data that outlives the box.

Ports of upstream's apps/e2e/cases/test_volume_crud_and_mount.py, test_volumes.py and
scripts/test/e2e/cases/test_managed_volume_persistence.py against
apps/api/src/boxlite-rest/boxlite-volume.controller.ts: `rt.volumes` creates, lists, gets and
removes (`POST/GET/DELETE /v1/{prefix}/volumes`); a box mounts one by id or name with
`volumes=[{"managed_volume": ..., "guest_path": ...}]`. The point of a managed volume is that
its bytes survive the box that wrote them (and a stop/start of the box), so the second box
must read what the first wrote. Removing a volume a live box mounts must be a typed refusal
(or a deferred delete), never a 5xx and never a torn-down mount; a read-only mount is refused
rather than silently downgraded to read-write (VolumeSpecDto, `read_only: @IsIn([false])`).
The stand-in's `volume-ephemeral` fault backs the mount with the box's own scratch dir.
"""

from __future__ import annotations

import secrets

import boxlite
import pytest

from lib.harness.case_helpers import assert_typed, describe, refused, run, sh

GUEST = "/mnt/e2e-volume"


def _mount(volume: str) -> list[dict]:
    return [{"managed_volume": volume, "guest_path": GUEST}]


async def test_crud_create_list_get_remove(rt, volume_factory):
    info = await volume_factory()
    assert info.id and info.name
    assert info.id in {v.id for v in await rt.volumes.list()}
    fetched = await rt.volumes.get(info.id)
    assert (fetched.id, fetched.name) == (info.id, info.name)
    await rt.volumes.remove(info.id, force=True)
    assert info.id not in {v.id for v in await rt.volumes.list()}
    with pytest.raises(boxlite.BoxliteError) as gone:
        await rt.volumes.get(info.id)
    assert_typed(gone.value, boxlite.NotFoundError)


async def test_raw_create_answers_upstreams_shape(api, volume_factory):
    info = await volume_factory()
    got = await api.get(f"/volumes/{info.id}")
    assert got.status_code == 200, describe(got)
    doc = got.json()
    assert {"id", "name", "state", "created_at", "updated_at"} <= set(doc), doc
    listed = await api.get("/volumes")
    summary = next(v for v in listed.json()["volumes"] if v["id"] == info.id)
    assert {"id", "name", "state", "created_at"} <= set(summary), summary


@pytest.mark.catches("volume-ephemeral")
async def test_data_outlives_the_box_that_wrote_it(rt, image, volume_factory):
    vol = await volume_factory()
    payload = f"written-by-{secrets.token_hex(6)}"
    writer = await rt.create(boxlite.BoxOptions(image=image, volumes=_mount(vol.id)))
    try:
        out = await sh(writer, f"printf %s {payload} > {GUEST}/probe.txt && sync")
        assert out.exit_code == 0, out
    finally:
        await rt.remove(writer.id, force=True)
    # Mounted by name this time: the server resolves either.
    reader = await rt.create(boxlite.BoxOptions(image=image, volumes=_mount(vol.name)))
    try:
        out = await run(reader, "cat", f"{GUEST}/probe.txt")
        assert (out.exit_code, out.stdout) == (0, payload), f"data did not survive: {out}"
    finally:
        await rt.remove(reader.id, force=True)


async def test_data_survives_stop_and_start(rt, image, volume_factory):
    vol = await volume_factory()
    made = await rt.create(boxlite.BoxOptions(image=image, volumes=_mount(vol.id)))
    try:
        out = await sh(made, f"mkdir -p {GUEST}/db && echo persisted > {GUEST}/db/marker")
        assert out.exit_code == 0, out
        await made.stop()
        await made.start()
        out = await run(made, "cat", f"{GUEST}/db/marker")
        assert out.stdout == "persisted\n", out
    finally:
        await rt.remove(made.id, force=True)


async def test_a_box_without_the_volume_does_not_see_it(rt, image, volume_factory, box):
    vol = await volume_factory()
    writer = await rt.create(boxlite.BoxOptions(image=image, volumes=_mount(vol.id)))
    try:
        out = await sh(writer, f"echo private > {GUEST}/only-here")
        assert out.exit_code == 0, out
        other = await run(box, "cat", f"{GUEST}/only-here")
        assert other.exit_code != 0, f"a box without the mount sees the volume: {other}"
    finally:
        await rt.remove(writer.id, force=True)


async def test_removing_a_mounted_volume_is_typed_and_the_box_survives(rt, image, volume_factory):
    vol = await volume_factory()
    made = await rt.create(boxlite.BoxOptions(image=image, volumes=_mount(vol.id)))
    try:
        try:
            await rt.volumes.remove(vol.id, force=False)
        except boxlite.BoxliteError as exc:
            assert_typed(exc)  # a conflict, never a 5xx
        out = await sh(made, f"echo still-alive > {GUEST}/alive && cat {GUEST}/alive")
        assert (out.exit_code, out.stdout) == (0, "still-alive\n"), out
    finally:
        await rt.remove(made.id, force=True)


async def test_a_read_only_mount_is_refused_not_downgraded(api, image, volume_factory):
    vol = await volume_factory()
    spec = {"managed_volume": vol.id, "guest_path": GUEST, "read_only": True}
    resp = await api.create_box({"image": image, "volumes": [spec]})
    await refused(api, resp, statuses=[400])


async def test_an_unknown_volume_is_refused_at_create(api, image):
    resp = await api.create_box({"image": image, "volumes": _mount("e2e-no-such-volume")})
    await refused(api, resp, statuses=[400, 404])
