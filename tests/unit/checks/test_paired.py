"""The paired machinery of significance-tested comparisons: pairs, the one-sided test, alpha."""

from __future__ import annotations

import pytest

from pytest_chatexp.checks._paired import (
    PairedCounts,
    check_alpha,
    paired_counts,
    paired_test,
)
from pytest_chatexp.checks._stats import paired_difference


def test_samples_pair_by_key_and_the_unpaired_are_counted() -> None:
    baseline = {("a", 0, 0): True, ("a", 1, 0): True, ("b", 0, 0): False, ("c", 0, 0): True}
    candidate = {("a", 0, 0): True, ("a", 1, 0): False, ("b", 0, 0): True, ("d", 0, 0): False}
    counts = paired_counts(baseline, candidate)
    assert counts == PairedCounts(both=1, only_baseline=1, only_candidate=1, neither=0, unpaired=2)
    assert counts.pairs == 3
    assert counts.describe() == (
        "3 paired samples: both pass 1, only baseline 1, only candidate 1, neither 0; "
        "2 samples without a pair left out"
    )
    assert "left out" not in PairedCounts(1, 0, 0, 0).describe()


def test_a_worse_candidate_is_significant_one_sided_only() -> None:
    counts = PairedCounts(both=10, only_baseline=8, only_candidate=0, neither=2)
    worse = paired_test(counts, alpha=0.05, alternative="worse")
    assert worse.p_value == pytest.approx(0.5**8)
    assert worse.significant
    assert counts.effect == pytest.approx(-0.4)
    # The interval is Newcombe's for (candidate - baseline), two-sided at 1 - 2 alpha.
    assert worse.interval == paired_difference(10, 0, 8, 2, 0.9)
    assert worse.interval.high < 0
    assert worse.describe_effect() == (
        f"-40 pp (90% CI {worse.interval.low * 100:+.0f} to {worse.interval.high * 100:+.0f} pp)"
        ", p=0.004"
    )
    better = paired_test(counts, alpha=0.05, alternative="better")
    assert better.p_value == 1.0
    assert not better.significant


def test_a_wobble_is_not_significant() -> None:
    counts = PairedCounts(both=16, only_baseline=2, only_candidate=0, neither=2)
    test = paired_test(counts, alpha=0.05, alternative="worse")
    assert test.p_value == pytest.approx(0.25)
    assert not test.significant
    assert test.interval.low < 0 < test.interval.high


def test_no_discordant_pair_means_no_evidence() -> None:
    test = paired_test(PairedCounts(5, 0, 0, 5), alpha=0.05, alternative="better")
    assert (test.p_value, test.significant, test.counts.effect) == (1.0, False, 0.0)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 0.5, 0.9, float("nan")])
def test_alpha_outside_zero_to_a_half_is_refused_by_name(bad: float) -> None:
    with pytest.raises(ValueError, match="alpha must be"):
        check_alpha(bad)


def test_alpha_that_is_not_a_number_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="alpha must be a number"):
        check_alpha("0.05")  # type: ignore[arg-type]
    assert check_alpha(0.01) == 0.01


def test_an_unknown_alternative_is_refused() -> None:
    with pytest.raises(ValueError, match="'worse' or 'better'"):
        paired_test(PairedCounts(1, 0, 0, 0), alpha=0.05, alternative="different")
