"""A loopback HTTP/WebSocket proxy in front of the API that injects named network faults.

Why our own: every case so far runs over loopback with sub-millisecond latency and no cuts,
the conditions under which BoxLite's REST bugs stay hidden (boxlite-ai/boxlite#627: a fast
exec "over the cloud" returned exit 0 with empty stdout because a proxy cut the attach
WebSocket before its output arrived). What was looked at first:

- toxiproxy: not packaged in Debian 12; on PyPI only clients (`toxiproxy-python`), the Go
  server binary cannot be installed here. Its toxics are TCP-level (latency, bandwidth,
  reset_peer, limit_data, timeout): none can tell an attach upgrade from a box create, so
  "cut the first attach upgrade of each execution right after its 101" is out of reach.
- mitmproxy (PyPI, Debian): HTTP/WS-aware with addons, but it terminates and re-frames
  WebSocket messages (not byte-transparent: ping/close timing, which the stand-in's own
  attach bug hinged on, would be the proxy's, not the server's), runs its own master loop and
  pulls in dozens of dependencies for a loopback test tool.

So: asyncio streams forwarding bytes unchanged, with `h11` (already installed with httpx)
only *observing* both directions to know where each request and response starts and ends,
which request was upgraded (101) and when a plain response is complete. h11 parses client
bytes as a server would and server bytes as a client would; each side's events are mirrored
into the other parser so their states stay in step across keep-alive cycles. A byte stream
h11 refuses makes that connection opaque (still forwarded, only the delay faults apply).

Faults (lib.harness.netfault.faults) act at those points: after the 101 of an
execution's first attach (server frames withheld until its exit frame, then the cut), after
N bytes of its server frames (cut), after a plain response (RST), and per chunk per
direction (latency with jitter, bandwidth pacing, order kept).

The proxy runs in a child process with its own event loop, so neither a case's synchronous
code (the path check reading logs, httpx sync probes) nor the test process's GIL stalls
traffic. `events` records every connection
and fault action, and, when the plan needs HTTP boundaries (cuts, resets) or the caller
passes `observe=True`, every request, response and upgrade (`summary()`). A plan of delays
only (transparent, latency, bandwidth) pumps bytes without parsing them: that is what the
overhead benchmark measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import h11

from lib.errors import HarnessError
from lib.harness.netfault.faults import FaultPlan, NetFaultError, parse
from lib.names import REPO_ROOT

READ_SIZE = 64 * 1024
QUEUE_CHUNKS = 256  # delayed chunks in flight per direction before reading pauses
START_TIMEOUT_S = 10.0
EVENTS_CAP = 10_000
WITHHOLD_BOUND_S = 10.0  # ws-cut-after-upgrade waits at most this long for the exit frame
ATTACH_RE = re.compile(r"/executions/(?P<eid>[^/?]+)/attach(?:\?|$)")
STATUS_RE = re.compile(r"/executions/(?P<eid>[^/?]+)/?(?:\?|$)")  # GET .../executions/{id}
EXIT_CODE_RE = re.compile(rb'"exit_code": ?(-?\d+)')
REPLAY_TIMEOUT_S = 30.0  # retry-post-after-reset: the re-sent POST's answer, at most


class ProxyError(HarnessError):
    """The proxy could not be started or used; the message says why."""


@dataclass(frozen=True)
class Event:
    """One thing the proxy saw or did, for evidence (JSON-line shipped from the child)."""

    at: float  # monotonic
    conn: int
    kind: str  # request | response | upgrade | cut-after-upgrade | cut-mid-stream | reset
    method: str = ""
    target: str = ""
    status: int | None = None
    detail: str = ""


class _Observer:
    """Two mirrored h11 parsers: where requests and responses begin and end."""

    def __init__(self, capture: bool = False) -> None:
        self.srv = h11.Connection(h11.SERVER)  # fed client bytes
        self.cli = h11.Connection(h11.CLIENT)  # fed server bytes
        self.pending: deque[h11.Request] = deque()
        self.opaque = False
        self.switched: h11.Request | None = None
        # retry-post-after-reset re-sends a request: its body, by id() of its Request.
        self.capture = capture
        self.bodies: dict[int, bytearray] = {}

    def client_bytes(self, data: bytes) -> list[h11.Request]:
        if self.opaque or self.switched is not None:
            return []
        before = len(self.pending)
        try:
            self.srv.receive_data(data)
            self._requests()
        except h11.ProtocolError:
            self.opaque = True
        return list(self.pending)[before:]

    def _requests(self) -> None:
        while True:
            ev = self.srv.next_event()
            if ev is h11.NEED_DATA or ev is h11.PAUSED or isinstance(ev, h11.ConnectionClosed):
                return
            if isinstance(ev, h11.Request):
                self.pending.append(ev)
                if self.capture:
                    self.bodies[id(ev)] = bytearray()
            elif isinstance(ev, h11.Data) and self.capture and self.pending:
                self.bodies.setdefault(id(self.pending[-1]), bytearray()).extend(ev.data)
            self.cli.send(ev)

    def server_bytes(self, data: bytes) -> list[tuple[str, h11.Request, object]]:
        """('response', req, Response) | ('done', req, None) | ('switched', req, trailing)."""
        out: list[tuple[str, h11.Request, object]] = []
        if self.opaque or self.switched is not None:
            return out
        try:
            self.cli.receive_data(data)
            while True:
                ev = self.cli.next_event()
                if ev is h11.NEED_DATA or ev is h11.PAUSED or isinstance(ev, h11.ConnectionClosed):
                    break
                self.srv.send(ev)
                if isinstance(ev, h11.InformationalResponse) and ev.status_code == 101:
                    req = self.pending.popleft()
                    self.switched = req
                    out.append(("switched", req, len(self.cli.trailing_data[0])))
                    break
                if isinstance(ev, h11.Response) and self.pending:
                    out.append(("response", self.pending[0], ev))
                if isinstance(ev, h11.EndOfMessage) and self.pending:
                    out.append(("done", self.pending.popleft(), None))
                    if self.cli.our_state is h11.DONE and self.cli.their_state is h11.DONE:
                        self.cli.start_next_cycle()
                        self.srv.start_next_cycle()
                        self._requests()  # a request already buffered behind this one
                    else:
                        break
        except h11.ProtocolError:
            self.opaque = True
        return out


class _Frames:
    """Just enough RFC 6455 to see a server's exit frame (a text frame with type exit)."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> bool:
        self.buf += data
        while len(self.buf) >= 2:
            opcode, size, at = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
            if size == 126:
                if len(self.buf) < 4:
                    return False
                size, at = struct.unpack("!H", self.buf[2:4])[0], 4
            elif size == 127:
                if len(self.buf) < 10:
                    return False
                size, at = struct.unpack("!Q", self.buf[2:10])[0], 10
            at += 4 if self.buf[1] & 0x80 else 0  # servers do not mask, but be exact
            if len(self.buf) < at + size:
                return False
            payload, self.buf = self.buf[at : at + size], self.buf[at + size :]
            if opcode == 0x8 or (opcode == 0x1 and b'"exit"' in payload):
                return True
        return False


