"""What every API handler shares: config, records, runner client, log, background work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from standin.api.config import ApiConfig
from standin.api.runner_client import RunnerClient
from standin.api.snapshots import SnapshotPuller
from standin.api.store import Store
from standin.logfmt import EventLog


@dataclass
class ReconcileStatus:
    """Outcome of the start-up reconciliation; readiness waits for `done`."""

    done: bool = False
    error: str | None = None
    summary: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ApiContext:
    config: ApiConfig
    store: Store
    client: RunnerClient
    log: EventLog
    puller: SnapshotPuller
    reaper: Any = None  # standin.api.lifecycle.Reaper, set by build_app
    reconcile: ReconcileStatus = field(default_factory=ReconcileStatus)
    # Ids of boxes removed since start-up, only so `exec-on-removed-box` can tell a removed
    # box from one that never existed (a clean API answers 404 for both).
    removed: set[str] = field(default_factory=set)


CTX = web.AppKey("standin_api_context", ApiContext)


def ctx_of(request: web.Request) -> ApiContext:
    return request.app[CTX]
