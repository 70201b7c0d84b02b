"""The two-sided verdict: pure statistics, the decision, its exit code and its reports.

`two_sided.sh` runs the same selected cases against a buggy build (MAIN_REF) and a fixed
build (PR_REF), N runs each. The verdict decides the exit code and says how much N runs can
prove (history: docs/history.md). This module is the part that must be trustworthy, so
it is pure (no I/O except parsing a JUnit string) and unit-tested on its own:

- one run's outcome is read from its JUnit XML, *raw*: a strict-xfail `known_bug` case that
  failed counts as a failing run (the bug showed), an XPASS(strict) as a passing one, so the
  verdict does not depend on which markers the harness checkout carries;
- the decision follows `git bisect run`'s exit-code contract (0 good, 1..127 but 125 bad,
  125 skip), so `git bisect run ./two_sided.sh ...` works;
- every verdict carries the numbers that say how much N runs can prove: the residual failure
  bound on PR (zero failures in N runs), the smallest failure rate N runs would have caught
  on main, Clopper-Pearson bounds per side, and a one-sided Fisher exact p-value for
  "main fails more often than PR" (the test `lib.stats.runs_for_fisher` sizes).

The statistics themselves live in `lib.stats`, the JUnit reading in `lib.junit`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from lib import junit
from lib.stats import (
    CONFIDENCE,
    detection_floor,
    fisher_one_sided,
    lower_bound,
    runs_for_fisher,
    runs_needed,
    upper_bound,
)

# git bisect run: 0 good, 125 skip, 1..127 (but 125) bad, >= 128 aborts the bisection.
EXIT_FIXED = 0
EXIT_STILL_FAILS = 1
EXIT_NOT_DETECTED = 2
EXIT_CANNOT_TEST = 125
# Not a verdict: bad arguments or a harness/host failure (e.g. the restore failed). >= 128 so
# a bisection stops instead of marking commits on a broken host.
EXIT_HARNESS_ERROR = 128

LABELS = {
    EXIT_FIXED: "FIXED",
    EXIT_STILL_FAILS: "STILL FAILS",
    EXIT_NOT_DETECTED: "NOT DETECTED",
    EXIT_CANNOT_TEST: "CANNOT TEST",
}

SIDES = ("main", "pr")

# pytest's exit codes 0 (all passed) and 1 (some failed) mean the run happened; 2
# (interrupted), 3 (internal error), 4 (usage), 5 (nothing collected) mean it did not.
PYTEST_RAN = (0, 1)


def interleaved_order(repeat: int) -> list[tuple[int, str]]:
    """(round, side) in run order: main, pr, main, pr ... so host drift hits both sides alike."""
    if repeat < 1:
        raise ValueError(f"REPEAT must be >= 1, got {repeat}")
    return [(r, side) for r in range(1, repeat + 1) for side in SIDES]


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class CaseCounts:
    """Raw outcomes of the test cases in one run's JUnit XML."""

    passed: int = 0
    failed: int = 0  # call failures (an XPASS(strict) is counted as xpassed instead)
    errors: int = 0
    xfailed: int = 0  # a known_bug case that failed: the bug showed
    xpassed: int = 0  # a known_bug case that passed
    skipped: int = 0
    failing_ids: tuple[str, ...] = ()

    @property
    def executed(self) -> int:
        """Cases that ran to an outcome (skips excluded)."""
        return self.passed + self.failed + self.errors + self.xfailed + self.xpassed

    @property
    def bug_showed(self) -> bool:
        """True when a case failed, errored or xfailed."""
        return bool(self.failed or self.errors or self.xfailed)


def classify_junit(xml_text: str) -> CaseCounts:
    """Count raw outcomes in a pytest JUnit XML (xunit1 or xunit2), read by `lib.junit`.

    An xfail counts as the bug showing and an XPASS(strict) as a pass, so a `known_bug`
    marker cannot turn a detected bug into a "pass". Raises ValueError when the text is not
    JUnit XML.
    """
    outcomes = junit.read(xml_text)
    counts = dict.fromkeys(junit.OUTCOMES, 0)
    for outcome in outcomes.values():
        counts[outcome] += 1
    failing = tuple(c for c, o in outcomes.items() if o in ("failed", "error", "xfailed"))
    counts["errors"] = counts.pop("error")
    return CaseCounts(**counts, failing_ids=failing)


