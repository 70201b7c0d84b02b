"""The org's boxes as the API lists them: list, remove, and whose run each one is.

Why a separate, synchronous client: the checks that must work when everything else has
failed (the leftover count after a run, the cleanup after Ctrl-C or SIGTERM, the sweep of
a dead run's boxes) cannot lean on the session's event loop or the SDK runtime, which an
interrupt may have left half-closed. Plain httpx with short timeouts, API only (works the
same on both stacks), never the runner.

Box names: the harness names every box `e2e-<run id>[-<worker>]-<hex>` (`runtime.BoxLedger`),
with an 8-hex run id, so `run_of(name)` tells which run made a box, or None for any other name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from lib.errors import HarnessError
from lib.harness.api import v1_path

RUN_NAME = re.compile(r"^e2e-(?P<run>[0-9a-f]{8})(?:-|$)")
RUN_ID = re.compile(r"^[0-9a-f]{8}$")
# Statuses a box shows while a removal it was asked for is still going on.
REMOVING = frozenset({"removing", "destroying", "deleting"})
TIMEOUT_S = 10.0


class StackUnavailable(HarnessError):
    """The API could not be asked (down, refused the key, answered nonsense)."""


def run_of(name: object) -> str | None:
    """The run id in a harness box name, None for any other name."""
    match = RUN_NAME.match(name) if isinstance(name, str) else None
    return match.group("run") if match else None


def brief(box: dict) -> dict:
    """A box as reports show it: id, name, status."""
    return {"box_id": box.get("box_id"), "name": box.get("name"), "status": box.get("status")}


@dataclass
class StackBoxes:
    """The org's boxes through the API (sync httpx, short timeouts)."""

    api_url: str
    api_key: str
    prefix: str | None
    timeout: float = TIMEOUT_S

    @classmethod
    def of(cls, cfg, timeout: float = TIMEOUT_S) -> StackBoxes:
        """The client for a harness Config."""
        return cls(cfg.api_url, cfg.api_key, cfg.prefix, timeout)

    def __repr__(self) -> str:  # never the key
        return f"StackBoxes({self.api_url!r}, prefix={self.prefix!r})"

    def _url(self, path: str) -> str:
        return self.api_url.rstrip("/") + v1_path(path, self.prefix)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def list(self) -> list[dict]:
        """Every box the org has; StackUnavailable when the API cannot say."""
        try:
            resp = httpx.get(self._url("/boxes"), headers=self._headers(), timeout=self.timeout)
            boxes = resp.json().get("boxes") if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise StackUnavailable(f"{type(exc).__name__}: {exc}") from None
        if not isinstance(boxes, list):
            raise StackUnavailable(f"HTTP {resp.status_code} listing boxes")
        return [b for b in boxes if isinstance(b, dict)]

    def remove(self, box_id: str) -> str | None:
        """Force-remove one box: None when it is gone (removed now or already), else why not."""
        try:
            resp = httpx.delete(
                self._url(f"/boxes/{box_id}"),
                params={"force": "true"},
                headers=self._headers(),
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if resp.is_success or resp.status_code == 404:
            return None
        return f"HTTP {resp.status_code}: {resp.text[:200]}"


def of_run(boxes: Iterable[dict], run_id: str) -> list[dict]:
    """The boxes named for run `run_id`."""
    return [b for b in boxes if run_of(b.get("name")) == run_id]
