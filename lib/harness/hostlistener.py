"""A listener on the host's loopback that boxes try to reach: the far end of egress cases.

Why: an egress policy can only be tested against something a box may or may not reach, and
the harness must not send traffic off the machine. So the case's own event loop serves an
HTTP-ish endpoint on 127.0.0.1 (a free port, loopback only) that answers every request with
a per-listener token and counts the connections it accepted. A box "reached" the host when
the token comes back, and the count says so from the host's side too: a probe the policy
denied must leave the count unchanged, which no client-side message can fake.

Boxes reach the host's loopback through BoxLite's host alias (`host.boxlite.internal`,
192.168.127.254, NATed to the host's 127.0.0.1 by the box's user-mode network). That holds
only when the stack runs on this machine: `local_stack(api_url)` says whether it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
from urllib.parse import urlsplit

HOST_ALIAS = "host.boxlite.internal"
HOST_ALIAS_IP = "192.168.127.254"
READ_TIMEOUT = 5.0


def local_stack(api_url: str) -> bool:
    """True when the API (and so, on both stacks, the runner and its boxes) is on this host."""
    host = urlsplit(api_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostListener:
    """`async with HostListener() as hl:` -> `hl.port`, `hl.token`, `hl.connections`."""

    def __init__(self) -> None:
        self.token = "e2e-host-" + secrets.token_hex(8)
        self.connections = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> HostListener:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            # Any request line (curl, wget, `printf ... | nc`) is enough; a silent client
            # still gets the answer after READ_TIMEOUT.
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            body = f"{self.token}\n".encode()
            writer.write(
                b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def probe_script(self, host: str, port: int | None = None) -> str:
        """Shell that prints REACHED:<token> when `host:port` answers like this listener.

        curl, then wget, then busybox nc: whichever the image has (each bounded to 10 s).
        """
        port = self.port if port is None else port
        url = f"http://{host}:{port}/"
        return (
            f"out=$( (curl -fsS --max-time 10 {url} || wget -q -T 10 -O - {url} || "
            f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 10 {host} {port}) 2>&1 ); "
            'echo "$out" | tail -n 3; '
            f'case "$out" in *{self.token}*) echo REACHED;; *) echo NOT-REACHED;; esac'
        )
