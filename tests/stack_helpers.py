"""Helpers for self-tests that bring a whole stack up in a temporary root on free ports.

Why this exists: bootstrap, fixture_setup and teardown tests each need an isolated stack
beside whatever else runs on the host (a real stack on the default ports, other workers), and
must leave no process behind. `TempStack` owns one: lib.stack.private_stack.PrivateStack (the same
root, ports, environment and full teardown the mutation matrix uses) plus what the tests ask
of it: running a script, timings, the processes under our supervisord.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import psutil

from lib.names import REPO_ROOT as REPO
from lib.stack.private_stack import PrivateStack

TIMEOUT = 240
# `bootstrap.sh --stack standin`'s steps, in order: pinned against the plan
# (test_bootstrap_units) and looked for in a real run's output (test_bootstrap_standin).
STANDIN_STEPS = (
    "packages",
    "secrets",
    "env",
    "registry",
    "image",
    "tools-image",
    "services",
    "health",
    "smoke",
    "summary",
)


@dataclass
class TempStack(PrivateStack):
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def create(cls) -> TempStack:
        return super().create("boxlite-e2e-stack-")

    def run(self, script: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        argv = [str(REPO / script), *args]
        if script.endswith(".py"):
            argv = [sys.executable, *argv]
        return subprocess.run(
            argv, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def processes(self) -> list[psutil.Process]:
        """Our supervisord and everything under it."""
        pid = self.supervisord_pid()
        if pid is None or not psutil.pid_exists(pid):
            return []
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]


def listening_addresses(procs: list[psutil.Process]) -> set[tuple[str, int]]:
    found = set()
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return found
