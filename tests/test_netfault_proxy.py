"""The netfault proxy, each fault against a real socket pair: an aiohttp upstream on loopback,
the proxy in its own thread in front of it, and clients speaking HTTP/1.1 and WebSocket.

Where a fault is a delay, the check is its lower bound (the proxy cannot deliver earlier than
the delay it adds): a property of the fault, not a performance threshold.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp import web

from lib.harness.netfault import faults as nf
from lib.harness.netfault.proxy import NetFaultProxy, ProxyError

pytestmark = pytest.mark.stack  # the proxy is a child process of its own

FRAME = b"\x01" + b"x" * 100  # a stdout frame as the attach protocol sends it
FRAMES = 3
BIG = 100_000
TIMED_OUT = {"status": "timed_out", "exit_code": 143}  # what the stand-in's GET says then
POSTS: list[bytes] = []  # bodies the upstream's /count received, in order


def _app() -> web.Application:
    async def plain(_req):
        return web.Response(text="hello")

    async def echo(req):
        return web.Response(body=await req.read())

    async def big(_req):
        return web.Response(body=b"b" * BIG)

    async def attach(req):
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(req)
        if req.query.get("echo"):
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT and msg.data == "bye":
                    break
        else:
            for _ in range(FRAMES):
                await ws.send_bytes(FRAME)
            code = int(req.query.get("exit", 0))
            await ws.send_str(json.dumps({"type": "exit", "exit_code": code}))
        await ws.close()
        return ws

    async def status(_req):
        return web.json_response(TIMED_OUT)

    async def count(req):
        POSTS.append(await req.read())
        return web.Response(text=f"post {len(POSTS)}")

    app = web.Application()
    app.router.add_get("/api/v1/boxes/b1/executions/{eid}", status)
    app.router.add_post("/api/count", count)
    app.router.add_get("/api/plain", plain)
    app.router.add_post("/api/echo", echo)
    app.router.add_get("/api/big", big)
    app.router.add_get("/api/v1/boxes/b1/executions/{eid}/attach", attach)
    return app


@pytest.fixture
async def upstream():
    runner = web.AppRunner(_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/api"
    await runner.cleanup()


def _proxy(url: str, *words: str, observe: bool = True) -> NetFaultProxy:
    return NetFaultProxy(url, nf.parse(list(words)), seed=1, observe=observe).start()


async def _attach(session, base: str, eid: str) -> list:
    """Every message of one attach, until it closes or breaks."""
    got = []
    async with session.ws_connect(f"{base}/v1/boxes/b1/executions/{eid}/attach") as ws:
        async for msg in ws:
            got.append(msg.data)
    return got


EXPECTED = [FRAME] * FRAMES + [json.dumps({"type": "exit", "exit_code": 0})]


async def test_transparent_forwards_http_and_websocket_unchanged(upstream):
    with _proxy(upstream, "transparent") as proxy:
        async with aiohttp.ClientSession() as s:
            for _ in range(3):  # keep-alive: one connection, three cycles observed
                async with s.get(f"{proxy.url}/plain") as r:
                    assert (r.status, await r.text()) == (200, "hello")
            async with s.post(f"{proxy.url}/echo", data=b"z" * 5000) as r:
                assert await r.read() == b"z" * 5000
            assert await _attach(s, proxy.url, "e1") == EXPECTED
            assert await _attach(s, proxy.url, "e1") == EXPECTED
        responses = proxy.of_kind("response")
        assert [e.status for e in responses] == [200, 200, 200, 200]
        assert len({e.conn for e in responses[:3]}) == 1, "keep-alive cycles tracked"
        assert len(proxy.of_kind("upgrade")) == 2
        assert not proxy.of_kind("cut-after-upgrade", "cut-mid-stream", "reset")


async def test_delay_only_plans_pump_bytes_without_parsing(upstream):
    with _proxy(upstream, "transparent", observe=False) as proxy:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{proxy.url}/plain") as r:
                assert await r.text() == "hello"
            assert await _attach(s, proxy.url, "e1") == EXPECTED
        assert not proxy.of_kind("request", "response", "upgrade")
        assert proxy.of_kind("connection"), "the traffic went through the proxy"


async def test_cut_after_upgrade_cuts_the_first_attach_of_each_execution_only(upstream):
    with _proxy(upstream, "ws-cut-after-upgrade") as proxy:
        async with aiohttp.ClientSession() as s:
            assert await _attach(s, proxy.url, "e1") == []  # 101 delivered, nothing after it
            assert await _attach(s, proxy.url, "e1") == EXPECTED  # a re-attach passes
            assert await _attach(s, proxy.url, "e2") == []  # another execution: cut again
            async with s.get(f"{proxy.url}/plain") as r:  # plain HTTP is untouched
                assert await r.text() == "hello"
        cuts = proxy.of_kind("cut-after-upgrade")
        assert [c.detail for c in cuts] == ["execution e1", "execution e2"]


async def _raw_attach(port: int, eid: str) -> tuple[bytes, bytes]:
    """A hand-written upgrade: the 101 head, then every byte until EOF or the exit frame
    (the server then waits for a close reply this raw client never sends)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/v1/boxes/b1/executions/{eid}/attach HTTP/1.1\r\nHost: x\r\n"
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    rest = b""
    while b'"exit"' not in rest and (chunk := await asyncio.wait_for(reader.read(4096), 10)):
        rest += chunk
    writer.close()
    return head, rest


