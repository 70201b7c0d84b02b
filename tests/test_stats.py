"""lib.stats: the shared statistics against published numbers and their defining equations."""

from __future__ import annotations

import math

import pytest

from lib import stats


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        # the detection table (runs to see a bug once), rows p = 0.5, 0.2, 0.1, 0.05, 0.01.
        (0.90, [4, 11, 22, 45, 230]),
        (0.95, [5, 14, 29, 59, 299]),
        (0.99, [7, 21, 44, 90, 459]),
    ],
)
def test_runs_needed_matches_the_detection_table(confidence, expected):
    assert [stats.runs_needed(p, confidence) for p in (0.5, 0.2, 0.1, 0.05, 0.01)] == expected


def test_runs_needed_rejects_impossible_rates():
    assert stats.runs_needed(1.0) == 1
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            stats.runs_needed(bad)


@pytest.mark.parametrize(("runs", "bound"), [(30, 0.095), (100, 0.0295), (300, 0.00994)])
def test_residual_bound_after_clean_runs(runs, bound):
    # Zero failures in m runs: exact 1-0.05^(1/m): < 9.5 % / < 3 % / < 1 % for 30/100/300.
    got = stats.upper_bound(0, runs)
    assert got == pytest.approx(1 - 0.05 ** (1 / runs))
    assert got == pytest.approx(bound, abs=5e-4)
    # and about 3/N (the rule of three), always a little below it
    assert 0.94 * 3 / runs < got < 3 / runs


def test_detection_floor_is_the_rate_n_runs_catch_with_95_percent():
    for runs in (1, 5, 29, 300):
        floor = stats.detection_floor(runs)
        # a bug failing exactly `floor` of runs is missed by all N runs with probability 5 %
        assert (1 - floor) ** runs == pytest.approx(0.05)
    assert stats.detection_floor(5) == pytest.approx(0.4507, abs=1e-4)
    assert stats.detection_floor(0) == 1.0


def test_clopper_pearson_bounds_solve_their_defining_equations():
    # one-sided 95 % upper for 1/10 is the p with P(X <= 1) = 0.05: 0.3942 (textbook value)
    assert stats.upper_bound(1, 10) == pytest.approx(0.39416, abs=1e-4)
    for k, n in [(1, 10), (3, 7), (9, 10), (50, 400)]:
        hi, lo = stats.upper_bound(k, n), stats.lower_bound(k, n)
        assert stats.binom_cdf(k, n, hi) == pytest.approx(0.05, abs=1e-9)
        assert 1 - stats.binom_cdf(k - 1, n, lo) == pytest.approx(0.05, abs=1e-9)
        assert lo < k / n < hi
    assert stats.lower_bound(5, 5) == pytest.approx(0.05 ** (1 / 5))
    assert stats.lower_bound(0, 5) == 0.0
    assert stats.upper_bound(5, 5) == 1.0
    with pytest.raises(ValueError):
        stats.upper_bound(6, 5)


def test_binom_cdf_handles_large_n_without_overflow():
    # comb(5000, 2500) does not fit a float; the log-space sum must still be right
    assert stats.binom_cdf(2500, 5000, 0.5) == pytest.approx(0.5056, abs=1e-3)
    assert stats.binom_cdf(-1, 10, 0.3) == 0.0
    assert stats.binom_cdf(10, 10, 0.3) == 1.0


def test_fisher_one_sided_exact_values():
    # Fisher's tea-tasting table [[3,1],[1,3]]: one-sided p = 17/70
    assert stats.fisher_one_sided(3, 4, 1, 4) == pytest.approx(17 / 70)
    # a deterministic bug over 5 runs per side: 1/C(10,5)
    assert stats.fisher_one_sided(5, 5, 0, 5) == pytest.approx(1 / 252)
    # one run per side proves little
    assert stats.fisher_one_sided(1, 1, 0, 1) == pytest.approx(0.5)
    # no difference at all is p = 1, and so is PR failing more than main
    assert stats.fisher_one_sided(0, 5, 0, 5) == 1.0
    assert stats.fisher_one_sided(0, 5, 5, 5) == 1.0
    # cross-check against the hypergeometric tail written out term by term
    a, n1, b, n2 = 4, 9, 1, 7
    total = math.comb(n1 + n2, a + b)
    tail = sum(math.comb(n1, x) * math.comb(n2, a + b - x) for x in range(a, min(n1, a + b) + 1))
    assert stats.fisher_one_sided(a, n1, b, n2) == pytest.approx(tail / total)


def test_runs_for_fisher_reproduces_the_published_power_table():
    # Reference values: one-sided Fisher, alpha 0.01, power 0.95, post-fix rate 0
    assert [stats.runs_for_fisher(p) for p in (1.0, 0.5, 0.3, 0.2, 0.1)] == [5, 18, 37, 57, 116]
    assert stats.fisher_power(0.5, 17) < 0.95 <= stats.fisher_power(0.5, 18)
    assert stats.runs_for_fisher(0.001, limit=50) is None


def test_p06_sizing_and_the_verdict_use_the_same_rounding():
    # ln(0.64)/ln(0.8) is 2.0000000000000004: the unguarded copy this module replaced said 3.
    assert stats.runs_needed(0.2, 0.36) == 2
    assert stats.runs_needed(0.1, 0.99) == 44


def test_wilson_interval_and_detection_power():
    low, high = stats.wilson_interval(20, 20)
    assert 0.83 < low < 0.84 and high == 1.0
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    assert stats.detection_power(0.05, 90) > 0.99 > stats.detection_power(0.05, 89)
