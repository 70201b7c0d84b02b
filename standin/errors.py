"""Canonical BoxLite error envelopes, shared by the stand-in runner and API.

The SDK dispatches on the string `code` of `{"error": {"message", "type", "code"}}`
(not on the status alone). Statuses and codes follow upstream `BoxliteError::http()`.
"""

from __future__ import annotations

from aiohttp import web

# code -> (HTTP status, type name): upstream's server-side table plus the edge auth codes.
CANONICAL: dict[str, tuple[int, str]] = {
    "invalid_argument": (400, "InvalidArgumentError"),
    "unsupported": (400, "UnsupportedError"),
    "unauthenticated": (401, "AuthError"),
    "permission_denied": (403, "PermissionError"),
    "not_found": (404, "NotFoundError"),
    "already_exists": (409, "AlreadyExistsError"),
    "invalid_state": (409, "InvalidStateError"),
    "stopped": (409, "StoppedError"),
    "session_reaped": (410, "SessionReapedError"),
    "image_pull_failed": (422, "ImageError"),
    "execution_failed": (422, "ExecutionError"),
    "resource_exhausted": (429, "ResourceExhaustedError"),
    "storage_error": (500, "StorageError"),
    "internal": (500, "InternalError"),
    "network_unavailable": (503, "NetworkError"),
    "upstream_unavailable": (503, "UpstreamUnavailableError"),
    "engine_unavailable": (503, "EngineError"),
    "timeout": (504, "TimeoutError"),
}


class ApiError(Exception):
    """Raised by handlers; rendered as the canonical envelope by `error_middleware`."""

    def __init__(self, code: str, message: str, status: int | None = None):
        if code not in CANONICAL:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else CANONICAL[code][0]

    def body(self) -> dict:
        return {
            "error": {"message": self.message, "type": CANONICAL[self.code][1], "code": self.code}
        }

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status)


def error_response(code: str, message: str, status: int | None = None) -> web.Response:
    return ApiError(code, message, status).response()


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Turn ApiError into its envelope and any unexpected exception into a typed 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - last line of defence: never an untyped 500
        request.app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal", f"{type(exc).__name__}: {exc}")
