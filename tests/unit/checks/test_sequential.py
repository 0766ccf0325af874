"""The sequential procedure: its steps, its boundaries, and its error guarantee by simulation."""

from __future__ import annotations

from random import Random

import pytest

from pytest_chatexp.checks._sequential import (
    MAX_SAMPLES,
    AdaptivePlan,
    Step,
    _thresholds,
    next_step,
    raw_verdict,
    samples_to_next_stop,
)
from pytest_chatexp.checks._stats import binomial_cdf, binomial_sf

PLAN = AdaptivePlan(minimum=3, maximum=20, bar=0.8, confidence=0.95)


def test_fewer_than_the_minimum_always_draws_more() -> None:
    assert next_step(0, 0, PLAN) is Step.MORE
    assert next_step(2, 2, PLAN) is Step.MORE
    assert next_step(0, 2, PLAN) is Step.MORE


def test_clear_failure_stops_at_the_minimum() -> None:
    # 0 of 3 at a bar of 80%: P(X <= 0 | 3, 0.8) = 0.008, under 5%.
    assert next_step(0, 3, PLAN) is Step.FAIL
    assert next_step(1, 3, PLAN) is Step.MORE


def test_a_pass_needs_a_long_run_of_passes_at_this_bar() -> None:
    # 0.8^13 = 0.055 > 5% and 0.8^14 = 0.044: fourteen passes in a row settle a PASS.
    assert next_step(13, 13, PLAN) is Step.MORE
    assert next_step(14, 14, PLAN) is Step.PASS


def test_undecided_at_the_maximum_and_curtailed_before_it() -> None:
    assert next_step(15, 20, PLAN) is Step.UNDECIDED
    assert raw_verdict(15, 20, 0.8) is Step.FAIL
    assert next_step(16, 20, PLAN) is Step.UNDECIDED
    assert raw_verdict(16, 20, 0.8) is Step.PASS
    # Five failures: no later sample can bring the rate at 20 back to 80%.
    step = next_step(5, 10, PLAN)
    assert step is Step.UNDECIDED and raw_verdict(5, 10, 0.8) is Step.FAIL
    # Four failures of ten: sixteen of twenty is still possible.
    assert next_step(6, 10, PLAN) is Step.MORE


@pytest.mark.parametrize(("bar", "side"), [(0.8, "pass"), (0.2, "fail"), (0.5, "pass")])
def test_each_side_spends_at_most_alpha_exactly(bar: float, side: str) -> None:
    """The chance, at a true rate at the bar, that any look crosses the boundary: computed
    path by path here (not by the module's recursion), it is at most alpha."""
    rate = bar if side == "pass" else 1 - bar
    thresholds = _thresholds(3, 15, rate, 0.05)
    crossed = 0.0
    for outcomes in range(1 << 15):
        count, probability, hit = 0, 1.0, False
        for trial in range(15):
            success = bool(outcomes >> trial & 1)
            count += success
            probability *= rate if success else 1 - rate
            if trial + 1 >= 3 and count >= thresholds[trial + 1 - 3]:
                hit = True
        crossed += probability if hit else 0.0
    assert 0.0 < crossed <= 0.05


def test_each_look_is_at_least_as_strict_as_a_single_test() -> None:
    """Greedy spending never rejects where a one-off test at the whole alpha would not."""
    for look, total in enumerate(range(3, 21)):
        threshold = _thresholds(3, 20, 0.8, 0.05)[look]
        if threshold <= total:
            assert binomial_sf(threshold - 1, total, 0.8) <= 0.05
        failures = _thresholds(3, 20, 0.2, 0.05)[look]
        if failures <= total:
            assert binomial_cdf(total - failures, total, 0.8) <= 0.05


def _settled_wrongly(rate: float, plan: AdaptivePlan, cases: int, rng: Random) -> float:
    wrong = 0
    for _ in range(cases):
        passed = total = 0
        while True:
            step = next_step(passed, total, plan)
            if step is Step.MORE:
                passed += rng.random() < rate
                total += 1
                continue
            wrong += (step is Step.PASS and rate < plan.bar) or (
                step is Step.FAIL and rate >= plan.bar
            )
            break
    return wrong / cases


@pytest.mark.parametrize("rate", [0.7, 0.79, 0.8, 0.85])
def test_settled_verdicts_are_wrong_within_the_guarantee(rate: float) -> None:
    """By simulation, fixed seed: at rates near the bar (where the guarantee is tightest) the
    test settles a case wrongly at most 1 - confidence of the time (plus sampling slack:
    4,000 cases give a standard error under 0.35 points)."""
    observed = _settled_wrongly(rate, PLAN, 4000, Random(16))
    assert observed <= 0.05 + 0.01


