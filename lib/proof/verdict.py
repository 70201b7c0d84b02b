"""The two-sided verdict: pure statistics, the decision, its exit code and its reports.

`two_sided.sh` runs the same selected cases against a buggy build (MAIN_REF) and a fixed
build (PR_REF), N runs each. Upstream printed a verdict and then exited 0 whatever it said,
and treated one run per side as proof. This module is the part that must be trustworthy, so
it is pure (no I/O except parsing a JUnit string) and unit-tested on its own:

- one run's outcome is read from its JUnit XML, *raw*: a strict-xfail `known_bug` case that
  failed counts as a failing run (the bug showed), an XPASS(strict) as a passing one, so the
  verdict does not depend on which markers the harness checkout carries;
- the decision follows `git bisect run`'s exit-code contract (0 good, 1..127 but 125 bad,
  125 skip), so `git bisect run ./two_sided.sh ...` works;
- every verdict carries the numbers that say how much N runs can prove: the residual failure
  bound on PR (zero failures in N runs), the smallest failure rate N runs would have caught
  on main, Clopper-Pearson bounds per side, and a one-sided Fisher exact p-value for
  "main fails more often than PR" (the test `anchors.md` "Measurable goals" D sizes).

Everything is written with `math` only: the binomial and hypergeometric sums are small.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

CONFIDENCE = 0.95

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


# --------------------------------------------------------------------------- statistics


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    log_comb = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return log_comb + k * math.log(p) + (n - k) * math.log1p(-p)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p); summed in log space so large n cannot overflow."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, sum(math.exp(_log_binom_pmf(i, n, p)) for i in range(k + 1)))


def _bisect(f, lo: float = 0.0, hi: float = 1.0) -> float:
    """Root of a monotone f on [lo, hi]; 60 halvings is below float resolution here."""
    f_lo = f(lo)
    for _ in range(60):
        mid = (lo + hi) / 2
        if (f(mid) > 0) == (f_lo > 0):
            lo, f_lo = mid, f(mid)
        else:
            hi = mid
    return (lo + hi) / 2


def upper_bound(failures: int, runs: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound on the per-run failure rate.

    With zero failures this is exactly 1 - (1-confidence)^(1/runs), about 3/runs at 95 %:
    the residual rate a clean PR side cannot rule out.
    """
    _check(failures, runs)
    if runs == 0 or failures >= runs:
        return 1.0
    alpha = 1.0 - confidence
    if failures == 0:
        return 1.0 - alpha ** (1.0 / runs)
    return _bisect(lambda p: binom_cdf(failures, runs, p) - alpha)