class _FrameSplitter:
    """Whole RFC 6455 frames out of a byte stream (either direction), partial ones kept.

    The mutants that act on single frames (drop a client's stdin frame, hold a server's last
    output frame back) need frame boundaries, not chunk boundaries."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """(opcode, the frame's raw bytes) for every frame completed by `data`."""
        self.buf += data
        out: list[tuple[int, bytes]] = []
        while len(self.buf) >= 2:
            size, at = self.buf[1] & 0x7F, 2
            if size == 126:
                if len(self.buf) < 4:
                    break
                size, at = struct.unpack("!H", self.buf[2:4])[0], 4
            elif size == 127:
                if len(self.buf) < 10:
                    break
                size, at = struct.unpack("!Q", self.buf[2:10])[0], 10
            at += 4 if self.buf[1] & 0x80 else 0  # client frames are masked
            if len(self.buf) < at + size:
                break
            out.append((self.buf[0] & 0x0F, self.buf[: at + size]))
            self.buf = self.buf[at + size :]
        return out


def _is_exit(frame: bytes) -> bool:
    """An unmasked server text frame carrying the exit message (or a close)."""
    opcode = frame[0] & 0x0F
    return opcode == 0x8 or (opcode == 0x1 and b'"exit"' in frame)


class _ExitFirst:
    """ws-exit-overtakes-output: the last output frame before the exit frame goes after it.

    Each output (binary) frame is held until the next one arrives; when the exit frame comes,
    it is sent first and the held frame after it, which the SDK (it stops at the exit frame)
    never reads: #563's reorder, every time, not by chance."""

    def __init__(self) -> None:
        self.frames = _FrameSplitter()
        self.held = b""

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for opcode, frame in self.frames.feed(data):
            if opcode == 0x2:
                out += self.held
                self.held = frame
            elif _is_exit(frame) and self.held:
                out += frame + self.held
                self.held = b""
            else:
                out += frame  # pings, other control frames: in order
        return bytes(out)


def _as_success(data: bytes) -> bytes:
    """ws-reattach-reports-success: `timed_out` -> `completed`, any exit code -> 0.

    Same length, so a Content-Length or a frame's length stays right. A pattern split across
    two reads escapes it; status bodies and exit frames are small single reads here."""
    data = data.replace(b'"timed_out"', b'"completed"')

    def zero(m: re.Match) -> bytes:
        return m.group(0)[: m.start(1) - m.start(0)] + b"0".ljust(len(m.group(1)))

    return EXIT_CODE_RE.sub(zero, data)


class _Pipe:
    """One direction's writer: direct when no delay fault, else a paced, ordered queue."""

    def __init__(self, writer: asyncio.StreamWriter, plan: FaultPlan, rng: random.Random):
        self.writer = writer
        self.plan = plan
        self.rng = rng
        self.loop = asyncio.get_running_loop()
        self.last_due = 0.0
        self.free_at = 0.0
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        if plan.delays:
            self.queue = asyncio.Queue(QUEUE_CHUNKS)
            self.task = asyncio.ensure_future(self._run())

    async def send(self, data: bytes) -> None:
        if not data:
            return
        if self.queue is None:
            self.writer.write(data)
            await self.writer.drain()
            return
        delay = self.plan.latency_ms + self.rng.uniform(0, self.plan.jitter_ms)
        self.last_due = max(self.last_due, self.loop.time() + delay / 1000.0)
        await self.queue.put((self.last_due, data))

    async def finish(self, action) -> None:
        """Run `action()` after every byte queued before it has been written."""
        if self.queue is None:
            await action()
            return
        await self.queue.put((self.last_due, action))
        if self.task is not None:
            await asyncio.shield(self.task)

    async def _run(self) -> None:
        assert self.queue is not None
        while True:
            due, item = await self.queue.get()
            wait = due - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not isinstance(item, bytes):
                await item()
                return
            rate = self.plan.bandwidth_kbps
            if rate:
                # Pace: this chunk may start when the previous one has "finished" at `rate`.
                now = self.loop.time()
                start = max(now, self.free_at)
                if start > now:
                    await asyncio.sleep(start - now)
                self.free_at = start + len(item) / (rate * 1000.0)
            self.writer.write(item)
            await self.writer.drain()


class _Connection:
    def __init__(self, proxy: _Server, num: int, creader, cwriter, ureader, uwriter):
        self.proxy, self.num, self.plan = proxy, num, proxy.plan
        self.creader, self.cwriter, self.ureader, self.uwriter = creader, cwriter, ureader, uwriter
        self.obs = _Observer(capture=self.plan.retry_post_after_reset)
        # Parsing costs CPU on every chunk; only the faults that act at HTTP/WS boundaries
        # need it (or a caller asking for the request log). Otherwise bytes are only pumped.
        self.obs.opaque = not proxy.observe
        self.up = _Pipe(uwriter, self.plan, proxy.rng)
        self.down = _Pipe(cwriter, self.plan, proxy.rng)
        self.ended = asyncio.Event()
        self.eofs = 0  # directions that ended with an EOF passed on; both: done
        # Mutants, per connection: set at its upgrade (attach) or at each request (status).
        self.drop_stdin: _FrameSplitter | None = None  # ws-reattach-drops-stdin
        self.success = False  # ws-reattach-reports-success: rewrite what the server says
        self.exit_first: _ExitFirst | None = None  # ws-exit-overtakes-output

    def event(self, kind: str, req: h11.Request | None = None, **kw) -> None:
        method = req.method.decode("latin-1") if req is not None else ""
        target = req.target.decode("latin-1") if req is not None else ""
        self.proxy._record(Event(time.monotonic(), self.num, kind, method, target, **kw))

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(self._client_to_server())]
        tasks.append(asyncio.ensure_future(self._server_to_client()))
        try:
            await self.ended.wait()
        finally:
            everything = [t for t in (*tasks, self.up.task, self.down.task) if t is not None]
            for task in everything:
                task.cancel()
            for task in everything:
                with contextlib.suppress(BaseException):
                    await task
            self.abort()

    def abort(self) -> None:
        for w in (self.cwriter, self.uwriter):
            w.transport.abort()

    async def _close_both(self) -> None:
        for w in (self.cwriter, self.uwriter):
            with contextlib.suppress(Exception):
                w.close()
        self.ended.set()

    async def _reset_client(self) -> None:
        sock = self.cwriter.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.cwriter.transport.abort()
        with contextlib.suppress(Exception):
            self.uwriter.close()
        self.ended.set()

    async def _client_to_server(self) -> None:
        try:
            while data := await self.creader.read(READ_SIZE):
                for req in self.obs.client_bytes(data):
                    self.event("request", req)
                    self.success = self._reports_success(req)
                if self.drop_stdin is not None:
                    data = self._without_stdin(data)
                await self.proxy._retried()
                await self.up.send(data)
            await self.up.finish(self._eof_upstream)
        except (ConnectionError, OSError):
            await self._close_both()

    def _without_stdin(self, data: bytes) -> bytes:
        """The client's frames minus binary ones (stdin data); `stdin_eof` (text) passes."""
        assert self.drop_stdin is not None
        kept, dropped = bytearray(), 0
        for opcode, frame in self.drop_stdin.feed(data):
            if opcode == 0x2:
                dropped += 1
            else:
                kept += frame
        if dropped:
            self.event("drop-stdin", detail=f"{dropped} stdin frame(s) of a re-attach")
        return bytes(kept)

    def _reports_success(self, req: h11.Request) -> bool:
        """A status request for an execution whose first attach was cut (the mutant on)."""
        if not self.plan.reattach_reports_success or req.method != b"GET":
            return False
        m = STATUS_RE.search(req.target.decode("latin-1"))
        return m is not None and m.group("eid") in self.proxy._cut

    async def _eof_upstream(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.uwriter.write_eof()
        self._eof()

    def _eof(self) -> None:
        self.eofs += 1
        if self.eofs == 2:
            self.ended.set()

    async def _server_to_client(self) -> None:
        budget: int | None = None  # bytes of server frames left before a mid-stream cut
        try:
            while data := await self.ureader.read(READ_SIZE):
                if budget is not None:
                    if len(data) >= budget:
                        await self.down.send(data[:budget])
                        await self.down.finish(self._close_both)
                        return
                    budget -= len(data)
                    await self.down.send(data)
                    continue
                if self.exit_first is not None:
                    data = self.exit_first.feed(data)
                if self.success:
                    data = self._success(data)
                for kind, req, extra in self.obs.server_bytes(data):
                    if kind == "response":
                        self.event("response", req, status=extra.status_code)
                    elif kind == "switched":
                        action = self._on_upgrade(req)
                        head = len(data) - int(extra)
                        if action is None and (self.exit_first or self.success):
                            # The frames behind the 101 in this read are the mutant's too.
                            await self.down.send(data[:head])
                            data = data[head:]
                            if self.exit_first is not None:
                                data = self.exit_first.feed(data)
                            if self.success:
                                data = self._success(data)
                        if action == "cut":
                            await self.down.send(data[:head])
                            await self._withhold_until_exit(data[head:])
                            await self.down.finish(self._close_both)
                            return
                        if action is not None:  # mid-stream: count frames after the 101
                            budget = int(action)
                            await self.down.send(data[:head])
                            data = data[head:]
                            if len(data) >= budget:
                                await self.down.send(data[:budget])
                                await self.down.finish(self._close_both)
                                return
                            budget -= len(data)
                    elif kind == "done" and self._resets(req):
                        await self.down.send(data)
                        self.event("reset", req, detail="after a complete response")
                        body = self.obs.bodies.pop(id(req), None)
                        if self.plan.retry_post_after_reset and req.method == b"POST":
                            self.proxy._in_background(self._retry(req, bytes(body or b"")))
                        await self.down.finish(self._reset_client)
                        return
                    elif kind == "done":
                        self.obs.bodies.pop(id(req), None)
                await self.down.send(data)
            await self.down.finish(self._eof_client)
        except (ConnectionError, OSError):
            await self._close_both()

    async def _withhold_until_exit(self, first: bytes) -> None:
        """Forward nothing more from the server until its exit frame, its close or a bound.

        The cut then reaches the client after the execution ended, the order of upstream's
        report: the output was in flight when the proxy cut, the client's status probe sees
        `completed`. Client bytes (stdin) still flow meanwhile."""
        frames = _Frames()
        deadline = asyncio.get_running_loop().time() + WITHHOLD_BOUND_S
        data = first
        while not frames.feed(data):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            try:
                data = await asyncio.wait_for(self.ureader.read(READ_SIZE), left)
            except asyncio.TimeoutError:
                return
            if not data:
                return

    async def _eof_client(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.cwriter.write_eof()
        self._eof()  # a half-close is legal: the client may still send until its own EOF

    async def _retry(self, req: h11.Request, body: bytes) -> None:
        """retry-post-after-reset: send `req` again on a fresh upstream connection and read
        its answer (bounded); the client never sees it, the API acts on it."""
        self.event("request", req, detail="re-sent by retry-post-after-reset")
        cli = h11.Connection(h11.CLIENT)
        wire = cli.send(req) + cli.send(h11.Data(data=body)) + cli.send(h11.EndOfMessage())
        status: int | None = None
        try:
            reader, writer = await asyncio.open_connection(self.proxy.up_host, self.proxy.up_port)
            try:
                writer.write(wire)
                await writer.drain()
                status = await asyncio.wait_for(_status_of(cli, reader), REPLAY_TIMEOUT_S)
            finally:
                writer.close()
        except (OSError, asyncio.TimeoutError, h11.ProtocolError) as exc:
            self.event("retry", req, detail=f"re-sent POST got no answer: {exc!r}")
            return
        self.event("retry", req, status=status, detail="the API's answer to the re-sent POST")

    def _success(self, data: bytes) -> bytes:
        out = _as_success(data)
        if out != data:
            self.event("report-success", detail="status/exit rewritten to completed, 0")
        return out

    def _on_upgrade(self, req: h11.Request) -> str | int | None:
        target = req.target.decode("latin-1")
        self.event("upgrade", req, status=101)
        m = ATTACH_RE.search(target)
        if m is None:
            return None
        eid = m.group("eid")
        if self.plan.exit_overtakes_output:
            self.exit_first = _ExitFirst()
        if not self.proxy._first_attach(eid):
            if self.plan.reattach_drops_stdin:
                self.drop_stdin = _FrameSplitter()
            self.success = self.plan.reattach_reports_success and eid in self.proxy._cut
            return None
        if self.plan.ws_cut_after_upgrade:
            self.event("cut-after-upgrade", req, detail=f"execution {eid}")
            self.proxy._cut.add(eid)
            return "cut"
        if self.plan.ws_cut_mid_stream is not None:
            n = self.plan.ws_cut_mid_stream
            self.event("cut-mid-stream", req, detail=f"execution {eid} after {n} B")
            self.proxy._cut.add(eid)
            return n
        return None

    def _resets(self, req: h11.Request) -> bool:
        methods = self.plan.reset_methods
        if methods is None:
            return False
        return not methods or req.method.decode("latin-1").upper() in methods


class _Server:
    """The proxy itself: an asyncio server on a free loopback port (runs in the child)."""

    def __init__(self, upstream_url: str, plan: FaultPlan, seed: int | None, observe: bool, sink):
        parts = urlsplit(upstream_url)
        self.up_host = parts.hostname or "127.0.0.1"
        self.up_port = parts.port or 80
        self.plan = plan
        self.observe = observe or plan.observes
        self.rng = random.Random(seed)
        self._sink = sink
        self._attached: set[str] = set()
        self._cut: set[str] = set()  # executions whose first attach a cut fault took
        self._retries: set[asyncio.Task] = set()  # retry-post-after-reset re-sends in flight
        self._conns: set[_Connection] = set()
        self._count = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def _record(self, event: Event) -> None:
        self._sink(event)

    def _in_background(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retried(self) -> None:
        """Wait for re-sent POSTs in flight (bounded by REPLAY_TIMEOUT_S each): the client's
        next bytes, on any connection, reach the API after the re-send, as a client's own
        retry would, so the order is the bug's, not a race. The reset itself is not delayed:
        the client sees exactly what `reset-after-response` alone does."""
        while self._retries:
            await asyncio.wait(set(self._retries))

    def _first_attach(self, eid: str) -> bool:
        if eid in self._attached:
            return False
        self._attached.add(eid)
        return True

    def serve(self, on_listening) -> None:
        """Bind, call `on_listening(port)`, serve until `stop()`; then close everything."""
        loop = asyncio.new_event_loop()
        self.loop = loop
        server = loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, limit=READ_SIZE * 4)
        )
        on_listening(server.sockets[0].getsockname()[1])
        try:
            loop.run_forever()
        finally:
            server.close()
            for conn in list(self._conns):
                conn.abort()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            with contextlib.suppress(BaseException):
                loop.run_until_complete(server.wait_closed())
            loop.close()

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter):
        self._count += 1
        num = self._count
        try:
            ureader, uwriter = await asyncio.open_connection(
                self.up_host, self.up_port, limit=READ_SIZE * 4
            )
        except OSError as exc:
            self._record(Event(time.monotonic(), num, "upstream-refused", detail=str(exc)))
            cwriter.transport.abort()
            return
        self._record(Event(time.monotonic(), num, "connection"))
        conn = _Connection(self, num, creader, cwriter, ureader, uwriter)
        self._conns.add(conn)
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass  # the proxy is closing; a cancelled handler would be logged as an error
        finally:
            self._conns.discard(conn)


