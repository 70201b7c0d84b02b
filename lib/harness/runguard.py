"""Nothing left behind, however a run ends: liveness, start-of-run sweep, signals, final check.

The plugin (lib.harness.plugin) calls into this at start-up and at the end; the logic lives
here so the hooks stay thin. Drills on an isolated stand-in showed what a run must survive
(README "What an interruption leaves"): SIGINT and SIGTERM mid-suite, SIGKILL, the API
killed, two_sided's Ctrl-C. What each part does:

- `start` (controller): takes the run's liveness lease (lib.harness.runlease), sweeps the
  boxes of provably dead runs (lib.harness.sweep), lists the org's boxes so the final check
  can tell what this run created however it was created, and makes SIGTERM behave like
  Ctrl-C (pytest's interrupt path: fixtures finalize, sessionfinish and the summary run);
  `join` does the lease and SIGTERM part in an xdist worker;
- `final_check` (controller, after every worker finished): the exact leftover count. Boxes
  of this run still listed are waited for while they show a removal in flight (bounded),
  then sorted: removed in flight, still removing, stranded (removed now, and reported:
  a stranded box means the run leaked it). After an interrupt, every box of the run is
  removed here, whatever the ledgers managed. Boxes created in the org during the run
  under another name (raw HTTP without the harness's naming) are counted as left, never
  removed (they cannot be proven ours). Signals are deferred while this runs (bounded).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from typing import Any

from lib.harness import runlease, sweep
from lib.harness.stackboxes import REMOVING, StackBoxes, StackUnavailable, brief, run_of

WAIT_S = 20.0  # bound on waiting for removals in flight / creates landing after an interrupt
POLL_S = 0.5
LIST_TIMEOUT_S = 5.0

# The signal that ended the run, if one did (SIGTERM is recorded here; Ctrl-C shows as
# pytest's INTERRUPTED exit status).
received: list[int] = []


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM takes pytest's Ctrl-C path: the SIGINT handler in force (asyncio's, when a
    loop runs, which cancels the running test first), else a plain KeyboardInterrupt."""
    received.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt(f"terminated by {signal.Signals(signum).name}")


def install_sigterm() -> None:
    """Make SIGTERM end the run the way Ctrl-C does (see `_on_sigterm`)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """While inside, SIGINT/SIGTERM are noted, not obeyed: the cleanup is short and bounded,
    and a second Ctrl-C must not abort it half-way (that is how boxes were stranded)."""
    late: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda n, _f: late.append(n)) for s in sigs}
    try:
        yield late
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class RunGuard:
    """One process's part in keeping the run clean (see the module docstring)."""

    def __init__(self, cfg, run_id: str, worker: str | None):
        self.cfg = cfg
        self.run_id = run_id
        self.worker = worker
        self.lease = runlease.RunLease(cfg.runs_dir, run_id)
        self.boxes = StackBoxes.of(cfg, timeout=LIST_TIMEOUT_S)
        self.at_start: set[str] | None = None
        self.start_sweep: dict | None = None

    # -- start
    def start(self) -> None:
        """Controller: lease, start-of-run sweep, the org's boxes now, SIGTERM handling."""
        self.lease.hold(
            {
                "api_url": self.cfg.api_url,
                "prefix": self.cfg.prefix,
                "results_dir": str(self.cfg.results_dir),
            }
        )
        install_sigterm()
        report = sweep.sweep(self.cfg, own_run=self.run_id, boxes=self.boxes)
        self.start_sweep = report.to_json()
        try:
            self.at_start = {str(b.get("box_id")) for b in self.boxes.list()}
        except StackUnavailable:
            self.at_start = None

    def join(self) -> None:
        """xdist worker: join the run's lease and handle SIGTERM like Ctrl-C."""
        self.lease.hold()
        install_sigterm()

    # -- end
    def final_check(self, interrupted: bool) -> dict:
        """The exact leftover check (and the interrupt cleanup), with signals deferred."""
        with signals_deferred() as late:
            result = self._final_check(interrupted)
        if late:
            result["signals_during_cleanup"] = [signal.Signals(s).name for s in late]
        return result

    def _final_check(self, interrupted: bool) -> dict:
        t0 = time.monotonic()
        deadline = t0 + WAIT_S
        removed_by_cleanup: list[dict] = []
        removal_failed: list[dict] = []
        stranded: list[dict] = []
        in_flight: dict[str, dict] = {}
        listed: list[dict] = []
        while True:
            try:
                listed = self.boxes.list()
            except StackUnavailable as exc:
                return {"checked": False, "error": str(exc), "left": [], "interrupted": interrupted}
            ours = [b for b in listed if run_of(b.get("name")) == self.run_id]
            removing = [b for b in ours if str(b.get("status")) in REMOVING]
            settled = [b for b in ours if b not in removing]
            for box in removing:
                in_flight.setdefault(str(box.get("box_id")), brief(box))
            for box in settled:
                item = brief(box)
                why = self.boxes.remove(str(box.get("box_id")))
                if not interrupted and item not in stranded:
                    stranded.append(item)
                if why is None:
                    if interrupted:
                        removed_by_cleanup.append(item)
                else:
                    removal_failed.append({**item, "error": why})
            # After an interrupt a create may still land (a worker's request in flight):
            # look again until one listing shows nothing of ours, within the bound.
            again = bool(removing) or (interrupted and bool(settled))
            if not again or time.monotonic() >= deadline or removal_failed:
                break
            time.sleep(POLL_S)
        still = {str(b.get("box_id")) for b in listed if run_of(b.get("name")) == self.run_id}
        still_removing = [v for k, v in in_flight.items() if k in still]
        gone_in_flight = [v for k, v in in_flight.items() if k not in still]
        unattributed = []
        if self.at_start is not None:
            unattributed = [
                brief(b)
                for b in listed
                if str(b.get("box_id")) not in self.at_start and run_of(b.get("name")) is None
            ]
        # Left by the run: what it stranded (even if removed just now), what is still being
        # removed, what the cleanup could not remove, and unnamed boxes made during it.
        left = stranded + still_removing + unattributed
        left += [b for b in removal_failed if interrupted]
        remaining = still_removing + removal_failed + unattributed
        return {
            "checked": True,
            "error": None,
            "interrupted": interrupted,
            "listed": len(listed),
            "left": left,
            "remaining": remaining,
            "stranded": stranded,
            "still_removing": still_removing,
            "removed_in_flight": gone_in_flight,
            "removed_by_cleanup": removed_by_cleanup,
            "removal_failed": removal_failed,
            "unattributed": unattributed,
            "waited_s": round(time.monotonic() - t0, 3),
        }

    def finish(self, nothing_left: bool) -> None:
        """Release the lease; forget the record when none of the run's boxes is left (else a
        later sweep, seeing the run dead, removes what could not be removed now)."""
        self.lease.release(forget=nothing_left and self.worker is None)
