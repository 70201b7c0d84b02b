"""The API's HTTP/WebSocket client for the runner, carrying the runner's own token.

The SDK's admin key stops at the API; every call to the runner carries `Bearer
$DEFAULT_RUNNER_API_KEY` instead, like the real API's runner adapter. One pooled aiohttp
session serves JSON calls, streamed proxying and WebSocket attach.

A rejected WebSocket upgrade (404 reaped, 409 already attached, ...) must reach the SDK with
its status and body, because the SDK picks the exception class from that status (for
404/409). aiohttp's `ws_connect` raises on a non-101 answer without the body, so a small client
middleware records the handshake answer of the call in flight (via a ContextVar set by
`ws_connect` below) before aiohttp discards it. The same hook yields the 101's headers, which
carry `X-Boxlite-Execution-Id` for the main-session attach.
"""

from __future__ import annotations

import contextvars
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

# Frames above this are refused (close 1009) rather than buffered without bound. Bigger than
# anything the runner (1 MiB inbound cap) or the SDK sends, so it never bites in practice.
WS_MAX_MSG = 16 * 1024 * 1024
JSON_TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=10)
# Streams (files: up to 24 h in the SDK) must not time out as a whole; only connecting may.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10)
WS_HANDSHAKE_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10)


class RunnerUnavailable(Exception):
    """The runner could not be reached (connection refused, reset, timed out)."""


class PullFailed(Exception):
    """The runner answered that it cannot provide an image; the message says why."""


@dataclass
class RunnerReply:
    status: int
    headers: CIMultiDictProxy[str] | CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Handshake:
    """What the runner answered to a WebSocket upgrade."""

    status: int = 0
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    body: bytes = b""


_handshake: contextvars.ContextVar[Handshake | None] = contextvars.ContextVar(
    "standin_api_ws_handshake", default=None
)


async def _record_handshake(request: aiohttp.ClientRequest, handler):
    response = await handler(request)
    record = _handshake.get()
    if record is not None and request.headers.get("Upgrade", "").lower() == "websocket":
        record.status = response.status
        record.headers = CIMultiDict(response.headers)
        if response.status != 101:
            record.body = await response.read()
    return response


class RunnerClient:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self._token}"},
            # A proxy passes bytes through; it must not decompress on the way.
            auto_decompress=False,
            timeout=STREAM_TIMEOUT,
            middlewares=(_record_handshake,),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RunnerClient.start() was not awaited")
        return self._session

    def url(self, path: str) -> str:
        return self.base_url + path

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Any = None,
        timeout: aiohttp.ClientTimeout = JSON_TIMEOUT,
    ) -> RunnerReply:
        """A small JSON request; the whole answer is read (box records, not outputs)."""
        try:
            async with self.session.request(
                method, self.url(path), json=json_body, params=params, timeout=timeout
            ) as resp:
                return RunnerReply(resp.status, resp.headers, await resp.read())
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise RunnerUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    def stream(self, method: str, path: str, **kwargs: Any):
        """`session.request` as an async context manager, for the streaming proxy."""
        return self.session.request(method, self.url(path), **kwargs)

    async def ws_connect(
        self, path: str, params: Any = None
    ) -> tuple[aiohttp.ClientWebSocketResponse | None, Handshake]:
        """Open the runner-side WebSocket; (None, handshake) when the upgrade was refused."""
        record = Handshake()
        token = _handshake.set(record)
        try:
            ws = await self.session.ws_connect(
                self.url(path),
                params=params,
                autoping=False,  # pings and pongs are forwarded, not answered, by the proxy
                autoclose=True,
                max_msg_size=WS_MAX_MSG,
                timeout=WS_HANDSHAKE_TIMEOUT,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if not record.status:
                record.status = exc.status
            return None, record
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise RunnerUnavailable(f"WS {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            _handshake.reset(token)
        return ws, record

    # -- higher-level calls -----------------------------------------------------------------
    async def list_boxes(self) -> list[dict]:
        reply = await self.call("GET", "/v1/boxes")
        doc = reply.json()
        if not reply.ok or not isinstance(doc, dict) or not isinstance(doc.get("boxes"), list):
            raise RunnerUnavailable(f"GET /v1/boxes answered {reply.status}")
        return doc["boxes"]

    async def pull_image(self, image: str) -> None:
        """Make the runner hold `image`; raises PullFailed or RunnerUnavailable.

        Uses the runner's `POST /v1/images/pull`; a runner without that route (404/405; a
        missing image is 422 `image_pull_failed`, never 404) is asked by creating and removing
        a throwaway box, which pulls the image as a side effect.
        """
        reply = await self.call("POST", "/v1/images/pull", json_body={"image": image})
        if reply.ok:
            return
        if reply.status in (404, 405):
            await self._pull_by_throwaway_box(image)
            return
        raise PullFailed(_error_message(reply))

    async def _pull_by_throwaway_box(self, image: str) -> None:
        body = {
            "name": f"snapshot-pull-{secrets.token_hex(4)}",
            "image": image,
            "network": {"mode": "disabled"},
            "detach": True,
        }
        reply = await self.call("POST", "/v1/boxes", json_body=body)
        if not reply.ok:
            raise PullFailed(_error_message(reply))
        box_id = (reply.json() or {}).get("box_id")
        if box_id:
            await self.call("DELETE", f"/v1/boxes/{box_id}", params={"force": "true"})


def _error_message(reply: RunnerReply) -> str:
    doc = reply.json()
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if doc.get("message"):
            return str(doc["message"])
    text = reply.body.decode("utf-8", "replace").strip()
    return f"runner answered HTTP {reply.status}" + (f": {text[:300]}" if text else "")