class NetFaultProxy:
    """`with NetFaultProxy(api_url, plan) as proxy: ... proxy.url ...`

    The proxy runs in a child process (`python -m lib.harness.netfault.proxy`): in a thread
    it would share the test process's GIL with the SDK's callbacks, and each hand-over can
    wait up to the interpreter's switch interval (5 ms), which the overhead benchmark showed
    (p50 1.13x in a thread vs 1.06x with a 0.5 ms switch interval). The child dies with its
    stdin, so it never outlives the run; events come back as JSON lines in a temp file.
    """

    def __init__(
        self,
        upstream_url: str,
        plan: FaultPlan | None = None,
        *,
        seed: int | None = None,
        observe: bool = False,
    ):
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ProxyError(
                f"netfault proxy: upstream must be http://host:port/..., not {upstream_url!r}"
            )
        self.upstream = upstream_url
        self._parts = parts
        self.plan = plan or FaultPlan()
        self.seed = seed
        self.observe = observe
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None
        self._events_file: Path | None = None

    @property
    def url(self) -> str:
        """The upstream URL with the proxy's host and port (same path, e.g. `/api`)."""
        if self.port is None:
            raise ProxyError("netfault proxy not started")
        return urlunsplit(("http", f"127.0.0.1:{self.port}", self._parts.path, "", ""))

    def start(self) -> NetFaultProxy:
        """Spawn the child and wait (bounded) for its listen line."""
        self._dir = tempfile.TemporaryDirectory(prefix="boxlite-e2e-netfault-")
        self._events_file = Path(self._dir.name) / "events.jsonl"
        argv = [sys.executable, "-m", "lib.harness.netfault.proxy", "--upstream", self.upstream]
        argv += ["--events", str(self._events_file)]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        if self.observe:
            argv.append("--observe")
        argv += ["--", *self.plan.names]
        self._proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = _first_line(self._proc, START_TIMEOUT_S)
        if not line.startswith("listening "):
            self.close()
            raise ProxyError(f"netfault proxy did not start: {line or 'no listen line'}")
        self.port = int(line.split()[1])
        return self

    def close(self) -> None:
        """Close the child's stdin (it exits), reap it, keep the events readable."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._dir is not None:
            self._last = self.events  # keep the evidence readable after close
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> NetFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def events(self) -> list[Event]:
        """Everything recorded so far, in order."""
        if self._dir is None or self._events_file is None:
            return list(getattr(self, "_last", []))
        try:
            text = self._events_file.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError, TypeError):
                out.append(Event(**json.loads(line)))
        return out

    def of_kind(self, *kinds: str) -> list[Event]:
        """The recorded events of these kinds."""
        return [e for e in self.events if e.kind in kinds]

    def summary(self) -> str:
        """One line: the plan, the URL and a count per event kind."""
        counts: dict[str, int] = {}
        for e in self.events:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        inner = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no traffic"
        return f"netfault proxy [{self.plan.label}] {self.url}: {inner}"


async def _status_of(cli: h11.Connection, reader: asyncio.StreamReader) -> int | None:
    """The status of the response `reader` carries, read to its end (or the EOF)."""
    status = None
    while True:
        ev = cli.next_event()
        if ev is h11.NEED_DATA:
            cli.receive_data(await reader.read(READ_SIZE))
            continue
        if isinstance(ev, h11.Response):
            status = ev.status_code
        if isinstance(ev, (h11.EndOfMessage, h11.ConnectionClosed)):
            return status


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    """The child's first stdout line, or '' if none within `timeout` (or it exited)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


