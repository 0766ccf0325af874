"""A support agent with tools: does each request lead to the right tool call?"""

import json

import pytest

pytestmark = pytest.mark.chatexp(
    model_configs="prompts/support.yaml",
    inputs="data/support_cases.jsonl",
    num_samples=2,
)


def test_order_questions_look_up_the_order(chatexp):
    for case in chatexp.by_input["where-is-order"]:
        for sample in case.samples:
            assert [call.function.name for call in sample.tool_calls] == ["lookup_order"]
            assert json.loads(sample.tool_calls[0].function.arguments) == {"order_id": "1042"}


def test_refunds_go_through_issue_refund(chatexp):
    for case in chatexp.by_input["refund"]:
        for sample in case.samples:
            (call,) = sample.tool_calls
            assert call.function.name == "issue_refund"
            assert json.loads(call.function.arguments)["order_id"] == "1042"
            assert sample.finish_reason == "tool_call"


def test_without_an_order_number_it_asks_for_one(chatexp):
    for case in chatexp.by_input["no-order-number"]:
        assert all(not sample.tool_calls for sample in case.samples)
        assert all("order number" in output for output in case.outputs)


def test_token_budget(chatexp):
    for case in chatexp:
        assert case.usage.total_tokens <= 200 * len(case.samples), case.id
