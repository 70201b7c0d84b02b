"""The SDK-facing `/api/v1` surface: me, config, faults, and the box-protocol dispatcher.

`/api/v1/{rest:.*}` lands in `dispatch`, which strips the caller's org prefix (`routing`) and
sends each route to the API's own handler (`boxes`) or streams it to the runner (`proxy`).
A prefix that is not the caller's org is 403 `permission_denied` (the SDK raises ConfigError):
refusing outright is the tenant boundary, and a 404 would make `rt.get()` quietly answer None.
"""

from __future__ import annotations

from aiohttp import web

from standin.api import boxes, catalog, keys, lifecycle, proxy, volumes
from standin.api.context import ctx_of
from standin.api.routing import PrefixMismatch, match_route, split_prefix
from standin.api.runner_client import RunnerUnavailable
from standin.errors import ApiError

PRINCIPAL = "boxlite-admin"
# What this API serves (upstream's scope vocabulary).
SCOPES = [
    "me:read",
    "box:read",
    "box:write",
    "box:exec",
    "box:delete",
    "volume:read",
    "volume:write",
    "volume:delete",
]


async def me(request: web.Request) -> web.Response:
    # The caller's own org: the admin org for the admin key, the key's org for a minted one.
    org_id = keys.caller_org(request).id
    return web.json_response(
        {
            "sub": PRINCIPAL,
            "principal_type": "user",
            "display_name": PRINCIPAL,
            # The spec names it path_prefix; the upstream controller read names it prefix.
            "path_prefix": org_id,
            "prefix": org_id,
            "organization_id": org_id,
            "scopes": SCOPES,
            "expires_at": None,
        }
    )


async def config(request: web.Request) -> web.Response:
    # Upstream's cloud API serves none of these, and says so; the SDK refuses them client-side.
    flags = ("snapshots", "clone", "export", "import", "linux_capabilities")
    return web.json_response({"capabilities": {f"{name}_enabled": False for name in flags}})


async def faults(request: web.Request) -> web.Response:
    """The stack's active faults: the API's own plus the runner's, each with `component`."""
    ctx = ctx_of(request)
    found = [fault.to_json() for fault in ctx.config.faults.values()]
    try:
        reply = await ctx.client.call("GET", "/v1/_standin/faults")
    except RunnerUnavailable as exc:
        # Never report a partial list: a known_bug decision on it would be wrong.
        raise ApiError("upstream_unavailable", f"runner faults unavailable: {exc}") from exc
    doc = reply.json()
    if not reply.ok or not isinstance(doc, dict) or not isinstance(doc.get("faults"), list):
        raise ApiError("upstream_unavailable", f"runner faults answered HTTP {reply.status}")
    component = doc.get("component") or "runner"
    found += [{**fault, "component": fault.get("component", component)} for fault in doc["faults"]]
    return web.json_response({"stack": "standin", "faults": found})


async def lifecycle_info(request: web.Request) -> web.Response:
    """Stand-in only: the lifecycle floor and tick this API runs with (see lifecycle.py)."""
    return web.json_response(ctx_of(request).reaper.describe())


async def dispatch(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    org = keys.caller_org(request)
    try:
        tail = split_prefix(request.match_info["rest"], org.id)
    except PrefixMismatch as exc:
        raise ApiError(
            "permission_denied",
            f"path prefix {exc.prefix!r} is not an organization this key can use",
        ) from None
    route = match_route(tail) if tail is not None else None
    if route is None:
        raise web.HTTPNotFound()
    method = request.method
    kind = route.kind
    _require_permission(request, kind, method)
    if kind == "boxes" and method == "GET":
        return await boxes.list_boxes(request, org)
    if kind == "boxes" and method == "POST":
        return await boxes.create_box(request, org)
    if kind == "box" and method in ("GET", "HEAD"):
        return await boxes.get_box(request, org, route.box)
    if kind == "box" and method == "DELETE":
        return await boxes.remove_box(request, org, route.box)
    if kind == "box_action" and method == "POST":
        return await boxes.box_action(request, org, route.box, route.action)
    handler = _CATALOG.get((kind, method))
    if handler is not None:
        return await handler(request, org)
    if kind == "volume" and method == "GET":
        return await volumes.get_volume(request, org, route.box)
    if kind == "volume" and method == "DELETE":
        return await volumes.remove(request, org, route.box)
    if kind == "config" and method == "GET":
        return await config(request)
    if kind == "metrics" and method == "GET":
        return await proxy.proxy_http(request, ctx.client, "/v1/metrics")
    proxied = {
        ("exec", "POST"),
        ("execution", "GET"),
        ("execution", "DELETE"),
        ("execution_action", "POST"),
        ("files", "PUT"),
        ("files", "GET"),
        ("box_metrics", "GET"),
    }
    if (kind, method) == ("exec", "POST") and _removed_box_fault(ctx, org, route.box):
        # Fault: the removed id slips past the lookup and the exec path fails on it.
        raise ApiError("internal", f"exec failed: box {route.box} has no runner box")
    if (kind, method) in proxied:
        rec = boxes.resolve_live(ctx, request, org, route.box)
        await boxes.ensure_ready(ctx, rec)
        truncate = (kind, method) == ("files", "GET") and (
            "files-stream-truncated" in ctx.config.faults
        )
        return await proxy.proxy_http(
            request, ctx.client, _runner_path(rec, tail), truncate=truncate
        )
    if kind in ("execution_attach", "box_attach") and method == "GET":
        rec = boxes.resolve_live(ctx, request, org, route.box)
        await boxes.ensure_ready(ctx, rec)
        try:
            return await proxy.proxy_ws(request, ctx.client, _runner_path(rec, tail))
        finally:
            lifecycle.touch(rec)  # an attach ends in activity too (the output just read)
    raise web.HTTPNotFound()


_CATALOG = {
    ("volumes", "GET"): volumes.list_volumes,
    ("volumes", "POST"): volumes.create,
    ("images", "GET"): catalog.list_images,
    ("image_usage", "GET"): catalog.usage,
    ("image", "GET"): catalog.get_image,
    ("image", "DELETE"): catalog.remove_image,
}


def _removed_box_fault(ctx, org, ident: str) -> bool:
    return (
        "exec-on-removed-box" in ctx.config.faults
        and ident in ctx.removed
        and ctx.store.find_box(org.id, ident) is None
    )


def _require_permission(request: web.Request, kind: str, method: str) -> None:
    """Box writes need `write:boxes`, removal `delete:boxes` (upstream box.controller's
    RequiredOrganizationResourcePermissions); reads need only a key of the org."""
    if method in ("GET", "HEAD"):
        return
    needed = "delete:boxes" if (kind, method) == ("box", "DELETE") else "write:boxes"
    if not keys.principal_of(request).allows(needed):
        raise ApiError("permission_denied", f"this API key lacks the {needed} permission")


def _runner_path(rec, tail: list[str]) -> str:
    # tail = ["boxes", <id or name>, ...rest]; the runner gets its own box id.
    return boxes.runner_box_path(rec, tail[2:])
