"""The result models against Humanloop's v4 chat API: its OpenAPI schemas and its example JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from pytest_chatexp import (
    ChatDataResponse,
    ChatMessage,
    ChatResponse,
    FunctionTool,
    ToolCall,
    ToolChoice,
    Usage,
)
from pytest_chatexp._experiment._humanloop import ChatRequest, ToolResultResponse

DATA = Path(__file__).parents[2] / "data" / "humanloop"
SCHEMAS: dict[str, Any] = json.loads((DATA / "v4-chat.openapi.json").read_text())["components"][
    "schemas"
]

# OpenAPI schema name -> our model.
SCHEMA_MODELS: list[tuple[str, type[BaseModel]]] = [
    ("ChatResponse", ChatResponse),
    ("ChatDataResponse", ChatDataResponse),
    ("ChatMessageWithToolCall", ChatMessage),
    ("ToolCall", ToolCall),
    ("FunctionTool", FunctionTool),
    ("ToolResultResponse", ToolResultResponse),
    ("Usage", Usage),
    ("ToolChoice", ToolChoice),
]

# The one documented deviation: our Usage counts default to 0 (a provider may send no usage).
OPTIONAL_THOUGH_REQUIRED = {
    ("Usage", "prompt_tokens"),
    ("Usage", "generation_tokens"),
    ("Usage", "total_tokens"),
}


def _aliases(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _seed_response() -> dict[str, Any]:
    return json.loads((DATA / "create-experiment-response.json").read_text())


def _minimal_data(**extra: Any) -> dict[str, Any]:
    return {
        "id": "data_1",
        "index": 0,
        "output": "hi",
        "raw_output": " hi ",
        "model_config_id": "config_1",
        "output_message": {"role": "assistant", "content": "hi"},
        **extra,
    }


# --- the "Create Experiment" example -------------------------------------------------------


def test_seed_example_parses() -> None:
    response = ChatResponse.model_validate(_seed_response())
    sample = response.data[0]
    assert sample.model_config_id == "model_config_id"
    assert sample.output_message.role == "user"
    assert sample.tool_calls is not None and sample.tool_calls[0].function.name == "name"
    assert sample.tool_results is not None and sample.tool_results[0].signature == "signature"
    assert sample.tool_call == FunctionTool(name="name")
    assert response.usage == Usage(
        prompt_tokens=1, generation_tokens=1, total_tokens=1, reasoning_tokens=1
    )
    assert response.tool_choice == "none"
    assert response.provider_responses == [{"key": "value"}]


def test_seed_example_round_trips_losslessly() -> None:
    seed = _seed_response()
    dumped = ChatResponse.model_validate(seed).to_json_dict()
    assert dumped == seed
    assert dumped["data"][0]["model_config_id"] == "model_config_id"
    assert dumped["usage"]["reasoning_tokens"] == 1
    assert dumped["tool_choice"] == "none"


# --- every schema property is a field --------------------------------------------------------


@pytest.mark.parametrize(("schema_name", "model"), SCHEMA_MODELS, ids=[s for s, _ in SCHEMA_MODELS])
def test_every_schema_property_is_a_field(schema_name: str, model: type[BaseModel]) -> None:
    properties = set(SCHEMAS[schema_name]["properties"])
    missing = properties - set(_aliases(model))
    assert not missing, f"{model.__name__} lacks {schema_name} properties {sorted(missing)}"


@pytest.mark.parametrize(("schema_name", "model"), SCHEMA_MODELS, ids=[s for s, _ in SCHEMA_MODELS])
def test_required_schema_properties_are_required(schema_name: str, model: type[BaseModel]) -> None:
    fields = _aliases(model)
    not_required = sorted(
        name
        for name in SCHEMAS[schema_name].get("required", [])
        if (schema_name, name) not in OPTIONAL_THOUGH_REQUIRED and not fields[name].is_required()
    )
    assert not not_required, f"{schema_name} requires {not_required}; {model.__name__} does not"


def test_usage_counts_are_the_documented_exception() -> None:
    assert set(SCHEMAS["Usage"]["required"]) == {n for _, n in OPTIONAL_THOUGH_REQUIRED}
    # Counts a provider left out are unknown (None), not 0.
    usage = Usage.model_validate({})
    assert (usage.prompt_tokens, usage.generation_tokens, usage.total_tokens) == (None,) * 3
    assert usage.reasoning_tokens is None and not usage.known


def test_tool_calls_parsed_from_a_provider_dump_their_required_type() -> None:
    # Humanloop requires ToolCall.type; the exported JSON must carry it, however it was built.
    from pytest_chatexp._providers import get_provider

    provider = get_provider("openai")
    assert provider is not None
    reply = provider.parse_response(
        {
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "lookup", "arguments": "{}"},
                            }
                        ],
                    },
                }
            ]
        }
    )
    assert reply.message.to_json_dict()["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    ]


def test_chat_request_model_config_keeps_its_real_name() -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "model_config": {"model": "gpt-4o", "temperature": 0.5},
    }
    request = ChatRequest.model_validate(body)
    assert request.model_config_ is not None
    assert request.model_config_.model == "gpt-4o"
    assert request.to_json_dict() == body
    assert "model_config" in SCHEMAS["ChatRequest"]["properties"]


# --- nulls, extras, tool_choice ------------------------------------------------------------------


def test_every_optional_key_null_round_trips() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "name": None,
        "tool_call_id": None,
        "tool_calls": None,
        "tool_call": None,
    }
    data = _minimal_data(
        output_message=message,
        inputs=None,
        finish_reason=None,
        tool_results=None,
        messages=None,
        tool_calls=None,
        tool_call=None,
    )
    body = {
        "data": [data],
        "provider_responses": [None],
        "project_id": None,
        "num_samples": None,
        "logprobs": None,
        "suffix": None,
        "user": None,
        "usage": None,
        "metadata": None,
        "provider_request": None,
        "session_id": None,
        "tool_choice": None,
    }
    response = ChatResponse.model_validate(body)
    assert response.num_samples is None
    assert response.data[0].output_message.text == ""
    assert response.to_json_dict() == body


def test_usage_null_reasoning_tokens_round_trips() -> None:
    body = {"prompt_tokens": 3, "generation_tokens": 4, "total_tokens": 7, "reasoning_tokens": None}
    assert Usage.model_validate(body).to_json_dict() == body


def test_unknown_keys_are_preserved_at_every_level() -> None:
    body = {
        "data": [
            _minimal_data(
                output_message={"role": "assistant", "content": "hi", "refusal": None},
                logprobs_detail={"tokens": ["hi"]},
            )
        ],
        "provider_responses": [],
        "usage": {"prompt_tokens": 1, "generation_tokens": 1, "total_tokens": 2, "cached": 1},
        "new_top_level": [1, 2],
    }
    response = ChatResponse.model_validate(body)
    assert response.to_json_dict() == body
    assert response.model_extra == {"new_top_level": [1, 2]}


@pytest.mark.parametrize(
    "choice",
    ["none", "auto", "required", {"type": "function", "function": {"name": "x"}}],
    ids=["none", "auto", "required", "function"],
)
def test_tool_choice_accepts_the_documented_values(choice: Any) -> None:
    body = {"data": [], "provider_responses": [], "tool_choice": choice}
    response = ChatResponse.model_validate(body)
    if isinstance(choice, dict):
        assert response.tool_choice == ToolChoice(type="function", function={"name": "x"})
    else:
        assert response.tool_choice == choice
    assert response.to_json_dict() == body


@pytest.mark.parametrize(
    "choice", ["maybe", {"type": "function"}, {"type": "other", "function": {"name": "x"}}]
)
def test_tool_choice_rejects_other_values(choice: Any) -> None:
    with pytest.raises(ValidationError, match="tool_choice"):
        ChatResponse.model_validate({"data": [], "provider_responses": [], "tool_choice": choice})


# --- Usage addition --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "reasoning"),
    [(None, None, None), (None, 3, 3), (3, None, 3), (2, 5, 7), (0, None, 0)],
)
def test_usage_addition(left: int | None, right: int | None, reasoning: int | None) -> None:
    total = Usage(
        prompt_tokens=1, generation_tokens=2, total_tokens=3, reasoning_tokens=left
    ) + Usage(prompt_tokens=10, generation_tokens=20, total_tokens=30, reasoning_tokens=right)
    assert (total.prompt_tokens, total.generation_tokens, total.total_tokens) == (11, 22, 33)
    assert total.reasoning_tokens == reasoning


def test_usage_sum_starts_from_zero_usage() -> None:
    parts = [Usage(prompt_tokens=1, generation_tokens=1, total_tokens=2)] * 3
    total = Usage.combined(parts)
    assert (total.prompt_tokens, total.total_tokens, total.reasoning_tokens) == (3, 6, None)
    assert Usage.combined([]).total_tokens == 0


@pytest.mark.parametrize(
    ("left", "right", "cached"),
    [(None, None, None), (None, 3, 3), (3, None, 3), (2, 5, 7), (0, None, 0)],
)
def test_cache_counts_add_up_like_reasoning_tokens(
    left: int | None, right: int | None, cached: int | None
) -> None:
    one = Usage.of(10, 1).model_copy(update={"cached_tokens": left, "cache_write_tokens": right})
    two = Usage.of(10, 1).model_copy(update={"cached_tokens": right, "cache_write_tokens": left})
    total = Usage.combined([one, two])
    assert (total.cached_tokens, total.cache_write_tokens) == (cached, cached)


def test_unreported_cache_counts_stay_out_of_the_humanloop_shape() -> None:
    plain = Usage.combined([Usage.of(1, 2), Usage.of(3, 4)])
    assert set(plain.to_json_dict()) == {
        "prompt_tokens",
        "generation_tokens",
        "total_tokens",
        "reasoning_tokens",
    }
    cached = Usage.combined([Usage.of(1, 2).model_copy(update={"cached_tokens": 1}), plain])
    assert cached.to_json_dict()["cached_tokens"] == 1
    assert "cache_write_tokens" not in cached.to_json_dict()


# --- ChatMessage.text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("hello", "hello"),
        ("", ""),
        (None, ""),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "ab"),
        (
            [
                {"type": "text", "text": "look: "},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
                {"type": "text", "text": "a cat"},
            ],
            "look: a cat",
        ),
        ([], ""),
    ],
    ids=["string", "empty-string", "none", "text-parts", "parts-with-image", "no-parts"],
)
def test_chat_message_text(content: Any, text: str) -> None:
    assert ChatMessage.model_validate({"role": "user", "content": content}).text == text
