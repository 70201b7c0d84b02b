"""Start a real `python -m standin runner` subprocess for self-tests, and drive it with the SDK.

Why this exists: the runner, API and harness self-tests all need a runner that is the real
program (its own process, its own state dir, a port nobody else holds) and that dies with
the test. `start_runner` asks for `--port 0` and reads the bound port from the runner's
`event=listen` log line, so there is no window in which another process can take a port
picked "free" beforehand. Readiness is that line; a runner that exits first fails at once
with its stderr in the message.

Fixtures are defined in `tests/standin/conftest.py` (available to every test in the
folder): `busybox_rootfs`, `runner_token`, `runner` (a shared clean runner) and
`runner_factory` (a fresh runner per call, e.g. with faults). Outside pytest:

    with runner_process(tmp / "state", token="t", image_dirs={BUSYBOX_REF: rootfs}) as r:
        rt = r.sdk()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import boxlite
import httpx

from lib.names import REPO_ROOT
from standin import images
from tests.standin.process_fixtures import READY_TIMEOUT, spawn_listening, stop_process

REPO = REPO_ROOT
BUSYBOX_REF = images.IMAGE_REF  # the name the stand-in image is published under
TOKEN_VAR = "DEFAULT_RUNNER_API_KEY"


def make_busybox_rootfs(dest: Path) -> Path:
    """A busybox rootfs directory, identical to the stand-in image's (no registry needed)."""
    dest.mkdir(parents=True, exist_ok=True)
    images.populate_rootfs(dest)
    return dest


@dataclass
class RunnerProcess:
    proc: subprocess.Popen
    url: str
    port: int
    token: str = field(repr=False)
    state_dir: Path
    log_path: Path
    stderr_path: Path

    def sdk(self, token: str | None = None) -> boxlite.Boxlite:
        """A REST runtime pointed straight at this runner (no prefix, like boxlite serve)."""
        credential = boxlite.ApiKeyCredential(self.token if token is None else token)
        return boxlite.Boxlite.rest(boxlite.BoxliteRestOptions(url=self.url, credential=credential))

    def http(self, token: str | None = None) -> httpx.Client:
        bearer = self.token if token is None else token
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {bearer}"}, timeout=30
        )

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, bounded wait, then SIGKILL; returns the exit status."""
        return stop_process(self.proc, timeout)


def runner_argv(
    state_dir: Path,
    log_path: Path,
    *,
    image_dirs: Mapping[str, Path] | None = None,
    faults: Sequence[str] = (),
    registry: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    argv = [sys.executable, "-m", "standin", "runner", "--host", "127.0.0.1", "--port", "0"]
    argv += ["--state-dir", str(state_dir), "--log-file", str(log_path)]
    for ref, path in (image_dirs or {}).items():
        argv += ["--image-dir", f"{ref}={path}"]
    for fault in faults:
        argv += ["--fault", fault]
    if registry:
        argv += ["--registry", registry]
    return [*argv, *extra_args]


def start_runner(
    state_dir: Path,
    *,
    token: str,
    image_dirs: Mapping[str, Path] | None = None,
    faults: Sequence[str] = (),
    registry: str | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> RunnerProcess:
    """Start a runner on a kernel-chosen port and wait for its `listen` line."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir.parent / f"{state_dir.name}.runner.log"
    stderr_path = state_dir.parent / f"{state_dir.name}.runner.stderr"
    child_env = {k: v for k, v in os.environ.items() if k != TOKEN_VAR}
    child_env.update(env or {})
    if token:
        child_env[TOKEN_VAR] = token
    argv = runner_argv(
        state_dir,
        log_path,
        image_dirs=image_dirs,
        faults=faults,
        registry=registry,
        extra_args=extra_args,
    )
    proc, url = spawn_listening(
        argv,
        env=child_env,
        log_path=log_path,
        stderr_path=stderr_path,
        what="runner",
        ready_timeout=ready_timeout,
    )
    port = urlsplit(url).port
    return RunnerProcess(proc, url, port, token, state_dir, log_path, stderr_path)


@contextlib.contextmanager
def runner_process(state_dir: Path, **kwargs) -> Iterator[RunnerProcess]:
    runner = start_runner(state_dir, **kwargs)
    try:
        yield runner
    finally:
        runner.stop()


# --------------------------------------------------------------------------- SDK helpers


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_code: int
    error_message: str | None


async def drain(execution: boxlite.Execution, timeout: float = 60.0) -> Result:
    """Collect stdout and stderr concurrently, then wait; bounded by `timeout`."""

    async def collect(stream) -> str:
        return "".join([chunk async for chunk in stream])

    async def run() -> Result:
        out, err = await asyncio.gather(collect(execution.stdout()), collect(execution.stderr()))
        result = await execution.wait()
        return Result(out, err, result.exit_code, result.error_message)

    return await asyncio.wait_for(run(), timeout)


async def run(box: boxlite.Box, command: str, *args: str, timeout: float = 60.0, **kw) -> Result:
    """`box.exec` + drain + wait in one bounded call."""
    execution = await asyncio.wait_for(box.exec(command, list(args), **kw), timeout)
    return await drain(execution, timeout)
