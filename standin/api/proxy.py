"""Streaming HTTP and WebSocket pass-through from the API to the runner.

exec, executions, files and metrics are the runner's business; the API only authenticates,
resolves the box and forwards. Bodies stream chunk by chunk in both directions (a `copy_out`
of a large tree or a chunked `copy_in` never sits whole in the API's memory), and the runner's
status, headers and body come back unchanged, so runner errors reach the SDK as-is.

WebSocket attach is spliced frame by frame: binary, text, ping and pong are forwarded in order
in each direction (the SDK's 10 s first-frame timer counts the runner's immediate Ping, so the
proxy must not swallow it), and the first Close ends both legs with its
code. An upgrade the runner refuses is refused to the SDK with the same status and body
before any upgrade: 409 becomes AlreadyExistsError and 404 SessionReapedError in the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from standin.api.runner_client import WS_MAX_MSG, RunnerClient, RunnerUnavailable
from standin.errors import ApiError

EXECUTION_ID_HEADER = "X-Boxlite-Execution-Id"

# RFC 9110 §7.6.1 hop-by-hop headers, plus what the proxy sets itself per hop.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",  # the SDK's admin key stops here; the runner gets its own token
    "date",
    "server",
}
# Close codes that may not be sent on the wire (RFC 6455 §7.4.1); relayed as a plain 1000.
_UNSENDABLE_CLOSE = {0, 1005, 1006, 1015}


def _forward_headers(headers) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP)


TRUNCATE_AT = 1 << 20  # fault `files-stream-truncated`: bytes of a copy_out forwarded


async def proxy_http(
    request: web.Request, client: RunnerClient, path: str, *, truncate: bool = False
) -> web.StreamResponse:
    headers = _forward_headers(request.headers)
    data = None
    if request.body_exists:
        data = request.content  # streamed: aiohttp sends a StreamReader chunk by chunk
        if request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
    response: web.StreamResponse | None = None
    try:
        async with client.stream(
            request.method, path, params=request.rel_url.query, headers=headers, data=data
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                reason=upstream.reason,
                headers=_forward_headers(upstream.headers),
            )
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            sent = 0
            async for chunk in upstream.content.iter_any():
                if truncate and sent + len(chunk) > TRUNCATE_AT:
                    # Fault: the stream ends early; the client sees a body cut short.
                    await response.write(chunk[: TRUNCATE_AT - sent])
                    request.transport.close()
                    return response
                sent += len(chunk)
                await response.write(chunk)
            await response.write_eof()
            return response
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        if response is not None and response.prepared:
            # Mid-stream: the status is already sent; the client sees the body cut short,
            # exactly as it would from the runner itself.
            raise
        raise ApiError("upstream_unavailable", f"runner unreachable: {exc}") from exc


async def proxy_ws(request: web.Request, client: RunnerClient, path: str) -> web.StreamResponse:
    try:
        upstream, handshake = await client.ws_connect(path, params=request.rel_url.query)
    except RunnerUnavailable as exc:
        raise ApiError("upstream_unavailable", f"runner unreachable: {exc}") from exc
    if upstream is None:
        # Refused before the upgrade: same status, same body, so the SDK maps it the same.
        return web.Response(
            status=handshake.status,
            body=handshake.body,
            content_type=_content_type(handshake.headers),
        )
    downstream = web.WebSocketResponse(autoping=False, max_msg_size=WS_MAX_MSG)
    execution_id = handshake.headers.get(EXECUTION_ID_HEADER)
    if execution_id:
        downstream.headers[EXECUTION_ID_HEADER] = execution_id
    try:
        await downstream.prepare(request)
        await _splice(downstream, upstream)
    finally:
        await upstream.close()
    return downstream


def _content_type(headers) -> str:
    return headers.get("Content-Type", "application/json").split(";")[0].strip()


async def _splice(downstream: web.WebSocketResponse, upstream) -> None:
    """Pump frames both ways until either side closes, then close the other with its code.

    A leg that sees its source close returns that Close instead of closing its sink itself:
    the sink is still being read by the other leg, and aiohttp's close() with a reader parked
    in receive() drops the transport at once. A peer frame still unread then (the SDK pings
    right after the first frame) turns the close into a TCP RST that discards what was
    queued, the exit frame included. So the other leg is stopped first, and close() drains
    the peer's frames itself (until its Close, EOF or the close timeout): the socket ends
    with a FIN after everything was delivered (found by cases/test_p0_6 under load).
    """
    to_client = asyncio.create_task(_pump(upstream, downstream))
    to_runner = asyncio.create_task(_pump(downstream, upstream))
    try:
        done, _ = await asyncio.wait({to_client, to_runner}, return_when=asyncio.FIRST_COMPLETED)
        first = to_client if to_client in done else to_runner
        other = to_runner if first is to_client else to_client
        sink = downstream if first is to_client else upstream
        other.cancel()
        await asyncio.gather(other, return_exceptions=True)
        # A leg that failed (peer reset mid-write) just ends the session: the upgrade is long
        # sent, so there is no status left to report it with.
        close = None if first.cancelled() or first.exception() else first.result()
        code, message = close or (1000, b"")
        with contextlib.suppress(Exception):
            await sink.close(code=code, message=message)
    finally:
        for task in (to_client, to_runner):
            task.cancel()
        await asyncio.gather(to_client, to_runner, return_exceptions=True)


async def _pump(source, sink) -> tuple[int, bytes] | None:
    """Forward frames until the source closes; return its Close (None: it just went away)."""
    while True:
        msg = await source.receive()
        if msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == WSMsgType.PING:
            await sink.ping(msg.data)
        elif msg.type == WSMsgType.PONG:
            await sink.pong(msg.data)
        elif msg.type == WSMsgType.CLOSE:
            code = msg.data if msg.data not in _UNSENDABLE_CLOSE else 1000
            return code, (msg.extra or "").encode()
        else:  # CLOSING / CLOSED / ERROR: the peer went away without a Close frame
            return None
