"""Fixtures shared by the stand-in self-tests: a busybox rootfs and real runner processes.

`runner` is one clean runner per session (per xdist worker) serving `e2e/busybox:stable`
from a local rootfs directory; tests that need their own flags (faults, a registry, a
restart) use `runner_factory(**start_runner kwargs)`, which stops what it started. See
runner_fixtures.py for the process handling and the SDK helpers.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import boxlite
import pytest

from tests.standin.runner_fixtures import (
    BUSYBOX_REF,
    RunnerProcess,
    make_busybox_rootfs,
    start_runner,
)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture(scope="session")
def runner_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def runner(
    tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path, runner_token: str
) -> Iterator[RunnerProcess]:
    """A clean runner (no faults) shared by the session's tests."""
    proc = start_runner(
        tmp_path_factory.mktemp("runner") / "state",
        token=runner_token,
        image_dirs={BUSYBOX_REF: busybox_rootfs},
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def runner_factory(
    tmp_path: Path, busybox_rootfs: Path, runner_token: str
) -> Iterator[Callable[..., RunnerProcess]]:
    """`runner_factory(faults=[...], ...)` -> a fresh runner, stopped at teardown.

    Defaults: the session token and the busybox image dir; `state_dir=` reuses a state dir
    (a runner restart)."""
    started: list[RunnerProcess] = []

    def factory(state_dir: Path | None = None, **kwargs) -> RunnerProcess:
        kwargs.setdefault("token", runner_token)
        kwargs.setdefault("image_dirs", {BUSYBOX_REF: busybox_rootfs})
        proc = start_runner(state_dir or tmp_path / f"state{len(started)}", **kwargs)
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.stop()


@pytest.fixture
async def rt(runner: RunnerProcess) -> boxlite.Boxlite:
    return runner.sdk()


@pytest.fixture
async def box(rt: boxlite.Boxlite) -> AsyncIterator[boxlite.Box]:
    """A running busybox box on the shared runner, force-removed afterwards."""
    created = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF))
    try:
        yield created
    finally:
        await rt.remove(created.id, force=True)
