"""One request-log line per API request: the API hop's half of path verification.

Path verification greps the API log for each box id a test created, so every line names the
API box id when the route has one (handlers put it in `request["box_id"]`, resolved from an id
or a name). Only method, path, status, box id and duration are written: never headers, never
the query string, so the bearer token cannot reach the log.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from standin.logfmt import EventLog

BOX_ID_KEY = web.RequestKey("box_id", str)


def make_request_log_middleware(log: EventLog):
    @web.middleware
    async def request_log_middleware(request: web.Request, handler):
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
            status = 499  # the client went away mid-request (nginx's convention)
            raise
        finally:
            log.event(
                "request",
                method=request.method,
                path=request.path,
                status=status,
                box_id=request.get(BOX_ID_KEY),
                ms=f"{(time.monotonic() - started) * 1000:.1f}",
            )

    return request_log_middleware
