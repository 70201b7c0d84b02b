"""Stress: the clean stand-in (runner + API, no faults) never loses output on a starved host.

Why: the mutation matrix and two-sided runs read any failure on the clean stand-in as "this
case detects a bug that is not there". Seen on a loaded 2-core host under `pytest -n 2`:
stderr and the exit frame missing (the SDK then probed the status and reported the exit code
with the tail of the output gone), on a first attach and on a re-attach replay alike.

What this does, bounded (about 40 s): CPU hogs (busy-loop processes, two per core, started
and stopped here, each with its own deadline) starve the host while
- SDK workers go through the API like `cases/` do: execs that write stdout and stderr with a
  final marker on each, drained, then re-attached after completion (the replay);
- lazy clients re-attach completed executions the way a starved SDK reads a socket: frame
  by frame, only when they get to it, answering the server's Ping and sending their own
  Ping after the first frame (as the SDK does), then stalling after the first output
  frame. A server that drops its socket right after its Close, without reading the
  client's frames to the client's Close or EOF, has the kernel reset the connection when a
  client frame arrives; the client's next write fails and, like the SDK, it gives up with
  the rest (output and exit frame) unread.
Every run must deliver all its output, both markers and exit code 7, on the API and on the
runner directly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import boxlite
import pytest

from tests.standin.api_fixtures import ADMIN_KEY, ApiProcess, api_process, fixture_setup, wait_ready
from tests.standin.runner_fixtures import BUSYBOX_REF, drain

pytestmark = pytest.mark.timeout(180)

SCRIPT = (
    "i=0; while [ $i -lt 3 ]; do echo out-$i; echo err-$i >&2; i=$((i+1)); done; "
    "echo OUT-END; echo ERR-END >&2; exit 7"
)
WANT_OUT = "out-0\nout-1\nout-2\nOUT-END\n"
WANT_ERR = "err-0\nerr-1\nerr-2\nERR-END\n"
WANT_EXIT = 7
LOAD_SECONDS = 25.0  # how long the workload runs under the hogs
SDK_WORKERS = 6  # boxes driven through the SDK concurrently
LAZY_WORKERS = 4  # lazy raw clients re-attaching concurrently
LAZY_STALL = 0.2  # how long a lazy client sits on its first output frame
HOGS_PER_CPU = 2


@pytest.fixture(scope="module")
def api(runner, runner_token, tmp_path_factory) -> Iterator[ApiProcess]:
    org = f"org-{secrets.token_hex(3)}/stress"
    state = tmp_path_factory.mktemp("stress-api") / "state"
    with api_process(state, runner_url=runner.url, runner_key=runner_token, org_id=org) as proc:
        wait_ready(proc)
        fixture_setup(proc, BUSYBOX_REF)
        yield proc


@contextlib.contextmanager
def cpu_hogs(seconds: float) -> Iterator[int]:
    """Busy-loop processes, HOGS_PER_CPU per core; each stops itself after `seconds`, and
    all are killed on the way out whatever happens."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
    count = HOGS_PER_CPU * (os.cpu_count() or 1)
    hogs = [
        subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield count
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


# --------------------------------------------------------------------------- lazy client


async def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def _client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One masked, final client frame (RFC 6455 §5.2; payloads here are < 126 bytes)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


async def lazy_attach(url: str, token: str, stall: float) -> tuple[str, str, int | None, str]:
    """Attach, read frame by frame off the socket; (stdout, stderr, exit code, how it ended).

    Nothing is read ahead: bytes the client has not asked for stay in the kernel, which is
    what a starved SDK looks like to the server.
    """
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    out, err, exit_code, ending = [], [], None, "eof"
    with socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (parts.hostname, parts.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: Upgrade\r\n"
            f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
            f"authorization: Bearer {token}\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += await _recv_exactly(sock, 1)
        status_line = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status_line, status_line
        stalled = False
        try:
            while True:
                b0, b1 = await _recv_exactly(sock, 2)
                opcode, size = b0 & 0x0F, b1 & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", await _recv_exactly(sock, 2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", await _recv_exactly(sock, 8))
                payload = await _recv_exactly(sock, size) if size else b""
                if opcode == 0x9:  # Ping: answered at once, as the SDK's stack does
                    await loop.sock_sendall(sock, _client_frame(0xA, payload))
                if opcode == 0x2 and not stalled:
                    # Starved on the first output frame: the rest waits in the kernel; then
                    # the client's own keepalive Ping goes out, as the SDK's does.
                    stalled = True
                    await asyncio.sleep(stall)
                    await loop.sock_sendall(sock, _client_frame(0x9))
                if opcode == 0x2 and payload:
                    (out if payload[0] == 1 else err).append(payload[1:])
                elif opcode == 0x1:
                    frame = json.loads(payload)
                    if frame.get("type") == "exit":
                        exit_code, ending = frame.get("exit_code"), "exit"
                        break  # the SDK stops reading here and drops the socket
                elif opcode == 0x8:
                    ending = "close before exit"
                    break
        except (OSError, EOFError) as exc:
            ending = f"{type(exc).__name__}: {exc}"
    return b"".join(out).decode(), b"".join(err).decode(), exit_code, ending


# --------------------------------------------------------------------------- the test


async def test_no_output_is_lost_under_cpu_starvation(api: ApiProcess, runner, runner_token):
    rt = api.sdk()
    boxes = await asyncio.gather(
        *(rt.create(boxlite.BoxOptions(image=BUSYBOX_REF)) for _ in range(SDK_WORKERS))
    )
    lost: list[str] = []
    counts = {"sdk exec": 0, "sdk reattach": 0, "lazy via api": 0, "lazy via runner": 0}

    def check(kind: str, eid: str, stdout: str, stderr: str, code, how: str = "") -> None:
        counts[kind] += 1
        if (stdout, stderr, code) != (WANT_OUT, WANT_ERR, WANT_EXIT):
            lost.append(f"{kind} {eid}: stdout={stdout!r} stderr={stderr!r} exit={code} {how}")

    async def sdk_worker(box, deadline: float) -> None:
        while time.monotonic() < deadline:
            ex = await box.exec("sh", ["-c", SCRIPT])
            res = await drain(ex)
            check("sdk exec", ex.id(), res.stdout, res.stderr, res.exit_code)
            again = await drain(await box.attach(execution_id=ex.id()))
            check("sdk reattach", ex.id(), again.stdout, again.stderr, again.exit_code)

    async def lazy_worker(n: int, deadline: float) -> None:
        box = boxes[n % len(boxes)]
        ex = await box.exec("sh", ["-c", SCRIPT])
        await drain(ex)
        path = f"boxes/{box.id}/executions/{ex.id()}/attach"
        via_api = f"{api.url.replace('http', 'ws', 1)}/v1/{api.org_id}/{path}"
        # The runner knows the box by the API's id too (it is the runner box's name).
        via_runner = f"{runner.url.replace('http', 'ws', 1)}/v1/{path}"
        while time.monotonic() < deadline:
            res = await lazy_attach(via_api, ADMIN_KEY, LAZY_STALL)
            check("lazy via api", ex.id(), *res)
            res = await lazy_attach(via_runner, runner_token, LAZY_STALL)
            check("lazy via runner", ex.id(), *res)

    try:
        with cpu_hogs(LOAD_SECONDS + 10) as hogs:
            deadline = time.monotonic() + LOAD_SECONDS
            await asyncio.wait_for(
                asyncio.gather(
                    *(sdk_worker(box, deadline) for box in boxes),
                    *(lazy_worker(n, deadline) for n in range(LAZY_WORKERS)),
                ),
                LOAD_SECONDS + 60,
            )
    finally:
        await asyncio.gather(
            *(rt.remove(box.id, force=True) for box in boxes), return_exceptions=True
        )
    summary = f"{len(lost)} of {sum(counts.values())} runs lost output ({hogs} hogs): {counts}"
    print(summary)
    assert all(n >= 10 for n in counts.values()), summary  # the load really ran
    assert not lost, summary + "\n" + "\n".join(lost[:20])
