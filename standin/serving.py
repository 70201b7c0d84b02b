"""Serving an aiohttp app the way `python -m standin runner` and `... api` both do.

`app_runner` bounds shutdown: a WebSocket session a client left open must not hold a restart
for aiohttp's default 60 s. `start_site` binds and returns the bound port (with `--port 0`,
the kernel's choice, which the caller logs in its `event=listen` line). `wait_for_stop`
returns on SIGTERM or SIGINT. Each side's `main.serve` keeps its own order of set-up and
clean-up around these.
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

SHUTDOWN_TIMEOUT = 5.0


def app_runner(app: web.Application) -> web.AppRunner:
    return web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )


async def start_site(runner: web.AppRunner, host: str, port: int) -> int:
    """Bind `host:port` on a set-up `runner`; the bound port."""
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner.addresses[0][1]


async def wait_for_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
