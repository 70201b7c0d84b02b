"""Statistics the harness and its proof tools share: one home, stdlib `math` only.

Why one module: a racy bug is only caught, and a fix only proven, with numbers that say how
much a run count can show. The p0_6 case sizes its exec count with the same rule the
two-sided verdict uses to size its run count (`runs_needed`), reports its loss rate with the
same Wilson interval the mutation matrix uses, and the verdict's Clopper-Pearson bounds and
one-sided Fisher test live beside them. Two copies of one formula drifted before (one lost
its rounding guard and answered 2 where the other answered 3); here there is one.

Everything is exact or summed in log space: the binomial and hypergeometric sums involved
are small (hundreds of runs at most).
"""

from __future__ import annotations

import math

CONFIDENCE = 0.95


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
    of runs and PR never fails (sizes a main-vs-PR comparison before it is run)."""
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


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (95 % by default)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def detection_power(per_op_rate: float, n: int) -> float:
    """P(at least one hit in n independent operations), per-operation rate q."""
    return 1.0 - (1.0 - per_op_rate) ** n
