"""NestJS-style flat error bodies, as the real API's exception filter writes them.

The real API answers guard and framework errors (401, unknown route, admin DTO validation)
with `{"statusCode","message","error","path","timestamp"}` rather than the canonical BoxLite
envelope (as upstream's API does). The SDK parses that as a flat body without a code, so the
exception class follows the status: 401/403 -> ConfigError, 404 -> NotFoundError, ... Keeping
the same shape here means the harness sees what production's clients see.
"""

from __future__ import annotations

import datetime as _dt
from http import HTTPStatus

from aiohttp import web


def nest_body(status: int, message: str | list[str], path: str) -> dict:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
    return {
        "statusCode": status,
        "message": message,
        "error": HTTPStatus(status).phrase,
        "path": path,
        "timestamp": now.replace("+00:00", "Z"),
    }


def nest_error(request: web.Request, status: int, message: str | list[str]) -> web.Response:
    return web.json_response(nest_body(status, message, request.path), status=status)


class NestError(Exception):
    """Raised by admin handlers; rendered as a flat NestJS body by `nest_middleware`."""

    def __init__(self, status: int, message: str | list[str]):
        super().__init__(message if isinstance(message, str) else "; ".join(message))
        self.status = status
        self.message = message


async def json_object(request: web.Request) -> dict:
    """The request's JSON object body ({} when empty); anything else is Nest's 400."""
    try:
        body = await request.json() if request.body_exists else {}
    except ValueError:
        raise NestError(400, "Unexpected token in JSON body") from None
    if not isinstance(body, dict):
        raise NestError(400, "body must be a JSON object")
    return body


@web.middleware
async def nest_middleware(request: web.Request, handler):
    """Render NestError, and framework HTTP errors (unknown route, 405), the NestJS way."""
    try:
        return await handler(request)
    except NestError as exc:
        return nest_error(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # NestJS's router says "Cannot GET /api/x" for a route it does not have.
        message = f"Cannot {request.method} {request.path}" if exc.status == 404 else exc.reason
        return nest_error(request, exc.status, message)
