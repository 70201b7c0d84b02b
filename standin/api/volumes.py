"""Managed volumes: `/v1/{prefix}/volumes` CRUD and what a box create mounts.

The contract is upstream's `BoxliteVolumeController` (apps/api/src/boxlite-rest/
boxlite-volume.controller.ts): POST creates (201, `{id, name, state, created_at,
updated_at}`), GET lists `{"volumes": [{id, name, state, created_at}]}`, GET `{id}` fetches,
DELETE `{id}[?force=true]` removes (204). Upstream keeps the bytes in object storage and the
runner FUSE-mounts them; here the runner keeps them in a directory of its own
(`{runner state}/volumes/{id}`) and bind-mounts it, so data written through a mount outlives
the box and shows up in the next box that mounts the volume.

A box mounts a volume by id or name (`volumes: [{"managed_volume", "guest_path"}]`); an
unknown one is 404. Removing a volume a box still mounts is 409 `invalid_state` naming the
box, `force` or not: deleting the bytes under a live mount is the dangling-reference bug
upstream's `test_volume_remove_while_mounted_is_rejected_or_deferred` guards against.
"""

from __future__ import annotations

import secrets
import uuid

from aiohttp import web

from standin.api.boxes import passthrough, read_json
from standin.api.context import ctx_of
from standin.api.mounts import resolve
from standin.api.runner_client import RunnerUnavailable
from standin.api.store import Org, VolumeRecord, now_rfc3339
from standin.errors import ApiError


def _summary(vol: VolumeRecord) -> dict:
    return {"id": vol.id, "name": vol.name, "state": vol.state, "created_at": vol.created_at}


def _full(vol: VolumeRecord) -> dict:
    return {**_summary(vol), "updated_at": vol.updated_at}


async def create(request: web.Request, org: Org) -> web.Response:
    ctx = ctx_of(request)
    body = await read_json(request)
    if body is not None and not isinstance(body, dict):
        raise ApiError("invalid_argument", "request body must be a JSON object")
    name = (body or {}).get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ApiError("invalid_argument", "name must be a non-empty string")
    if name is not None and ctx.store.find_volume(org.id, name) is not None:
        raise ApiError("already_exists", f"a volume named {name!r} already exists")
    now = now_rfc3339()
    vol_id = str(uuid.uuid4())
    vol = VolumeRecord(
        id=vol_id,
        org_id=org.id,
        name=name or f"volume-{secrets.token_hex(4)}",
        created_at=now,
        updated_at=now,
    )
    ctx.store.volumes[vol.id] = vol
    ctx.store.save()
    ctx.log.event("volume.create", volume_id=vol.id, name=vol.name)
    return web.json_response(_full(vol), status=201)


async def list_volumes(request: web.Request, org: Org) -> web.Response:
    ctx = ctx_of(request)
    vols = sorted(
        (v for v in ctx.store.volumes.values() if v.org_id == org.id), key=lambda v: v.created_at
    )
    return web.json_response({"volumes": [_summary(v) for v in vols]})


async def get_volume(request: web.Request, org: Org, ident: str) -> web.Response:
    return web.json_response(_full(resolve(ctx_of(request), org, ident)))


async def remove(request: web.Request, org: Org, ident: str) -> web.Response:
    ctx = ctx_of(request)
    vol = resolve(ctx, org, ident)
    holders = sorted(b.id for b in ctx.store.boxes.values() if vol.id in b.volumes)
    if holders:
        raise ApiError(
            "invalid_state",
            f"volume {vol.id} is mounted by box {', '.join(holders)}; remove the box first",
        )
    try:
        reply = await ctx.client.call("DELETE", f"/v1/volumes/{vol.id}")
    except RunnerUnavailable as exc:
        raise ApiError("upstream_unavailable", f"runner unreachable: {exc}") from exc
    if not reply.ok and reply.status != 404:  # 404: never mounted, so no bytes to drop
        return passthrough(reply)
    ctx.store.volumes.pop(vol.id, None)
    ctx.store.save()
    ctx.log.event("volume.remove", volume_id=vol.id)
    return web.Response(status=204)
