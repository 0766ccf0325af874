"""A support agent with tools: the right tool for each request, within budget, v1 vs warm.

One experiment (2 model configs x 3 inputs x 2 samples) and the checks a team would gate on.
"""

import pytest

from pytest_chatexp import checks as c

pytestmark = pytest.mark.chatexp(
    model_configs="prompts/support.yaml",
    inputs="data/support_cases.jsonl",
    num_samples=2,
)


def test_support_agent(chatexp, chatexp_snapshot):
    cases = chatexp.by_input

    # Tool calls: the right tool, with the order number from the message, and valid arguments.
    c.assert_samples(
        cases["where-is-order"],
        c.called("lookup_order", {"order_id": "1042"}),
        c.not_called("issue_refund"),
        c.valid_tool_arguments(),
    )
    c.assert_samples(
        cases["refund"],
        c.called("issue_refund", {"order_id": "1042", "reason": c.ANY}),
        c.called_times("issue_refund", 1),
        c.valid_tool_arguments(),
    )
    # Outputs: without an order number it asks for one, in at least 80% of samples.
    c.assert_samples(
        cases["no-order-number"],
        c.no_tool_calls(),
        c.icontains("order number"),
        c.not_truncated(),
        min_pass_rate=0.8,
    )

    # Budgets: tokens per sample, cost of the whole experiment, latency per case.
    c.assert_tokens(chatexp, total=400, per="sample")
    c.assert_cost(chatexp, max_usd=0.01)
    c.assert_latency(chatexp, p95=10.0)

    # The warmer variant may not do worse than the baseline, nor cost 10% more tokens.
    c.assert_not_worse(
        chatexp,
        candidate="support-v1-warm",
        baseline="support-v1",
        checks=[c.valid_tool_arguments(), c.not_truncated()],
        max_token_increase=0.10,
    )

    # What the model says, per config, input and sample, for review in the PR.
    assert chatexp == chatexp_snapshot
