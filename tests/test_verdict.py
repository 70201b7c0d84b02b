"""lib.proof.verdict: the statistics against published numbers, the exit-code rules, JUnit."""

from __future__ import annotations

import json
import math

import pytest

from lib.proof import verdict as v

# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        # anchors.md "Measurable goals" D, rows p = 0.5, 0.2, 0.1, 0.05, 0.01.
        (0.90, [4, 11, 22, 45, 230]),
        (0.95, [5, 14, 29, 59, 299]),
        (0.99, [7, 21, 44, 90, 459]),
    ],
)
def test_runs_needed_matches_the_detection_table(confidence, expected):
    assert [v.runs_needed(p, confidence) for p in (0.5, 0.2, 0.1, 0.05, 0.01)] == expected


def test_runs_needed_rejects_impossible_rates():
    assert v.runs_needed(1.0) == 1
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            v.runs_needed(bad)


@pytest.mark.parametrize(("runs", "bound"), [(30, 0.095), (100, 0.0295), (300, 0.00994)])
def test_residual_bound_after_clean_runs(runs, bound):
    # Zero failures in m runs: exact 1-0.05^(1/m), "< 9.5 % / < 3 % / < 1 %" in anchors D.
    got = v.upper_bound(0, runs)
    assert got == pytest.approx(1 - 0.05 ** (1 / runs))
    assert got == pytest.approx(bound, abs=5e-4)
    # and about 3/N (the rule of three), always a little below it
    assert 0.94 * 3 / runs < got < 3 / runs


def test_detection_floor_is_the_rate_n_runs_catch_with_95_percent():
    for runs in (1, 5, 29, 300):
        floor = v.detection_floor(runs)
        # a bug failing exactly `floor` of runs is missed by all N runs with probability 5 %
        assert (1 - floor) ** runs == pytest.approx(0.05)
    assert v.detection_floor(5) == pytest.approx(0.4507, abs=1e-4)
    assert v.detection_floor(0) == 1.0


def test_clopper_pearson_bounds_solve_their_defining_equations():
    # one-sided 95 % upper for 1/10 is the p with P(X <= 1) = 0.05: 0.3942 (textbook value)
    assert v.upper_bound(1, 10) == pytest.approx(0.39416, abs=1e-4)
    for k, n in [(1, 10), (3, 7), (9, 10), (50, 400)]:
        hi, lo = v.upper_bound(k, n), v.lower_bound(k, n)
        assert v.binom_cdf(k, n, hi) == pytest.approx(0.05, abs=1e-9)
        assert 1 - v.binom_cdf(k - 1, n, lo) == pytest.approx(0.05, abs=1e-9)
        assert lo < k / n < hi
    assert v.lower_bound(5, 5) == pytest.approx(0.05 ** (1 / 5))
    assert v.lower_bound(0, 5) == 0.0
    assert v.upper_bound(5, 5) == 1.0
    with pytest.raises(ValueError):
        v.upper_bound(6, 5)


def test_binom_cdf_handles_large_n_without_overflow():
    # comb(5000, 2500) does not fit a float; the log-space sum must still be right
    assert v.binom_cdf(2500, 5000, 0.5) == pytest.approx(0.5056, abs=1e-3)
    assert v.binom_cdf(-1, 10, 0.3) == 0.0
    assert v.binom_cdf(10, 10, 0.3) == 1.0


def test_fisher_one_sided_exact_values():
    # Fisher's tea-tasting table [[3,1],[1,3]]: one-sided p = 17/70
    assert v.fisher_one_sided(3, 4, 1, 4) == pytest.approx(17 / 70)
    # a deterministic bug over 5 runs per side: 1/C(10,5)
    assert v.fisher_one_sided(5, 5, 0, 5) == pytest.approx(1 / 252)
    # one run per side proves little
    assert v.fisher_one_sided(1, 1, 0, 1) == pytest.approx(0.5)
    # no difference at all is p = 1, and so is PR failing more than main
    assert v.fisher_one_sided(0, 5, 0, 5) == 1.0
    assert v.fisher_one_sided(0, 5, 5, 5) == 1.0
    # cross-check against the hypergeometric tail written out term by term
    a, n1, b, n2 = 4, 9, 1, 7
    total = math.comb(n1 + n2, a + b)
    tail = sum(math.comb(n1, x) * math.comb(n2, a + b - x) for x in range(a, min(n1, a + b) + 1))
    assert v.fisher_one_sided(a, n1, b, n2) == pytest.approx(tail / total)


