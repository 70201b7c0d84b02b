"""Snapshot state machine and the background puller (runner pull faked by a coroutine)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from standin.api.runner_client import PullFailed, RunnerUnavailable
from standin.api.snapshots import (
    ACTIVE,
    ERROR,
    PENDING,
    PULLING,
    InvalidTransition,
    SnapshotPuller,
    advance,
    snapshot_dto,
)
from standin.api.store import Snapshot, Store, now_rfc3339
from standin.logfmt import EventLog


def snap(store: Store, name: str, state: str = PENDING) -> Snapshot:
    now = now_rfc3339()
    s = Snapshot(store.new_snapshot_id(), store.admin_org_id, name, name, state, 1, 1, 3, now, now)
    store.snapshots[s.id] = s
    return s


def test_transitions(tmp_path: Path) -> None:
    s = snap(Store.open(tmp_path), "img")
    advance(s, "pull")
    assert s.state == PULLING
    advance(s, "failed", "manifest unknown")
    assert (s.state, s.error_reason) == (ERROR, "manifest unknown")
    with pytest.raises(InvalidTransition):
        advance(s, "pulled")
    s2 = snap(Store.open(tmp_path), "img2")
    with pytest.raises(InvalidTransition):
        advance(s2, "pulled")  # active only through a pull
    dto = snapshot_dto(s)
    assert (dto["name"], dto["imageName"], dto["state"], dto["errorReason"]) == (
        "img",
        "img",
        "error",
        "manifest unknown",
    )


async def test_puller_retries_then_settles(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    good, bad = snap(store, "good"), snap(store, "bad")
    calls: list[str] = []

    async def pull(image: str) -> None:
        calls.append(image)
        if calls.count(image) == 1:
            raise RunnerUnavailable("connection refused")  # runner not up yet: retried
        if image == "bad":
            raise PullFailed("manifest unknown")

    puller = SnapshotPuller(store, pull, EventLog("api", str(tmp_path / "log")))
    puller.schedule(good)
    puller.schedule(bad)
    await asyncio.wait_for(puller.wait_idle(), 10)
    assert (good.state, bad.state, bad.error_reason) == (ACTIVE, ERROR, "manifest unknown")
    assert sorted(calls) == ["bad", "bad", "good", "good"]
    assert {s.state for s in Store.open(tmp_path).snapshots.values()} == {ACTIVE, ERROR}


async def test_restart_resumes_interrupted_pulls(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    s = snap(store, "img", PULLING)  # the API died mid-pull
    store.save()
    reopened = Store.open(tmp_path)

    async def pull(image: str) -> None:
        return None

    puller = SnapshotPuller(reopened, pull, EventLog("api", str(tmp_path / "log")))
    puller.resume_all()
    await asyncio.wait_for(puller.wait_idle(), 10)
    assert reopened.snapshots[s.id].state == ACTIVE
