"""The statistics behind the verdicts: binomial intervals and exact tests, in the standard library.

A case's samples are Bernoulli trials: each passes its checks or not. With a handful of them a
raw pass rate says little, so verdicts carry an interval for the true pass rate, and
comparisons carry an exact test. No scipy at run time: everything here is a sum of binomial or
hypergeometric terms computed in log space (``math.lgamma``), exact for the sample sizes tests
use (the tests check these numbers against scipy's).

Case intervals are **Wilson score** intervals: unlike the normal (Wald) interval they stay
inside [0, 1] and keep close to their nominal coverage at n = 3..20 and at rates near 0 or 1,
where tests live, while being narrower than the exact Clopper-Pearson interval, which is
conservative (often 98-99% coverage at a nominal 95%) and so would call more cases
inconclusive. ``clopper_pearson`` is here for the sequential procedure, which needs a
guaranteed bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from statistics import NormalDist

__all__ = [
    "Decision",
    "Interval",
    "binomial_cdf",
    "binomial_pmf",
    "binomial_sf",
    "check_confidence",
    "clopper_pearson",
    "decide",
    "fisher_less",
    "holm",
    "mcnemar_exact",
    "mcnemar_less",
    "paired_difference",
    "wilson",
]


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval for a proportion (or a difference of two)."""

    low: float
    high: float
    confidence: float

    def __str__(self) -> str:
        return f"[{self.low:.0%}, {self.high:.0%}] at {self.confidence:.0%}"


class Decision(Enum):
    """How a pass rate's interval stands against a bar."""

    PASS = "pass"  # the lower bound clears the bar
    FAIL = "fail"  # the upper bound is below it
    INCONCLUSIVE = "inconclusive"  # the bar lies inside the interval


def check_confidence(confidence: float, *, what: str = "confidence") -> float:
    """``confidence`` itself, or a ValueError naming ``what`` when it is not inside (0, 1)."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise TypeError(f"{what} must be a number between 0 and 1, got {confidence!r}")
    if not 0.0 < confidence < 1.0 or math.isnan(confidence):
        raise ValueError(
            f"{what} must be strictly between 0 and 1 (for example 0.95), got {confidence!r}"
        )
    return float(confidence)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(passed: int, total: int, confidence: float) -> Interval:
    """The Wilson score interval for ``passed`` successes of ``total`` trials."""
    _check_counts(passed, total)
    if total == 0:
        return Interval(0.0, 1.0, confidence)
    z = _z(confidence)
    rate = passed / total
    denominator = 1 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / denominator
    # At 0 or n successes the bound on that side is exactly 0 or 1; rounding must not hide it.
    low = 0.0 if passed == 0 else max(0.0, centre - half)
    high = 1.0 if passed == total else min(1.0, centre + half)
    return Interval(low, high, confidence)


def clopper_pearson(passed: int, total: int, confidence: float) -> Interval:
    """The exact (Clopper-Pearson) interval: coverage at least ``confidence`` for every rate."""
    _check_counts(passed, total)
    tail = (1 - confidence) / 2
    # low: the rate at which seeing >= passed successes has probability tail; high: <= passed.
    low = 0.0 if passed == 0 else _solve(lambda p: binomial_sf(passed - 1, total, p) - tail)
    high = 1.0 if passed == total else _solve(lambda p: tail - binomial_cdf(passed, total, p))
    return Interval(low, high, confidence)


def decide(interval: Interval, bar: float) -> Decision:
    """Pass when the bar is at or below the lower bound, fail when above the upper bound."""
    if interval.low + 1e-12 >= bar:
        return Decision.PASS
    if interval.high < bar - 1e-12:
        return Decision.FAIL
    return Decision.INCONCLUSIVE


def _log_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def binomial_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) for X ~ Binomial(n, p)."""
    return math.exp(_log_pmf(k, n, p))


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, math.fsum(math.exp(_log_pmf(i, n, p)) for i in range(k + 1)))


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X > k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    return min(1.0, math.fsum(math.exp(_log_pmf(i, n, p)) for i in range(k + 1, n + 1)))


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """The two-sided exact McNemar p-value from the discordant pairs of a paired comparison.

    ``only_first`` pairs passed under the first condition only, ``only_second`` under the
    second only. Under "no difference" each discordant pair is a fair coin, so the p-value is
    a two-sided binomial test at 1/2 (concordant pairs carry no information about the
    difference).
    """
    _check_counts(0, only_first)
    _check_counts(0, only_second)
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    smaller = min(only_first, only_second)
    return min(1.0, 2 * binomial_cdf(smaller, discordant, 0.5))


