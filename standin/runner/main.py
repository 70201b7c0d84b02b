"""`python -m standin runner`: start the stand-in runner and serve until SIGTERM/SIGINT.

Start-up prints one `event=listen url=... port=...` line to the event log once the socket is
bound: with `--port 0` that line is how a supervisor or a test learns the port without
racing another process for a "free" one. Shutdown stops every box (their sandboxes would die
with the runner anyway, `--die-with-parent`) and marks them stopped in the state dir.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from aiohttp import web

from standin.logfmt import EventLog
from standin.runner.app import build_app
from standin.runner.config import ConfigError, RunnerConfig, resolve
from standin.runner.service import RunnerService

SHUTDOWN_TIMEOUT = 5.0


async def serve(config: RunnerConfig) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog("runner", str(config.log_file) if config.log_file else None)
    service = RunnerService(config, log)
    service.load()
    runner = web.AppRunner(
        build_app(service), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        port = runner.addresses[0][1]
        log.event(
            "listen",
            url=f"http://{config.host}:{port}",
            port=port,
            pid=os.getpid(),
            state_dir=config.state_dir,
            boxes=len(service.boxes),
            faults=",".join(sorted(service.faults)) or None,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.event("shutdown", boxes=len(service.boxes))
    finally:
        await service.shutdown()
        await runner.cleanup()
        log.close()


def main(argv: list[str]) -> int:
    try:
        config = resolve(argv)
    except ConfigError as exc:
        print(f"standin runner: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config))
    except OSError as exc:  # e.g. the port is taken
        print(f"standin runner: {exc}", file=sys.stderr)
        return 1
    return 0
