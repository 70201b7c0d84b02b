"""The attach WebSocket: stream an execution's output, take its stdin, end with the exit frame.

Wire rules the real 0.10.8 SDK depends on (its attach WebSocket):
- a Ping right after the 101, then every 15 s: the client abandons a socket that shows no
  frame within 10 s, and a silent command would otherwise fall into its reconnect loop;
- binary frames `0x01`+stdout / `0x02`+stderr, then `{"type":"exit","exit_code":N}` strictly
  last (the SDK stops reading at the exit frame: anything after it is lost), then Close 1000;
- one client at a time: a second upgrade is refused with 409 *before* the 101;
- client frames: raw binary stdin, `{"type":"stdin_eof"}`, and the optional in-band
  `{"type":"resize","rows","cols"}` / `{"type":"signal","sig"}` that servers also accept.

A client is a cursor into the execution's backlog (executions.py). It starts at the first
chunk, so an attach a few ms after `POST /exec`, and any re-attach, replay everything —
except under the `attach-no-replay` fault (#1046), where a re-attach starts at the live end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import WSMsgType, web

from standin.errors import ApiError
from standin.runner.executions import ALLOWED_SIGNALS, STDOUT, Execution

PING_INTERVAL = 15.0
# How long Close waits for the client's Close; the SDK just drops the socket after the exit
# frame, so this only bounds a handler's lifetime, never what the client sees.
CLOSE_TIMEOUT = 2.0
MAX_CLIENT_FRAME = 1 << 20  # the Go runner's inbound cap


async def serve_attach(
    request: web.Request,
    execution: Execution,
    *,
    readonly: bool,
    replay: bool,
    headers: dict[str, str] | None = None,
) -> web.WebSocketResponse:
    """Upgrade and stream `execution`; raises ApiError(409) before the 101 when taken."""
    session = _Session(execution, readonly)
    # No await between the check and the claim: a concurrent upgrade sees it taken.
    if not execution.claim(session):
        raise ApiError("invalid_state", f"execution {execution.id} already has an attached client")
    try:
        ws = web.WebSocketResponse(
            autoping=True, timeout=CLOSE_TIMEOUT, max_msg_size=MAX_CLIENT_FRAME
        )
        ws.headers.update(headers or {})
        await ws.prepare(request)
        await session.run(ws, start=0 if replay else execution.end_index)
        return ws
    finally:
        execution.release(session)


class _Session:
    def __init__(self, execution: Execution, readonly: bool):
        self.ws: web.WebSocketResponse
        self.execution = execution
        self.readonly = readonly
        self.closed = asyncio.Event()

    async def run(self, ws: web.WebSocketResponse, start: int) -> None:
        self.ws = ws
        with contextlib.suppress(ConnectionError):
            await self.ws.ping()  # at once: the client's first-frame timer is 10 s
        tasks = [
            asyncio.create_task(self._ping_loop()),
            asyncio.create_task(self._read_client()),
        ]
        try:
            if await self._send_output(start):
                await self.ws.send_str(
                    json.dumps({"type": "exit", "exit_code": self.execution.exit_code})
                )
                # Stop reading before closing: with a reader task parked in receive(),
                # aiohttp's close() drops the transport at once, and a client frame still
                # unread (the SDK's Ping after the first frame) turns the close into a TCP
                # RST that discards the exit frame still queued: the client then sees the
                # stream end without it (found by cases/test_p0_6, ~1 exec in 300 under
                # load). Without a concurrent reader, close() reads the client's frames
                # until its Close or EOF (CLOSE_TIMEOUT), so the socket ends with a FIN.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._close(1000)
        except ConnectionError:
            pass  # the client went away; the execution carries on and can be re-attached
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_output(self, index: int) -> bool:
        """Send chunks from `index` until the end; False when the client left first."""
        ex = self.execution
        # exec-stdout-drop (#563): the exit frame overtakes stdout that is still buffered.
        # The newest stdout chunk is held back, as a buffered writer would hold it, until a
        # newer chunk pushes it out; once the process has exited the exit frame goes first
        # and whatever was held is never sent.
        racy = ex.options.stdout_drop
        while not self.closed.is_set():
            changed = ex.changed()  # taken before the checks, so no change is missed
            if racy and ex.exited:
                return True
            index, chunk = ex.chunk(index)
            if chunk is not None:
                held = racy and chunk.channel == STDOUT and index + 1 >= ex.end_index
                if not held:
                    await self.ws.send_bytes(bytes([chunk.channel]) + chunk.data)
                    index += 1
                    continue
            elif ex.finished:
                return True
            await _first_of(changed, self.closed)
        return False

    async def _ping_loop(self) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(PING_INTERVAL)
                await self.ws.ping()

    async def _read_client(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.BINARY:
                    if self.readonly:
                        await self._refuse_stdin()
                        break
                    await self.execution.write_stdin(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    await self._control(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            self.closed.set()

    async def _refuse_stdin(self) -> None:
        """A read-only attach (`?stdin=0`) answers stdin like boxlite serve: error, 1008."""
        await self.ws.send_str(
            json.dumps(
                {
                    "type": "error",
                    "code": "read_only_attach",
                    "message": "this attach is read-only (stdin=0); stdin is not accepted",
                }
            )
        )
        await self._close(1008)

    async def _close(self, code: int) -> None:
        # The slot is freed before the Close handshake (which waits for the client's Close
        # up to CLOSE_TIMEOUT), so a client re-attaching at once is not refused with 409.
        self.closed.set()
        self.execution.release(self)
        await self.ws.close(code=code)

    async def _control(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            return  # other text is ignored, as the SDK does on its side
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind == "stdin_eof":
            if not self.readonly:
                await self.execution.close_stdin()
        elif kind == "resize":
            rows, cols = frame.get("rows"), frame.get("cols")
            if _positive_int(rows) and _positive_int(cols):
                self.execution.resize(rows, cols)
        elif kind == "signal":
            sig = frame.get("sig", frame.get("signal"))
            if isinstance(sig, int) and sig in ALLOWED_SIGNALS:
                await self.execution.signal(sig)
            else:
                await self.ws.send_str(
                    json.dumps(
                        {
                            "type": "error",
                            "code": "invalid_argument",
                            "message": f"signal {sig!r} is not allowed",
                        }
                    )
                )


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
