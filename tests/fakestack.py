"""A tiny in-process API + runner double for the harness's own plugin and runtime tests.

The real stand-in stack lives in `standin/` and is what the integration self-tests use. The
plugin/runtime unit tests need something much smaller that starts in milliseconds and lets a
test choose exactly what the "stack" reports: its faults, whether the runner log names a box
(a bypass), whether a delete fails. It speaks just the REST subset the real `boxlite` SDK uses
for create/get/remove/clone (routes, Box JSON, error envelopes) and writes one logfmt line per box
event to an API log and a runner log, like the stand-in does. Exec is not implemented.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from standin.logfmt import format_event


@dataclass
class FakeStack:
    api_log: Path
    runner_log: Path
    key: str = "fake-key"
    prefix: str = "org-e2e"
    faults: list[dict] = field(default_factory=list)
    standin: bool = True
    log_runner: bool = True  # False: the runner "never sees" boxes (models a bypass)
    fail_delete: set[str] = field(default_factory=set)  # box names whose DELETE answers 500
    boxes: dict[str, dict] = field(default_factory=dict)
    url: str = ""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- logs
    def _log(self, log: Path, component: str, event: str, **fields: object) -> None:
        with log.open("a") as fh:
            fh.write(format_event(component, event, fields) + "\n")

    # -- app
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_get("/api/health", self._health)
        r.add_get("/api/v1/me", self._me)
        r.add_get("/api/v1/config", self._config)
        r.add_get("/api/v1/_standin/faults", self._faults)
        p = f"/api/v1/{self.prefix}"
        r.add_post(p + "/boxes", self._create)
        r.add_get(p + "/boxes", self._list)
        r.add_get(p + "/boxes/{id}", self._get)
        r.add_delete(p + "/boxes/{id}", self._delete)
        r.add_post(p + "/boxes/{id}/clone", self._clone)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        response = None
        if request.path != "/api/health" and (
            request.headers.get("Authorization") != f"Bearer {self.key}"
        ):
            response = envelope("unauthenticated", "bad key", 401)
        else:
            try:
                response = await handler(request)
            except web.HTTPNotFound:
                response = envelope("not_found", f"no route {request.path}", 404)
        self._log(
            self.api_log,
            "api",
            "request",
            method=request.method,
            path=request.path,
            status=response.status,
            box_id=request.match_info.get("id"),
        )
        return response

    async def _health(self, _):
        return web.json_response({"status": "ok", "version": "fake-1"})

    async def _me(self, _):
        return web.json_response({"sub": "admin", "path_prefix": self.prefix})

    async def _config(self, _):
        return web.json_response({"capabilities": {"clone_enabled": True}})

    async def _faults(self, _):
        if not self.standin:
            raise web.HTTPNotFound()
        return web.json_response({"component": "api", "faults": self.faults})

    def _new_box(self, body: dict) -> dict:
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        box_id = f"bx{next(self._ids):04d}"
        box = {
            "box_id": box_id,
            "name": body.get("name"),
            "status": "configured",
            "created_at": now,
            "updated_at": now,
            "image": body.get("image", ""),
            "cpus": 1,
            "memory_mib": 256,
            "auto_stop": body.get("auto_stop", 900),
            "auto_delete": body.get("auto_delete", 0),
            "labels": {},
        }
        self.boxes[box_id] = box
        self._log(self.api_log, "api", "box.create", box_id=box_id, name=box["name"])
        if self.log_runner:
            self._log(self.runner_log, "runner", "box.create", box_id=f"r{box_id}", name=box_id)
        return box

    def _find(self, key: str) -> dict | None:
        return self.boxes.get(key) or next(
            (b for b in self.boxes.values() if b["name"] == key), None
        )

    async def _create(self, request: web.Request):
        body = await request.json()
        if body.get("name") and self._find(body["name"]):
            return envelope("already_exists", "name taken", 409)
        return web.json_response(self._new_box(body), status=201)

    async def _list(self, _):
        return web.json_response({"boxes": list(self.boxes.values())})

    async def _get(self, request: web.Request):
        box = self._find(request.match_info["id"])
        return web.json_response(box) if box else envelope("not_found", "no box", 404)

    async def _delete(self, request: web.Request):
        box = self._find(request.match_info["id"])
        if box is None:
            return envelope("not_found", "no box", 404)
        if box["name"] in self.fail_delete:
            return envelope("internal", "delete exploded", 500)
        del self.boxes[box["box_id"]]
        return web.Response(status=204)

    async def _clone(self, request: web.Request):
        src = self._find(request.match_info["id"])
        if src is None:
            return envelope("not_found", "no box", 404)
        body = await request.json() if request.can_read_body else {}
        return web.json_response(self._new_box({**src, "name": body.get("name")}), status=201)


def envelope(code: str, message: str, status: int) -> web.Response:
    """The error envelope the fakes answer with (canonical, without the type name)."""
    return web.json_response({"error": {"message": message, "code": code}}, status=status)


class FakeStackServer:
    """Runs a FakeStack's app on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, stack: FakeStack):
        self.stack = stack
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeStack:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self.stack

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.stack.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.stack.url = f"http://127.0.0.1:{port}/api"

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
