"""`python -m standin api`: run the stand-in API until SIGTERM/SIGINT.

`--port 0` binds a free port and reports it in the log's `event=listen url=... port=...` line
(the runner's convention), so a test can start an API without racing others for a port.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from standin.api.app import build_app
from standin.api.config import ApiConfig, ConfigError, resolve
from standin.api.store import Store
from standin.logfmt import EventLog

SHUTDOWN_TIMEOUT = 5.0


async def serve(config: ApiConfig, log: EventLog) -> None:
    store = Store.open(config.state_dir, config.org_id)
    app = build_app(config, store, log)
    # Bounded shutdown: an attach session left open by a client must not hold a restart
    # for aiohttp's default 60 s.
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        port = runner.addresses[0][1]
        log.event(
            "listen",
            url=f"http://{config.host}:{port}/api",
            port=port,
            runner_url=config.runner_url,
            org_id=store.admin_org_id,
            faults=",".join(sorted(config.faults)) or "none",
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.event("shutdown")
    finally:
        await runner.cleanup()


def main(argv: list[str]) -> int:
    try:
        config = resolve(argv)
    except ConfigError as exc:
        print(f"standin api: {exc}", file=sys.stderr)
        return 2
    log = EventLog("api", str(config.log_file) if config.log_file else None)
    try:
        asyncio.run(serve(config, log))
    except OSError as exc:  # e.g. address in use
        log.event("failed", reason=str(exc))
        print(f"standin api: {exc}", file=sys.stderr)
        return 1
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
