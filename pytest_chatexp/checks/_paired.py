"""Paired comparisons of two model configs: the same inputs and sample slots under both.

An A/B experiment runs both configs on the same inputs, so sample ``i`` of input ``x`` under the
baseline and under the candidate form a pair. Pairs where both configs pass (or both fail) say
nothing about which is better; the discordant pairs do, and the exact McNemar test asks whether
they lean one way more than chance would. ``paired_counts`` forms the pairs, ``paired_test``
tests them one-sided (is the candidate worse, or better?) and gives the effect's interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .._experiment._result import Case
from ._stats import Interval, check_confidence, mcnemar_less, paired_difference

__all__ = [
    "PairedCounts",
    "PairedTest",
    "check_alpha",
    "outcomes_of",
    "paired_counts",
    "paired_test",
]

# Where a sample sits in its experiment: its input (id, else its place among the config's
# inputs), its index, and which occurrence of that pair of them it is (a list of cases may
# hold an input twice).
SampleKey = tuple[str, int, int]


@dataclass(frozen=True)
class PairedCounts:
    """The pairs of samples two configs share, by who passed; ``unpaired``: samples present
    under one config only, left out."""

    both: int
    only_baseline: int
    only_candidate: int
    neither: int
    unpaired: int = 0

    @property
    def pairs(self) -> int:
        return self.both + self.only_baseline + self.only_candidate + self.neither

    @property
    def baseline_rate(self) -> float:
        return (self.both + self.only_baseline) / self.pairs if self.pairs else 1.0

    @property
    def candidate_rate(self) -> float:
        return (self.both + self.only_candidate) / self.pairs if self.pairs else 1.0

    @property
    def effect(self) -> float:
        """The candidate's pass rate minus the baseline's, over the pairs."""
        return self.candidate_rate - self.baseline_rate

    def describe(self) -> str:
        text = (
            f"{self.pairs} paired samples: both pass {self.both}, only baseline "
            f"{self.only_baseline}, only candidate {self.only_candidate}, neither {self.neither}"
        )
        if self.unpaired:
            plural = "" if self.unpaired == 1 else "s"
            text += f"; {self.unpaired} sample{plural} without a pair left out"
        return text


@dataclass(frozen=True)
class PairedTest:
    """A one-sided exact McNemar test of the pairs, and the effect's Newcombe interval.

    ``alternative`` is "worse" (is the candidate's pass rate lower?) or "better". The interval
    is two-sided at ``1 - 2 * alpha``: the one that excludes 0 on the tested side exactly when
    a one-sided test at ``alpha`` of the same effect would (90% for alpha 0.05).
    """

    counts: PairedCounts
    alternative: str
    alpha: float
    p_value: float
    interval: Interval

    @property
    def significant(self) -> bool:
        return self.p_value <= self.alpha

    def describe_effect(self) -> str:
        low, high = self.interval.low * 100, self.interval.high * 100
        return (
            f"{self.counts.effect * 100:+.0f} pp "
            f"({self.interval.confidence:.0%} CI {low:+.0f} to {high:+.0f} pp), "
            f"p={_p(self.p_value)}"
        )


def check_alpha(alpha: float) -> float:
    """``alpha``, or an error naming it: a significance level, strictly between 0 and 0.5."""
    alpha = check_confidence(alpha, what="alpha")
    if alpha >= 0.5:
        raise ValueError(
            f"alpha must be below 0.5 (a one-sided test's significance level, for example "
            f"0.05), got {alpha!r}"
        )
    return alpha


def outcomes_of(cases: Iterable[Case], failed: Mapping[int, set[int]]) -> dict[SampleKey, bool]:
    """Each sample of one config's cases, by its key, with whether it passed. ``failed`` maps
    ``id(case)`` to the indexes of its failing samples."""
    outcomes: dict[SampleKey, bool] = {}
    for place, case in enumerate(cases):
        name = f"#{place}" if case.input.id is None else str(case.input.id)
        for sample in case.samples:
            occurrence = 0
            while (name, sample.index, occurrence) in outcomes:
                occurrence += 1
            outcomes[(name, sample.index, occurrence)] = sample.index not in failed.get(
                id(case), set()
            )
    return outcomes


def paired_counts(
    baseline: Mapping[SampleKey, bool], candidate: Mapping[SampleKey, bool]
) -> PairedCounts:
    """The 2x2 table of the samples both configs have, and how many only one has."""
    shared = baseline.keys() & candidate.keys()
    cells = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for key in shared:
        cells[(baseline[key], candidate[key])] += 1
    return PairedCounts(
        both=cells[(True, True)],
        only_baseline=cells[(True, False)],
        only_candidate=cells[(False, True)],
        neither=cells[(False, False)],
        unpaired=len(baseline) + len(candidate) - 2 * len(shared),
    )


def paired_test(counts: PairedCounts, *, alpha: float, alternative: str) -> PairedTest:
    """Test ``counts`` one-sided: "worse" when the candidate won fewer discordant pairs than
    chance allows, "better" when the baseline did."""
    if alternative == "worse":
        p_value = mcnemar_less(counts.only_candidate, counts.only_baseline)
    elif alternative == "better":
        p_value = mcnemar_less(counts.only_baseline, counts.only_candidate)
    else:
        raise ValueError(f"alternative must be 'worse' or 'better', got {alternative!r}")
    interval = paired_difference(
        counts.both, counts.only_candidate, counts.only_baseline, counts.neither, 1 - 2 * alpha
    )
    return PairedTest(counts, alternative, alpha, p_value, interval)


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"
