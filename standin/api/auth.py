"""Bearer-key authentication for the stand-in API.

A wrong or missing key must get 401 with the NestJS flat body (the real API's guard throws
UnauthorizedException), which the SDK maps to ConfigError; it must never become a 500
(upstream's e2e case test_error_code_mapping: a bad bearer token on /v1/me gives 401/403).
The key is compared in constant time and never echoed or logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from aiohttp import web

from standin.api.nest import nest_error


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def make_auth_middleware(admin_key: str, public: Iterable[tuple[str, str]]):
    """Middleware requiring `Bearer admin_key` on every (method, path) not in `public`."""
    expected = admin_key.encode()
    open_routes = frozenset(public)

    @web.middleware
    async def auth_middleware(request: web.Request, handler):
        if (request.method, request.path) in open_routes:
            return await handler(request)
        token = bearer_token(request)
        if token is None:
            return nest_error(request, 401, "Missing bearer token")
        if not hmac.compare_digest(token.encode(), expected):
            return nest_error(request, 401, "Invalid API key")
        return await handler(request)

    return auth_middleware
