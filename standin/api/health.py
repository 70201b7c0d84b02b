"""`/api/health` (liveness, no auth) and `/api/health/ready` (can the API do its job?).

Readiness is what a harness waits on before its first box: the runner answers with the
runner token, and start-up reconciliation of the box records has finished. The body follows
the terminus shape upstream's health module returns (`status`, `info`, `error`, `details`),
and a 503 names the reason, so a failed bring-up says what is wrong.
"""

from __future__ import annotations

import os

from aiohttp import web

from standin.api.context import ctx_of
from standin.api.keys import PRINCIPAL
from standin.api.nest import NestError
from standin.api.runner_client import RunnerUnavailable

# The source fingerprint bootstrap starts the services with (`lib.stack.bootstrap.standin`), so a
# run summary can say which stand-in build it ran against.
_BUILD = os.environ.get("BOXLITE_E2E_BUILD") or "unknown (not started by bootstrap)"


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": "standin", "build": _BUILD})


async def ready(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    principal = request.get(PRINCIPAL)
    if ctx.config.health_key and getattr(principal, "kind", None) != "health-check":
        # Upstream: CombinedAuthGuard + HealthCheckGuard; any key but the health-check one
        # (the admin key included) is refused (issue 13 B5).
        raise NestError(403, "Forbidden resource")
    checks: dict[str, dict] = {}
    try:
        # A token-protected route (unlike `/v1/config` on `boxlite serve`), so a wrong
        # runner token shows up here rather than at the first box create.
        reply = await ctx.client.call("GET", "/v1/boxes")
        if reply.status == 401:
            checks["runner"] = {"status": "down", "reason": "runner rejected the runner token"}
        elif not reply.ok:
            checks["runner"] = {"status": "down", "reason": f"runner answered {reply.status}"}
        else:
            checks["runner"] = {"status": "up", "url": ctx.config.runner_url}
    except RunnerUnavailable as exc:
        checks["runner"] = {"status": "down", "reason": f"runner unreachable: {exc}"}
    rec = ctx.reconcile
    if rec.done:
        checks["reconcile"] = {"status": "up", **{k: len(v) for k, v in rec.summary.items()}}
    else:
        checks["reconcile"] = {
            "status": "down",
            "reason": rec.error or "box records not yet reconciled with the runner",
        }
    up = {k: v for k, v in checks.items() if v["status"] == "up"}
    down = {k: v for k, v in checks.items() if v["status"] != "up"}
    body = {"status": "error" if down else "ok", "info": up, "error": down, "details": checks}
    return web.json_response(body, status=503 if down else 200)