def test_runs_for_fisher_reproduces_the_anchor_power_table():
    # anchors D: one-sided Fisher, alpha 0.01, power 0.95, post-fix rate 0
    assert [v.runs_for_fisher(p) for p in (1.0, 0.5, 0.3, 0.2, 0.1)] == [5, 18, 37, 57, 116]
    assert v.fisher_power(0.5, 17) < 0.95 <= v.fisher_power(0.5, 18)
    assert v.runs_for_fisher(0.001, limit=50) is None


def test_interleaved_order_alternates_sides():
    assert v.interleaved_order(3) == [
        (1, "main"),
        (1, "pr"),
        (2, "main"),
        (2, "pr"),
        (3, "main"),
        (3, "pr"),
    ]
    with pytest.raises(ValueError):
        v.interleaved_order(0)


# --------------------------------------------------------------------------- JUnit


def junit(*cases: str) -> str:
    body = "".join(cases)
    return (
        f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{body}</testsuite></testsuites>'
    )


PASS = '<testcase classname="cases.t" name="test_ok"/>'
FAIL = (
    '<testcase classname="cases.t" name="test_bad">'
    '<failure message="assert 1">x</failure></testcase>'
)
ERROR = (
    '<testcase classname="cases.t" name="test_err"><error message="fixture">x</error></testcase>'
)
XFAIL = (
    '<testcase classname="cases.t" name="test_known">'
    '<skipped type="pytest.xfail" message="boxlite-ai/boxlite#563"/></testcase>'
)
XPASS_STRICT = (
    '<testcase classname="cases.t" name="test_fixed">'
    '<failure message="[XPASS(strict)] boxlite-ai/boxlite#563"/></testcase>'
)
SKIP = (
    '<testcase classname="cases.t" name="test_na">'
    '<skipped type="pytest.skip" message="not applicable"/></testcase>'
)


def test_classify_junit_reads_raw_outcomes():
    counts = v.classify_junit(junit(PASS, FAIL, ERROR, XFAIL, XPASS_STRICT, SKIP))
    assert (counts.passed, counts.failed, counts.errors) == (1, 1, 1)
    assert (counts.xfailed, counts.xpassed, counts.skipped) == (1, 1, 1)
    assert counts.failing_ids == ("cases.t::test_bad", "cases.t::test_err", "cases.t::test_known")
    assert counts.executed == 5
    assert counts.bug_showed


def test_known_bug_marker_cannot_hide_or_fake_a_detection():
    # the bug showed as an xfail: the run failed
    assert v.classify_junit(junit(XFAIL)).bug_showed
    # the fixed build makes a strict known_bug XPASS: the case itself passed
    assert not v.classify_junit(junit(XPASS_STRICT, PASS)).bug_showed


def test_classify_junit_accepts_a_bare_testsuite_and_rejects_garbage():
    assert v.classify_junit(f"<testsuite>{PASS}</testsuite>").passed == 1
    with pytest.raises(ValueError, match="not JUnit"):
        v.classify_junit("<html/>")
    with pytest.raises(ValueError, match="not JUnit"):
        v.classify_junit("<testsuites>")


def run(side: str, outcome: str, round_: int = 1) -> v.RunResult:
    xml = {"pass": junit(PASS), "fail": junit(PASS, FAIL), "skip": junit(SKIP)}[outcome]
    return v.run_from_junit(round_, side, 1 if outcome == "fail" else 0, xml, 0.1)


def test_run_validity():
    assert run("main", "fail").outcome == "fail"
    assert run("pr", "pass").outcome == "pass"
    skipped = run("pr", "skip")
    assert skipped.outcome == "invalid"
    assert "no selected case ran" in skipped.invalid_reason()
    crashed = v.run_from_junit(1, "main", 3, None, 0.1)
    assert crashed.outcome == "invalid" and "pytest exited 3" in crashed.invalid_reason()
    nothing = v.run_from_junit(1, "main", 5, junit(), 0.1)
    assert "pytest exited 5" in nothing.invalid_reason()
    garbled = v.run_from_junit(1, "main", 1, "<oops", 0.1)
    assert garbled.outcome == "invalid" and "not JUnit" in garbled.invalid_reason()
    lost = v.run_from_junit(1, "main", 0, None, 0.1)
    assert "no JUnit" in lost.invalid_reason()


# --------------------------------------------------------------------------- decide


def rounds(main: list[str], pr: list[str]) -> list[v.RunResult]:
    out = []
    for i, (m, p) in enumerate(zip(main, pr, strict=True), start=1):
        out += [run("main", m, i), run("pr", p, i)]
    return out


