"""Fixtures for the stand-in API self-tests.

Two ways to run the API, for two kinds of test:

- in process, in front of `FakeRunner` (a few dozen lines of aiohttp that answer like the
  runner contract): fast, deterministic checks of the API's own behaviour (auth, prefix,
  validation, admin routes, error and WebSocket pass-through, the request log). The fake
  stands in for the runner only; the SDK is never faked.
- as a real `python -m standin api` subprocess in front of a real `python -m standin runner`
  subprocess, driven by the real SDK (`ApiProcess`, `start_api`): the end-to-end claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer

from standin.api.app import build_app
from standin.api.config import ApiConfig
from standin.api.context import CTX
from standin.api.store import Store
from standin.faults import parse_faults
from standin.logfmt import EventLog
from tests.fakestack import envelope
from tests.standin.process_fixtures import READY_TIMEOUT, spawn_listening, stop_process

ADMIN_KEY = "adm-7e3f19c2d4"
RUNNER_KEY = "run-51aa0b9e8c"
HUGE = 1024 * 1024


@dataclass
class FakeRunner:
    """Answers like the runner contract; records what the API sent it."""

    boxes: dict[str, dict] = field(default_factory=dict)
    auth_seen: list[str] = field(default_factory=list)
    pulls: list[str] = field(default_factory=list)
    create_bodies: list[dict] = field(default_factory=list)
    uploaded: list[int] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_post("/v1/images/pull", self.pull)
        r.add_get("/v1/boxes", self.list)
        r.add_post("/v1/boxes", self.create)
        r.add_get("/v1/boxes/{id}", self.get)
        r.add_delete("/v1/boxes/{id}", self.delete)
        r.add_post("/v1/boxes/{id}/{action:start|stop}", self.action)
        r.add_post("/v1/boxes/{id}/exec", self.exec)
        r.add_get("/v1/boxes/{id}/executions/{eid}/attach", self.attach)
        r.add_get("/v1/boxes/{id}/attach", self.attach)
        r.add_get("/v1/boxes/{id}/files", self.files_get)
        r.add_put("/v1/boxes/{id}/files", self.files_put)
        r.add_get("/v1/_standin/faults", self.list_faults)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        self.auth_seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {RUNNER_KEY}":
            return envelope("unauthenticated", "bad runner token", 401)
        return await handler(request)

    async def pull(self, request: web.Request) -> web.Response:
        image = (await request.json())["image"]
        self.pulls.append(image)
        if image.startswith("missing/"):
            return envelope("image_pull_failed", f"manifest unknown: {image}", 422)
        return web.json_response({"image": image})

    async def list(self, request: web.Request) -> web.Response:
        return web.json_response({"boxes": list(self.boxes.values())})

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.create_bodies.append(body)
        if body.get("image") == "explode":
            return envelope("engine_unavailable", "sandbox failed to start", 503)
        box_id = f"rb{len(self.create_bodies)}"
        now = "2026-01-01T00:00:00Z"
        self.boxes[box_id] = {
            "box_id": box_id,
            "name": body.get("name"),
            "status": "running",
            "created_at": now,
            "updated_at": now,
            "image": body["image"],
            "cpus": body.get("cpus", 1),
            "memory_mib": body.get("memory_mib", 512),
            "labels": {},
        }
        return web.json_response(self.boxes[box_id], status=201)

    def _box(self, request: web.Request) -> dict:
        box = self.boxes.get(request.match_info["id"])
        if box is None:
            raise web.HTTPNotFound(
                text='{"error":{"message":"no such box","code":"not_found"}}',
                content_type="application/json",
            )
        return box

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(self._box(request))

    async def delete(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box["status"] == "running" and request.query.get("force") != "true":
            return envelope("invalid_state", "box is running; stop it or force", 409)
        del self.boxes[box["box_id"]]
        return web.Response(status=204)

    async def action(self, request: web.Request) -> web.Response:
        box = self._box(request)
        box["status"] = "running" if request.match_info["action"] == "start" else "stopped"
        return web.json_response(box)

    async def exec(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box["status"] != "running":
            return envelope("stopped", "box is stopped", 409)
        return web.json_response({"execution_id": "ex1"}, status=201)

    async def attach(self, request: web.Request) -> web.StreamResponse:
        eid = request.match_info.get("eid", "ex-main")
        if eid == "busy":
            return envelope("invalid_state", "another client is attached", 409)
        if eid == "gone":
            return web.json_response({"error": "execution not found"}, status=404)
        ws = web.WebSocketResponse(autoping=False)
        ws.headers["X-Boxlite-Execution-Id"] = eid
        await ws.prepare(request)
        await ws.ping(b"hello")
        read_only = request.query.get("stdin") == "0"
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.PONG:
                await ws.send_bytes(b"\x01pong:" + msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(b"\x01" + msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT and msg.data == '{"type":"stdin_eof"}':
                await ws.send_bytes(b"\x02" + (b"ro" if read_only else b"rw"))
                await ws.send_str('{"type":"exit","exit_code":7}')
                await ws.close(code=4001, message=b"done")
        return ws

    async def files_get(self, request: web.Request) -> web.StreamResponse:
        self._box(request)
        resp = web.StreamResponse(headers={"x-boxlite-source-is-dir": "false"})
        resp.content_type = "application/x-tar"
        await resp.prepare(request)
        for i in range(16):
            await resp.write(bytes([i]) * (HUGE // 16))
        await resp.write_eof()
        return resp

    async def files_put(self, request: web.Request) -> web.Response:
        self._box(request)
        total = 0
        async for chunk in request.content.iter_any():
            total += len(chunk)
        self.uploaded.append(total)
        return web.Response(status=204)

    async def list_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"component": "runner", "faults": self.faults})


@dataclass
class InProcessApi:
    url: str  # the SDK's url, ending in /api
    org_id: str
    runner: FakeRunner
    log_path: Path
    store: Store
    app: web.Application

    def headers(self, key: str = ADMIN_KEY) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def box_url(self, path: str = "") -> str:
        return f"{self.url}/v1/{self.org_id}/boxes{path}"


@contextlib.asynccontextmanager
async def in_process_api(
    tmp_path: Path,
    faults: list[str] = (),
    org_id: str = "org-123/team-a",
    runner_key: str = RUNNER_KEY,
    lifecycle_floor: int = 60,
    health_key: str = "",
) -> AsyncIterator[InProcessApi]:
    """The API app in this event loop, in front of a fresh FakeRunner, both on free ports.

    `runner_key` is the token the API sends; the fake runner only accepts RUNNER_KEY.
    """
    await asyncio.to_thread(tmp_path.mkdir, parents=True, exist_ok=True)
    fake = FakeRunner()
    runner_server = TestServer(fake.app(), host="127.0.0.1")
    await runner_server.start_server()
    config = ApiConfig(
        host="127.0.0.1",
        port=0,
        runner_url=str(runner_server.make_url("")).rstrip("/"),
        state_dir=tmp_path / "api-state",
        log_file=tmp_path / "api.log",
        org_id=org_id,
        faults=parse_faults(list(faults)),
        admin_key=ADMIN_KEY,
        runner_key=runner_key,
        lifecycle_floor=lifecycle_floor,
        health_key=health_key,
    )
    log = EventLog("api", str(config.log_file))
    store = Store.open(config.state_dir, org_id)
    app = build_app(config, store, log)
    # Served the way `main.serve` does (not TestServer, which cancels handlers when a client
    # disconnects, unlike production), on a free port.
    api_runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await api_runner.setup()
    try:
        await web.TCPSite(api_runner, "127.0.0.1", 0).start()
        port = api_runner.addresses[0][1]
        yield InProcessApi(
            f"http://127.0.0.1:{port}/api", org_id, fake, config.log_file, store, app
        )
    finally:
        await api_runner.cleanup()
        await runner_server.close()
        log.close()


async def register_active(api: InProcessApi, session: aiohttp.ClientSession, image: str) -> dict:
    """Register `image` as a snapshot and wait (bounded, on the real state) until it settles."""
    async with session.post(
        f"{api.url}/snapshots", json={"name": image, "imageName": image}, headers=api.headers()
    ) as resp:
        assert resp.status == 200, await resp.text()
    await asyncio.wait_for(api.app[CTX].puller.wait_idle(), 10)
    async with session.get(f"{api.url}/snapshots/{image}", headers=api.headers()) as resp:
        return await resp.json()


async def set_quota(api: InProcessApi, session: aiohttp.ClientSession, **quota: int) -> None:
    url = f"{api.url}/admin/organizations/{api.org_id}/quota"
    async with session.patch(url, json=quota, headers=api.headers()) as resp:
        assert resp.status == 200, await resp.text()


async def wait_for_log(path: Path, needle: str, timeout: float = 10.0) -> str:
    """The log text once it contains `needle` (request lines are written when a handler ends)."""
    deadline = time.monotonic() + timeout
    while True:
        text = await asyncio.to_thread(_read, path)
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not in {path} after {timeout}s:\n{text[-2000:]}")
        await asyncio.sleep(0.02)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


# --------------------------------------------------------------------- real API subprocess


@dataclass
class ApiProcess:
    proc: subprocess.Popen
    url: str  # ends in /api: what the SDK is given
    org_id: str
    state_dir: Path
    log_path: Path
    stderr_path: Path
    admin_key: str = field(repr=False)

    def sdk(self, key: str | None = None, prefix: str | None = None):
        """The real SDK, the way production uses it: url .../api, path_prefix = the org."""
        import boxlite

        credential = boxlite.ApiKeyCredential(self.admin_key if key is None else key)
        return boxlite.Boxlite.rest(
            boxlite.BoxliteRestOptions(
                url=self.url,
                credential=credential,
                path_prefix=self.org_id if prefix is None else prefix,
            )
        )

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=30
        )

    def log_text(self) -> str:
        return _read(self.log_path)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, bounded wait, then SIGKILL; returns the exit status."""
        return stop_process(self.proc, timeout)


