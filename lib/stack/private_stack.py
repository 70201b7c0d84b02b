"""A private stack in a temporary root on free loopback ports, beside whatever else runs.

Why this exists: the mutation matrix (lib.proof.mutation_matrix) and the bootstrap, fixture-setup,
teardown and two-sided self-tests (tests/stack_helpers.TempStack) each bring a whole stack up
next to a real one on the default ports (and next to other xdist workers), and must leave no
process behind. `PrivateStack` owns one: its root (under /tmp, 0755, so the stack's service
users can enter it), its ports, the environment bootstrap.sh and teardown.sh run with (the
caller's, minus every stack and SDK override, plus the private root and ports), and a
`close()` that tears it down fully: `teardown.sh --full`, then our own supervisord tree if
teardown left it, then the root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lib import processes
from lib.layout import Layout
from lib.names import REPO_ROOT

# Never inherited by a private stack: they would point it at (or name) another stack.
STRIPPED = ("BOXLITE_E2E_", "BOXLITE_HOME")


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
class PrivateStack:
    """A temporary root, free ports and the env to run bootstrap.sh and teardown.sh on them;
    `close()` leaves nothing behind."""

    root: Path
    env: dict[str, str]
    layout: Layout
    closed: bool = field(default=False, init=False)

    @classmethod
    def create(
        cls, prefix: str, *, root: Path | None = None, strip: Sequence[str] = ()
    ) -> PrivateStack:
        """A fresh root (or `root`) and free ports; `strip`: more env prefixes to drop."""
        # Under /tmp with 0755 (not pytest's 0700 tmp tree): service users such as
        # `postgres` and `redis` must be able to enter the root.
        root = root or Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        root.chmod(0o755)
        api, runner, registry, pg, redis = free_ports(5)
        dropped = (*STRIPPED, *strip)
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
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
            # Nor builds the tools image (minutes): its cases are "not applicable" there.
            "BOXLITE_E2E_TOOLS_IMAGE": "0",
        }
        return cls(root, env, Layout.from_env(env))

    def supervisord_pid(self) -> int | None:
        """Our supervisord's pid from its pidfile (None: no pidfile, or not a pid)."""
        pidfile = self.layout.run_dir / "supervisord.pid"
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        """`teardown.sh --full`; if our supervisord outlives it, kill its tree; remove the root.

        Idempotent: a second call (a test closed it, then its factory) does nothing."""
        if self.closed:
            return
        self.closed = True
        pid = self.supervisord_pid()
        subprocess.run(
            [str(REPO_ROOT / "teardown.sh"), "--full"],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if pid is not None and processes.pid_alive(pid):  # teardown failed: stop ours anyway
            proc = psutil.Process(pid)
            for p in [*proc.children(recursive=True), proc]:
                p.kill()
        shutil.rmtree(self.root, ignore_errors=True)
