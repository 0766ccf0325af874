"""The verdict statistics against scipy's (a test-only reference) and known textbook values."""

from __future__ import annotations

import math
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_chatexp.checks._stats import (
    Decision,
    Interval,
    binomial_cdf,
    binomial_pmf,
    binomial_sf,
    check_confidence,
    clopper_pearson,
    decide,
    fisher_less,
    holm,
    mcnemar_exact,
    mcnemar_less,
    paired_difference,
    wilson,
)

scipy_stats = pytest.importorskip("scipy.stats")

counts = st.integers(min_value=0, max_value=60).flatmap(
    lambda total: st.tuples(st.integers(min_value=0, max_value=total), st.just(total))
)
confidences = st.sampled_from([0.8, 0.9, 0.95, 0.99])


@settings(max_examples=200, deadline=None)
@given(counts, confidences)
def test_wilson_matches_scipy(count: tuple[int, int], confidence: float) -> None:
    passed, total = count
    if total == 0:
        assert wilson(passed, total, confidence) == Interval(0.0, 1.0, confidence)
        return
    expected = scipy_stats.binomtest(passed, total).proportion_ci(confidence, method="wilson")
    ours = wilson(passed, total, confidence)
    assert ours.low == pytest.approx(expected.low, abs=1e-9)
    assert ours.high == pytest.approx(expected.high, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(counts.filter(lambda count: count[1] > 0), confidences)
def test_clopper_pearson_matches_scipy(count: tuple[int, int], confidence: float) -> None:
    passed, total = count
    expected = scipy_stats.binomtest(passed, total).proportion_ci(confidence, method="exact")
    ours = clopper_pearson(passed, total, confidence)
    assert ours.low == pytest.approx(expected.low, abs=1e-9)
    assert ours.high == pytest.approx(expected.high, abs=1e-9)


def test_wilson_known_values() -> None:
    # 3 of 3 at 95%: the textbook lower bound 0.4385 (the raw rate says 100%).
    interval = wilson(3, 3, 0.95)
    assert interval.low == pytest.approx(0.43850, abs=1e-5)
    assert interval.high == 1.0
    assert str(interval) == "[44%, 100%] at 95%"


@settings(max_examples=200, deadline=None)
@given(counts, st.floats(min_value=0.01, max_value=0.99))
def test_binomial_tails_match_scipy(count: tuple[int, int], rate: float) -> None:
    passed, total = count
    assert binomial_cdf(passed, total, rate) == pytest.approx(
        scipy_stats.binom.cdf(passed, total, rate), abs=1e-10
    )
    assert binomial_pmf(passed, total, rate) == pytest.approx(
        scipy_stats.binom.pmf(passed, total, rate), abs=1e-10
    )
    assert binomial_sf(passed, total, rate) == pytest.approx(
        scipy_stats.binom.sf(passed, total, rate), abs=1e-10
    )


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40))
def test_mcnemar_matches_scipys_binomial_test(only_first: int, only_second: int) -> None:
    discordant = only_first + only_second
    expected = 1.0 if discordant == 0 else scipy_stats.binomtest(only_first, discordant).pvalue
    assert mcnemar_exact(only_first, only_second) == pytest.approx(expected, abs=1e-10)