def start_api(
    state_dir: Path,
    *,
    runner_url: str,
    runner_key: str,
    org_id: str,
    admin_key: str = ADMIN_KEY,
    faults: list[str] = (),
    ready_timeout: float = READY_TIMEOUT,
    extra_args: list[str] = (),
) -> ApiProcess:
    """`python -m standin api --port 0`; ready once its `listen` line is in the log."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir.parent / f"{state_dir.name}.api.log"
    stderr_path = state_dir.parent / f"{state_dir.name}.api.stderr"
    argv = [sys.executable, "-m", "standin", "api", "--port", "0", "--runner-url", runner_url]
    argv += ["--state-dir", str(state_dir), "--log-file", str(log_path), "--org-id", org_id]
    for fault in faults:
        argv += ["--fault", fault]
    argv += list(extra_args)
    env = {**os.environ, "ADMIN_API_KEY": admin_key, "DEFAULT_RUNNER_API_KEY": runner_key}
    proc, url = spawn_listening(
        argv,
        env=env,
        log_path=log_path,
        stderr_path=stderr_path,
        what="api",
        ready_timeout=ready_timeout,
    )
    return ApiProcess(proc, url, org_id, state_dir, log_path, stderr_path, admin_key)


def wait_ready(api: ApiProcess, timeout: float = 30.0) -> dict:
    """Bounded wait for `/api/health/ready` (runner reachable, records reconciled)."""
    deadline = time.monotonic() + timeout
    with api.http() as http:
        while True:
            resp = http.get("/health/ready")
            if resp.status_code == 200:
                return resp.json()
            if time.monotonic() > deadline:
                raise AssertionError(f"API not ready after {timeout}s: {resp.text}")
            time.sleep(0.05)


def fixture_setup(api: ApiProcess, image: str, timeout: float = 60.0) -> None:
    """What fixture setup does on a fresh stack: raise the quota, register an active snapshot."""
    with api.http() as http:
        quota = {"maxCpuPerBox": 4, "maxMemoryPerBox": 8, "maxDiskPerBox": 20}
        resp = http.patch(f"/admin/organizations/{api.org_id}/quota", json=quota)
        assert resp.status_code == 200, resp.text
        resp = http.post("/snapshots", json={"name": image, "imageName": image})
        assert resp.status_code in (200, 409), resp.text
        deadline = time.monotonic() + timeout
        while True:
            snap = http.get(f"/snapshots/{image.replace('/', '%2F')}").json()
            if snap["state"] in ("active", "error"):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"snapshot {image} still {snap['state']} after {timeout}s")
            time.sleep(0.05)
        assert snap["state"] == "active", snap


@contextlib.contextmanager
def api_process(state_dir: Path, **kwargs) -> Iterator[ApiProcess]:
    api = start_api(state_dir, **kwargs)
    try:
        yield api
    finally:
        api.stop()
