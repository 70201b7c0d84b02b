"""`python -m standin api`: run the stand-in API until SIGTERM/SIGINT.

`--port 0` binds a free port and reports it in the log's `event=listen url=... port=...` line
(the runner's convention), so a test can start an API without racing others for a port.
"""

from __future__ import annotations

import asyncio
import sys

from standin.api.app import build_app
from standin.api.config import ApiConfig, ConfigError, resolve
from standin.api.store import Store
from standin.logfmt import EventLog
from standin.serving import app_runner, start_site, wait_for_stop


async def serve(config: ApiConfig, log: EventLog) -> None:
    store = Store.open(config.state_dir, config.org_id)
    app = build_app(config, store, log)
    runner = app_runner(app)
    await runner.setup()
    try:
        port = await start_site(runner, config.host, config.port)
        log.event(
            "listen",
            url=f"http://{config.host}:{port}/api",
            port=port,
            runner_url=config.runner_url,
            org_id=store.admin_org_id,
            faults=",".join(sorted(config.faults)) or "none",
            lifecycle_floor=config.lifecycle_floor,
        )
        await wait_for_stop()
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
