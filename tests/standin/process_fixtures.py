"""Start and stop the stand-in's server processes (runner, API) for self-tests.

Why this exists: `runner_fixtures.start_runner` and `api_fixtures.start_api` start their
program the same way: `--port 0`, stdout and stderr appended to a file beside the state dir,
ready once the `event=listen` line appears in the log past what an earlier run wrote there
(standin.benchutil.listen_url), failing at once with the stderr when the process exits
first. Stopping is the same too: SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from lib.names import REPO_ROOT
from standin.benchutil import listen_url

REPO = REPO_ROOT
READY_TIMEOUT = 30.0


def spawn_listening(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    stderr_path: Path,
    what: str,
    ready_timeout: float = READY_TIMEOUT,
) -> tuple[subprocess.Popen, str]:
    """Start `argv` and wait for its `listen` line; the process and the URL it logged."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(stderr_path, "ab") as err:
        proc = subprocess.Popen(
            list(argv), cwd=REPO, env=dict(env), stdin=subprocess.DEVNULL, stdout=err, stderr=err
        )
    url = listen_url(proc, log_path, offset=offset, timeout=ready_timeout)
    if url is not None:
        return proc, url
    if proc.poll() is not None:
        raise RuntimeError(
            f"{what} exited with {proc.returncode} before listening: "
            f"{stderr_path.read_text().strip()}"
        )
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{what} did not log event=listen within {ready_timeout}s")


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    """SIGTERM, bounded wait, then SIGKILL; returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
