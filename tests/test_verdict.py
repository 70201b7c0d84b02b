"""lib.proof.verdict: the statistics against published numbers, the exit-code rules, JUnit."""

from __future__ import annotations

import json

import pytest

from lib.proof import verdict as v

# --------------------------------------------------------------------------- order


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
