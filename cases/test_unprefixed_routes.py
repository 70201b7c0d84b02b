"""`/v1/boxes` without the org prefix is the caller's own org, not a refusal.

Upstream mounts each REST controller on both paths, `v1/boxes` and `v1/:prefix/boxes`
(the same for `v1/volumes` and `v1/images`; apps/api/src/boxlite-rest/
boxlite-volume.controller.ts), and resolves the org from the caller's key: a client that
never asked `/v1/me` for its prefix (the SDK's default `path_prefix` is empty) still lands in
its org. The cases prove it is the *same* org, not some default one: a box created without
the prefix is listed and readable with it, and the other way round. A foreign prefix stays a
403 (test_error_code_mapping).
"""

from __future__ import annotations

from lib.harness.case_helpers import describe


async def test_unprefixed_create_is_in_the_callers_org(api, image, e2e_config):
    created = await api.request("POST", "/boxes", prefixed=False, json={"image": image})
    assert created.status_code == 201, describe(created)
    box_id = created.json()["box_id"]
    try:
        read = await api.get(f"/boxes/{box_id}")  # with the prefix
        assert read.status_code == 200, describe(read)
        assert read.json()["box_id"] == box_id
        listed = await api.get("/boxes")
        assert box_id in {b["box_id"] for b in listed.json()["boxes"]}, describe(listed)
    finally:
        gone = await api.delete(f"/boxes/{box_id}", params={"force": "true"})
        assert gone.status_code in (204, 404), describe(gone)


async def test_unprefixed_reads_see_the_prefixed_box(api, box):
    read = await api.request("GET", f"/boxes/{box.id}", prefixed=False)
    assert read.status_code == 200, describe(read)
    assert read.json()["box_id"] == box.id
    listed = await api.request("GET", "/boxes", prefixed=False)
    assert listed.status_code == 200, describe(listed)
    assert box.id in {b["box_id"] for b in listed.json()["boxes"]}


async def test_unprefixed_volumes_list_is_the_same_org(api, volume_factory):
    vol = await volume_factory()
    listed = await api.request("GET", "/volumes", prefixed=False)
    assert listed.status_code == 200, describe(listed)
    assert vol.id in {v["id"] for v in listed.json()["volumes"]}, describe(listed)
