"""`python -m standin runner`: start the stand-in runner and serve until SIGTERM/SIGINT.

Start-up prints one `event=listen url=... port=...` line to the event log once the socket is
bound: with `--port 0` that line is how a supervisor or a test learns the port without
racing another process for a "free" one. Shutdown stops every box (their sandboxes would die
with the runner anyway, `--die-with-parent`) and marks them stopped in the state dir.
"""

from __future__ import annotations

import asyncio
import os
import sys

from standin.logfmt import EventLog
from standin.runner.app import build_app
from standin.runner.config import ConfigError, RunnerConfig, resolve
from standin.runner.service import RunnerService
from standin.serving import app_runner, start_site, wait_for_stop


async def serve(config: RunnerConfig) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog("runner", str(config.log_file) if config.log_file else None)
    service = RunnerService(config, log)
    service.load()
    runner = app_runner(build_app(service))
    await runner.setup()
    try:
        port = await start_site(runner, config.host, config.port)
        log.event(
            "listen",
            url=f"http://{config.host}:{port}",
            port=port,
            pid=os.getpid(),
            state_dir=config.state_dir,
            boxes=len(service.boxes),
            faults=",".join(sorted(service.faults)) or None,
        )
        await wait_for_stop()
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
