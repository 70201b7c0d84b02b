"""Remove the boxes of runs that are provably dead; report, never touch, everything else.

    python -m lib.harness.sweep [--dry-run]      (make sweep)

Also run at the start of every run (lib.harness.plugin). How it decides, box by box, from
the API's list of the org's boxes (API only, so both stacks work alike):

- named `e2e-<run>-...` and that run is **dead** by its liveness record
  (`lib.harness.runlease`: record here, same host, same API and org, lock held by no
  process) -> removed (force), and the record dropped once none of its boxes is left;
- named `e2e-<run>-...` and the run is **live** (a process still holds its lock) ->
  reported, untouched;
- named `e2e-<run>-...` without a record here (another machine's run, a record deleted
  by hand), or any other name -> reported as foreign, untouched.

Exit status: 0 when every dead run's box is gone, 1 when a removal failed, 2 when the
stack cannot be asked (the one-line message says why).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from lib.harness import runlease
from lib.harness.stackboxes import StackBoxes, StackUnavailable, brief, run_of


@dataclass
class SweepReport:
    """What one sweep did and left alone."""

    removed: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    live: list[dict] = field(default_factory=list)
    foreign: list[dict] = field(default_factory=list)
    forgotten_runs: list[str] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False

    def to_json(self) -> dict:
        """The report as summary.json stores it."""
        return {
            "removed": self.removed,
            "failed": self.failed,
            "live": self.live,
            "foreign": self.foreign,
            "forgotten_runs": self.forgotten_runs,
            "error": self.error,
        }

    def lines(self) -> list[str]:
        """The report for a terminal."""
        if self.error:
            return [f"sweep: not done ({self.error})"]
        out = [
            f"sweep: removed {len(self.removed)} box(es) of dead runs, "
            f"{len(self.failed)} failed; left alone: {len(self.live)} of live runs, "
            f"{len(self.foreign)} foreign"
        ]
        done = "would remove" if self.dry_run else "removed"
        if self.dry_run:
            out[0] = out[0].replace("sweep: removed", "sweep (dry run): would remove")
        for label, items in ((done, self.removed), ("FAILED", self.failed)):
            out += [f"  {label} {b['box_id']} ({b['name']}) run {b['run']}" for b in items]
        out += [f"  live run {b['run']}: {b['box_id']} ({b['name']})" for b in self.live]
        return out


def sweep(
    cfg,
    *,
    own_run: str | None = None,
    dry_run: bool = False,
    boxes: StackBoxes | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """One pass over the org's boxes (see module doc). `own_run` is never swept."""
    report = SweepReport(dry_run=dry_run)
    api = boxes or StackBoxes.of(cfg)
    try:
        listed = api.list()
    except StackUnavailable as exc:
        report.error = str(exc)
        return report
    by_run: dict[str, list[dict]] = {}
    for box in listed:
        run = run_of(box.get("name"))
        if run is None:
            report.foreign.append(brief(box))
        elif run != own_run:
            by_run.setdefault(run, []).append(box)
    for run in sorted(set(by_run) | set(runlease.known_runs(cfg.runs_dir))):
        if run == own_run:
            continue
        mine = by_run.get(run, [])
        with runlease.claim_dead(cfg.runs_dir, run, cfg.api_url, cfg.prefix) as state:
            if state == runlease.LIVE:
                report.live += [{**brief(b), "run": run} for b in mine]
                continue
            if state == runlease.UNKNOWN:
                report.foreign += [{**brief(b), "run": run} for b in mine]
                continue
            left = 0
            for box in mine:
                item = {**brief(box), "run": run}
                why = None if dry_run else api.remove(str(box.get("box_id")))
                if why is None:
                    report.removed.append(item)
                else:
                    left += 1
                    report.failed.append({**item, "error": why})
                if log:
                    log(f"sweep: {'would remove' if dry_run else 'removed'} {item}")
            if not left and not dry_run:
                runlease.forget(cfg.runs_dir, run)
                report.forgotten_runs.append(run)
    return report


def main(argv: list[str] | None = None) -> int:
    """`make sweep`: one sweep of the configured stack; the exit status of the module doc."""
    from lib.harness.config import ConfigError
    from lib.harness.config import load as load_config

    parser = argparse.ArgumentParser(prog="make sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="say what would be removed")
    args = parser.parse_args(argv)
    try:
        cfg = load_config()
    except ConfigError as exc:
        print(f"sweep: cannot start: {exc}", file=sys.stderr)
        return 2
    report = sweep(cfg, dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    if report.foreign:
        print(f"  foreign (not named by a run recorded here, untouched): {len(report.foreign)}")
    if report.error:
        return 2
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