async def test_cut_mid_stream_delivers_exactly_bytes_then_cuts(upstream):
    with _proxy(upstream, "ws-cut-mid-stream=150") as proxy:
        head, rest = await _raw_attach(proxy.port, "e1")
        assert head.startswith(b"HTTP/1.1 101")
        assert len(rest) == 150, len(rest)  # the server sent over 300 bytes of frames
        head, rest = await _raw_attach(proxy.port, "e1")
        assert len(rest) > 300 and b'"exit"' in rest  # the re-attach is whole
        assert len(proxy.of_kind("cut-mid-stream")) == 1


async def test_latency_delays_each_direction(upstream):
    with _proxy(upstream, "latency=100") as proxy:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{proxy.url}/plain") as r:  # warm the connection up
                await r.read()
            started = time.monotonic()
            async with s.get(f"{proxy.url}/plain") as r:
                assert await r.text() == "hello"
            took = time.monotonic() - started
    assert took >= 0.2 * 0.95, f"request + response crossed in {took:.3f}s, under 2 x 100 ms"


async def test_jitter_never_reorders_a_stream(upstream):
    with _proxy(upstream, "latency=1,20") as proxy:
        async with aiohttp.ClientSession() as s:
            url = f"{proxy.url}/v1/boxes/b1/executions/e9/attach?echo=1"
            async with s.ws_connect(url) as ws:
                sent = [f"m{i:03d}".encode() for i in range(100)]
                for m in sent:
                    await ws.send_bytes(m)
                got = [(await ws.receive(timeout=10)).data for _ in sent]
                await ws.send_str("bye")
    assert got == sent


async def test_bandwidth_paces_a_transfer(upstream):
    with _proxy(upstream, "bandwidth=200") as proxy:  # 200 kB/s
        async with aiohttp.ClientSession() as s:
            started = time.monotonic()
            async with s.get(f"{proxy.url}/big") as r:
                assert len(await r.read()) == BIG
            took = time.monotonic() - started
    # 100 kB at 200 kB/s: the first chunk goes at once, the rest is paced.
    assert took >= 0.3, f"{BIG} B crossed in {took:.3f}s at 200 kB/s"


async def _http(reader, writer, request: bytes) -> bytes:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def test_reset_after_response_delivers_the_response_then_resets(upstream):
    with _proxy(upstream, "reset-after-response=POST") as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        get = b"GET /api/plain HTTP/1.1\r\nHost: x\r\n\r\n"
        assert (await _http(reader, writer, get)).endswith(b"hello")  # GET: no reset
        post = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd"
        assert (await _http(reader, writer, post)).endswith(b"abcd")  # delivered whole
        with pytest.raises(ConnectionResetError):
            writer.write(get)
            await writer.drain()
            if not await asyncio.wait_for(reader.read(100), 10):
                raise AssertionError("the connection ended with a FIN, not a reset")
        writer.close()
        assert [(e.method, e.kind) for e in proxy.of_kind("reset")] == [("POST", "reset")]


