"""Upstream's internal surfaces, as a deployment without them enabled answers: closed.

POL-257 (apps/e2e/cases/test_pol257_admin_fail_closed.py) pins how the real API keeps its
internal routes shut for an org API key: the old admin box listing is not exposed at all
(404), the runners' own feed `/box/for-runner` wants runner auth (401 for any API key), and
the infrastructure listings behind the ORGANIZATION_INFRASTRUCTURE flag (`/runners`,
`/regions`) refuse with 403 while the flag is off. The stand-in has no such feature, so it
answers exactly that.

Fault `admin-open` (standin.faults): `/runners` answers 200 with the runner's address, the
fail-open regression the case exists to catch.
"""

from __future__ import annotations

from aiohttp import web

from standin.api.context import ctx_of
from standin.api.nest import nest_error

FLAG_OFF = "Feature flag ORGANIZATION_INFRASTRUCTURE is not enabled for this organization"


async def runners(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if "admin-open" in ctx.config.faults:
        return web.json_response([{"id": "standin-runner", "apiUrl": ctx.config.runner_url}])
    return nest_error(request, 403, FLAG_OFF)


async def regions(request: web.Request) -> web.Response:
    return nest_error(request, 403, FLAG_OFF)


async def box_for_runner(request: web.Request) -> web.Response:
    # An API key, even the admin's, is not a runner's credential.
    return nest_error(request, 401, "Runner authentication required")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/runners", runners)
    app.router.add_get("/api/regions", regions)
    app.router.add_get("/api/box/for-runner", box_for_runner)
