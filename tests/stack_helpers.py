"""Helpers for self-tests that bring a whole stack up in a temporary root on free ports.

Why this exists: bootstrap, fixture_setup and teardown tests each need an isolated stack
beside whatever else runs on the host (a real stack on the default ports, other workers), and
must leave no process behind. `TempStack` owns one: its root, its ports, its environment,
and a `close()` that tears it down fully and checks our supervisord is gone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lib.layout import Layout

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 240


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports free right now (all held open together while choosing)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclass
class TempStack:
    root: Path
    env: dict[str, str]
    layout: Layout
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def create(cls) -> TempStack:
        # Under /tmp with 0755 (not pytest's 0700 tmp tree): service users such as
        # `postgres` and `redis` must be able to enter the root.
        root = Path(tempfile.mkdtemp(prefix="boxlite-e2e-stack-", dir="/tmp"))
        root.chmod(0o755)
        api, runner, registry, pg, redis = free_ports(5)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BOXLITE_E2E_", "BOXLITE_HOME"))
        }
        env |= {
            "BOXLITE_E2E_ROOT": str(root),
            "BOXLITE_E2E_API_PORT": str(api),
            "BOXLITE_E2E_RUNNER_PORT": str(runner),
            "BOXLITE_E2E_REGISTRY_PORT": str(registry),
            "BOXLITE_E2E_POSTGRES_PORT": str(pg),
            "BOXLITE_E2E_REDIS_PORT": str(redis),
            "BOXLITE_HOME": str(root / "home/.boxlite"),
            # A temp root never uses the host's systemd, even on a KVM host.
            "BOXLITE_E2E_SERVICES": "supervisor",
        }
        return cls(root, env, Layout.from_env(env))

    def run(self, script: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        argv = [str(REPO / script), *args]
        if script.endswith(".py"):
            argv = [sys.executable, *argv]
        return subprocess.run(
            argv, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def supervisord_pid(self) -> int | None:
        pidfile = self.layout.run_dir / "supervisord.pid"
        try:
            return int(pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def processes(self) -> list[psutil.Process]:
        """Our supervisord and everything under it."""
        pid = self.supervisord_pid()
        if pid is None or not psutil.pid_exists(pid):
            return []
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]

    def close(self) -> None:
        pid = self.supervisord_pid()
        self.run("teardown.sh", "--full", timeout=120)
        if pid is not None and psutil.pid_exists(pid):  # teardown failed: still clean up ours
            proc = psutil.Process(pid)
            children = proc.children(recursive=True)
            for p in [proc, *children]:
                p.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def listening_addresses(procs: list[psutil.Process]) -> set[tuple[str, int]]:
    found = set()
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return found
