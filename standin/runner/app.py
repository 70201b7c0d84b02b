"""HTTP side of the runner: routes, bearer auth, canonical error envelopes, request log.

Routes are served without a prefix, like `boxlite serve`; `{box}` is a
box id or name. Every route, WebSocket upgrades included, needs `Authorization: Bearer
<token>`, else 401 `unauthenticated` (the SDK raises ConfigError). Unknown routes and
methods also answer the canonical envelope, so no client ever sees aiohttp's plain text.
"""

from __future__ import annotations

import hmac
import json

from aiohttp import web

from standin.errors import ApiError, error_middleware
from standin.reqlog import request_log_middleware
from standin.runner import files
from standin.runner.attach import serve_attach
from standin.runner.executions import ALLOWED_SIGNALS
from standin.runner.service import BoxRuntime, RunnerService
from standin.runner.users import resolve_user

SERVICE: web.AppKey[RunnerService] = web.AppKey("service", RunnerService)


def build_app(service: RunnerService) -> web.Application:
    app = web.Application(
        middlewares=[
            _request_log(service),
            error_middleware,
            _route_errors,
            _auth(service.config.token),
        ],
        client_max_size=1 << 20,
    )
    app[SERVICE] = service
    r = app.router
    r.add_get("/v1/config", get_config)
    r.add_get("/v1/metrics", get_metrics)
    r.add_get("/v1/_standin/faults", get_faults)
    r.add_post("/v1/boxes", create_box)
    r.add_get("/v1/boxes", list_boxes)
    r.add_get("/v1/boxes/{box}", get_box)
    r.add_delete("/v1/boxes/{box}", remove_box)
    r.add_post("/v1/boxes/{box}/start", start_box)
    r.add_post("/v1/boxes/{box}/stop", stop_box)
    r.add_get("/v1/boxes/{box}/metrics", box_metrics)
    r.add_get("/v1/boxes/{box}/attach", attach_main)
    r.add_post("/v1/boxes/{box}/exec", exec_box)
    r.add_get("/v1/boxes/{box}/executions/{eid}", get_execution)
    r.add_delete("/v1/boxes/{box}/executions/{eid}", kill_execution)
    r.add_get("/v1/boxes/{box}/executions/{eid}/attach", attach_execution)
    r.add_post("/v1/boxes/{box}/executions/{eid}/signal", signal_execution)
    r.add_post("/v1/boxes/{box}/executions/{eid}/resize", resize_execution)
    r.add_post("/v1/images/pull", pull_image)
    r.add_delete("/v1/volumes/{volume}", remove_volume)
    r.add_put("/v1/boxes/{box}/files", copy_in)
    r.add_get("/v1/boxes/{box}/files", copy_out)
    return app


# --------------------------------------------------------------------------- middlewares


def _auth(token: str):
    expected = token.encode()

    @web.middleware
    async def auth(request: web.Request, handler):
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # Constant-time compare; the token itself never reaches a log or a message.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise ApiError("unauthenticated", "missing or invalid bearer token")
        return await handler(request)

    return auth


@web.middleware
async def _route_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPNotFound:
        raise ApiError("not_found", f"no route {request.method} {request.path}") from None
    except web.HTTPMethodNotAllowed:
        raise ApiError(
            "unsupported", f"method {request.method} not allowed on {request.path}", status=405
        ) from None


def _request_log(service: RunnerService):
    return request_log_middleware(
        service.log,
        event="http",
        box_id=lambda request: request.match_info.get("box"),
        ms=lambda seconds: int(seconds * 1000),
    )


# --------------------------------------------------------------------------- helpers


def _service(request: web.Request) -> RunnerService:
    return request.app[SERVICE]


def _box(request: web.Request) -> BoxRuntime:
    return _service(request).lookup(request.match_info["box"])


async def _json(request: web.Request) -> object:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError("invalid_argument", "request body is not valid JSON") from None


def _box_response(box: BoxRuntime, status: int = 200) -> web.Response:
    return web.json_response(box.wire(), status=status)


# --------------------------------------------------------------------------- runtime


async def get_config(request: web.Request) -> web.Response:
    # None of the optional features are offered; the SDK then refuses them client-side.
    capabilities = dict.fromkeys(
        (
            "snapshots_enabled",
            "clone_enabled",
            "export_enabled",
            "import_enabled",
            "linux_capabilities_enabled",
        ),
        False,
    )
    return web.json_response({"capabilities": capabilities})


async def get_metrics(request: web.Request) -> web.Response:
    return web.json_response(_service(request).runtime_metrics())