def test_naive_peeking_would_break_the_guarantee() -> None:
    """What the spending is for: stopping at the first look whose single 95% test settles
    it is wrong far more often than 5% at the bar."""
    rng = Random(16)
    wrong = 0
    for _ in range(4000):
        passed = 0
        for total in range(1, 21):
            passed += rng.random() < 0.8
            if total >= 3 and binomial_cdf(passed, total, 0.8) <= 0.05:
                wrong += 1
                break
            if total >= 3 and binomial_sf(passed - 1, total, 0.8) <= 0.05:
                break
    assert wrong / 4000 > 0.08
    assert _settled_wrongly(0.8, PLAN, 4000, Random(16)) <= 0.06


def test_edge_bars() -> None:
    anything = AdaptivePlan(minimum=1, maximum=5, bar=0.0, confidence=0.9)
    assert next_step(0, 1, anything) is Step.UNDECIDED
    assert raw_verdict(0, 1, 0.0) is Step.PASS
    perfect = AdaptivePlan(minimum=2, maximum=5, bar=1.0, confidence=0.9)
    assert next_step(1, 2, perfect) is Step.FAIL  # a failure disproves a rate of 1
    assert next_step(2, 2, perfect) is Step.MORE  # never settled PASS: runs to the maximum
    assert next_step(5, 5, perfect) is Step.UNDECIDED


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"minimum": 0, "maximum": 5}, "at least 1"),
        ({"minimum": 6, "maximum": 5}, "exceeds the maximum"),
        ({"minimum": 1, "maximum": MAX_SAMPLES + 1}, "at most 1000"),
        ({"minimum": 1, "maximum": 5, "bar": 1.5}, "between 0 and 1"),
        ({"minimum": 1, "maximum": 5, "confidence": 1.0}, "strictly between 0 and 1"),
    ],
)
def test_bad_plans(arguments: dict[str, float], message: str) -> None:
    values = {"bar": 0.8, "confidence": 0.95, **arguments}
    with pytest.raises(ValueError, match=message):
        AdaptivePlan(**values)  # type: ignore[arg-type]


def test_bad_counts() -> None:
    with pytest.raises(ValueError, match="0 <= passed <= total"):
        next_step(4, 3, PLAN)
    with pytest.raises(ValueError, match="more than the maximum"):
        next_step(21, 21, PLAN)
    with pytest.raises(ValueError, match="at least one sample"):
        raw_verdict(0, 0, 0.8)


@pytest.mark.parametrize(
    "plan",
    [
        AdaptivePlan(3, 20, 0.8, 0.95),
        AdaptivePlan(1, 12, 0.5, 0.9),
        AdaptivePlan(5, 30, 0.95, 0.99),
    ],
)
def test_drawing_to_the_next_possible_stop_stops_where_one_at_a_time_does(
    plan: AdaptivePlan,
) -> None:
    random = Random(7)
    for _ in range(400):
        rate = random.random()
        outcomes = [random.random() < rate for _ in range(plan.maximum)]

        total = 0
        rounds = 0
        while True:
            total += samples_to_next_stop(sum(outcomes[:total]), total, plan)
            rounds += 1
            step = next_step(sum(outcomes[:total]), total, plan)
            if step is not Step.MORE:
                break
        assert (total, step) == _one_at_a_time(outcomes, plan)
        assert rounds <= total - plan.minimum + 1


def test_no_more_samples_at_the_maximum() -> None:
    assert samples_to_next_stop(10, 20, AdaptivePlan(3, 20, 0.8, 0.95)) == 0
    assert samples_to_next_stop(0, 0, AdaptivePlan(3, 20, 0.8, 0.95)) == 3
    # 3 of 3 against 0.8 at 95%: the soonest stop is a FAIL after four failures in a row.
    plan = AdaptivePlan(3, 20, 0.8, 0.95)
    assert samples_to_next_stop(3, 3, plan) == 4
    assert next_step(3, 7, plan) is Step.FAIL
    assert all(next_step(3, total, plan) is Step.MORE for total in (4, 5, 6))


def _one_at_a_time(outcomes: list[bool], plan: AdaptivePlan) -> tuple[int, Step]:
    for total in range(1, plan.maximum + 1):
        step = next_step(sum(outcomes[:total]), total, plan)
        if step is not Step.MORE:
            return total, step
    raise AssertionError("the maximum always stops")
