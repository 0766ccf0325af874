"""Adaptive sampling: after each sample, settle a case's verdict now or draw one more.

Most cases are clearly good or clearly broken after a few samples; only the ones near the bar
need many. A sequential procedure looks at a case's pass count after every sample from the
``minimum``-th to the ``maximum``-th and stops as soon as the verdict is settled. Looking again
and again at an ordinary fixed-n interval would not do: every look is another chance for luck
to cross the bar, and "stop at the first look whose 95% interval excludes the bar" is wrong far
more often than 5% of the time. So the looks share one error budget, ``alpha = 1 - confidence``.

**The method: an exact group-sequential binomial test with greedy alpha spending, and
curtailment.** After ``n`` samples with ``k`` passes:

- PASS when ``k >= pass_at[n]``, FAIL when ``n - k >= fail_at[n]`` (failures), else go on.
  The thresholds are computed once per plan by dynamic programming over the binomial paths
  at a true rate exactly at the bar: at each look, the lowest threshold that keeps the
  probability of *ever* having crossed the PASS boundary, by this look, at most ``alpha``
  (and the same for FAIL with failures). Each look spends what the earlier ones left, so
  early looks decide when the evidence is overwhelming and late ones still can.
- Curtailment: once the raw pass rate over ``maximum`` samples is certain whatever the
  remaining samples give (more than ``(1 - bar) * maximum`` failures, or at least
  ``bar * maximum`` passes), or at the ``maximum``, the case stops ``UNDECIDED``: the test did
  not settle it and its verdict is the raw pass rate, exactly what running all ``maximum``
  samples would have given.

**The guarantee** (anytime-valid over the looks): for every true pass rate ``p``, the
probability that the test settles the case with the wrong verdict is at most ``alpha``. If
``p < bar`` only a PASS is wrong; "the pass count crosses the PASS boundary at some look" is an
increasing event of the samples, so its probability grows with ``p`` and is at most its value
at ``p = bar``, which the thresholds hold to ``alpha`` (stopping for FAIL or curtailment only
removes paths). The FAIL side is the mirror image for ``p >= bar``. Only one kind of error is
possible at a given ``p``, so each side spends the whole ``alpha``. Cases that end
``UNDECIDED`` are exactly as good as a fixed run of ``maximum`` samples; reports count them.

Pure functions, no I/O: the session layer asks ``next_step`` for each case after each round.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from ._stats import binomial_pmf, check_confidence

__all__ = [
    "MAX_SAMPLES",
    "AdaptivePlan",
    "Step",
    "next_step",
    "raw_verdict",
    "samples_to_next_stop",
]

# The boundaries cost O(maximum^2) to compute: a limit far above what a test draws per case.
MAX_SAMPLES = 1000
_EPSILON = 1e-9  # the slack assert_samples gives a rate against its bar


class Step(Enum):
    """What to do with a case after its latest sample."""

    PASS = "pass"  # settled by the test: the true rate is at or above the bar
    FAIL = "fail"  # settled by the test: the true rate is below the bar
    MORE = "more"  # not settled: draw one more sample
    UNDECIDED = "undecided"  # stop unsettled: the raw rate decides (``raw_verdict``)


@dataclass(frozen=True, slots=True)
class AdaptivePlan:
    """The procedure's parameters: samples from ``minimum`` to ``maximum`` per case, the bar
    a case's true pass rate must reach, and the confidence of a settled verdict."""

    minimum: int
    maximum: int
    bar: float
    confidence: float

    def __post_init__(self) -> None:
        for name, value in (("minimum", self.minimum), ("maximum", self.maximum)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if self.minimum < 1:
            raise ValueError(
                f"the minimum number of samples must be at least 1, got {self.minimum}"
            )
        if self.minimum > self.maximum:
            raise ValueError(
                f"the minimum number of samples ({self.minimum}) exceeds the maximum "
                f"({self.maximum})"
            )
        if self.maximum > MAX_SAMPLES:
            raise ValueError(
                f"adaptive sampling draws at most {MAX_SAMPLES} samples per case, "
                f"got a maximum of {self.maximum}"
            )
        if isinstance(self.bar, bool) or not 0.0 <= self.bar <= 1.0:
            raise ValueError(f"the bar (min_pass_rate) must be between 0 and 1, got {self.bar}")
        check_confidence(self.confidence)

    @property
    def looks(self) -> int:
        """How many times a case may be judged: after each sample, minimum to maximum."""
        return self.maximum - self.minimum + 1


def next_step(passed: int, total: int, plan: AdaptivePlan) -> Step:
    """The procedure's step for a case with ``passed`` of ``total`` samples passing."""
    if total < 0 or not 0 <= passed <= total:
        raise ValueError(f"counts must satisfy 0 <= passed <= total, got {passed} of {total}")
    if total > plan.maximum:
        raise ValueError(f"{total} samples is more than the maximum, {plan.maximum}")
    if total < plan.minimum:
        return Step.MORE
    look = total - plan.minimum
    alpha = 1.0 - plan.confidence
    if passed >= _thresholds(plan.minimum, plan.maximum, plan.bar, alpha)[look]:
        return Step.PASS
    if total - passed >= _thresholds(plan.minimum, plan.maximum, 1.0 - plan.bar, alpha)[look]:
        return Step.FAIL
    if total == plan.maximum:
        return Step.UNDECIDED
    # Curtailment: the raw rate at the maximum is already certain either way.
    if passed / plan.maximum + _EPSILON >= plan.bar:
        return Step.UNDECIDED
    if (passed + plan.maximum - total) / plan.maximum + _EPSILON < plan.bar:
        return Step.UNDECIDED
    return Step.MORE


def samples_to_next_stop(passed: int, total: int, plan: AdaptivePlan) -> int:
    """How many more samples a case still going on needs before any stop is possible.

    Every stop condition is monotone in the passes (a PASS or the upper curtailment needs
    enough of them, a FAIL or the lower curtailment enough failures), so a look can stop some
    sequence of further samples exactly when it stops the all-pass or the all-fail one. Drawing
    this many at once therefore stops each case at the same look as drawing one at a time,
    in fewer rounds.
    """
    if total < plan.minimum:
        return plan.minimum - total
    for more in range(1, plan.maximum - total + 1):
        looks = (
            next_step(passed + more, total + more, plan),
            next_step(passed, total + more, plan),
        )
        if any(step is not Step.MORE for step in looks):
            return more
    return 0  # at the maximum: no more samples


def raw_verdict(passed: int, total: int, bar: float) -> Step:
    """A fixed-size run's verdict: PASS when the raw pass rate reaches the bar."""
    if total <= 0:
        raise ValueError("a verdict needs at least one sample")
    return Step.PASS if passed / total + _EPSILON >= bar else Step.FAIL


@lru_cache(maxsize=128)
def _thresholds(minimum: int, maximum: int, rate: float, alpha: float) -> tuple[int, ...]:
    """For each look (``minimum`` to ``maximum`` trials): the least count of successes, each
    trial succeeding with probability ``rate``, at which the look rejects "the rate is at most
    ``rate``" -- such that the probability of any look rejecting, at ``rate`` itself, is at
    most ``alpha``. A look that cannot reject has ``trials + 1``, which no count reaches.

    The PASS side counts passes at the bar; the FAIL side counts failures at ``1 - bar``."""
    if rate <= 0.0:
        return tuple(1 for _ in range(minimum, maximum + 1))  # any success disproves rate 0
    # The probability of each count among paths that have not rejected yet.
    alive = [binomial_pmf(k, minimum, rate) for k in range(minimum + 1)]
    spent = 0.0
    thresholds: list[int] = []
    for trials in range(minimum, maximum + 1):
        threshold, tail = trials + 1, 0.0
        for count in range(trials, -1, -1):
            if spent + tail + alive[count] > alpha:
                break
            tail += alive[count]
            threshold = count
        thresholds.append(threshold)
        spent += tail
        alive[threshold:] = [0.0] * (len(alive) - threshold)
        if trials < maximum:  # one more trial
            alive = [
                (alive[k] * (1.0 - rate) if k < len(alive) else 0.0)
                + (alive[k - 1] * rate if k > 0 else 0.0)
                for k in range(trials + 2)
            ]
    return tuple(thresholds)