@settings(max_examples=200, deadline=None)
@given(counts, counts)
def test_fisher_less_matches_scipy(first: tuple[int, int], second: tuple[int, int]) -> None:
    (passed_a, total_a), (passed_b, total_b) = first, second
    table = [[passed_a, total_a - passed_a], [passed_b, total_b - passed_b]]
    expected = scipy_stats.fisher_exact(table, alternative="less").pvalue
    if math.isnan(expected):
        expected = 1.0
    assert fisher_less(passed_a, total_a, passed_b, total_b) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("first", "second", "agree"),
    [(0.9, 0.7, 0.6), (0.5, 0.5, 0.3), (0.95, 0.6, 0.55), (0.8, 0.8, 0.75)],
)
def test_paired_difference_keeps_its_coverage(first: float, second: float, agree: float) -> None:
    # Newcombe's method 10 is approximate: what matters is that over many paired experiments
    # of 20 pairs the interval holds the true difference about as often as it promises.
    random = Random(16)
    both, only_first, only_second = agree, first - agree, second - agree
    covered, runs = 0, 2000
    for _ in range(runs):
        cells = [0, 0, 0, 0]
        for _ in range(20):
            draw = random.random()
            cell = (
                0
                if draw < both
                else 1
                if draw < both + only_first
                else 2
                if draw < both + only_first + only_second
                else 3
            )
            cells[cell] += 1
        interval = paired_difference(*cells, 0.95)
        covered += interval.low <= first - second <= interval.high
    assert 0.92 <= covered / runs <= 0.995


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=4, max_size=4), confidences)
def test_paired_difference_contains_the_estimate(cells: list[int], confidence: float) -> None:
    both, only_first, only_second, neither = cells
    interval = paired_difference(both, only_first, only_second, neither, confidence)
    total = sum(cells)
    difference = (only_first - only_second) / total if total else 0.0
    assert -1.0 <= interval.low <= difference + 1e-12 <= interval.high + 2e-12 <= 1.0 + 2e-12


def test_decide() -> None:
    assert decide(Interval(0.85, 0.99, 0.95), 0.8) is Decision.PASS
    assert decide(Interval(0.80, 0.99, 0.95), 0.8) is Decision.PASS  # the bar itself is cleared
    assert decide(Interval(0.30, 0.79, 0.95), 0.8) is Decision.FAIL
    assert decide(Interval(0.44, 1.0, 0.95), 0.8) is Decision.INCONCLUSIVE


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, float("nan")])
def test_a_confidence_outside_the_open_interval_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"confidence must be strictly between 0 and 1"):
        check_confidence(bad)


def test_a_confidence_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(TypeError, match="confidence must be a number"):
        check_confidence("0.95")  # type: ignore[arg-type]


def test_counts_are_checked() -> None:
    with pytest.raises(ValueError, match="0 <= passed <= total"):
        wilson(4, 3, 0.95)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40))
def test_mcnemar_less_matches_scipys_one_sided_binomial_test(
    only_first: int, only_second: int
) -> None:
    discordant = only_first + only_second
    expected = (
        1.0
        if discordant == 0
        else scipy_stats.binomtest(only_first, discordant, alternative="less").pvalue
    )
    assert mcnemar_less(only_first, only_second) == pytest.approx(expected, abs=1e-10)
    # The two one-sided p-values of a table never both fall below a half.
    assert max(mcnemar_less(only_first, only_second), mcnemar_less(only_second, only_first)) >= 0.5


def test_mcnemar_less_known_values() -> None:
    assert mcnemar_less(0, 5) == pytest.approx(1 / 32)
    assert mcnemar_less(5, 0) == 1.0
    assert mcnemar_less(0, 0) == 1.0
    with pytest.raises(ValueError, match="counts"):
        mcnemar_less(-1, 3)


def test_holm_matches_rs_p_adjust() -> None:
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.02, 0.05), "holm")
    assert holm([0.01, 0.04, 0.03, 0.02, 0.05]) == pytest.approx([0.05, 0.09, 0.09, 0.08, 0.09])
    # R: p.adjust(c(0.5, 0.001, 0.2), "holm"): capped at 1, monotone in the sorted order.
    assert holm([0.5, 0.001, 0.2]) == pytest.approx([0.5, 0.003, 0.4])
    assert holm([0.9, 0.8]) == [1.0, 1.0]
    assert holm([]) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
def test_holm_is_bonferroni_at_the_smallest_and_never_below_the_raw(p_values: list[float]) -> None:
    adjusted = holm(p_values)
    assert min(adjusted) == pytest.approx(min(1.0, len(p_values) * min(p_values)))
    assert all(
        raw <= fixed + 1e-12 <= 1.0 + 1e-12 for raw, fixed in zip(p_values, adjusted, strict=True)
    )
