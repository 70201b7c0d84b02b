"""Bearer-key authentication for the stand-in API: every token resolves to a principal.

A wrong or missing key must get 401 with the NestJS flat body (the real API's guard throws
UnauthorizedException), which the SDK maps to ConfigError; it must never become a 500
(upstream's e2e case test_error_code_mapping: a bad bearer token on /v1/me gives 401/403).
The key is compared in constant time and never echoed or logged. What a token *is* (admin,
health-check, an org-scoped minted key) is `standin.api.keys`'s business; the principal is
left on the request for the handlers. The health-check key opens nothing but readiness
(upstream's api-key.strategy role `health-check`, which no other guard admits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web

from standin.api.keys import PRINCIPAL, Principal
from standin.api.nest import nest_error

READY = "/api/health/ready"
ADMIN_ROUTES = "/api/admin/"


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def make_auth_middleware(
    resolve: Callable[[str], Principal | None], public: Iterable[tuple[str, str]]
):
    """Middleware requiring a known bearer key on every (method, path) not in `public`."""
    open_routes = frozenset(public)

    @web.middleware
    async def auth_middleware(request: web.Request, handler):
        if (request.method, request.path) in open_routes:
            return await handler(request)
        token = bearer_token(request)
        if token is None:
            return nest_error(request, 401, "Missing bearer token")
        principal = resolve(token)
        if principal is None:
            return nest_error(request, 401, "Invalid API key")
        if principal.kind == "health-check" and request.path != READY:
            return nest_error(request, 403, "Forbidden resource")
        if (
            request.path.startswith(ADMIN_ROUTES)
            and principal.kind != "admin"
            and request.match_info.http_exception is None
        ):
            # upstream admin controllers: SystemActionGuard + RequiredApiRole(ADMIN). Nest
            # runs guards only on a matched route: an admin path no controller serves (the
            # old `/admin/box` listing, POL-257) is a plain 404 for every caller.
            return nest_error(request, 403, "Forbidden resource")
        request[PRINCIPAL] = principal
        return await handler(request)

    return auth_middleware
