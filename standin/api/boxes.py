"""Box routes the API owns: create, list, get, HEAD, start, stop, remove.

The API keeps the record (its own id, the user's name, the image as asked, the validated
sizes) and the runner keeps the box. Create checks sizes against the org quota and the image
against active snapshots, then creates the box on the runner with `name=<API box id>`, so the
API id shows up in the runner's log (that is how path verification ties the two hops
together). Responses are the SDK's full Box JSON with the API id as `box_id`: live state
(status, pid, exit code) from the runner, identity and sizes from the record.

A record whose runner box is gone (auto_delete, a runner wipe) is dropped and logged loudly as
`box.vanished`, and the SDK gets the 404 it would get for any absent box.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from standin.api import catalog, lifecycle
from standin.api.context import ApiContext, ctx_of
from standin.api.create_schema import check_shape
from standin.api.mounts import runner_mounts
from standin.api.reqlog import BOX_ID_KEY
from standin.api.runner_client import RunnerReply, RunnerUnavailable
from standin.api.snapshots import ACTIVE
from standin.api.store import BoxRecord, Org, now_rfc3339
from standin.api.validation import check_create_body, check_sizes
from standin.errors import ApiError

# Fields the API decides; everything else in the SDK's create body goes to the runner as-is.
OWNED_FIELDS = (
    "name",
    "image",
    "rootfs_path",
    "cpus",
    "memory_mib",
    "disk_size_gb",
    "volumes",  # resolved to the runner's mounts
    "auto_stop",
    "auto_delete",
    "auto_resume",
)
# Live fields taken from the runner's Box; only non-null ones (labels/auto_* must not be null).
RUNNER_FIELDS = (
    "status",
    "pid",
    "exit_code",
    "updated_at",
    "started_at",
    "last_activity_at",
    "network",
    "labels",
    "health_status",
)


def box_json(rec: BoxRecord, runner_box: dict | None = None) -> dict:
    doc = {
        "box_id": rec.id,
        "name": rec.name,
        "status": rec.status,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "image": rec.image,
        "cpus": rec.cpus,
        "memory_mib": rec.memory_mib,
        "labels": {},
        # The API owns the lifecycle policy and acts on it (standin.api.lifecycle).
        "auto_stop": rec.auto_stop,
        "auto_delete": rec.auto_delete,
        "auto_resume": rec.auto_resume,
    }
    if rec.disk_size_gb is not None:
        doc["disk_size_gb"] = rec.disk_size_gb
    for key in RUNNER_FIELDS:
        value = (runner_box or {}).get(key)
        if value is not None:
            doc[key] = value
    if rec.last_activity is not None:
        doc["last_activity_at"] = lifecycle.rfc3339(rec.last_activity)
    return doc


def passthrough(reply: RunnerReply) -> web.Response:
    """A runner error, as the runner said it (status, body, content type)."""
    content_type = reply.headers.get("Content-Type", "application/json").split(";")[0]
    return web.Response(status=reply.status, body=reply.body, content_type=content_type)


def resolve(ctx: ApiContext, request: web.Request, org: Org, ident: str) -> BoxRecord:
    rec = ctx.store.find_box(org.id, ident)
    if rec is None and "cross-org-lookup" in ctx.config.faults:
        # Fault (boxlite-ai/boxlite#1428 guards against it): the lookup ignores the org.
        rec = next(
            (r for o in ctx.store.orgs if (r := ctx.store.find_box(o, ident)) is not None), None
        )
    if rec is None:
        raise ApiError("not_found", f"box not found: {ident}")
    request[BOX_ID_KEY] = rec.id
    return rec


def resolve_live(ctx: ApiContext, request: web.Request, org: Org, ident: str) -> BoxRecord:
    """A record whose runner box exists (not mid-create)."""
    rec = resolve(ctx, request, org, ident)
    if rec.runner_id is None:
        raise ApiError("invalid_state", f"box {rec.id} is still being created")
    return rec


async def ensure_ready(ctx: ApiContext, rec: BoxRecord) -> None:
    """Before a proxied request: count it as activity, and start a stopped box that asked
    for auto_resume (upstream's BoxAutoResumeService.ensureReady). Without auto_resume the
    request goes on and the runner refuses it (409 `stopped`)."""
    lifecycle.touch(rec)
    if rec.status == "stopped" and rec.auto_resume:
        reply = await _call(ctx, "POST", runner_box_path(rec, ["start"]))
        if reply.ok:
            _refresh(ctx, rec, reply.json())
            ctx.log.event("box.auto_resume", box_id=rec.id, runner_box_id=rec.runner_id)
    ctx.store.save()


def runner_box_path(rec: BoxRecord, tail: list[str] = ()) -> str:
    path = f"/v1/boxes/{quote(rec.runner_id or '', safe='')}"
    return path + "".join("/" + quote(seg, safe="") for seg in tail)


async def _call(ctx: ApiContext, method: str, path: str, **kwargs) -> RunnerReply:
    try:
        return await ctx.client.call(method, path, **kwargs)
    except RunnerUnavailable as exc:
        raise ApiError("upstream_unavailable", f"runner unreachable: {exc}") from exc


def _vanished(ctx: ApiContext, rec: BoxRecord) -> None:
    ctx.store.boxes.pop(rec.id, None)
    ctx.store.save()
    ctx.log.event(
        "box.vanished",
        level="warning",
        box_id=rec.id,
        runner_box_id=rec.runner_id,
        reason="the runner no longer has this box; record dropped",
    )


def _refresh(ctx: ApiContext, rec: BoxRecord, runner_box: dict | None) -> None:
    status = runner_box.get("status") if isinstance(runner_box, dict) else None
    if status and status != rec.status:
        rec.status = status
        rec.updated_at = now_rfc3339()
        ctx.store.save()


def _settle(ctx: ApiContext, rec: BoxRecord, ident: str, reply: RunnerReply) -> web.Response | None:
    """After a runner call about `rec`: a 404 means the box vanished (record dropped,
    `not_found` raised); another error is returned to pass through; on success the record
    takes the runner's status and None is returned."""
    if reply.status == 404:
        _vanished(ctx, rec)
        raise ApiError("not_found", f"box not found: {ident}")
    if not reply.ok:
        return passthrough(reply)
    _refresh(ctx, rec, reply.json())
    return None


async def read_json(request: web.Request) -> object:
    if not request.body_exists:
        return None
    try:
        return await request.json()
    except ValueError:
        raise ApiError("invalid_argument", "request body is not valid JSON") from None


# -- handlers (called by the v1 dispatcher with the caller's org) -------------------------------


async def create_box(request: web.Request, org: Org) -> web.Response:
    ctx = ctx_of(request)
    body = check_create_body(await read_json(request))
    check_shape(body, ctx.config.faults)
    sizes = check_sizes(body, org.quota, ctx.config.faults)
    policy = lifecycle.check_policy(body, ctx.config.lifecycle_floor)
    name = body.get("name")
    if name is not None and ctx.store.find_box(org.id, name) is not None:
        raise ApiError("already_exists", f"a box named {name!r} already exists")
    image = body["image"]
    mounts, volume_ids = runner_mounts(ctx, org, body.get("volumes") or [])
    snap = ctx.store.snapshot_for_image(org.id, image)
    pulled = None
    if snap is None:
        # Not curated: the runner pulls it now; the catalog records it once the box is up.
        pulled = await _pull(ctx, image)
        if not isinstance(pulled, dict):
            return pulled
    elif snap.state != ACTIVE:
        raise ApiError(
            "image_pull_failed",
            f"image {image!r} is a snapshot in state {snap.state}, not active yet",
        )
    now = now_rfc3339()
    rec = BoxRecord(
        id=ctx.store.new_box_id(org.id),
        org_id=org.id,
        name=name,
        image=image,
        runner_image=snap.image_name if snap is not None else image,
        cpus=sizes.cpus,
        memory_mib=sizes.memory_mib,
        disk_size_gb=sizes.disk_size_gb,
        created_at=now,
        updated_at=now,
        status="creating",
        volumes=volume_ids,
        auto_stop=policy.auto_stop,
        auto_delete=policy.auto_delete,
        auto_resume=policy.auto_resume,
    )
    lifecycle.touch(rec)
    # Reserve id and name before the first await, so concurrent creates cannot collide.
    ctx.store.boxes[rec.id] = rec
    ctx.store.save()
    request[BOX_ID_KEY] = rec.id
    for fault, field, asked, used in sizes.fault_notes:
        ctx.log.event("fault", name=fault, box_id=rec.id, field=field, asked=asked, used=used)

    runner_body = {k: v for k, v in body.items() if k not in OWNED_FIELDS}
    if mounts:
        runner_body["volumes"] = mounts
    runner_body.update(name=rec.id, image=rec.runner_image, cpus=rec.cpus)
    # The runner is told the policy (its Box JSON echoes it); the API's timers act on it.
    runner_body.update(
        auto_stop=rec.auto_stop, auto_delete=rec.auto_delete, auto_resume=rec.auto_resume
    )
    runner_body["memory_mib"] = rec.memory_mib
    if rec.disk_size_gb is not None:
        runner_body["disk_size_gb"] = rec.disk_size_gb
    try:
        reply = await _call(ctx, "POST", "/v1/boxes", json_body=runner_body)
    except ApiError:
        _discard(ctx, rec)
        raise
    runner_box = reply.json()
    if not reply.ok or not isinstance(runner_box, dict) or not runner_box.get("box_id"):
        _discard(ctx, rec)
        if reply.ok:
            raise ApiError("internal", f"runner create answered {reply.status} without box_id")
        return passthrough(reply)
    rec.runner_id = runner_box["box_id"]
    rec.status = runner_box.get("status") or "running"
    ctx.store.save()
    if pulled is not None and "catalog-unrecorded" not in ctx.config.faults:
        catalog.record(ctx, org, rec, pulled)
    ctx.log.event(
        "box.create",
        box_id=rec.id,
        runner_box_id=rec.runner_id,
        name=rec.name,
        image=rec.image,
        cpus=rec.cpus,
        memory_mib=rec.memory_mib,
        # Fault `secret-logged` only: a clean API never writes a secret's value anywhere.
        secrets=_logged_secrets(ctx, body),
    )
    return web.json_response(box_json(rec, runner_box), status=201)


def _logged_secrets(ctx: ApiContext, body: dict) -> str | None:
    if "secret-logged" not in ctx.config.faults or not body.get("secrets"):
        return None
    return ",".join(f"{s.get('name')}={s.get('value')}" for s in body["secrets"])


async def _pull(ctx: ApiContext, image: str) -> dict | web.Response:
    """The runner's pull of a non-curated image: its `{digest, size_bytes, ...}`, or the
    runner's refusal (422 `image_pull_failed`) to pass through."""
    reply = await _call(ctx, "POST", "/v1/images/pull", json_body={"image": image})
    doc = reply.json()
    if reply.ok and isinstance(doc, dict):
        return doc
    if reply.ok or reply.status in (404, 405):
        raise ApiError("image_pull_failed", f"image {image!r}: the runner cannot pull images")
    return passthrough(reply)


def _discard(ctx: ApiContext, rec: BoxRecord) -> None:
    ctx.store.boxes.pop(rec.id, None)
    ctx.store.save()


async def list_boxes(request: web.Request, org: Org) -> web.Response:
    ctx = ctx_of(request)
    try:
        runner_boxes = await ctx.client.list_boxes()
    except RunnerUnavailable as exc:
        raise ApiError("upstream_unavailable", f"runner unreachable: {exc}") from exc
    by_id = {b.get("box_id"): b for b in runner_boxes if isinstance(b, dict)}
    boxes = []
    for rec in ctx.store.boxes_in(org.id):
        if rec.runner_id is None:
            boxes.append(box_json(rec))
            continue
        runner_box = by_id.get(rec.runner_id)
        if runner_box is None:
            _vanished(ctx, rec)
            continue
        _refresh(ctx, rec, runner_box)
        boxes.append(box_json(rec, runner_box))
    return web.json_response({"boxes": boxes, "next_page_token": None})


async def get_box(request: web.Request, org: Org, ident: str) -> web.Response:
    ctx = ctx_of(request)
    rec = resolve(ctx, request, org, ident)
    if request.method == "HEAD":
        return web.Response(status=204)
    if rec.runner_id is None:
        return web.json_response(box_json(rec))
    reply = await _call(ctx, "GET", runner_box_path(rec))
    if (error := _settle(ctx, rec, ident, reply)) is not None:
        return error
    return web.json_response(box_json(rec, reply.json()))


async def box_action(request: web.Request, org: Org, ident: str, action: str) -> web.Response:
    ctx = ctx_of(request)
    rec = resolve_live(ctx, request, org, ident)
    reply = await _call(ctx, "POST", runner_box_path(rec, [action]))
    if (error := _settle(ctx, rec, ident, reply)) is not None:
        return error
    if action == "start":
        lifecycle.touch(rec)
        ctx.store.save()
    ctx.log.event(f"box.{action}", box_id=rec.id, runner_box_id=rec.runner_id, status=rec.status)
    return web.json_response(box_json(rec, reply.json()))


async def remove_box(request: web.Request, org: Org, ident: str) -> web.Response:
    ctx = ctx_of(request)
    # Not mid-create: the create would otherwise finish on the runner for a dropped record.
    rec = resolve_live(ctx, request, org, ident)
    reply = await _call(ctx, "DELETE", runner_box_path(rec), params=request.rel_url.query)
    if not reply.ok and reply.status != 404:
        return passthrough(reply)  # e.g. 409 invalid_state: running, no ?force=true
    _discard(ctx, rec)
    ctx.removed.add(rec.id)
    ctx.log.event("box.remove", box_id=rec.id, runner_box_id=rec.runner_id)
    return web.Response(status=204)