async def get_faults(request: web.Request) -> web.Response:
    faults = [fault.to_json() for fault in _service(request).faults.values()]
    return web.json_response({"component": "runner", "faults": faults})


# --------------------------------------------------------------------------- boxes


async def create_box(request: web.Request) -> web.Response:
    box = await _service(request).create(await _json(request))
    return _box_response(box, status=201)


async def list_boxes(request: web.Request) -> web.Response:
    boxes = [box.wire() for box in _service(request).boxes.values()]
    return web.json_response({"boxes": boxes, "next_page_token": None})


async def get_box(request: web.Request) -> web.Response:
    return _box_response(_box(request))


async def remove_box(request: web.Request) -> web.Response:
    force = request.query.get("force", "false").lower() in ("1", "true", "yes")
    await _service(request).remove(_box(request), force)
    return web.Response(status=204)


async def start_box(request: web.Request) -> web.Response:
    box = _box(request)
    await _service(request).start(box)
    return _box_response(box)


async def stop_box(request: web.Request) -> web.Response:
    box = _box(request)
    await _service(request).stop(box)
    return _box_response(box)


async def box_metrics(request: web.Request) -> web.Response:
    return web.json_response(_service(request).box_metrics(_box(request)))


# --------------------------------------------------------------------------- executions


async def exec_box(request: web.Request) -> web.Response:
    ex = await _service(request).exec(_box(request), await _json(request))
    return web.json_response({"execution_id": ex.id}, status=201)


def _execution(request: web.Request):
    return _service(request).execution(_box(request), request.match_info["eid"])


async def get_execution(request: web.Request) -> web.Response:
    return web.json_response(_execution(request).info())


async def kill_execution(request: web.Request) -> web.Response:
    _execution(request).kill()
    return web.Response(status=204)


async def signal_execution(request: web.Request) -> web.Response:
    ex = _execution(request)
    body = await _json(request)
    sig = body.get("signal") if isinstance(body, dict) else None
    if not isinstance(sig, int) or isinstance(sig, bool) or sig not in ALLOWED_SIGNALS:
        allowed = ", ".join(map(str, sorted(ALLOWED_SIGNALS)))
        raise ApiError("invalid_argument", f"signal {sig!r} is not allowed (allowed: {allowed})")
    await ex.signal(sig)
    return web.Response(status=204)


async def resize_execution(request: web.Request) -> web.Response:
    ex = _execution(request)
    body = await _json(request)
    rows = body.get("rows") if isinstance(body, dict) else None
    cols = body.get("cols") if isinstance(body, dict) else None
    for value in (rows, cols):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
            raise ApiError("invalid_argument", "rows and cols must be integers in 1..65535")
    if not ex.options.tty:
        # Like the real guest, which rejects a resize of a process without a terminal
        # (TtyResize::Rejected): a silent 204 would tell the caller a resize happened.
        raise ApiError("invalid_argument", f"execution {ex.id} has no terminal (tty=false)")
    ex.resize(rows, cols)
    return web.Response(status=204)


def _readonly(request: web.Request) -> bool:
    return request.query.get("stdin", "1").lower() in ("0", "false", "no")


async def attach_execution(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    ex = _execution(request)
    # attach-no-replay (#1046): a re-attach (any attach after the exec stream's first one)
    # starts at the live end, so output produced before it is never seen by that client.
    replay = not ("attach-no-replay" in service.faults and ex.attach_count > 0)
    return await serve_attach(request, ex, readonly=_readonly(request), replay=replay)


async def attach_main(request: web.Request) -> web.StreamResponse:
    box = _box(request)
    ex = await _service(request).main_session(box)
    return await serve_attach(
        request,
        ex,
        readonly=_readonly(request),
        replay=True,
        headers={"X-Boxlite-Execution-Id": ex.id},
    )


# --------------------------------------------------------------------------- images, volumes


async def pull_image(request: web.Request) -> web.Response:
    return web.json_response(await _service(request).pull_image(await _json(request)))


async def remove_volume(request: web.Request) -> web.Response:
    await _service(request).remove_volume(request.match_info["volume"])
    return web.Response(status=204)


# --------------------------------------------------------------------------- files


async def copy_in(request: web.Request) -> web.Response:
    service, box = _service(request), _box(request)
    owner = resolve_user(box.rootfs, box.record.user)
    return await files.copy_in(request, box.rootfs, service.store.box_dir(box.id), owner)


async def copy_out(request: web.Request) -> web.StreamResponse:
    service, box = _service(request), _box(request)
    return await files.copy_out(request, box.rootfs, service.store.box_dir(box.id))
