"""Pytest fixtures: a real `docker-registry` on a free loopback port, with the stand-in image.

Why this exists: the image, runner and API self-tests all need a registry holding
`e2e/busybox:stable`, and each must own theirs (a temp root, a free port) so tests can run in
parallel beside a real stack. Reuse from a conftest (the fixtures are session-scoped, one
registry per xdist worker):

    from tests.standin.registry_fixtures import busybox_image, local_registry  # noqa: F401

`local_registry` -> RunningRegistry (.address "127.0.0.1:PORT", .port, .root, .log)
`busybox_image`  -> PushedImage (.registry, .ref "e2e/busybox:stable", .digest)
`start_registry(root)` is the same as a context manager, for use outside fixtures.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from standin import images, registry


@dataclass(frozen=True)
class RunningRegistry:
    port: int
    root: Path
    log: Path

    @property
    def address(self) -> str:
        return f"{registry.HOST}:{self.port}"


@dataclass(frozen=True)
class PushedImage:
    registry: str
    ref: str
    digest: str


def free_port() -> int:
    """A port the kernel says is free on loopback now (callers retry if they lose a race)."""
    with socket.socket() as sock:
        sock.bind((registry.HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def start_registry(root: Path, attempts: int = 3) -> Iterator[RunningRegistry]:
    """Run `python -m standin registry run` on a free port until the context exits."""
    root.mkdir(parents=True, exist_ok=True)
    log = root / "registry.log"
    for _ in range(attempts):
        port = free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "standin",
                    "registry",
                    "run",
                    "--port",
                    str(port),
                    "--root",
                    str(root),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            registry.wait_healthy(port, 30, alive=lambda p=proc: p.poll() is None)
        except RuntimeError:
            continue  # most likely lost the port to another process: try another one
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        try:
            yield RunningRegistry(port, root, log)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return
    raise RuntimeError(f"registry did not start in {attempts} attempts; see {log}")


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def busybox_image(local_registry: RunningRegistry) -> PushedImage:
    digest, _ = images.build_push(local_registry.address)
    return PushedImage(local_registry.address, images.IMAGE_REF, digest)