def fisher_less(passed_a: int, total_a: int, passed_b: int, total_b: int) -> float:
    """One-sided Fisher exact p-value that group A's pass rate is lower than group B's.

    For two independent runs of a case (a committed baseline and this run): the probability,
    with the margins fixed, of A having ``passed_a`` passes or fewer if the rates were equal.
    """
    _check_counts(passed_a, total_a)
    _check_counts(passed_b, total_b)
    passes = passed_a + passed_b
    total = total_a + total_b
    if total_a == 0 or total_b == 0 or passes in (0, total):
        return 1.0
    low = max(0, passes - total_b)
    terms = (
        _log_comb(total_a, k) + _log_comb(total_b, passes - k) - _log_comb(total, passes)
        for k in range(low, passed_a + 1)
    )
    return min(1.0, math.fsum(math.exp(term) for term in terms))


def paired_difference(
    both: int, only_first: int, only_second: int, neither: int, confidence: float
) -> Interval:
    """An interval for (first pass rate - second pass rate) over paired trials.

    Newcombe's method 10 (Newcombe 1998, "Improved confidence intervals for the difference
    between binomial proportions based on paired data"): Wilson intervals of each rate,
    combined with the correlation of the pairs. It stays in [-1, 1] and behaves at small n,
    where the Wald interval of the difference does not.
    """
    for count in (both, only_first, only_second, neither):
        _check_counts(0, count)
    total = both + only_first + only_second + neither
    if total == 0:
        return Interval(-1.0, 1.0, confidence)
    first, second = (both + only_first) / total, (both + only_second) / total
    first_interval = wilson(both + only_first, total, confidence)
    second_interval = wilson(both + only_second, total, confidence)
    margins = (
        (both + only_first)
        * (only_second + neither)
        * (both + only_second)
        * (only_first + neither)
    )
    phi = (both * neither - only_first * only_second) / math.sqrt(margins) if margins else 0.0
    first_down, first_up = first - first_interval.low, first_interval.high - first
    second_down, second_up = second - second_interval.low, second_interval.high - second
    below = math.sqrt(max(0.0, first_down**2 - 2 * phi * first_down * second_up + second_up**2))
    above = math.sqrt(max(0.0, first_up**2 - 2 * phi * first_up * second_down + second_down**2))
    difference = first - second
    return Interval(max(-1.0, difference - below), min(1.0, difference + above), confidence)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _solve(increasing: Callable[[float], float]) -> float:
    """The root in (0, 1) of an increasing function, by bisection (60 halvings: 1e-18)."""
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if increasing(middle) < 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _check_counts(passed: int, total: int) -> None:
    if total < 0 or not 0 <= passed <= total:
        raise ValueError(f"counts must satisfy 0 <= passed <= total, got {passed} of {total}")


def mcnemar_less(only_first: int, only_second: int) -> float:
    """The one-sided exact McNemar p-value that the first condition's pass rate is the lower.

    The probability, if each discordant pair were a fair coin, of the first condition winning
    ``only_first`` of them or fewer: small when it won far fewer than the second did.
    """
    _check_counts(0, only_first)
    _check_counts(0, only_second)
    return binomial_cdf(only_first, only_first + only_second, 0.5)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: rejecting those at or below
    alpha keeps the chance of any false rejection among them at most alpha (for any number of
    tests, whatever their dependence)."""
    order = sorted(range(len(p_values)), key=lambda place: p_values[place])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, place in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[place]))
        adjusted[place] = running
    return adjusted
