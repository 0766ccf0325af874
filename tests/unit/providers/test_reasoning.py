"""``ModelConfig.reasoning``: validated once, translated per provider, part of the config id;
Anthropic thinking blocks kept as the reply's reasoning (plain and streamed) and sent back, signed,
in a tool loop."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_chatexp import Input, ModelConfig, Reasoning
from pytest_chatexp._errors import InvalidExperimentError
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider
from pytest_chatexp._providers._anthropic import THINKING_BLOCKS_FIELD, wire_messages
from pytest_chatexp.testing._anthropic import stream_events

USER = ChatMessage(role="user", content="hi")


def _body(**config: Any) -> dict[str, Any]:
    model = ModelConfig(model="m", **config)
    call = PlannedCall(model, Input(id="x"), (USER,), 0)
    return get_provider(model.provider).build_request(call, base_url="http://h").body


def test_reasoning_needs_an_effort_or_a_budget() -> None:
    with pytest.raises(ValueError, match="needs an 'effort' or a 'budget_tokens'"):
        Reasoning()
    with pytest.raises(ValueError):
        Reasoning(budget_tokens=0)
    assert Reasoning(effort="low").thinking_budget == 2048
    assert Reasoning(effort="high", budget_tokens=5000).thinking_budget == 5000


def test_reasoning_is_part_of_the_config_id() -> None:
    plain = ModelConfig(model="m")
    assert plain.model_config_id != plain.variant(reasoning={"effort": "low"}).model_config_id
    low = plain.variant(reasoning=Reasoning(effort="low"))
    assert low.model_config_id != plain.variant(reasoning={"effort": "high"}).model_config_id
    assert (
        low.model_config_id == ModelConfig(model="m", reasoning={"effort": "low"}).model_config_id
    )


def test_openai_chat_sends_reasoning_effort_and_refuses_a_budget_alone() -> None:
    assert _body(reasoning={"effort": "minimal"})["reasoning_effort"] == "minimal"
    assert "reasoning_effort" not in _body()
    with pytest.raises(InvalidExperimentError, match="model config 'm': reasoning sets only"):
        _body(reasoning={"budget_tokens": 100})


def test_anthropic_sends_thinking_with_the_budget_or_the_efforts() -> None:
    body = _body(provider="anthropic", max_tokens=3000, reasoning={"budget_tokens": 2500})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2500}
    body = _body(provider="anthropic", max_tokens=30000, reasoning={"effort": "high"})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576}


@pytest.mark.parametrize("max_tokens", [None, 1024, 2048])
def test_anthropic_max_tokens_must_exceed_the_budget(max_tokens: int | None) -> None:
    with pytest.raises(InvalidExperimentError, match="Anthropic requires max_tokens"):
        ModelConfig(
            model="m", provider="anthropic", max_tokens=max_tokens, reasoning={"effort": "low"}
        )


def test_humanloop_has_no_reasoning_setting() -> None:
    with pytest.raises(InvalidExperimentError, match="Humanloop v4 has no reasoning setting"):
        _body(provider="humanloop", reasoning={"effort": "low"})


THINKING = {"type": "thinking", "thinking": "Let me see.", "signature": "sig_1"}
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}
MESSAGE = {
    "content": [THINKING, {"type": "text", "text": "Calling."}, TOOL_USE],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "model": "m",
    "usage": {"input_tokens": 3, "output_tokens": 9},
}


@pytest.mark.parametrize("streamed", [False, True])
def test_anthropic_thinking_is_the_replys_reasoning_and_goes_back_in_a_tool_loop(
    streamed: bool,
) -> None:
    provider = get_provider("anthropic")
    reply = provider.parse_response(stream_events(MESSAGE) if streamed else MESSAGE)
    assert reply.reasoning == "Let me see."
    assert reply.raw_output == "Calling."  # thinking is never output text
    assert reply.usage.reasoning_tokens is None  # Anthropic reports no separate count
    sent = wire_messages((USER, reply.message), where="w")[1]["content"]
    assert sent[0] == THINKING  # first, with its signature, as Anthropic requires
    assert [block["type"] for block in sent] == ["thinking", "text", "tool_use"]


def test_thinking_without_tool_calls_is_not_kept_for_sending_back() -> None:
    answer = {**MESSAGE, "content": [THINKING, {"type": "text", "text": "Done."}]}
    reply = get_provider("anthropic").parse_response(answer)
    assert reply.reasoning == "Let me see."
    assert THINKING_BLOCKS_FIELD not in (reply.message.model_extra or {})
