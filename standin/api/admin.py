"""Admin routes fixture setup uses: snapshot registration and an org's per-box quota.

They mirror upstream's routes so the same fixture setup can drive both stacks (upstream read
at `apps/api/src/admin/controllers/organization.controller.ts`, the Daytona-era
`organization.controller.ts` quota route and `snapshot.controller.ts`):

    GET   /api/admin/organizations/{ORG}/quota    200 quota
    PATCH /api/admin/organizations/{ORG}/quota    200 quota   body: any of maxCpuPerBox,
    PATCH /api/organizations/{ORG}/quota          204         maxMemoryPerBox (GiB),
                                                              maxDiskPerBox (GB); ints >= 0
    POST  /api/snapshots                          200 SnapshotDto (state pending); 409 dup name
    GET   /api/snapshots[?name=substring]         {"items","total","page","totalPages"}
    GET   /api/snapshots/{id or name}             200 SnapshotDto / 404
    DELETE /api/snapshots/{id or name}            200

Upstream sets per-box limits by SQL (`max_cpu_per_box` ... columns), so snake_case keys are
accepted as aliases. `{ORG}` and snapshot names may contain `/` (org `org-123/team-a`, image
`e2e/busybox:stable`), raw or %2F-encoded. Errors are NestJS flat bodies (`nest`), as the
real controllers' exceptions render.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from standin.api.context import ctx_of
from standin.api.nest import NestError, json_object
from standin.api.snapshots import PENDING, snapshot_dto
from standin.api.store import Org, Snapshot, now_rfc3339

# DTO key -> Quota attribute; the snake_case column names are accepted too.
QUOTA_KEYS = {
    "maxCpuPerBox": "max_cpu_per_box",
    "maxMemoryPerBox": "max_memory_per_box",
    "maxDiskPerBox": "max_disk_per_box",
}
QUOTA_KEYS.update({attr: attr for attr in list(QUOTA_KEYS.values())})


def _int_ok(value: object, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _org(request: web.Request) -> Org:
    org_id = unquote(request.match_info["org"])
    org = ctx_of(request).store.orgs.get(org_id)
    if org is None:
        raise NestError(404, f"Organization with ID {org_id} not found")
    return org


def quota_dto(org: Org) -> dict:
    q = org.quota
    return {
        "organizationId": org.id,
        "maxCpuPerBox": q.max_cpu_per_box,
        "maxMemoryPerBox": q.max_memory_per_box,
        "maxDiskPerBox": q.max_disk_per_box,
        "customized": q.customized,
    }


async def get_quota(request: web.Request) -> web.Response:
    return web.json_response(quota_dto(_org(request)))


async def _apply_quota(request: web.Request) -> Org:
    ctx = ctx_of(request)
    org = _org(request)
    body = await json_object(request)
    # class-validator style: every problem, in one 400 message list.
    problems = [f"property {k} should not exist" for k in body if k not in QUOTA_KEYS]
    problems += [
        f"{k} must be an integer not less than 0"
        for k, v in body.items()
        if k in QUOTA_KEYS and not _int_ok(v)
    ]
    if problems:
        raise NestError(400, problems)
    for key, value in body.items():
        setattr(org.quota, QUOTA_KEYS[key], value)
    org.quota.customized = True
    ctx.store.save()
    ctx.log.event("org.quota", org_id=org.id, **{QUOTA_KEYS[k]: v for k, v in body.items()})
    return org


async def patch_quota_admin(request: web.Request) -> web.Response:
    return web.json_response(quota_dto(await _apply_quota(request)))


async def patch_quota_legacy(request: web.Request) -> web.Response:
    await _apply_quota(request)
    return web.Response(status=204)


async def create_snapshot(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await json_object(request)
    problems = []
    for key in ("name", "imageName"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            problems.append(f"{key} must be a non-empty string")
    sizes = {"cpu": 1, "memory": 1, "disk": 3}
    for key in sizes:
        if key in body and not _int_ok(body[key], 1):
            problems.append(f"{key} must be an integer not less than 1")
    if problems:
        raise NestError(400, problems)
    org = ctx.store.admin_org
    if ctx.store.find_snapshot(org.id, body["name"]) is not None:
        raise NestError(409, f"Snapshot with name {body['name']} already exists")
    now = now_rfc3339()
    snap = Snapshot(
        id=ctx.store.new_snapshot_id(),
        org_id=org.id,
        name=body["name"],
        image_name=body["imageName"],
        state=PENDING,
        cpu=body.get("cpu", sizes["cpu"]),
        mem=body.get("memory", sizes["memory"]),
        disk=body.get("disk", sizes["disk"]),
        created_at=now,
        updated_at=now,
    )
    ctx.store.snapshots[snap.id] = snap
    ctx.store.save()
    ctx.log.event("snapshot.create", snapshot=snap.name, image=snap.image_name)
    ctx.puller.schedule(snap)
    return web.json_response(snapshot_dto(snap))


def _snapshot(request: web.Request) -> Snapshot:
    ctx = ctx_of(request)
    ident = unquote(request.match_info["ident"])
    snap = ctx.store.find_snapshot(ctx.store.admin_org_id, ident)
    if snap is None:
        raise NestError(404, f"Snapshot {ident} not found")
    return snap


async def get_snapshot(request: web.Request) -> web.Response:
    return web.json_response(snapshot_dto(_snapshot(request)))


async def list_snapshots(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    needle = request.query.get("name", "").lower()
    items = [
        snapshot_dto(s)
        for s in sorted(ctx.store.snapshots.values(), key=lambda s: s.created_at)
        if s.org_id == ctx.store.admin_org_id and needle in s.name.lower()
    ]
    return web.json_response({"items": items, "total": len(items), "page": 1, "totalPages": 1})


async def delete_snapshot(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    snap = _snapshot(request)
    ctx.store.snapshots.pop(snap.id, None)
    ctx.store.save()
    ctx.log.event("snapshot.delete", snapshot=snap.name)
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/organizations/{org:.+}/quota", get_quota)
    app.router.add_patch("/api/admin/organizations/{org:.+}/quota", patch_quota_admin)
    app.router.add_patch("/api/organizations/{org:.+}/quota", patch_quota_legacy)
    app.router.add_post("/api/snapshots", create_snapshot)
    app.router.add_get("/api/snapshots", list_snapshots)
    app.router.add_get("/api/snapshots/{ident:.+}", get_snapshot)
    app.router.add_delete("/api/snapshots/{ident:.+}", delete_snapshot)
