"""Snapshot registration: the image allow-list a box create is checked against.

Upstream registers an image as a "snapshot" (`POST /api/snapshots {name, imageName, cpu,
memory, disk}`, like upstream's setup) and only lets boxes use snapshots in state `active`,
which they reach once a runner has pulled the image. The stand-in keeps that state machine:

    pending --pull--> pulling --pulled--> active
                         |  \\--failed--> error (errorReason says why)
                         \\--restart--> pending   (the API restarted mid-pull; pulled again)

The pull itself is a runner call (`RunnerClient.pull_image`); the puller retries while the
runner is unreachable (it may start after the API) and records a definite refusal as `error`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from standin.api.runner_client import PullFailed, RunnerUnavailable
from standin.api.store import Snapshot, Store, now_rfc3339
from standin.logfmt import EventLog

PENDING, PULLING, ACTIVE, ERROR = "pending", "pulling", "active", "error"

_TRANSITIONS = {
    (PENDING, "pull"): PULLING,
    (PULLING, "pulled"): ACTIVE,
    (PULLING, "failed"): ERROR,
    (PULLING, "restart"): PENDING,
}

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


class InvalidTransition(ValueError):
    pass


def advance(snap: Snapshot, event: str, reason: str | None = None) -> None:
    """Apply `event` to `snap` in place; raises InvalidTransition for an illegal one."""
    new_state = _TRANSITIONS.get((snap.state, event))
    if new_state is None:
        raise InvalidTransition(f"snapshot {snap.name}: no {event!r} from state {snap.state!r}")
    snap.state = new_state
    snap.error_reason = reason if new_state == ERROR else None
    snap.updated_at = now_rfc3339()


def snapshot_dto(snap: Snapshot) -> dict:
    """Upstream's SnapshotDto field names (camelCase), as fixture setup reads them."""
    return {
        "id": snap.id,
        "organizationId": snap.org_id,
        "general": False,
        "name": snap.name,
        "imageName": snap.image_name,
        "state": snap.state,
        "size": None,
        "entrypoint": None,
        "cpu": snap.cpu,
        "gpu": 0,
        "mem": snap.mem,
        "disk": snap.disk,
        "errorReason": snap.error_reason,
        "createdAt": snap.created_at,
        "updatedAt": snap.updated_at,
        "lastUsedAt": None,
    }


class SnapshotPuller:
    """Drives each pending snapshot to active/error in a background task."""

    def __init__(self, store: Store, pull: Callable[[str], Awaitable[None]], log: EventLog):
        self._store = store
        self._pull = pull
        self._log = log
        self._tasks: dict[str, asyncio.Task] = {}

    def resume_all(self) -> None:
        """After a restart: pulls that were in flight start over."""
        for snap in list(self._store.snapshots.values()):
            if snap.state == PULLING:
                advance(snap, "restart")
                self._store.save()
            if snap.state == PENDING:
                self.schedule(snap)

    def schedule(self, snap: Snapshot) -> None:
        if snap.id not in self._tasks:
            self._tasks[snap.id] = asyncio.create_task(self._run(snap.id))

    async def wait_idle(self) -> None:
        """For tests: until every scheduled pull has settled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    async def _run(self, snap_id: str) -> None:
        try:
            snap = self._store.snapshots.get(snap_id)
            if snap is None or snap.state != PENDING:
                return
            advance(snap, "pull")
            self._store.save()
            self._log.event("snapshot.pull", snapshot=snap.name, image=snap.image_name)
            outcome, reason = await self._pull_with_retry(snap.image_name)
            snap = self._store.snapshots.get(snap_id)
            if snap is None or snap.state != PULLING:  # deleted meanwhile
                return
            advance(snap, outcome, reason)
            self._store.save()
            self._log.event("snapshot.state", snapshot=snap.name, state=snap.state, reason=reason)
        finally:
            self._tasks.pop(snap_id, None)

    async def _pull_with_retry(self, image: str) -> tuple[str, str | None]:
        delay = RETRY_FIRST_S
        while True:
            try:
                await self._pull(image)
                return "pulled", None
            except PullFailed as exc:
                return "failed", str(exc)
            except RunnerUnavailable as exc:
                self._log.event("snapshot.pull_retry", image=image, reason=str(exc))
                await asyncio.sleep(delay)  # backoff between attempts, not a readiness wait
                delay = min(delay * 2, RETRY_MAX_S)
