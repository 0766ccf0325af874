"""Case verdicts with intervals and reducers: the math, the outcomes, the failures' text and the
errors for arguments that make no sense (issue 16)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import pytest

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp import checks as c
from pytest_chatexp._experiment._humanloop import ChatDataResponse, ChatMessage, Usage
from pytest_chatexp._experiment._result import Case, Sample
from pytest_chatexp._session._settings import INCONCLUSIVE_POLICIES
from pytest_chatexp._util import interval_text, rate_text
from pytest_chatexp.checks import _running
from pytest_chatexp.checks._reducers import pass_at_k_estimate, pass_hat_k_estimate
from pytest_chatexp.checks._running import AssertionVerdict
from pytest_chatexp.checks._stats import Decision, wilson
from pytest_chatexp.checks._verdict import POLICIES, samples_to_decide

OK = c.contains("ok")


def case(passed: int, total: int, *, input_id: str = "x") -> Case:
    """A case of ``total`` samples, the first ``passed`` of them saying "ok"."""
    samples = []
    for index in range(total):
        text = "ok" if index < passed else "no"
        data = ChatDataResponse(
            id=f"data_{index}",
            index=index,
            output=text,
            raw_output=text,
            model_config_id="config_1",
            output_message=ChatMessage(role="assistant", content=text),
            finish_reason="stop",
        )
        samples.append(
            Sample(
                data=data,
                usage=Usage(),
                config=ModelConfig(model="m"),
                input=Input(id=input_id),
                provider_request={},
                provider_response=None,
                latency_s=0.0,
            )
        )
    return Case(config=samples[0].config, input=samples[0].input, samples=tuple(samples))


# -- intervals and outcomes ---------------------------------------------------------------------


def test_a_clear_pass_carries_its_interval_and_outcome() -> None:
    (verdict,) = c.assert_samples(case(20, 20), OK, min_pass_rate=0.8, confidence=0.95)
    assert verdict.outcome is Decision.PASS
    assert verdict.interval == wilson(20, 20, 0.95)
    assert verdict.interval.low > 0.8


def test_without_confidence_nothing_new_is_set() -> None:
    (verdict,) = c.assert_samples(case(5, 6), OK, min_pass_rate=0.8)
    assert (verdict.interval, verdict.outcome, verdict.estimate) == (None, None, None)


def test_a_clear_failure_shows_rate_and_interval() -> None:
    with pytest.raises(AssertionError) as raised:
        c.assert_samples(case(1, 6), OK, min_pass_rate=0.9, confidence=0.95)
    lines = str(raised.value).splitlines()
    assert lines[0] == (
        "1 of 1 cases fail [contains('ok')] (required: a pass rate of at least 90% at 95% "
        "confidence)"
    )
    assert lines[1] == "  m/x  1/6 passed (17%), 95% interval [3%, 56%]"
    assert "INCONCLUSIVE" not in str(raised.value)


def test_an_inconclusive_case_fails_by_default_and_says_why() -> None:
    with pytest.raises(AssertionError) as raised:
        c.assert_samples(case(5, 6), OK, min_pass_rate=0.9, confidence=0.95)
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("1 of 1 cases inconclusive [contains('ok')]")
    assert lines[1] == "  m/x  5/6 passed (83%), 95% interval [44%, 97%]  INCONCLUSIVE"
    more = samples_to_decide(5, 6, 0.95, 0.9)
    assert more is not None
    assert lines[2] == (
        f"    inconclusive: the bar (90%) lies inside the interval; about {more} samples at "
        "this pass rate would decide it"
    )


def test_a_failure_and_an_inconclusive_case_are_told_apart() -> None:
    cases = [case(0, 6, input_id="a"), case(5, 6, input_id="b"), case(6, 6, input_id="c")]
    with pytest.raises(AssertionError) as raised:
        c.assert_samples(cases, OK, min_pass_rate=0.5, confidence=0.95, inconclusive="pass")
    lines = str(raised.value).splitlines()
    # Listed, and marked, though under "pass" it alone would not have failed the test.
    assert lines[0].startswith("1 of 3 cases fail and 1 is inconclusive [contains('ok')]")
    assert [line for line in lines if line.startswith("  m/")] == [
        "  m/a  0/6 passed (0%), 95% interval [0%, 39%]",
        "  m/b  5/6 passed (83%), 95% interval [44%, 97%]  INCONCLUSIVE",
    ]


def test_policy_pass_lets_the_test_pass() -> None:
    (verdict,) = c.assert_samples(
        case(5, 6), OK, min_pass_rate=0.9, confidence=0.95, inconclusive="pass"
    )
    assert verdict.outcome is Decision.INCONCLUSIVE


def test_policy_xfail_xfails_with_the_cases() -> None:
    with pytest.raises(pytest.xfail.Exception) as raised:
        c.assert_samples(case(5, 6), OK, min_pass_rate=0.9, confidence=0.95, inconclusive="xfail")
    assert str(raised.value) == (
        "1 of 1 cases inconclusive [contains('ok')] (required: a pass rate of at least 90% at "
        "95% confidence): m/x: 5/6 passed (83%), 95% interval [44%, 97%]"
    )


def test_a_failure_beats_xfail() -> None:
    with pytest.raises(AssertionError, match="1 of 2 cases fail and 1 is inconclusive"):
        c.assert_samples(
            [case(0, 6, input_id="a"), case(5, 6, input_id="b")],
            OK,
            min_pass_rate=0.9,
            confidence=0.95,
            inconclusive="xfail",
        )


def test_samples_to_decide_finds_the_smallest_deciding_size() -> None:
    more = samples_to_decide(5, 6, 0.95, 0.5)
    assert more is not None
    for count in range(7, more):
        low = wilson(round(5 / 6 * count), count, 0.95).low
        assert low < 0.5
    assert wilson(round(5 / 6 * more), more, 0.95).low >= 0.5
    assert samples_to_decide(3, 6, 0.95, 0.5) is None  # exactly at the bar: never decided


def test_interval_text_never_claims_all_or_none() -> None:
    assert interval_text(0.44, 0.97, 0.95) == "95% interval [44%, 97%]"
    assert interval_text(0.001, 0.996, 0.975) == "97.5% interval [1%, 99%]"
    assert (rate_text(0.0), rate_text(1.0)) == ("0%", "100%")


# -- argument errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"confidence": 0.95},
            ValueError,
            r"with min_pass_rate=1\.0 can never pass.*Pick a bar below 1 \(e\.g\. min_pass_rate=0\.9\)",
        ),
        ({"min_pass_rate": 0.9, "confidence": 1.5}, ValueError, "confidence must be strictly"),
        ({"min_pass_rate": 0.9, "confidence": "high"}, TypeError, "confidence must be a number"),
        (
            {"min_pass_rate": 0.9, "confidence": 0.95, "inconclusive": "maybe"},
            ValueError,
            r"inconclusive=\.\.\.\) must be one of 'fail', 'pass', 'xfail', got 'maybe'",
        ),
        ({"inconclusive": "pass"}, TypeError, "applies only with confidence="),
        (
            {"min_pass_rate": 0.9, "confidence": 0.95, "reducer": c.majority()},
            TypeError,
            "takes reducer= or confidence=, not both",
        ),
        ({"reducer": "pass@1"}, TypeError, r"takes c\.pass_at_k\(k\)"),
        (
            {"reducer": c.at_least(2), "min_pass_rate": 0.5},
            TypeError,
            r"reducer=at_least\(2\)\) decides each case by counting.*drop min_pass_rate=0\.5",
        ),
        (
            {"reducer": c.pass_at_k(7)},
            ValueError,
            "pass@7 needs at least 7 samples per case, but case 'm/x' has 6: raise num_samples",
        ),
    ],
)
def test_arguments_that_make_no_sense_are_clear_errors(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        c.assert_samples(case(6, 6), OK, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [c.pass_at_k, c.pass_hat_k, c.at_least])
def test_k_must_be_a_whole_number_of_at_least_one(make: object) -> None:
    with pytest.raises(ValueError, match=r"k must be a whole number >= 1, got 0"):
        make(0)  # type: ignore[operator]
    with pytest.raises(TypeError, match=r"k must be a whole number >= 1, got 1\.5"):
        make(1.5)  # type: ignore[operator]


def test_the_policies_are_the_settings_policies() -> None:
    assert POLICIES == INCONCLUSIVE_POLICIES


# -- reducers -----------------------------------------------------------------------------------


def _draws(passed: int, total: int, k: int) -> Iterator[tuple[bool, ...]]:
    outcomes = [True] * passed + [False] * (total - passed)
    return (
        tuple(outcomes[i] for i in chosen) for chosen in itertools.combinations(range(total), k)
    )


@pytest.mark.parametrize(("total", "k"), [(1, 1), (5, 1), (5, 3), (6, 6), (10, 4)])
def test_pass_at_k_and_pass_hat_k_are_the_unbiased_estimators(total: int, k: int) -> None:
    # By definition: over every way of drawing k of the n samples, the share holding a pass
    # (pass@k), or only passes (pass^k).
    for passed in range(total + 1):
        draws = list(_draws(passed, total, k))
        assert math.isclose(
            pass_at_k_estimate(passed, total, k), sum(any(d) for d in draws) / len(draws)
        )
        assert math.isclose(
            pass_hat_k_estimate(passed, total, k), sum(all(d) for d in draws) / len(draws)
        )


def test_pass_at_k_matches_chen_et_al() -> None:
    # 1 - C(n-c, k) / C(n, k) with n=10, c=3, k=5: 1 - 21/252.
    assert math.isclose(pass_at_k_estimate(3, 10, 5), 1 - 21 / 252)
    assert math.isclose(pass_hat_k_estimate(8, 10, 2), 28 / 45)


def test_pass_at_k_judges_by_the_estimate() -> None:
    # 2 of 6 pass: pass@3 = 1 - C(4,3)/C(6,3) = 0.8.
    (verdict,) = c.assert_samples(case(2, 6), OK, min_pass_rate=0.8, reducer=c.pass_at_k(3))
    assert verdict.outcome is Decision.PASS and verdict.estimate == pytest.approx(0.8)
    with pytest.raises(AssertionError) as raised:
        c.assert_samples(case(2, 6), OK, min_pass_rate=0.9, reducer=c.pass_at_k(3))
    lines = str(raised.value).splitlines()
    assert lines[0] == "1 of 1 cases fail [contains('ok')] (required: pass@3 of at least 90%)"
    assert lines[1] == "  m/x  2/6 passed (33%), pass@3 = 80%"


def test_pass_hat_k_demands_every_try() -> None:
    # 5 of 6: pass^2 = C(5,2)/C(6,2) = 10/15.
    (verdict,) = c.assert_samples(case(5, 6), OK, min_pass_rate=0.6, reducer=c.pass_hat_k(2))
    assert verdict.estimate == pytest.approx(2 / 3)
    with pytest.raises(AssertionError, match=r"pass\^2 = 67%"):
        c.assert_samples(case(5, 6), OK, min_pass_rate=0.7, reducer=c.pass_hat_k(2))


def test_at_least_and_majority_count() -> None:
    c.assert_samples(case(2, 6), OK, reducer=c.at_least(2))
    with pytest.raises(AssertionError, match=r"required: at least 3 passing samples"):
        c.assert_samples(case(2, 6), OK, reducer=c.at_least(3))
    c.assert_samples(case(4, 7), OK, reducer=c.majority())
    with pytest.raises(AssertionError, match="required: more than half of the samples passing"):
        c.assert_samples(case(3, 6), OK, reducer=c.majority())


def test_reducer_labels() -> None:
    labels = [r.label for r in (c.pass_at_k(3), c.pass_hat_k(2), c.at_least(4), c.majority())]
    assert labels == ["pass@3", "pass^2", "at_least(4)", "majority"]


# -- what the running test is told --------------------------------------------------------------


class _Recorder:
    node_id = "t.py::t"

    def __init__(self, policy: str = "fail") -> None:
        self.verdicts: list[AssertionVerdict] = []
        self.inconclusive_policy = policy

    def record_outcome(self, *args: object) -> None:
        pass

    def record_verdict(self, config: str, case: str, verdict: AssertionVerdict) -> None:
        self.verdicts.append(verdict)


def _recording(policy: str = "fail") -> _Recorder:
    recorder = _Recorder(policy)
    _running.activate(recorder)  # type: ignore[arg-type]
    return recorder


def test_the_running_test_gets_interval_outcome_and_policy() -> None:
    recorder = _recording("pass")
    try:
        c.assert_samples(case(5, 6), OK, min_pass_rate=0.9, confidence=0.95)
    finally:
        _running.deactivate(recorder)  # type: ignore[arg-type]
    (verdict,) = recorder.verdicts
    interval = wilson(5, 6, 0.95)
    assert verdict == AssertionVerdict(
        checks="contains('ok')",
        min_pass_rate=0.9,
        passed=5,
        samples=6,
        ok=True,  # the session's policy: pass
        confidence=0.95,
        interval=(interval.low, interval.high),
        outcome="inconclusive",
        policy="pass",
    )


def test_the_session_policy_is_the_default_and_an_argument_wins() -> None:
    recorder = _recording("xfail")
    try:
        with pytest.raises(pytest.xfail.Exception):
            c.assert_samples(case(5, 6), OK, min_pass_rate=0.9, confidence=0.95)
        with pytest.raises(AssertionError):
            c.assert_samples(
                case(5, 6), OK, min_pass_rate=0.9, confidence=0.95, inconclusive="fail"
            )
    finally:
        _running.deactivate(recorder)  # type: ignore[arg-type]
    assert [(v.policy, v.ok) for v in recorder.verdicts] == [("xfail", False), ("fail", False)]


def test_the_running_test_gets_the_reducer() -> None:
    recorder = _recording()
    try:
        c.assert_samples(case(2, 6), OK, min_pass_rate=0.8, reducer=c.pass_at_k(3))
    finally:
        _running.deactivate(recorder)  # type: ignore[arg-type]
    (verdict,) = recorder.verdicts
    assert (verdict.reducer, verdict.outcome, verdict.ok, verdict.confidence) == (
        "pass@3",
        "pass",
        True,
        None,
    )
    assert verdict.estimate == pytest.approx(0.8)
