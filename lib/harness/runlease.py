"""A run's liveness record, so a sweep can tell a dead run's boxes from a live run's.

A killed run (SIGKILL, a lost CI runner, a power cut) leaves boxes named `e2e-<run>-...`;
nothing in the run can remove them any more. Removing them later is only safe when that run
is *provably* dead: a sweep that guessed wrong would delete boxes from under a run still
using them. The proof is a lock the kernel holds for the run's processes:

- `runs/<run>.json` says who the run is (pid, host, API, org prefix, start), written 0600;
- `runs/<run>.lock` is `flock`ed shared by the controller and by every xdist worker for as
  long as they live. The kernel drops a lock with its last holder, however it died, so
  "nobody holds it" (an exclusive non-blocking lock succeeds) means no process of the run
  is left. A record from another host, or for another API/org, proves nothing here.

`state()` answers `live`, `dead` or `unknown` (no record here, another host or stack: the
sweep reports such boxes and never touches them). The directory defaults to
`<credentials dir>/e2e-runs` (`BOXLITE_E2E_RUNS_DIR` overrides), so every run that uses one
profile shares it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

LIVE, DEAD, UNKNOWN = "live", "dead", "unknown"


def record_path(runs_dir: Path, run_id: str) -> Path:
    """Where a run's record lives."""
    return runs_dir / f"{run_id}.json"


def lock_path(runs_dir: Path, run_id: str) -> Path:
    """The file whose lock says the run lives."""
    return runs_dir / f"{run_id}.lock"


class RunLease:
    """Held by each process of a run: the controller writes the record, workers join."""

    def __init__(self, runs_dir: Path, run_id: str):
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self._fd: int | None = None

    def hold(self, record: dict | None = None) -> None:
        """Take the shared lock (and, with `record`, write the run's record first)."""
        self.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if record is not None:
            doc = {"run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname()}
            doc |= {"started_at": time.time(), **record}
            path = record_path(self.runs_dir, self.run_id)
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh)
            os.replace(tmp, path)
        # O_CLOEXEC (Python's default): a child process never inherits, so never extends,
        # the run's lock.
        self._fd = os.open(lock_path(self.runs_dir, self.run_id), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self, *, forget: bool = False) -> None:
        """Drop the lock; `forget` also removes the record (nothing of the run is left)."""
        if forget:
            for path in (
                record_path(self.runs_dir, self.run_id),
                lock_path(self.runs_dir, self.run_id),
            ):
                path.unlink(missing_ok=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_record(runs_dir: Path, run_id: str) -> dict | None:
    """The run's record, or None (missing or unreadable)."""
    try:
        doc = json.loads(record_path(runs_dir, run_id).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@contextlib.contextmanager
def claim_dead(runs_dir: Path, run_id: str, api_url: str, prefix: str) -> Iterator[str]:
    """Yield the run's state; while `dead`, hold its lock exclusively (no process can join)."""
    record = read_record(runs_dir, run_id)
    same_stack = (
        record is not None
        and record.get("host") == socket.gethostname()
        and record.get("api_url") == api_url
        and (record.get("prefix") or "") == (prefix or "")
    )
    if not same_stack:
        yield UNKNOWN
        return
    try:
        fd = os.open(lock_path(runs_dir, run_id), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield UNKNOWN
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield LIVE
            return
        yield DEAD
    finally:
        os.close(fd)


def forget(runs_dir: Path, run_id: str) -> None:
    """Remove a dead run's record (call while `claim_dead` holds it)."""
    record_path(runs_dir, run_id).unlink(missing_ok=True)
    lock_path(runs_dir, run_id).unlink(missing_ok=True)


def known_runs(runs_dir: Path) -> list[str]:
    """Run ids with a record here."""
    return sorted(p.stem for p in Path(runs_dir).glob("*.json"))
