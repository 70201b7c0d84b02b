"""Helpers the e2e cases share: draining executions, typed-error checks, raw-REST refusals
and the text histogram the racy cases print (their statistics are `lib.stats`).

Why these exist (no silent green; history: docs/history.md):

- `drain` collects stdout and stderr *concurrently* and then waits, every step bounded.
  Reading one stream to the end before the other deadlocks as soon as the unread one fills
  its buffer, and an unbounded `wait()` turns a product hang into a CI timeout with no
  message. Nothing is tolerated: a case gets exactly what arrived and asserts on all of it.
- `assert_typed` says what "a typed error, never a 500" means for the SDK: a `BoxliteError`
  subclass other than `InternalError` (the class the SDK raises for any 5xx or unknown code).
- `refused` is the raw-REST counterpart: a 4xx, never 2xx, never 5xx. A 2xx means the server
  created something it should have refused; the box is removed *by the case* at once (the
  ledger would also remove it at teardown, but then it would be reported as a leak and the
  failure would read as two problems).
- Case tuning knobs (`BOXLITE_E2E_P06_EXECS`...) are not read here: like every other
  variable they are resolved and validated by `lib.harness.config` (the only reader of the
  environment) and reach a case through the `e2e_config` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import boxlite
import httpx

# Upper bound for "it terminates": generous, because a slow CI host must not turn into a
# false failure, yet finite, so a hang fails with a message instead of the suite timeout.
DRAIN_TIMEOUT_S = 60.0


# --------------------------------------------------------------------------- executions


@dataclass(frozen=True)
class Output:
    """Everything an execution delivered, and how it ended."""

    stdout: str
    stderr: str
    exit_code: int
    error_message: str | None
    stdout_chunks: int = 0

    def __str__(self) -> str:  # shown in assertion messages
        return (
            f"exit={self.exit_code} error={self.error_message!r} "
            f"stdout={_clip(self.stdout)!r} stderr={_clip(self.stderr)!r}"
        )


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + f"...[{len(text) - limit} more]"


async def _collect(stream: Any) -> tuple[str, int]:
    if stream is None:  # the SDK hands each stream out once; None means already taken
        return "", 0
    parts = [chunk async for chunk in stream]
    return "".join(parts), len(parts)


async def drain(execution: Any, timeout: float = DRAIN_TIMEOUT_S) -> Output:
    """Read stdout and stderr together, then wait; all within `timeout` seconds."""

    async def run() -> Output:
        (out, chunks), (err, _) = await asyncio.gather(
            _collect(execution.stdout()), _collect(execution.stderr())
        )
        result = await execution.wait()
        return Output(out, err, result.exit_code, result.error_message, chunks)

    try:
        return await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(
            f"execution {execution.id()} did not finish within {timeout:.0f} s "
            "(streams not closed or wait() not resolved)"
        ) from None


async def run(box: Any, command: str, *args: str, timeout: float = DRAIN_TIMEOUT_S, **kw) -> Output:
    """`box.exec(command, [args], **kw)` and `drain` it."""
    execution = await box.exec(command, list(args), **kw)
    return await drain(execution, timeout)


async def sh(box: Any, script: str, *, timeout: float = DRAIN_TIMEOUT_S, **kw) -> Output:
    """Run a POSIX `sh -c script` (busybox and alpine both have it)."""
    return await run(box, "sh", "-c", script, timeout=timeout, **kw)


# --------------------------------------------------------------------------- typed errors


def assert_typed(exc: BaseException, *allowed: type[BaseException]) -> None:
    """`exc` is a typed SDK error (not InternalError, not a 5xx), of one of `allowed` if given."""
    assert isinstance(exc, boxlite.BoxliteError), f"not an SDK error: {type(exc).__name__}: {exc}"
    assert not isinstance(exc, boxlite.InternalError), (
        f"untyped InternalError (a 5xx or unknown code on the wire): {exc}"
    )
    text = str(exc).lower()
    assert "http 500" not in text and "internal server error" not in text, str(exc)
    if allowed:
        assert isinstance(exc, allowed), (
            f"expected one of {[c.__name__ for c in allowed]}, got {type(exc).__name__}: {exc}"
        )


# --------------------------------------------------------------------------- raw REST


def error_code(response: httpx.Response) -> str | None:
    """The canonical envelope's `code` (`{"error": {"code"}}`), or a flat body's, or None."""
    try:
        doc = response.json()
    except ValueError:
        return None
    if isinstance(doc, dict):
        inner = doc.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return inner["code"]
        if isinstance(doc.get("code"), str):
            return doc["code"]
    return None


def describe(response: httpx.Response) -> str:
    """One line for an assertion message: status, method, path and the body clipped to 300 chars."""
    request = response.request
    head = f"HTTP {response.status_code} {request.method} {request.url.path}"
    return f"{head}: {_clip(response.text, 300)}"


async def refused(
    api: Any,
    response: httpx.Response,
    *,
    statuses: Iterable[int] | None = None,
    codes: Iterable[str] | None = None,
) -> None:
    """Assert `response` is a 4xx (one of `statuses`/`codes` when given).

    A 2xx create is undone here before failing, so no box outlives the case.
    """
    if response.is_success:
        await remove_created(api, response)
        raise AssertionError(
            f"expected a refusal, got a success (box removed): {describe(response)}"
        )
    assert 400 <= response.status_code < 500, f"expected a 4xx, got {describe(response)}"
    if statuses is not None:
        allowed = set(statuses)
        assert response.status_code in allowed, f"expected {sorted(allowed)}: {describe(response)}"
    if codes is not None:
        allowed_codes = set(codes)
        assert error_code(response) in allowed_codes, (
            f"expected code in {sorted(allowed_codes)}: {describe(response)}"
        )


async def remove_created(api: Any, response: httpx.Response) -> str | None:
    """Force-remove the box a 2xx create answered with; returns its id."""
    try:
        doc = response.json()
    except ValueError:
        return None
    box_id = doc.get("box_id") if isinstance(doc, dict) else None
    if isinstance(box_id, str) and box_id:
        gone = await api.delete(f"/boxes/{box_id}", params={"force": "true"})
        assert gone.is_success or gone.status_code == 404, describe(gone)
        return box_id
    return None


# --------------------------------------------------------------------------- statistics


def histogram(counts: Mapping[str, int], width: int = 40) -> list[str]:
    """Text bars, one line per bucket, in the mapping's order."""
    total = max(counts.values(), default=0)
    label_w = max((len(k) for k in counts), default=0)
    lines = []
    for label, count in counts.items():
        bar = "#" * (round(width * count / total) if total else 0)
        lines.append(f"  {label:>{label_w}} | {count:5d} {bar}")
    return lines
