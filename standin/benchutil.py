"""What the stand-in's benchmarks share: waiting for a started server, and the numbers.

`python -m standin.runner.bench` and `python -m standin.api.bench` start their own runner
(and API) with `--port 0` and learn the URL from the `event=listen url=...` line of its log,
then print nearest-rank percentiles of the samples they measured. The self-tests' process
fixtures (tests/standin/process_fixtures.py) wait for that line with `listen_url` too.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import subprocess
import time
from pathlib import Path

LISTEN_RE = re.compile(r"event=listen url=(\S+)")


def listen_url(
    proc: subprocess.Popen, log: Path, *, offset: int = 0, timeout: float = 30.0
) -> str | None:
    """The URL of the first listen line in `log` past byte `offset`; None once `proc` has
    exited without one or `timeout` seconds have passed (`proc` is left as it is)."""
    deadline = time.monotonic() + timeout
    while True:
        match = None
        with contextlib.suppress(FileNotFoundError), open(log) as fh:
            fh.seek(offset)
            match = LISTEN_RE.search(fh.read())
        if match:
            return match.group(1)
        if proc.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(0.02)  # polling the log for the readiness line, bounded above


def wait_listening(proc: subprocess.Popen, log: Path, what: str) -> str:
    """The URL from `log`'s listen line (30 s at most); kills `proc` and exits if none."""
    url = listen_url(proc, log)
    if url is None:
        proc.kill()
        raise SystemExit(f"bench: the {what} did not start (see its stderr above)")
    return url


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: every reported value was measured)."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def summary(name: str, samples_s: list[float]) -> str:
    ms = [s * 1000 for s in samples_s]
    return (
        f"{name:<18} n={len(ms):<4} p50={percentile(ms, 50):7.1f} ms  "
        f"p95={percentile(ms, 95):7.1f} ms  mean={statistics.fmean(ms):7.1f} ms  "
        f"max={max(ms):7.1f} ms"
    )