@dataclass(frozen=True)
class RunResult:
    """One pytest run of the selected cases against one side."""

    round: int
    side: str
    pytest_exit: int | None
    counts: CaseCounts | None
    duration_s: float
    junit: str = ""
    log: str = ""
    note: str = ""  # why the run is invalid, when it is

    @property
    def valid(self) -> bool:
        """Pytest ran (exit 0 or 1), JUnit was read, some case executed, and no note voids the
        run."""
        return (
            self.pytest_exit in PYTEST_RAN
            and self.counts is not None
            and self.counts.executed > 0
            and not self.note
        )

    @property
    def failed(self) -> bool:
        """A valid run in which the bug showed."""
        return self.valid and self.counts is not None and self.counts.bug_showed

    @property
    def outcome(self) -> str:
        """`invalid`, `fail` or `pass`."""
        if not self.valid:
            return "invalid"
        return "fail" if self.failed else "pass"

    def invalid_reason(self) -> str:
        """Why the run does not count (empty when it is valid)."""
        if self.note:
            return self.note
        if self.pytest_exit not in PYTEST_RAN:
            return (
                f"pytest exited {self.pytest_exit} "
                "(2 interrupted, 3 internal error, 4 usage error, 5 nothing collected)"
            )
        if self.counts is None:
            return "no JUnit XML"
        if self.counts.executed == 0:
            return f"no selected case ran ({self.counts.skipped} skipped)"
        return ""

    def to_json(self) -> dict:
        """The run for two_sided.json, outcome and invalid reason included."""
        doc = asdict(self)
        doc["outcome"] = self.outcome
        if self.counts is not None:
            doc["counts"]["failing_ids"] = list(self.counts.failing_ids)
        if not self.valid:
            doc["invalid_reason"] = self.invalid_reason()
        return doc


def run_from_junit(
    round_: int,
    side: str,
    pytest_exit: int | None,
    junit_text: str | None,
    duration_s: float,
    junit: str = "",
    log: str = "",
) -> RunResult:
    """Build a RunResult, turning a missing or malformed JUnit file into an invalid run."""
    counts, note = None, ""
    if junit_text is None:
        note = "" if pytest_exit not in PYTEST_RAN else "pytest wrote no JUnit XML"
    else:
        try:
            counts = classify_junit(junit_text)
        except ValueError as exc:
            note = str(exc)
    return RunResult(round_, side, pytest_exit, counts, duration_s, junit, log, note)


# --------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class SideSummary:
    """One side's valid runs, failing runs and invalid runs."""

    side: str
    runs: int
    failures: int
    invalid: int

    @property
    def rate(self) -> float | None:
        """Failing share of the valid runs; None with no valid run."""
        return self.failures / self.runs if self.runs else None

    def to_json(self) -> dict:
        """Counts, failure rate and its one-sided 95 % Clopper-Pearson bounds, for
        two_sided.json."""
        return {
            "runs": self.runs,
            "failing_runs": self.failures,
            "invalid_runs": self.invalid,
            "failure_rate": self.rate,
            "rate_lower_95": lower_bound(self.failures, self.runs) if self.runs else None,
            "rate_upper_95": upper_bound(self.failures, self.runs) if self.runs else None,
        }


def summarize(runs: Iterable[RunResult], side: str) -> SideSummary:
    """One side's tally: valid runs, failing runs, and runs that did not count."""
    mine = [r for r in runs if r.side == side]
    valid = [r for r in mine if r.valid]
    return SideSummary(side, len(valid), sum(r.failed for r in valid), len(mine) - len(valid))


