"""One request-log line per API request: the API hop's half of path verification.

Path verification greps the API log for each box id a test created, so every line names the
API box id when the route has one (handlers put it in `request["box_id"]`, resolved from an id
or a name). Only method, path, status, box id and duration are written: never headers, never
the query string, so the bearer token cannot reach the log.
"""

from __future__ import annotations

from aiohttp import web

from standin.logfmt import EventLog
from standin.reqlog import request_log_middleware

BOX_ID_KEY = web.RequestKey("box_id", str)


def make_request_log_middleware(log: EventLog):
    return request_log_middleware(
        log,
        event="request",
        box_id=lambda request: request.get(BOX_ID_KEY),
        ms=lambda seconds: f"{seconds * 1000:.1f}",
        cancelled_status=499,  # the client went away mid-request (nginx's convention)
    )
