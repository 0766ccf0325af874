"""The Gemini provider: request and response mapping, streams, the reference server's Gemini
routes, and both checked against the official SDK's own types (``google-genai``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google.genai import types

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._errors import InvalidExperimentError, ProviderError
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider
from pytest_chatexp._providers._gemini import GeminiProvider, assemble_stream
from pytest_chatexp.testing import Fault, ReferenceServer
from pytest_chatexp.testing._gemini import stream_events

PROVIDER = GeminiProvider()
BASE = "https://generativelanguage.googleapis.com"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city"}},
        "required": ["city"],
    },
}
LOOP = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
    {"role": "tool", "tool_call_id": "c2", "content": "sunny"},
]


def _call(messages: list[dict[str, Any]], **config: Any) -> PlannedCall:
    return PlannedCall(
        config=ModelConfig(model="gemini-2.5-flash", provider="gemini", **config),
        input=Input(id="case-1"),
        messages=tuple(ChatMessage.model_validate(message) for message in messages),
        sample_index=0,
    )


def _full_request() -> dict[str, Any]:
    call = _call(
        LOOP,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0.3,
        top_p=0.9,
        max_tokens=100,
        stop=["END"],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        response_format={"type": "json_object"},
        other={"generationConfig": {"thinkingConfig": {"thinkingBudget": 128}}},
    )
    return PROVIDER.build_request(call, base_url=BASE).body


def test_registered_under_gemini() -> None:
    provider = get_provider("gemini")
    assert isinstance(provider, GeminiProvider)
    assert provider.default_api_key_env == "GEMINI_API_KEY"
    assert provider.base_url_env == "GEMINI_BASE_URL"
    assert provider.auth_headers("k") == {"x-goog-api-key": "k"}


def test_a_tool_loop_in_gemini_shape() -> None:
    wire = PROVIDER.build_request(_call(LOOP, tools=[WEATHER]), base_url=BASE)
    assert wire.url == f"{BASE}/v1beta/models/gemini-2.5-flash:generateContent"
    assert not wire.streams
    assert wire.body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
            ],
        },
    ]


def test_fields_map_to_generation_and_tool_config() -> None:
    body = _full_request()
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.25,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 128},
    }


def test_stream_is_a_url_not_a_body_field() -> None:
    wire = PROVIDER.build_request(_call(LOOP[:2], other={"stream": True}), base_url=BASE)
    assert wire.url.endswith(":streamGenerateContent?alt=sse")
    assert wire.streams and "stream" not in wire.body


def test_a_tool_result_answering_no_call_is_refused() -> None:
    with pytest.raises(InvalidExperimentError, match="Gemini needs the function name"):
        PROVIDER.build_request(
            _call([{"role": "tool", "tool_call_id": "x", "content": "1"}]), base_url=BASE
        )


def test_an_unknown_response_format_is_refused() -> None:
    with pytest.raises(InvalidExperimentError, match="response_format"):
        PROVIDER.build_request(_call(LOOP[:2], response_format={"type": "xml"}), base_url=BASE)


# --- the SDK's own types ------------------------------------------------------------------


def test_request_bodies_validate_as_the_sdks_types() -> None:
    body = _full_request()
    # The SDK's models forbid unknown fields and take Gemini's camelCase names as aliases.
    contents = [types.Content.model_validate(content) for content in body["contents"]]
    assert contents[1].parts is not None and contents[1].parts[1].function_call is not None
    assert contents[1].parts[1].function_call.args == {"city": "Paris"}
    tools = [types.Tool.model_validate(tool) for tool in body["tools"]]
    assert tools[0].function_declarations is not None
    assert tools[0].function_declarations[0].parameters is not None
    config = types.GenerateContentConfig.model_validate(
        {
            **body["generationConfig"],
            "systemInstruction": body["systemInstruction"],
            "toolConfig": body["toolConfig"],
        }
    )
    assert config.max_output_tokens == 100 and config.stop_sequences == ["END"]
    assert config.tool_config is not None
    schema_body = PROVIDER.build_request(
        _call(
            LOOP[:2],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": WEATHER["parameters"]},
            },
        ),
        base_url=BASE,
    ).body
    typed = types.GenerateContentConfig.model_validate(schema_body["generationConfig"])
    assert typed.response_schema is not None


def test_sdk_built_responses_parse() -> None:
    response = types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                content=types.Content(
                    role="model",
                    parts=[
                        types.Part(text="Let me think.", thought=True),
                        types.Part(text="Paris is "),
                        types.Part(text="sunny."),
                        types.Part(
                            function_call=types.FunctionCall(
                                name="get_weather", args={"city": "Rome"}
                            )
                        ),
                    ],
                ),
                finish_reason=types.FinishReason.STOP,
            )
        ],
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=10,
            candidates_token_count=6,
            thoughts_token_count=4,
            total_token_count=20,
            cached_content_token_count=8,
        ),
    )
    wire = response.model_dump(mode="json", by_alias=True, exclude_none=True)
    reply = PROVIDER.parse_response(wire)
    assert reply.reasoning == "Let me think."  # the thought part: reasoning, not output
    assert reply.usage.cached_tokens == 8
    assert reply.raw_output == "Paris is sunny."
    assert reply.finish_reason == "tool_call"
    calls = reply.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", '{"city":"Rome"}')
    ]
    assert calls[0].id == PROVIDER.parse_response(wire).message.tool_calls[0].id  # type: ignore[index]
    usage = reply.usage
    assert (usage.prompt_tokens, usage.generation_tokens, usage.total_tokens) == (10, 10, 20)
    assert usage.reasoning_tokens == 4


@pytest.mark.parametrize(
    "reason, expected",
    [("MAX_TOKENS", "length"), ("SAFETY", "safety"), ("RECITATION", "recitation")],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    wire = types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                content=types.Content(role="model", parts=[types.Part(text="x")]),
                finish_reason=reason,
            )
        ]  # type: ignore[arg-type]
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert PROVIDER.parse_response(wire).finish_reason == expected


def test_a_blocked_prompt_names_its_reason() -> None:
    wire = types.GenerateContentResponse(
        prompt_feedback=types.GenerateContentResponsePromptFeedback(
            block_reason=types.BlockedReason.SAFETY
        )
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    with pytest.raises(
        ProviderError, match=r"blocked the prompt \(promptFeedback.blockReason SAFETY\)"
    ):
        PROVIDER.parse_response(wire)


def test_errors_read_googles_shape() -> None:
    body = {"error": {"code": 400, "message": "Bad model", "status": "INVALID_ARGUMENT"}}
    assert PROVIDER.error_message(body) == "INVALID_ARGUMENT: Bad model"
    with pytest.raises(ProviderError, match="stream reported an error: INVALID_ARGUMENT: Bad"):
        assemble_stream([body])


# --- the reference server -------------------------------------------------------------------


def test_server_streams_assemble_into_its_plain_answer() -> None:
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "hmm", "thought": True}, {"text": "hello world"}],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 2, "totalTokenCount": 4},
        "modelVersion": "m",
    }
    events = stream_events(answer)
    assert PROVIDER.stream_finished(events) and not PROVIDER.stream_finished(events[:-1])
    assert PROVIDER.parse_response(events) == PROVIDER.parse_response(answer)
    for event in events:  # every chunk is a GenerateContentResponse the SDK reads
        types.GenerateContentResponse.model_validate(event)


def test_server_faults_take_googles_error_shape() -> None:
    with ReferenceServer() as server:
        server.faults.add(Fault.status(429, retry_after="1"))
        url = f"{server.url}/v1beta/models/m:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        response = httpx.post(url, json=body)
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert response.json()["error"]["code"] == 429
        refused = httpx.post(url, json={"contents": [], "stream": True})
        assert refused.status_code == 400
        assert "Unknown name" in json.dumps(refused.json())
        types.GenerateContentResponse.model_validate(httpx.post(url, json=body).json())


@pytest.mark.parametrize(
    ("reasoning", "thinking"),
    [
        ({"budget_tokens": 2048}, {"thinkingBudget": 2048, "includeThoughts": True}),
        ({"effort": "low"}, {"thinkingLevel": "LOW", "includeThoughts": True}),
        # Gemini takes a budget or a level, not both: the budget, the more precise, wins.
        (
            {"effort": "high", "budget_tokens": 512},
            {"thinkingBudget": 512, "includeThoughts": True},
        ),
    ],
)
def test_reasoning_is_the_thinking_config(
    reasoning: dict[str, Any], thinking: dict[str, Any]
) -> None:
    body = PROVIDER.build_request(_call(LOOP[:2], reasoning=reasoning), base_url=BASE).body
    assert body["generationConfig"]["thinkingConfig"] == thinking
    # thinkingLevel arrived in google-genai 1.51 (Gemini 3); older SDKs know only the budget.
    if "thinkingLevel" not in thinking or "thinking_level" in types.ThinkingConfig.model_fields:
        typed = types.GenerateContentConfig.model_validate(body["generationConfig"])
        assert typed.thinking_config is not None and typed.thinking_config.include_thoughts
    plain = PROVIDER.build_request(_call(LOOP[:2]), base_url=BASE).body
    assert "thinkingConfig" not in plain.get("generationConfig", {})