@dataclass(frozen=True)
class Verdict:
    """The decision: exit code, label, one-line summary, details and statistics."""

    exit_code: int
    label: str
    summary: str
    details: tuple[str, ...] = ()
    statistics: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The verdict for two_sided.json."""
        doc = asdict(self)
        doc["details"] = list(self.details)
        return doc


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def cannot_test(reason: str, details: Sequence[str] = ()) -> Verdict:
    """Exit 125: a side could not be built or brought up, a ref is missing, a run was void."""
    return Verdict(EXIT_CANNOT_TEST, LABELS[EXIT_CANNOT_TEST], reason, tuple(details))


def decide(runs: Sequence[RunResult], repeat: int) -> Verdict:
    """The verdict over all runs. Any void run makes the whole comparison untestable (125)."""
    invalid = [r for r in runs if not r.valid]
    if invalid:
        first = invalid[0]
        return cannot_test(
            f"{len(invalid)} run(s) did not produce a result; first: round {first.round} "
            f"{first.side}: {first.invalid_reason()}",
            [f"round {r.round} {r.side}: {r.invalid_reason()}" for r in invalid],
        )
    main, pr = summarize(runs, "main"), summarize(runs, "pr")
    missing = [s.side for s in (main, pr) if s.runs < repeat]
    if missing:
        return cannot_test(
            f"incomplete: side(s) {', '.join(missing)} ran fewer than {repeat} times"
        )

    p_value = fisher_one_sided(main.failures, main.runs, pr.failures, pr.runs)
    stats = {
        "confidence": CONFIDENCE,
        "fisher_one_sided_p": p_value,
        "pr_residual_bound_95": upper_bound(pr.failures, pr.runs),
        "main_detection_floor_95": detection_floor(main.runs),
        "main": main.to_json(),
        "pr": pr.to_json(),
    }
    counts = f"main {main.failures}/{main.runs} failing runs, PR {pr.failures}/{pr.runs}"
    fisher = f"one-sided Fisher exact p (main fails more often than PR) = {p_value:.4g}"

    if pr.failures:
        if main.failures:
            summary = f"the case still fails on PR ({counts})"
        else:
            summary = (
                f"the case fails on PR but never on main ({counts}): the PR breaks it, "
                "or the case is flaky"
            )
        details = [
            f"PR failure rate in [{_pct(lower_bound(pr.failures, pr.runs))}, "
            f"{_pct(upper_bound(pr.failures, pr.runs))}] (one-sided 95 % bounds)",
            fisher,
        ]
        return Verdict(EXIT_STILL_FAILS, LABELS[EXIT_STILL_FAILS], summary, tuple(details), stats)

    if not main.failures:
        floor = detection_floor(main.runs)
        summary = f"the case never failed on main ({counts}): it does not detect the bug there"
        details = [
            f"{main.runs} run(s) catch, with 95 % probability, only a bug that fails at least "
            f"{_pct(floor)} of runs (1-0.05^(1/{main.runs}))",
            f"a race failing 20 % of runs needs REPEAT >= {runs_needed(0.2)}; "
            f"10 % needs {runs_needed(0.1)}; or amplify the window inside one run",
        ]
        return Verdict(EXIT_NOT_DETECTED, LABELS[EXIT_NOT_DETECTED], summary, tuple(details), stats)

    bound = upper_bound(0, pr.runs)
    summary = f"fails on main, passes on PR ({counts})"
    details = [
        f"residual failure rate on PR < {_pct(bound)} at 95 % "
        f"(0 failures in {pr.runs} runs: 1-0.05^(1/{pr.runs}), about 3/N)",
        f"main failure rate >= {_pct(lower_bound(main.failures, main.runs))} at 95 %",
        fisher + (" (strong)" if p_value <= 0.01 else " (weak)"),
    ]
    if p_value > 0.01:
        rate = main.failures / main.runs
        need = runs_for_fisher(rate)
        details.append(
            f"for p <= 0.01 with 95 % power at the observed main rate {_pct(rate)}, "
            f"use REPEAT >= {need if need else 'more than 1000'}"
        )
    return Verdict(EXIT_FIXED, LABELS[EXIT_FIXED], summary, tuple(details), stats)


# --------------------------------------------------------------------------- reports


def render_table(report: dict) -> str:
    """The human verdict table, from the same dict that is written as two_sided.json."""
    lines = [
        f"two-sided verdict  stack: {report.get('stack', '?')}  repeat: {report.get('repeat')}",
        f"cases: {' '.join(report.get('cases', []))}",
        "",
        f"{'side':<5} {'ref':<24} {'sha':<10} {'runs':>4} {'failing':>7} {'rate':>7}"
        "  95% bounds (one-sided)",
    ]
    sides = report.get("sides", {})
    for side in SIDES:
        info = sides.get(side, {})
        runs, failing = info.get("runs", 0), info.get("failing_runs", 0)
        if runs:
            rate = _pct(failing / runs)
            bounds = f"[{_pct(lower_bound(failing, runs))}, {_pct(upper_bound(failing, runs))}]"
        else:
            rate, bounds = "-", "-"
        lines.append(
            f"{side:<5} {str(info.get('ref', '?'))[:24]:<24} {str(info.get('sha', ''))[:8]:<10} "
            f"{runs:>4} {failing:>7} {rate:>7}  {bounds}"
        )
    order = [f"{r['side']}:{r['outcome']}" for r in report.get("runs", [])]
    if order:
        lines += ["", "runs in order: " + " ".join(order)]
    verdict = report.get("verdict") or {}
    if verdict:
        lines += ["", f"VERDICT {verdict['exit_code']} {verdict['label']}: {verdict['summary']}"]
        lines += [f"  {d}" for d in verdict.get("details", [])]
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    return "\n".join(lines)
