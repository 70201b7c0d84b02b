"""Health means function: bounded HTTP probes, and the last log lines when one fails.

Why this exists: a process with an open port is not a working service (history:
docs/history.md). A component is healthy when it answers the request that proves it works,
polled until a deadline; on failure the error carries the tail of the component's log (a file,
or its journald unit), so the operator sees why without going hunting.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from lib import processes
from lib.errors import HarnessError

POLL_INTERVAL = 0.1  # between probes of a bounded wait; never a readiness guess


class HealthError(HarnessError):
    """A probe did not succeed before its deadline; the message includes the log tail."""


@dataclass(frozen=True)
class LogRef:
    """Where a component logs: a file path, or a systemd unit read through journalctl."""

    path: Path | None = None
    unit: str | None = None

    def tail(self, lines: int = 40) -> str:
        """The log's last `lines` lines (journalctl for a unit, the bounded end of a file), or a
        note on why there are none."""
        if self.unit:
            try:
                out = subprocess.run(
                    ["journalctl", "--no-pager", "-q", "-n", str(lines), "-u", self.unit],
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"(journal of {self.unit} unreadable: {exc})"
            return out.stdout or f"(journal of {self.unit}: {out.stderr.strip() or 'empty'})"
        if self.path:
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(0, 2)
                    fh.seek(max(0, fh.tell() - 64 * 1024))  # bounded read of a big log
                    text = fh.read().decode(errors="replace")
            except OSError as exc:
                return f"({self.path} unreadable: {exc.strerror})"
            return processes.tail(text, lines) or f"({self.path} is empty)"
        return "(no log configured)"

    def __str__(self) -> str:
        return f"journal unit {self.unit}" if self.unit else str(self.path)


def _describe(resp: httpx.Response | None, exc: Exception | None) -> str:
    if resp is not None:
        return f"HTTP {resp.status_code} {resp.text[:200].strip()}"
    return f"{type(exc).__name__}: {exc}" if exc else "no attempt"


def wait_http(
    name: str,
    url: str,
    *,
    deadline: float,
    ok: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
    headers: dict[str, str] | None = None,
    log: LogRef | None = None,
    alive: Callable[[], bool] | None = None,
) -> httpx.Response:
    """GET `url` until `ok(response)` or `deadline` seconds pass; raise HealthError.

    `alive()` returning False (the service manager says the process is gone) ends the wait
    early: there is no point waiting for a crashed process.
    """
    end = time.monotonic() + deadline
    last_resp: httpx.Response | None = None
    last_exc: Exception | None = None
    with httpx.Client(timeout=min(5.0, deadline), headers=headers) as client:
        while True:
            try:
                last_resp, last_exc = client.get(url), None
                if ok(last_resp):
                    return last_resp
            except httpx.HTTPError as exc:
                last_resp, last_exc = None, exc
            if time.monotonic() >= end:
                reason = f"no healthy answer within {deadline:.0f}s"
                break
            if alive is not None and not alive():
                reason = "its process is not running"
                break
            time.sleep(POLL_INTERVAL)
    message = f"{name} is not healthy at {url}: {reason}; last: {_describe(last_resp, last_exc)}"
    if log is not None:
        message += f"\n--- last lines of {log} ---\n{log.tail()}"
    raise HealthError(message)


def wait_until(
    name: str,
    check: Callable[[], bool],
    *,
    deadline: float,
    log: LogRef | None = None,
) -> None:
    """Poll a non-HTTP readiness check (pg_isready, redis PING) until true or the deadline."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() >= end:
            message = f"{name} not ready within {deadline:.0f}s"
            if log is not None:
                message += f"\n--- last lines of {log} ---\n{log.tail()}"
            raise HealthError(message)
        time.sleep(POLL_INTERVAL)


# --- the API's own readiness and its view of the runner (bootstrap and two-sided) ----------


def runner_ready(resp: httpx.Response, name: str = "default") -> bool:
    """`GET /api/admin/runners` lists runner `name` in state `ready` (upstream
    admin/controllers/runner.controller.ts, RunnerDto `name`, `state`)."""
    try:
        runners = resp.json() if resp.status_code == 200 else []
    except ValueError:
        return False
    return isinstance(runners, list) and any(
        isinstance(r, dict) and r.get("name") == name and str(r.get("state")).lower() == "ready"
        for r in runners
    )


def wait_api_ready(
    api_url: str,
    *,
    health_key: str,
    admin_key: str,
    stack: str,
    deadline: float,
    log: LogRef | None = None,
    alive: Callable[[], bool] | None = None,
) -> None:
    """The API is ready and sees its runner.

    `/api/health/ready` admits only `HEALTH_CHECK_API_KEY` (upstream health.controller.ts:
    CombinedAuthGuard + HealthCheckGuard; api-key.strategy.ts gives that key the
    `health-check` role) and checks the database and Redis, not the runner. So on the cloud
    stack the runner is checked separately: the default runner registered and `ready` in
    the admin runner list. The stand-in's readiness includes its runner already.
    """
    wait_http(
        "API ready",
        f"{api_url}/health/ready",
        deadline=deadline,
        headers={"Authorization": f"Bearer {health_key}"},
        log=log,
        alive=alive,
    )
    if stack == "cloud":
        wait_http(
            "API -> runner (default runner ready)",
            f"{api_url}/admin/runners",
            deadline=deadline,
            headers={"Authorization": f"Bearer {admin_key}"},
            ok=runner_ready,
            log=log,
            alive=alive,
        )
