"""Cost control: a plan before spending, and a session budget that stops live calls."""

from __future__ import annotations

import json

import pytest

from pytest_chatexp._calls._budget import PlanRecord
from pytest_chatexp._calls._changes import ChangeRecord
from pytest_chatexp._experiment._humanloop import Usage
from pytest_chatexp._pricing import PriceTable
from pytest_chatexp.testing import ReferenceServer

SUITE = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="gpt-4o-mini", max_tokens=50,
                     chat_template=[{"role": "user", "content": "{{q}} [[tokens: 40]]"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "a"}, {"q": "b"}], num_samples=2)
def test_first(chatexp):
    assert len(chatexp.samples) == 4

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "c"}])
def test_second(chatexp):
    assert len(chatexp.samples) == 1

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "d"}])
def test_third(chatexp):
    assert len(chatexp.samples) == 1
"""


def test_plan_spends_nothing_and_counts_replays_and_live_calls(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--chatexp-record=all", "-k", "first").assert_outcomes(
        passed=1, deselected=2
    )
    recording_session.requests.clear()
    result = pytester.runpytest("--chatexp-plan", "--chatexp-record=new", "-rs")
    result.assert_outcomes(skipped=3)
    assert not recording_session.requests
    result.stdout.fnmatch_lines(
        [
            "*- chatexp plan (nothing was called) -*",
            "test_suite.py::test_first: 4 calls, 4 replayed, 0 live",
            "test_suite.py::test_second: 1 call, 0 replayed, 1 live",
            "test_suite.py::test_third: 1 call, 0 replayed, 1 live",
            "plan: 6 calls, 4 replayed, 2 live; live calls estimated at ~126 tokens, ~$0.0001",
        ]
    )
    result.stdout.fnmatch_lines(
        ["SKIPPED * chatexp plan: 4 calls: 4 replayed, 0 live; ~0 tokens live, ~$0.0000"]
    )
    # In the default mode, calls without a recording would fail, not spend: the plan says so.
    default = pytester.runpytest("--chatexp-plan")
    default.assert_outcomes(skipped=3)
    assert not recording_session.requests
    default.stdout.fnmatch_lines(
        ["plan: 6 calls, 4 replayed, 0 live, 2 without a recording (they would fail)*"]
    )


def test_plan_estimates_live_tokens_from_prompt_and_max_tokens(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--chatexp-plan", "--chatexp-record=off", "-k", "second")
    # The messages' JSON is 50 characters, ~13 tokens, plus max_tokens 50.
    result.stdout.fnmatch_lines(
        ["plan: 1 call, 0 replayed, 1 live; live calls estimated at ~63 tokens, ~$0.0000"]
    )


def test_token_budget_stops_live_calls_and_fails_the_rest(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    # Each call reserves ~63 tokens (13 prompt + max_tokens 50) of the 100: one fits, and the
    # second would pass the cap, so it and every later live call are refused.
    result = pytester.runpytest(
        "--chatexp-record=off", "--chatexp-max-tokens=100", "-p", "no:randomly"
    )
    result.assert_outcomes(errors=3)
    assert len(recording_session.requests) == 1
    result.stdout.fnmatch_lines(
        [
            "*chatexp: test_suite.py::test_first: the session's token budget would be exceeded: "
            "model config 'c', input *, sample * needs ~63 tokens (* spent and * reserved of "
            "--chatexp-max-tokens 100; no further live calls are made)",
            # A later test's refusal names its own call, then the one that stopped the session.
            "*chatexp: test_suite.py::test_second: model config 'c', input 'input-0', sample 0 "
            "was not sent: the session's token budget would be exceeded: model config 'c', *",
        ]
    )


def test_cost_budget_from_the_ini_file_is_shared_by_xdist_workers(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytest.importorskip("xdist")
    pytester.makeini(
        "[pytest]\nchatexp_max_cost = 0.0001\nchatexp_prices =\n    gpt-4o-mini 1.0 1.0\n"
    )
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--chatexp-record=off", "--dist=loadfile", "-rs"
    )
    # One file on one worker... and the budget (one call's ~$0.000063 reservation fits, a
    # second does not) is the session's. Which test gets that call depends on the order the
    # tests run in (pytest-randomly shuffles it): a one-call test passes with it; four-call
    # test_first fails with it; every other test fails.
    outcomes = result.parseoutcomes()
    assert len(recording_session.requests) == 1
    assert outcomes.get("errors", 0) >= 2
    assert outcomes.get("errors", 0) + outcomes.get("passed", 0) == 3
    result.stdout.fnmatch_lines(
        ["*the session's cost budget would be exceeded*--chatexp-max-cost*"]
    )


def test_replays_are_never_charged(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=3)
    result = pytester.runpytest("--chatexp-max-tokens=1")
    result.assert_outcomes(passed=3)


# -- records: plans and re-recording changes ----------------------------------------------------


def test_a_plan_is_a_record_that_crosses_as_builtins() -> None:
    plan = PlanRecord("t.py::test_a", 6, 4, 2, 0, 126, 0.000105, ())
    assert plan.describe() == "6 calls: 4 replayed, 2 live; ~126 tokens live, ~$0.0001"
    assert PlanRecord.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    unpriced = PlanRecord("t.py::test_b", 1, 0, 0, 1, 0, None, ("m",))
    assert unpriced.describe() == "1 call: 0 replayed, 0 live, 1 without a recording; " + (
        "~0 tokens live, cost unknown"
    )


def test_a_change_carries_its_costs_from_the_price_table() -> None:
    prices = PriceTable.from_lines(["m 1.0 2.0"])
    change = ChangeRecord.of(
        config="c",
        input="i",
        sample=0,
        model="m",
        old=Usage.of(100, 50),
        new=Usage.of(132, 41),
        prices=prices,
    )
    assert (change.old_cost_usd, change.new_cost_usd) == (0.0002, 0.000214)
    assert (change.prompt_price_usd, change.generation_price_usd) == (1.0, 2.0)
    assert change.cost_delta == pytest.approx(0.000014)
    assert ChangeRecord.from_json(json.loads(json.dumps(change.to_json()))) == change
    unpriced = ChangeRecord.of(
        config="c", input="i", sample=0, model="x", old=None, new=Usage.of(1, None), prices=prices
    )
    assert unpriced.new and unpriced.new_cost_usd is None and unpriced.cost_delta is None
    assert unpriced.new_total_tokens is None  # unknown, not 0
    # A change as reports before costs were recorded hold it: costs read as unknown.
    old = {"config": "c", "input": "i", "sample": 1, "new": False, "old_total_tokens": 3}
    assert ChangeRecord.from_json(old) == ChangeRecord("c", "i", 1, False, old_total_tokens=3)