def test_proxy_refuses_a_non_http_upstream():
    with pytest.raises(ProxyError, match="upstream must be http"):
        NetFaultProxy("https://example.invalid/api")


# --------------------------------------------------------------------------- mutants


async def test_exit_overtakes_output_delivers_the_exit_before_the_last_frame(upstream):
    with _proxy(upstream, "ws-exit-overtakes-output") as proxy:
        async with aiohttp.ClientSession() as s:
            # The client reads on past the exit frame here, so the moved frame is visible:
            # the SDK stops at the exit frame and never sees it.
            got = await _attach(s, proxy.url, "e1")
            async with s.get(f"{proxy.url}/plain") as r:  # plain HTTP is untouched
                assert await r.text() == "hello"
    assert got == [FRAME] * (FRAMES - 1) + [EXPECTED[-1], FRAME], got


async def test_reattach_drops_stdin_drops_only_a_reattachs_stdin_frames(upstream):
    async def echoed(s, url: str) -> list:
        async with s.ws_connect(f"{url}/v1/boxes/b1/executions/e1/attach?echo=1") as ws:
            await ws.send_bytes(b"in-1")
            await ws.send_bytes(b"in-2")
            await ws.send_str("bye")  # a text frame: passes, and ends the echo
            return [msg.data async for msg in ws]

    with _proxy(upstream, "ws-reattach-drops-stdin") as proxy:
        async with aiohttp.ClientSession() as s:
            assert await echoed(s, proxy.url) == [b"in-1", b"in-2"]  # first attach: whole
            assert await echoed(s, proxy.url) == []  # the re-attach: stdin lost, text kept
        drops = proxy.of_kind("drop-stdin")
        assert drops and all("re-attach" in d.detail for d in drops), drops


async def test_reattach_reports_success_rewrites_a_cut_execution_only(upstream):
    url_of = "{}/v1/boxes/b1/executions/{}"
    with _proxy(upstream, "ws-cut-mid-stream=2", "ws-reattach-reports-success") as proxy:
        async with aiohttp.ClientSession() as s:
            async with s.get(url_of.format(proxy.url, "e1")) as r:  # not cut yet: as is
                assert await r.json() == TIMED_OUT
            await _attach(s, proxy.url, "e1")  # the first attach, cut after 2 bytes
            async with s.get(url_of.format(proxy.url, "e1")) as r:
                assert await r.json() == {"status": "completed", "exit_code": 0}
            async with s.ws_connect(url_of.format(proxy.url, "e1") + "/attach?exit=143") as ws:
                got = [msg.data async for msg in ws]
            async with s.get(url_of.format(proxy.url, "e2")) as r:  # never cut: as is
                assert await r.json() == TIMED_OUT
    assert got[:-1] == [FRAME] * FRAMES and json.loads(got[-1]) == {"type": "exit", "exit_code": 0}
    assert proxy.of_kind("report-success")


async def test_retry_post_after_reset_resends_the_post_to_the_upstream(upstream):
    POSTS.clear()
    with _proxy(upstream, "reset-after-response=POST", "retry-post-after-reset") as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        post = b"POST /api/count HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd"
        assert (await _http(reader, writer, post)).endswith(b"post 1")  # the client's answer
        with pytest.raises(ConnectionResetError):  # the reset still follows, at once
            await asyncio.wait_for(reader.read(100), 10)
        writer.close()
        # The client's next request goes upstream only after the re-send has its answer.
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        get = b"GET /api/plain HTTP/1.1\r\nHost: x\r\n\r\n"
        assert (await _http(reader, writer, get)).endswith(b"hello")
        writer.close()
        retries = proxy.of_kind("retry")
    assert POSTS == [b"abcd", b"abcd"], "the upstream got the POST twice, same body"
    assert [(r.method, r.status) for r in retries] == [("POST", 200)], retries
    requests = [e for e in proxy.of_kind("request") if e.method == "POST"]
    assert len(requests) == 2 and "re-sent" in requests[1].detail, requests
