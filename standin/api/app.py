"""Assemble the stand-in API's aiohttp application: middlewares, routes, background work.

Middleware order matters: the request log is outermost so it sees every answer (401s,
unknown routes, typed errors); then the canonical BoxLite envelope for handler errors
(`standin.errors`, which also turns anything unexpected into a typed 500); inside it the
NestJS rendering of admin and framework errors, which must run first because the envelope
middleware would otherwise report them as 500s; auth runs last, right before handlers.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from standin.api import admin, health, internal, keys, v1
from standin.api.auth import make_auth_middleware
from standin.api.config import ApiConfig
from standin.api.context import CTX, ApiContext
from standin.api.lifecycle import Reaper
from standin.api.nest import nest_middleware
from standin.api.reconcile import reconcile_at_startup
from standin.api.reqlog import make_request_log_middleware
from standin.api.runner_client import RunnerClient
from standin.api.snapshots import SnapshotPuller
from standin.api.store import Store
from standin.errors import error_middleware
from standin.logfmt import EventLog

PUBLIC_ROUTES = {("GET", "/api/health"), ("HEAD", "/api/health")}
# Upstream's API stamps every answer with its version (the header its own e2e suite reads to
# prove a request went through the API layer, not straight to a runner).
API_VERSION_HEADER = "X-BoxLite-Api-Version"
API_VERSION = "0.1.0"


async def _stamp_version(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[API_VERSION_HEADER] = API_VERSION


def build_app(config: ApiConfig, store: Store, log: EventLog) -> web.Application:
    client = RunnerClient(config.runner_url, config.runner_key)
    ctx = ApiContext(
        config=config,
        store=store,
        client=client,
        log=log,
        puller=SnapshotPuller(store, client.pull_image, log),
    )
    key_store = keys.KeyStore(config.state_dir)
    app = web.Application(
        middlewares=[
            make_request_log_middleware(log),
            error_middleware,
            nest_middleware,
            make_auth_middleware(
                keys.make_resolver(
                    config.admin_key, config.health_key, store.admin_org_id, key_store
                ),
                PUBLIC_ROUTES,
            ),
        ],
        # Snapshot/box JSON bodies are small; file uploads stream and never hit this limit.
        client_max_size=4 * 1024 * 1024,
    )
    ctx.reaper = Reaper(ctx, config.lifecycle_floor)
    app[CTX] = ctx
    app.on_response_prepare.append(_stamp_version)
    app.router.add_get("/api/health", health.health)
    app.router.add_get("/api/health/ready", health.ready)
    app.router.add_get("/api/v1/me", v1.me)
    app.router.add_get("/api/v1/config", v1.config)
    app.router.add_get("/api/v1/_standin/faults", v1.faults)
    app.router.add_get("/api/v1/_standin/lifecycle", v1.lifecycle_info)
    app.router.add_route("*", "/api/v1/{rest:.*}", v1.dispatch)
    admin.add_routes(app)
    internal.add_routes(app)
    keys.add_routes(app, key_store)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application):
    ctx = app[CTX]
    await ctx.client.start()
    ctx.puller.resume_all()
    reconciling = asyncio.create_task(reconcile_at_startup(ctx))
    ctx.reaper.start()
    yield
    await ctx.reaper.close()
    reconciling.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reconciling
    await ctx.puller.close()
    await ctx.client.close()
