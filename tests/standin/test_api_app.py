"""The API's own HTTP/WebSocket behaviour, in process, in front of a fake runner.

Checks what the API itself decides (auth, prefix, validation, admin routes, the request log)
and that it passes the runner's answers and frames through unchanged. The end-to-end claims
with the real SDK and the real runner are in test_api_sdk.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from tests.standin.api_fixtures import (
    ADMIN_KEY,
    HUGE,
    RUNNER_KEY,
    in_process_api,
    register_active,
    set_quota,
    wait_for_log,
)

IMG = "e2e/busybox:stable"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def ready_api(tmp_path: Path, session: aiohttp.ClientSession, faults=()):
    """An API with a raised quota and an active snapshot, as fixture setup leaves it."""
    cm = in_process_api(tmp_path, faults)
    api = await cm.__aenter__()
    await set_quota(api, session, maxCpuPerBox=4, maxMemoryPerBox=8, maxDiskPerBox=20)
    assert (await register_active(api, session, IMG))["state"] == "active"
    return cm, api


async def test_health_needs_no_auth_and_everything_else_does(tmp_path, session) -> None:
    async with in_process_api(tmp_path) as api:
        async with session.get(f"{api.url}/health") as resp:
            body = await resp.json()
            assert resp.status == 200
            assert body["status"] == "ok" and body["version"] == "standin" and body["build"]
        for url in (f"{api.url}/v1/me", api.box_url(), f"{api.url}/snapshots"):
            for headers in ({}, api.headers("wrong"), {"Authorization": "Basic x"}):
                async with session.get(url, headers=headers) as resp:
                    body = await resp.json()
                assert resp.status == 401, (url, headers)
                # NestJS flat body: the SDK maps a flat 401 to ConfigError.
                assert body["statusCode"] == 401 and body["error"] == "Unauthorized"
                assert body["path"] == url.split(":", 2)[2][url.split(":", 2)[2].index("/") :]
                assert "timestamp" in body and "wrong" not in json.dumps(body)


async def test_me_config_and_readiness(tmp_path, session) -> None:
    async with in_process_api(tmp_path) as api:
        async with session.get(f"{api.url}/v1/me", headers=api.headers()) as resp:
            me = await resp.json()
        assert me["path_prefix"] == me["prefix"] == "org-123/team-a"
        assert me["sub"] == "boxlite-admin"
        async with session.get(f"{api.url}/v1/config", headers=api.headers()) as resp:
            caps = (await resp.json())["capabilities"]
        assert caps and not any(caps.values())
        ready_url = f"{api.url}/health/ready"
        for _ in range(200):  # bounded wait on the real signal: reconcile has run
            async with session.get(ready_url, headers=api.headers()) as resp:
                status, body = resp.status, await resp.json()
            if status == 200:
                break
            await asyncio.sleep(0.02)
        assert status == 200, body
        assert body["details"]["runner"]["status"] == "up"
        # The runner only ever saw the runner token, never the admin key.
        assert set(api.runner.auth_seen) == {f"Bearer {RUNNER_KEY}"}


async def test_readiness_503_when_runner_rejects_token(tmp_path, session) -> None:
    async with in_process_api(tmp_path, runner_key="not-the-runner-key") as api:
        async with session.get(f"{api.url}/health/ready", headers=api.headers()) as resp:
            body = await resp.json()
        assert resp.status == 503
        assert body["error"]["runner"]["reason"] == "runner rejected the runner token"


async def test_foreign_prefix_is_403(tmp_path, session) -> None:
    async with in_process_api(tmp_path) as api:
        for path in ("/v1/org-123/boxes", "/v1/other/boxes/x/exec"):
            async with session.get(api.url + path, headers=api.headers()) as resp:
                body = await resp.json()
            assert resp.status == 403, path
            assert body["error"]["code"] == "permission_denied"
        async with session.get(api.url + "/v1/org-123/team-a/volumes", headers=api.headers()) as r:
            assert r.status == 200  # the caller's own org: volumes are served


async def test_quota_admin_routes(tmp_path, session) -> None:
    async with in_process_api(tmp_path) as api:
        url = f"{api.url}/admin/organizations/{api.org_id}/quota"
        async with session.get(url, headers=api.headers()) as resp:
            assert (await resp.json())["maxCpuPerBox"] == 0
        bad = {"maxCpuPerBox": -1, "maxMemoryPerBox": "8", "maxGpu": 1}
        async with session.patch(url, json=bad, headers=api.headers()) as resp:
            body = await resp.json()
        assert resp.status == 400 and len(body["message"]) == 3
        encoded = url.replace("org-123/team-a", "org-123%2Fteam-a")
        async with session.patch(encoded, json={"max_cpu_per_box": 2}, headers=api.headers()) as r:
            assert (r.status, (await r.json())["maxCpuPerBox"]) == (200, 2)
        legacy = f"{api.url}/organizations/{api.org_id}/quota"
        async with session.patch(legacy, json={"maxDiskPerBox": 20}, headers=api.headers()) as r:
            assert r.status == 204
        async with session.get(url, headers=api.headers()) as resp:
            quota = await resp.json()
        assert (quota["maxCpuPerBox"], quota["maxDiskPerBox"], quota["customized"]) == (2, 20, True)
        async with session.get(
            f"{api.url}/admin/organizations/nope/quota", headers=api.headers()
        ) as resp:
            assert resp.status == 404


async def test_snapshot_lifecycle(tmp_path, session) -> None:
    async with in_process_api(tmp_path) as api:
        assert (await register_active(api, session, IMG))["state"] == "active"
        bad = await register_active(api, session, "missing/img:1")
        assert bad["state"] == "error" and "manifest unknown" in bad["errorReason"]
        assert api.runner.pulls == [IMG, "missing/img:1"]
        async with session.post(
            f"{api.url}/snapshots", json={"name": IMG, "imageName": IMG}, headers=api.headers()
        ) as resp:
            assert resp.status == 409
        async with session.get(f"{api.url}/snapshots?name=busy", headers=api.headers()) as resp:
            listing = await resp.json()
        assert [s["name"] for s in listing["items"]] == [IMG] and listing["total"] == 1
        quoted = "missing%2Fimg:1"
        async with session.delete(f"{api.url}/snapshots/{quoted}", headers=api.headers()) as r:
            assert r.status == 200
        async with session.get(f"{api.url}/snapshots/{quoted}", headers=api.headers()) as r:
            assert r.status == 404


async def test_create_checks_then_forwards(tmp_path, session) -> None:
    async with in_process_api(tmp_path) as api:
        body = {"image": IMG, "network": {"mode": "enabled"}, "detach": False}
        async with session.post(api.box_url(), json=body, headers=api.headers()) as resp:
            # Fresh org: zero quota, so even the default sizes are refused.
            assert (resp.status, (await resp.json())["error"]["code"]) == (
                429,
                "resource_exhausted",
            )
        await set_quota(api, session, maxCpuPerBox=4, maxMemoryPerBox=8, maxDiskPerBox=20)
        # Not a snapshot: the runner is asked to pull it (the catalog path); one it cannot
        # pull is the runner's 422, passed through.
        missing = {**body, "image": "missing/never:1"}
        async with session.post(api.box_url(), json=missing, headers=api.headers()) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (422, "image_pull_failed")
        await register_active(api, session, IMG)
        for extra, status, code in (
            ({"cpus": 0}, 400, "invalid_argument"),
            ({"memory_mib": -1}, 400, "invalid_argument"),
            ({"cpus": 999}, 429, "resource_exhausted"),
            ({"disk_size_gb": 99_999_999}, 429, "resource_exhausted"),
        ):
            async with session.post(
                api.box_url(), json={**body, **extra}, headers=api.headers()
            ) as resp:
                err = await resp.json()
            assert (resp.status, err["error"]["code"]) == (status, code), extra
            assert "box_id" not in json.dumps(err)  # no silent create behind the error
        assert api.runner.create_bodies == []
        named = {**body, "name": "nm-1", "cpus": 2, "env": {"A": "1"}, "auto_stop": 60}
        async with session.post(api.box_url(), json=named, headers=api.headers()) as resp:
            box = await resp.json()
        assert resp.status == 201
        assert box["box_id"].startswith("bx") and box["name"] == "nm-1"
        assert (box["cpus"], box["memory_mib"], box["image"]) == (2, 512, IMG)
        sent = api.runner.create_bodies[0]
        assert sent["name"] == box["box_id"]  # the API id is the runner-side name
        assert (sent["env"], sent["auto_stop"], sent["cpus"]) == ({"A": "1"}, 60, 2)
        async with session.post(api.box_url(), json=named, headers=api.headers()) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (409, "already_exists")
        async with session.post(
            api.box_url(), json={**body, "image": IMG, "name": "x"}, headers=api.headers()
        ) as resp:
            assert resp.status == 201
        api.store.snapshots[next(iter(api.store.snapshots))].image_name = "explode"
        async with session.post(
            api.box_url(), json={**body, "name": "y"}, headers=api.headers()
        ) as resp:
            # A runner error passes through as-is, and no record is left behind.
            assert (resp.status, await resp.json()) == (
                503,
                {"error": {"message": "sandbox failed to start", "code": "engine_unavailable"}},
            )
        async with session.get(api.box_url(), headers=api.headers()) as resp:
            assert sorted(b["name"] for b in (await resp.json())["boxes"]) == ["nm-1", "x"]


@pytest.mark.parametrize(
    ("fault", "extra", "field", "used"),
    [
        ("quota-clamp", {"cpus": 999}, "cpus", 4),
        ("quota-clamp", {"memory_mib": 8_192_000_000}, "memory_mib", 8192),
        ("validation-coerce", {"cpus": 0}, "cpus", 1),
    ],
)
async def test_api_faults_two_sided(tmp_path, session, fault, extra, field, used) -> None:
    body = {"image": IMG, "network": {"mode": "enabled"}, "detach": False, **extra}
    for faults, expected in (((), 400 if extra.get("cpus") == 0 else 429), ((fault,), 201)):
        cm, api = await ready_api(tmp_path / fault / str(len(faults)), session, faults)
        try:
            async with session.post(api.box_url(), json=body, headers=api.headers()) as resp:
                doc = await resp.json()
            assert resp.status == expected, doc
            if expected == 201:
                assert doc[field] == used
                assert api.runner.create_bodies[0][field] == used
                log = api.log_path.read_text()
                assert f"event=fault name={fault} box_id={doc['box_id']}" in log
            async with session.get(f"{api.url}/v1/_standin/faults", headers=api.headers()) as r:
                reported = [f["name"] for f in (await r.json())["faults"]]
            assert reported == list(faults)
        finally:
            await cm.__aexit__(None, None, None)


async def test_faults_endpoint_combines_both_components(tmp_path, session) -> None:
    async with in_process_api(tmp_path, ["quota-clamp"]) as api:
        api.runner.faults = [{"name": "exec-stdout-drop", "probability": 0.5, "issue": "#563"}]
        async with session.get(f"{api.url}/v1/_standin/faults", headers=api.headers()) as resp:
            doc = await resp.json()
        assert doc["stack"] == "standin"
        assert [(f["name"], f["component"]) for f in doc["faults"]] == [
            ("quota-clamp", "api"),
            ("exec-stdout-drop", "runner"),
        ]


async def test_lifecycle_and_runner_errors_pass_through(tmp_path, session) -> None:
    cm, api = await ready_api(tmp_path, session)
    try:
        body = {"image": IMG, "name": "life", "network": {"mode": "enabled"}, "detach": False}
        body["auto_resume"] = False  # upstream defaults it on; this pins the refusal
        async with session.post(api.box_url(), json=body, headers=api.headers()) as resp:
            box_id = (await resp.json())["box_id"]
        async with session.head(api.box_url(f"/{box_id}"), headers=api.headers()) as resp:
            assert resp.status == 204
        async with session.get(api.box_url("/life"), headers=api.headers()) as resp:
            assert (await resp.json())["box_id"] == box_id  # by name
        async with session.delete(api.box_url(f"/{box_id}"), headers=api.headers()) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (409, "invalid_state")
        async with session.post(api.box_url(f"/{box_id}/stop"), headers=api.headers()) as resp:
            assert (resp.status, (await resp.json())["status"]) == (200, "stopped")
        async with session.post(
            api.box_url(f"/{box_id}/exec"), json={"command": "true"}, headers=api.headers()
        ) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (409, "stopped")
        async with session.post(api.box_url(f"/{box_id}/start"), headers=api.headers()) as resp:
            assert resp.status == 200
        async with session.post(
            api.box_url(f"/{box_id}/exec"), json={"command": "true"}, headers=api.headers()
        ) as resp:
            assert (resp.status, await resp.json()) == (201, {"execution_id": "ex1"})
        async with session.delete(
            api.box_url(f"/{box_id}?force=true"), headers=api.headers()
        ) as resp:
            assert resp.status == 204
        async with session.get(api.box_url(f"/{box_id}"), headers=api.headers()) as resp:
            assert resp.status == 404
        # A box the runner lost (auto_delete, wipe) is 404 and logged loudly.
        async with session.post(api.box_url(), json=body, headers=api.headers()) as resp:
            lost = (await resp.json())["box_id"]
        api.runner.boxes.clear()
        async with session.get(api.box_url(f"/{lost}"), headers=api.headers()) as resp:
            assert resp.status == 404
        assert f"event=box.vanished level=warning box_id={lost}" in api.log_path.read_text()
    finally:
        await cm.__aexit__(None, None, None)


async def test_files_stream_both_ways(tmp_path, session) -> None:
    cm, api = await ready_api(tmp_path, session)
    try:
        body = {"image": IMG, "network": {"mode": "enabled"}, "detach": False}
        async with session.post(api.box_url(), json=body, headers=api.headers()) as resp:
            box_id = (await resp.json())["box_id"]
        files = api.box_url(f"/{box_id}/files")

        async def chunks():
            for _ in range(8):
                yield b"x" * (HUGE // 8)

        async with session.put(
            files,
            params={"path": "/tmp/a b", "source_is_dir": "false"},
            data=chunks(),
            headers={**api.headers(), "Content-Type": "application/x-tar"},
        ) as resp:
            assert resp.status == 204
        assert api.runner.uploaded == [HUGE]
        async with session.get(files, params={"path": "/x"}, headers=api.headers()) as resp:
            assert resp.headers["x-boxlite-source-is-dir"] == "false"
            assert resp.headers["Content-Type"] == "application/x-tar"
            data = await resp.read()
        assert data == b"".join(bytes([i]) * (HUGE // 16) for i in range(16))
    finally:
        await cm.__aexit__(None, None, None)


async def test_websocket_splice(tmp_path, session) -> None:
    cm, api = await ready_api(tmp_path, session)
    try:
        body = {"image": IMG, "network": {"mode": "enabled"}, "detach": False}
        async with session.post(api.box_url(), json=body, headers=api.headers()) as resp:
            box_id = (await resp.json())["box_id"]
        base = api.box_url(f"/{box_id}").replace("http://", "ws://")
        # Refusals before the upgrade keep their status and body (the SDK maps 409/404).
        for eid, status, text in (("busy", 409, "another client"), ("gone", 404, "not found")):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(f"{base}/executions/{eid}/attach", headers=api.headers())
            assert info.value.status == status
            async with session.get(
                f"{base}/executions/{eid}/attach", headers=api.headers()
            ) as resp:
                assert resp.status == status and text in await resp.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"{base}/attach", headers=api.headers("bad"))
        assert info.value.status == 401
        # Frames pass in order both ways; the runner's Ping reaches the client, the client's
        # Pong reaches the runner, and the runner's close code comes through.
        ws = await session.ws_connect(
            f"{base}/attach?stdin=0", headers=api.headers(), autoping=False
        )
        assert ws._response.headers["X-Boxlite-Execution-Id"] == "ex-main"
        ping = await ws.receive()
        assert (ping.type, ping.data) == (aiohttp.WSMsgType.PING, b"hello")
        await ws.pong(b"p1")
        payloads = [bytes([i % 251]) * 1000 + str(i).encode() for i in range(200)]
        for p in payloads:
            await ws.send_bytes(p)
        await ws.send_str('{"type":"stdin_eof"}')
        got = [await ws.receive() for _ in range(203)]
        assert got[0].data == b"\x01pong:p1"
        assert [m.data for m in got[1:201]] == [b"\x01" + p for p in payloads]
        assert got[201].data == b"\x02ro"  # ?stdin=0 reached the runner
        assert got[202].data == '{"type":"exit","exit_code":7}'
        close = await ws.receive()
        assert (close.type, close.data, close.extra) == (aiohttp.WSMsgType.CLOSE, 4001, "done")
        await ws.close()
        await wait_for_log(
            api.log_path, f"path=/api/v1/org-123/team-a/boxes/{box_id}/attach status=101"
        )
    finally:
        await cm.__aexit__(None, None, None)


async def test_request_log_one_line_per_request_never_the_token(tmp_path, session) -> None:
    cm, api = await ready_api(tmp_path, session)
    try:
        body = {"image": IMG, "network": {"mode": "enabled"}, "detach": False, "name": "lg"}
        async with session.post(api.box_url(), json=body, headers=api.headers()) as resp:
            box_id = (await resp.json())["box_id"]
        before = api.log_path.read_text().count("event=request ")
        async with session.get(api.box_url("/lg"), headers=api.headers()) as resp:
            assert resp.status == 200
        async with session.get(api.box_url("/lg"), headers=api.headers("a-wrong-key")) as resp:
            assert resp.status == 401
        log = api.log_path.read_text()
        lines = [ln for ln in log.splitlines() if "event=request " in ln]
        assert len(lines) == before + 2
        # Looked up by name, logged by API id: path verification greps for the id.
        assert "method=GET path=/api/v1/org-123/team-a/boxes/lg status=200" in lines[-2]
        assert f"box_id={box_id}" in lines[-2] and "ms=" in lines[-2]
        assert "status=401" in lines[-1]
        create = [ln for ln in lines if "method=POST" in ln and f"box_id={box_id}" in ln]
        assert len(create) == 1 and "status=201" in create[0]
        for secret in (ADMIN_KEY, RUNNER_KEY, "a-wrong-key"):
            assert secret not in log
    finally:
        await cm.__aexit__(None, None, None)
