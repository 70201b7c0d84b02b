"""Box lifecycle policy on the stand-in API: validation, activity, and the timers that act.

The stand-in used to store `auto_stop`/`auto_delete` and never act on them, while the
harness (and its README) relied on them to reap what a killed run leaves behind. The
contract modelled here is upstream's control plane (boxlite-ai/boxlite, `apps/api/src/box`):

- `auto_stop` (seconds of idleness; `box.service.ts` resolveLifecyclePolicy,
  `constants/box-lifecycle.constants.ts`): default 900, 0 disables, any other value below
  the 60 s floor is a 400 that names the floor (the preview proxy renews idle timers every
  50 s, so a shorter window could not be kept alive). Non-integers and negatives are 400.
- `auto_delete` (seconds): default 0 (off); acts on a *stopped* box once its last activity
  is that old (`managers/box.manager.ts` autoDeleteCheck joins on the activity row, so a box
  that never had activity is never auto-deleted). The SDK refuses a pair where a non-zero
  `auto_delete` is not greater than `auto_stop`, so "gone after stop" follows.
- `auto_resume` (bool): default true; a proxied request (exec, attach, files, metrics) to a
  stopped box starts it first (`services/box-auto-resume.service.ts`); with false the
  request reaches the runner, which refuses it with the typed 409 `stopped`.
- Activity is what the proxy paths see (exec, executions, attach, files, per-box metrics);
  GET and list do not count, so polling a box cannot keep it alive. Auto-stop measures
  from the last activity, else the record's last update (`COALESCE(lastActivityAt,
  updatedAt)`). Stand-in simplification: create and start count as activity too.
- Timers: upstream checks every 10 s (cron). The stand-in ticks at floor/6 (10 s at the
  upstream floor, never under 0.5 s).

Stand-in only: `--lifecycle-floor S` lowers the 60 s floor so cases can pin the contract
with short windows in seconds instead of minutes. It is reported at `GET
/api/v1/_standin/lifecycle` (and in the run summary), never silently: a stand-in started
with the upstream default behaves like the real API.

Fault `lifecycle-timers-never-fire` (standin.faults): the timers tick but never act, the
bug `boxlite serve` shipped (boxlite-ai/boxlite#1407, fixed by PR #1411: the fields were in
the wire contract and every SDK, but nothing read them back).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import time
from dataclasses import dataclass

from standin.api.runner_client import RunnerUnavailable
from standin.api.store import now_rfc3339
from standin.errors import ApiError

UPSTREAM_MIN_AUTO_STOP_S = 60
DEFAULT_AUTO_STOP_S = 900
DEFAULT_AUTO_DELETE_S = 0
DEFAULT_AUTO_RESUME = True
MAX_INTERVAL_S = 2_147_483_647  # upstream keeps the column a signed 32-bit int
UPSTREAM_TICK_S = 10.0
MIN_TICK_S = 0.5
FAULT = "lifecycle-timers-never-fire"


def tick_for(floor: int) -> float:
    return max(MIN_TICK_S, min(UPSTREAM_TICK_S, floor / 6))


@dataclass(frozen=True)
class Policy:
    auto_stop: int
    auto_delete: int
    auto_resume: bool


def _interval(body: dict, key: str, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError("invalid_argument", f"{key} must be an integer number of seconds")
    if not 0 <= value <= MAX_INTERVAL_S:
        raise ApiError(
            "invalid_argument", f"{key} must be between 0 and {MAX_INTERVAL_S} seconds, got {value}"
        )
    return value


def check_policy(body: dict, floor: int) -> Policy:
    """Validate and default the three lifecycle fields of a create body (400 on bad input)."""
    auto_stop = _interval(body, "auto_stop", DEFAULT_AUTO_STOP_S)
    if auto_stop != 0 and auto_stop < floor:
        raise ApiError(
            "invalid_argument",
            f"auto_stop must be 0 (disabled) or at least {floor} seconds, got {auto_stop}",
        )
    auto_delete = _interval(body, "auto_delete", DEFAULT_AUTO_DELETE_S)
    auto_resume = body.get("auto_resume")
    if auto_resume is None:
        auto_resume = DEFAULT_AUTO_RESUME
    elif not isinstance(auto_resume, bool):
        raise ApiError("invalid_argument", "auto_resume must be a boolean")
    return Policy(auto_stop, auto_delete, auto_resume)


def touch(rec) -> None:
    """Record activity on a box (a proxied request, a create, a start)."""
    rec.last_activity = time.time()


def rfc3339(epoch: float) -> str:
    stamp = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _epoch(stamp: str) -> float:
    try:
        return _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def due(rec, now: float) -> str | None:
    """What the policy asks of this record now: "stop", "delete" or None."""
    if rec.runner_id is None:
        return None
    if rec.status == "running" and rec.auto_stop > 0:
        since = rec.last_activity if rec.last_activity is not None else _epoch(rec.updated_at)
        if now - since >= rec.auto_stop:
            return "stop"
    expiring = rec.status == "stopped" and rec.auto_delete > 0 and rec.last_activity is not None
    if expiring and now - rec.last_activity >= rec.auto_delete:
        return "delete"
    return None


class Reaper:
    """The periodic check: stops idle boxes, deletes expired stopped ones (see module doc)."""

    def __init__(self, ctx, floor: int):
        self.ctx = ctx
        self.floor = floor
        self.tick = tick_for(floor)
        self._task: asyncio.Task | None = None
        self._fault_noted = False

    def describe(self) -> dict:
        return {
            "min_auto_stop_s": self.floor,
            "upstream_min_auto_stop_s": UPSTREAM_MIN_AUTO_STOP_S,
            "tick_s": self.tick,
            "defaults": {
                "auto_stop": DEFAULT_AUTO_STOP_S,
                "auto_delete": DEFAULT_AUTO_DELETE_S,
                "auto_resume": DEFAULT_AUTO_RESUME,
            },
            "stand_in_only": self.floor != UPSTREAM_MIN_AUTO_STOP_S,
        }

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bad tick must not end the timers for good
                self.ctx.log.event("lifecycle.error", level="warning", reason=repr(exc))

    async def _refresh_statuses(self) -> None:
        """The runner is the truth for running/stopped (a box whose init exited stops)."""
        try:
            runner_boxes = await self.ctx.client.list_boxes()
        except RunnerUnavailable:
            return
        by_id = {b.get("box_id"): b for b in runner_boxes if isinstance(b, dict)}
        for rec in list(self.ctx.store.boxes.values()):
            live = by_id.get(rec.runner_id) if rec.runner_id else None
            status = live.get("status") if isinstance(live, dict) else None
            if status and status != rec.status:
                rec.status = status

    async def check(self, now: float | None = None) -> list[tuple[str, str]]:
        """One tick; returns the (box id, action) pairs taken."""
        ctx = self.ctx
        if not any(r.auto_stop or r.auto_delete for r in ctx.store.boxes.values()):
            return []
        await self._refresh_statuses()
        now = time.time() if now is None else now
        todo = [(rec, act) for rec in list(ctx.store.boxes.values()) if (act := due(rec, now))]
        if not todo:
            return []
        if FAULT in ctx.config.faults:
            if not self._fault_noted:
                ctx.log.event("fault", name=FAULT, reason="lifecycle timers do not act")
                self._fault_noted = True
            return []
        taken = []
        for rec, action in todo:
            if await self._act(rec, action):
                taken.append((rec.id, action))
        return taken

    async def _act(self, rec, action: str) -> bool:
        ctx = self.ctx
        path = f"/v1/boxes/{rec.runner_id}"
        idle = time.time() - (rec.last_activity or _epoch(rec.updated_at))
        try:
            if action == "stop":
                reply = await ctx.client.call("POST", path + "/stop")
                if not reply.ok and reply.status != 404:
                    return False
                rec.status = "stopped"
                rec.updated_at = now_rfc3339()
            else:
                reply = await ctx.client.call("DELETE", path, params={"force": "true"})
                if not reply.ok and reply.status != 404:
                    return False
                ctx.store.boxes.pop(rec.id, None)
        except RunnerUnavailable:
            return False
        ctx.store.save()
        ctx.log.event(
            f"box.auto_{action}",
            box_id=rec.id,
            runner_box_id=rec.runner_id,
            auto_stop=rec.auto_stop,
            auto_delete=rec.auto_delete,
            idle_s=f"{idle:.1f}",
        )
        return True
