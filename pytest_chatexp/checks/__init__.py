"""Assertion helpers over an experiment's samples.

A model answers differently each time, so each check says what must hold and for how many
samples. Sample checks (``contains``, ``called``, ``judge``, ...) are combined in
``assert_samples``, which judges each case (model config x input) by its pass rate and fails with
a table of the cases below it. Budgets and comparisons look at a whole case or experiment::

    from pytest_chatexp import checks as c

    def test_refunds(chatexp):
        c.assert_samples(chatexp, c.called("issue_refund", {"order_id": c.ANY}), min_pass_rate=0.8)
        c.assert_samples(chatexp, c.contains("refund"), min_pass_rate=0.9, confidence=0.95)
        c.assert_tokens(chatexp, total=800, per="sample")
        c.assert_not_worse(chatexp, candidate="v2", baseline="v1", max_token_increase=0.1)

Failures are plain ``AssertionError``s raised with these helpers' frames hidden, so pytest shows
the table and the line of the test that asked.
"""

from ._budgets import (
    assert_cost,
    assert_latency,
    assert_tokens,
    cache_hit_rate,
    cost_of,
    latency_stats,
)
from ._calibration import Calibration, Labelled, calibrate
from ._compare import assert_better, assert_not_worse
from ._dataset import PooledVerdict, assert_pass_rate, expected
from ._embedding import embedding_similar
from ._judge import judge, similar_to
from ._outputs import (
    contains,
    equals,
    finish_reason,
    icontains,
    is_json,
    json_model,
    json_schema,
    length,
    matches,
    not_contains,
    not_truncated,
    satisfies,
    startswith,
)
from ._reducers import Reducer, at_least, majority, pass_at_k, pass_hat_k
from ._stats import Decision, Interval
from ._tools import (
    ANY,
    OneOf,
    Regex,
    called,
    called_in_any_order,
    called_in_order,
    called_times,
    no_tool_calls,
    not_called,
    valid_tool_arguments,
)
from ._turns import (
    each_reply,
    each_turn,
    final_answer,
    no_tool_errors,
    reply,
    tool_result,
    turn_count,
)
from ._verdict import CaseVerdict, SampleCheck, assert_samples, verdicts
from ._votes import GradedCheck, Vote

__all__ = [
    "ANY",
    "Calibration",
    "CaseVerdict",
    "Decision",
    "GradedCheck",
    "Interval",
    "Labelled",
    "OneOf",
    "PooledVerdict",
    "Reducer",
    "Regex",
    "SampleCheck",
    "Vote",
    "assert_better",
    "assert_cost",
    "assert_latency",
    "assert_not_worse",
    "assert_pass_rate",
    "assert_samples",
    "assert_tokens",
    "at_least",
    "cache_hit_rate",
    "calibrate",
    "called",
    "called_in_any_order",
    "called_in_order",
    "called_times",
    "contains",
    "cost_of",
    "each_reply",
    "each_turn",
    "embedding_similar",
    "equals",
    "expected",
    "final_answer",
    "finish_reason",
    "icontains",
    "is_json",
    "json_model",
    "json_schema",
    "judge",
    "latency_stats",
    "length",
    "majority",
    "matches",
    "no_tool_calls",
    "no_tool_errors",
    "not_called",
    "not_contains",
    "not_truncated",
    "pass_at_k",
    "pass_hat_k",
    "reply",
    "satisfies",
    "similar_to",
    "startswith",
    "tool_result",
    "turn_count",
    "valid_tool_arguments",
    "verdicts",
]