def main(argv: list[str] | None = None) -> int:
    """The child: serve one proxy until stdin closes."""
    ap = argparse.ArgumentParser(
        prog="python -m lib.harness.netfault.proxy",
        description="Serve a netfault proxy on a free loopback port until stdin closes.",
    )
    ap.add_argument("--upstream", required=True, help="the API URL, http://host:port/api")
    ap.add_argument("--events", type=Path, required=True, help="append events here (JSON lines)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--observe", action="store_true", help="log every request and response")
    ap.add_argument("faults", nargs="*", help="network fault words")
    args = ap.parse_args(argv)
    try:
        plan = parse(args.faults)
    except NetFaultError as exc:
        print(f"error {exc}", flush=True)
        return 2
    sink_file = args.events.open("a", buffering=1)
    count = [0]

    def sink(event: Event) -> None:
        if count[0] < EVENTS_CAP:
            count[0] += 1
            sink_file.write(json.dumps(asdict(event)) + "\n")

    server = _Server(args.upstream, plan, args.seed, args.observe, sink)

    def watch_stdin() -> None:
        while sys.stdin.read(4096):
            pass
        server.stop()  # the parent closed our stdin, or died

    def listening(port: int) -> None:
        print(f"listening {port}", flush=True)
        threading.Thread(target=watch_stdin, name="netfault-stdin", daemon=True).start()

    try:
        server.serve(listening)
    finally:
        sink_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