def lower_bound(failures: int, runs: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson lower bound on the per-run failure rate (0 when none)."""
    _check(failures, runs)
    if runs == 0 or failures == 0:
        return 0.0
    alpha = 1.0 - confidence
    if failures == runs:
        return alpha ** (1.0 / runs)
    # P(X >= failures | p) = 1 - cdf(failures - 1) grows with p; find where it reaches alpha.
    return _bisect(lambda p: (1.0 - binom_cdf(failures - 1, runs, p)) - alpha)


def detection_floor(runs: int, confidence: float = CONFIDENCE) -> float:
    """Smallest per-run failure rate that `runs` runs would catch (>= 1 failure) w.p. conf.

    A bug failing a fraction p of runs shows at least once in N runs with probability
    1-(1-p)^N; solving for p at `confidence` gives 1-(1-confidence)^(1/N).
    """
    if runs <= 0:
        return 1.0
    return 1.0 - (1.0 - confidence) ** (1.0 / runs)


def runs_needed(rate: float, confidence: float = CONFIDENCE) -> int:
    """Runs needed to see a bug failing `rate` of runs at least once: ceil(ln(1-c)/ln(1-p))."""
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    if rate == 1.0:
        return 1
    # Round first: ln(0.05)/ln(0.5) is 4.32..., but e.g. ln(0.01)/ln(0.1) is 2.0000000000000004.
    return math.ceil(round(math.log(1.0 - confidence) / math.log(1.0 - rate), 9))


def fisher_one_sided(main_failures: int, main_runs: int, pr_failures: int, pr_runs: int) -> float:
    """One-sided Fisher exact p-value for "main fails more often than PR".

    Conditioned on the total number of failing runs, the count on main is hypergeometric
    under H0 (same rate on both sides); p = P(X >= observed main failures).
    """
    _check(main_failures, main_runs)
    _check(pr_failures, pr_runs)
    total_runs = main_runs + pr_runs
    total_failures = main_failures + pr_failures
    if total_runs == 0:
        return 1.0
    denominator = math.comb(total_runs, main_runs)
    lo = max(main_failures, total_failures - pr_runs)
    hi = min(main_runs, total_failures)
    numerator = sum(
        math.comb(total_failures, x) * math.comb(total_runs - total_failures, main_runs - x)
        for x in range(lo, hi + 1)
    )
    # Exact integer arithmetic, one division at the end.
    return numerator / denominator


def fisher_power(rate: float, runs: int, alpha: float = 0.01) -> float:
    """Probability that `runs` runs per side reach Fisher p <= alpha when main fails `rate`
    of runs and PR never fails (the design of `anchors.md` "Measurable goals" D)."""
    return sum(
        math.exp(_log_binom_pmf(k, runs, rate))
        for k in range(runs + 1)
        if fisher_one_sided(k, runs, 0, runs) <= alpha
    )


def runs_for_fisher(
    rate: float, alpha: float = 0.01, power: float = 0.95, limit: int = 1000
) -> int | None:
    """Smallest runs per side with `fisher_power` >= power; None above `limit`.

    For rate 0.5 / 0.3 / 0.2 / 0.1 / 0.05 this is 18 / 37 / 57 / 116 / 234 (alpha 0.01,
    power 0.95); a deterministic bug (rate 1) needs 5, since 1/C(10,5) < 0.01.
    """
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    # Fewer runs than it takes to see one failure with this power can never be enough.
    start = runs_needed(rate, power)
    for runs in range(start, limit + 1):
        if fisher_power(rate, runs, alpha) >= power:
            return runs
    return None


def _check(failures: int, runs: int) -> None:
    if runs < 0 or not 0 <= failures <= runs:
        raise ValueError(f"need 0 <= failures <= runs, got {failures}/{runs}")


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
        return self.passed + self.failed + self.errors + self.xfailed + self.xpassed

    @property
    def bug_showed(self) -> bool:
        return bool(self.failed or self.errors or self.xfailed)


def classify_junit(xml_text: str) -> CaseCounts:
    """Count raw outcomes in a pytest JUnit XML (xunit1 or xunit2).

    pytest writes an xfail as `<skipped type="pytest.xfail">` and an XPASS(strict) as a
    `<failure message="[XPASS(strict)] ...">`; both are mapped back to what the case
    actually did, so a `known_bug` marker cannot turn a detected bug into a "pass".
    Raises ValueError when the text is not JUnit XML.
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not JUnit XML: {exc}") from None
    if root.tag not in {"testsuites", "testsuite"}:
        raise ValueError(f"not JUnit XML: root element <{root.tag}>")
    counts = dict.fromkeys(("passed", "failed", "errors", "xfailed", "xpassed", "skipped"), 0)
    failing: list[str] = []
    for case in root.iter("testcase"):
        case_id = "::".join(filter(None, (case.get("classname"), case.get("name"))))
        failure = case.find("failure")
        error = case.find("error")
        skipped = case.find("skipped")
        if error is not None:
            # A setup/teardown error after a call failure is reported as both; one is enough.
            counts["errors"] += 1
            failing.append(case_id)
        elif failure is not None:
            if (failure.get("message") or "").startswith("[XPASS(strict)]"):
                counts["xpassed"] += 1
            else:
                counts["failed"] += 1
                failing.append(case_id)
        elif skipped is not None:
            if skipped.get("type") == "pytest.xfail":
                counts["xfailed"] += 1
                failing.append(case_id)
            else:
                counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return CaseCounts(**counts, failing_ids=tuple(failing))


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
        return (
            self.pytest_exit in PYTEST_RAN
            and self.counts is not None
            and self.counts.executed > 0
            and not self.note
        )

    @property
    def failed(self) -> bool:
        return self.valid and self.counts is not None and self.counts.bug_showed

    @property
    def outcome(self) -> str:
        if not self.valid:
            return "invalid"
        return "fail" if self.failed else "pass"

    def invalid_reason(self) -> str:
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
    side: str
    runs: int
    failures: int
    invalid: int

    @property
    def rate(self) -> float | None:
        return self.failures / self.runs if self.runs else None

    def to_json(self) -> dict:
        return {
            "runs": self.runs,
            "failing_runs": self.failures,
            "invalid_runs": self.invalid,
            "failure_rate": self.rate,
            "rate_lower_95": lower_bound(self.failures, self.runs) if self.runs else None,
            "rate_upper_95": upper_bound(self.failures, self.runs) if self.runs else None,
        }


def summarize(runs: Iterable[RunResult], side: str) -> SideSummary:
    mine = [r for r in runs if r.side == side]
    valid = [r for r in mine if r.valid]
    return SideSummary(side, len(valid), sum(r.failed for r in valid), len(mine) - len(valid))


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    label: str
    summary: str
    details: tuple[str, ...] = ()
    statistics: dict = field(default_factory=dict)

    def to_json(self) -> dict:
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