def test_fixed_reports_residual_bound_and_strong_evidence():
    verdict = v.decide(rounds(["fail"] * 5, ["pass"] * 5), repeat=5)
    assert verdict.exit_code == 0 and verdict.label == "FIXED"
    text = "\n".join(verdict.details)
    assert "residual failure rate on PR < 45.1% at 95 %" in text
    assert "(strong)" in text
    assert verdict.statistics["fisher_one_sided_p"] == pytest.approx(1 / 252)
    assert verdict.statistics["pr_residual_bound_95"] == pytest.approx(1 - 0.05**0.2)


def test_fixed_with_one_run_says_the_evidence_is_weak_and_how_many_runs_would_do():
    verdict = v.decide(rounds(["fail"], ["pass"]), repeat=1)
    assert verdict.exit_code == 0
    text = "\n".join(verdict.details)
    assert "(weak)" in text
    assert "REPEAT >= 5" in text  # deterministic bug: 1/C(10,5) < 0.01
    assert "residual failure rate on PR < 95.0%" in text


def test_racy_bug_fixed():
    verdict = v.decide(rounds(["fail", "pass", "fail", "pass"], ["pass"] * 4), repeat=4)
    assert verdict.exit_code == 0
    assert "main 2/4 failing runs, PR 0/4" in verdict.summary


def test_still_fails_on_pr():
    verdict = v.decide(rounds(["fail"] * 3, ["fail", "pass", "pass"]), repeat=3)
    assert verdict.exit_code == 1 and verdict.label == "STILL FAILS"
    assert "PR 1/3" in verdict.summary


def test_fails_only_on_pr_is_bad_for_bisect_not_undetected():
    verdict = v.decide(rounds(["pass"] * 2, ["fail"] * 2), repeat=2)
    assert verdict.exit_code == 1
    assert "never on main" in verdict.summary


def test_not_detected_reports_the_detection_floor():
    verdict = v.decide(rounds(["pass"] * 5, ["pass"] * 5), repeat=5)
    assert verdict.exit_code == 2 and verdict.label == "NOT DETECTED"
    text = "\n".join(verdict.details)
    assert "fails at least 45.1% of runs" in text
    assert "REPEAT >= 14" in text
    assert verdict.statistics["main_detection_floor_95"] == pytest.approx(v.detection_floor(5))


def test_any_void_run_means_cannot_test():
    runs = rounds(["fail"] * 2, ["pass"] * 2)
    runs[3] = v.run_from_junit(2, "pr", 2, None, 0.1)
    verdict = v.decide(runs, repeat=2)
    assert verdict.exit_code == 125
    assert "round 2 pr: pytest exited 2" in verdict.summary


def test_missing_runs_mean_cannot_test():
    runs = rounds(["fail"] * 2, ["pass"] * 2)[:3]
    verdict = v.decide(runs, repeat=2)
    assert verdict.exit_code == 125 and "pr ran fewer than 2" in verdict.summary


def test_exit_codes_are_git_bisect_compatible():
    # 0 good, 125 skip, 1..127 bad; harness errors must abort a bisection (>= 128)
    assert v.EXIT_FIXED == 0
    assert v.EXIT_CANNOT_TEST == 125
    assert 1 <= v.EXIT_STILL_FAILS <= 127 and 1 <= v.EXIT_NOT_DETECTED <= 127
    assert v.EXIT_HARNESS_ERROR >= 128


def test_render_table_and_json_round_trip():
    runs = rounds(["fail"] * 2, ["pass"] * 2)
    verdict = v.decide(runs, repeat=2)
    report = {
        "stack": "standin",
        "repeat": 2,
        "cases": ["cases/test_p0_6_exec_stdout_race.py"],
        "sides": {
            "main": {"ref": "main", "sha": "a" * 40, **v.summarize(runs, "main").to_json()},
            "pr": {"ref": "fix-563", "sha": "b" * 40, **v.summarize(runs, "pr").to_json()},
        },
        "runs": [r.to_json() for r in runs],
        "verdict": verdict.to_json(),
    }
    report = json.loads(json.dumps(report))  # everything must be JSON-serialisable
    table = v.render_table(report)
    assert "stack: standin" in table
    assert "main  main" in table and "aaaaaaaa" in table
    assert "runs in order: main:fail pr:pass main:fail pr:pass" in table
    assert "VERDICT 0 FIXED" in table
    assert "[22.4%, 100.0%]" in table  # main 2/2: lower bound 0.05^(1/2)
    assert report["runs"][0]["counts"]["failing_ids"] == ["cases.t::test_bad"]
