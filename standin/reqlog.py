"""One request-log line per HTTP request, for the stand-in runner and API alike.

Each side's line is its hop's half of path verification: method, path, status, the box id
the request was about, and the duration. Only those: never headers, never the query string,
so a bearer token cannot reach the log. The status is the response's, or the HTTPException's,
or `cancelled_status` when the client went away mid-request, else 500 (the handler raised).
What differs per side is passed in: the event name, where the box id comes from, how the
duration is written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from standin.logfmt import EventLog


def request_log_middleware(
    log: EventLog,
    *,
    event: str,
    box_id: Callable[[web.Request], str | None],
    ms: Callable[[float], object],
    cancelled_status: int = 500,
):
    """Middleware logging `event` with method, path, status, box_id, ms (from seconds)."""

    @web.middleware
    async def request_log(request: web.Request, handler):
        started = time.monotonic()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = cancelled_status
            raise
        finally:
            log.event(
                event,
                method=request.method,
                path=request.path,
                status=status,
                box_id=box_id(request),
                ms=ms(time.monotonic() - started),
            )

    return request_log
