"""The Bedrock Converse provider: request and response mapping and streams, checked against
botocore's own Bedrock Runtime service model (its validator and its response parsers)."""

from __future__ import annotations

import json
import sys
from typing import Any

import botocore.session
import pytest
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser, RestJSONParser
from botocore.validate import ParamValidator

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._errors import InvalidExperimentError, ProviderError
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider
from pytest_chatexp._providers._bedrock import REASONING_BLOCKS_FIELD, BedrockConverseProvider
from pytest_chatexp._providers._bedrock_auth import signing_region
from pytest_chatexp._providers._eventstream import EventStreamDecoder
from pytest_chatexp.testing._bedrock import stream_events
from pytest_chatexp.testing._eventstream import event_frame, exception_frame

PROVIDER = BedrockConverseProvider()
BASE = "https://bedrock-runtime.us-west-2.amazonaws.com"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
WEATHER = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
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
        REASONING_BLOCKS_FIELD: [
            {"reasoningContent": {"reasoningText": {"text": "Two cities.", "signature": "sig"}}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
    {
        "role": "tool",
        "tool_call_id": "c2",
        "content": "Error: ValueError: no data",
        "is_error": True,
    },
    {"role": "user", "content": "And then?"},
]


def _call(messages: list[dict[str, Any]], **config: Any) -> PlannedCall:
    return PlannedCall(
        config=ModelConfig(model=MODEL, provider="bedrock", **config),
        input=Input(id="case-1"),
        messages=tuple(ChatMessage.model_validate(message) for message in messages),
        sample_index=0,
    )


def _full_request(**extra: Any) -> dict[str, Any]:
    call = _call(
        LOOP,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0.3,
        top_p=0.9,
        max_tokens=4000,
        stop=["END"],
        reasoning={"budget_tokens": 2048},
        other={
            "top_k": 40,
            "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
        },
        **extra,
    )
    return PROVIDER.build_request(call, base_url=BASE).body


def _validate(body: dict[str, Any], operation: str = "Converse") -> None:
    """botocore's own validation of the Converse input (the model id is in the URL)."""
    shape = SERVICE.operation_model(operation).input_shape
    report = ParamValidator().validate({"modelId": MODEL, **body}, shape)
    assert not report.has_errors(), report.generate_report()


def test_the_provider_is_found_by_name() -> None:
    assert isinstance(get_provider("bedrock"), BedrockConverseProvider)


def test_a_full_request_maps_every_field_and_botocore_accepts_it() -> None:
    body = _full_request()
    _validate(body)
    _validate(body, "ConverseStream")
    assert body["system"] == [{"text": "You are terse."}]
    assert body["inferenceConfig"] == {
        "maxTokens": 4000,
        "temperature": 0.3,
        "topP": 0.9,
        "stopSequences": ["END"],
    }
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Current weather of a city",
                    "inputSchema": {"json": WEATHER["parameters"]},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "get_weather"}},
    }
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "top_k": 40,
    }
    assert body["guardrailConfig"] == {"guardrailIdentifier": "g1", "guardrailVersion": "1"}
    user, assistant, results = body["messages"]
    assert user == {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]}
    assert assistant["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Two cities.", "signature": "sig"}}},
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "c1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "c2", "name": "get_weather", "input": {"city": "Rome"}}},
    ]
    # The results and the next user text share one user turn: Converse alternates roles.
    assert results == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "c1", "content": [{"json": {"temp": 21}}]}},
            {
                "toolResult": {
                    "toolUseId": "c2",
                    "content": [{"text": "Error: ValueError: no data"}],
                    "status": "error",
                }
            },
            {"text": "And then?"},
        ],
    }


@pytest.mark.parametrize(("stream", "action"), [(False, "converse"), (True, "converse-stream")])
def test_the_url_encodes_the_model_id_and_stream_picks_the_action(
    stream: bool, action: str
) -> None:
    arn = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-x"
    other = {"stream": True} if stream else {}
    wire = PROVIDER.build_request(_call(LOOP[:2], other=other), base_url=BASE)
    assert wire.url == f"{BASE}/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/{action}"
    assert wire.streams is stream and "stream" not in wire.body
    profile = ModelConfig(model=arn, provider="bedrock")
    call = PlannedCall(
        config=profile, input=Input(id="x"), messages=_call(LOOP[:2]).messages, sample_index=0
    )
    url = PROVIDER.build_request(call, base_url=BASE).url
    assert url.endswith(
        "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-x/converse"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", 1),
        ("presence_penalty", 0.1),
        ("frequency_penalty", 0.1),
    ],
)
def test_fields_converse_cannot_carry_are_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(
        InvalidExperimentError, match=f"'{field}' has no field in the Bedrock Converse API"
    ):
        PROVIDER.build_request(_call(LOOP[:2], **{field: value}), base_url=BASE)


def test_a_json_schema_format_is_structured_output_and_json_mode_is_refused() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    spec = {"name": "place", "description": "A city.", "schema": schema}
    fmt = {"type": "json_schema", "json_schema": spec}
    body = PROVIDER.build_request(_call(LOOP[:2], response_format=fmt), base_url=BASE).body
    structure = dict(body["outputConfig"]["textFormat"]["structure"]["jsonSchema"])
    assert body["outputConfig"]["textFormat"]["type"] == "json_schema"
    assert json.loads(structure.pop("schema")) == schema  # a JSON string, as Converse takes it
    assert structure == {"name": "place", "description": "A city."}
    # Newer botocore knows outputConfig; the floor (1.38) predates structured output.
    if "outputConfig" in SERVICE.operation_model("Converse").input_shape.members:
        _validate(body)
    text = PROVIDER.build_request(_call(LOOP[:2], response_format={"type": "text"}), base_url=BASE)
    assert "outputConfig" not in text.body
    with pytest.raises(InvalidExperimentError, match="no JSON mode without a schema"):
        PROVIDER.build_request(
            _call(LOOP[:2], response_format={"type": "json_object"}), base_url=BASE
        )


def test_tool_choice_none_and_a_thinking_budget_over_max_tokens_are_refused() -> None:
    with pytest.raises(InvalidExperimentError, match="tool_choice 'none' has no Bedrock Converse"):
        PROVIDER.build_request(_call(LOOP[:2], tools=[WEATHER], tool_choice="none"), base_url=BASE)
    with pytest.raises(InvalidExperimentError, match="greater than the thinking budget"):
        PROVIDER.build_request(
            _call(LOOP[:2], max_tokens=1000, reasoning={"effort": "low"}), base_url=BASE
        )


def test_the_endpoint_follows_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert PROVIDER.default_url() == "https://bedrock-runtime.eu-central-1.amazonaws.com"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert PROVIDER.default_url() == "https://bedrock-runtime.ap-south-1.amazonaws.com"


def test_the_bearer_key_is_used_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    assert PROVIDER.key_env() is None  # then the call is signed (SigV4)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "k")
    assert PROVIDER.key_env() == "AWS_BEARER_TOKEN_BEDROCK"
    assert PROVIDER.auth_headers("k") == {"Authorization": "Bearer k"}


RESPONSE = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "s1"}}},
                {"text": "Let me look."},
                {
                    "toolUse": {
                        "toolUseId": "tu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                },
            ],
        }
    },
    "stopReason": "tool_use",
    "usage": {
        "inputTokens": 100,
        "outputTokens": 20,
        "totalTokens": 1320,
        "cacheReadInputTokens": 1000,
        "cacheWriteInputTokens": 200,
    },
    "metrics": {"latencyMs": 321},
}


def _botocore_parsed(response: dict[str, Any], operation: str = "Converse") -> dict[str, Any]:
    """``response`` as botocore reads it from the wire for its callers."""
    shape = SERVICE.operation_model(operation).output_shape
    raw = {"status_code": 200, "headers": {}, "body": json.dumps(response).encode()}
    parsed: dict[str, Any] = RestJSONParser().parse(raw, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def test_a_botocore_parsed_response_reads_as_the_sample() -> None:
    parsed = _botocore_parsed(RESPONSE)
    assert parsed == RESPONSE  # botocore reads every field the reference shape holds
    reply = PROVIDER.parse_response(parsed)
    assert reply.raw_output == "Let me look."
    assert reply.reasoning == "Hmm."
    assert reply.finish_reason == "tool_call"
    (call,) = reply.message.tool_calls or []
    assert (call.id, call.function.name, call.function.arguments) == (
        "tu_1",
        "get_weather",
        '{"city":"Paris"}',
    )
    # The signed reasoning goes back with the tool results.
    assert (reply.message.model_extra or {})[REASONING_BLOCKS_FIELD] == [
        {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "s1"}}}
    ]
    usage = reply.usage
    assert (usage.prompt_tokens, usage.generation_tokens, usage.total_tokens) == (1300, 20, 1320)
    assert (usage.cached_tokens, usage.cache_write_tokens) == (1000, 200)


def test_unreported_counts_stay_unknown_and_finish_reasons_map() -> None:
    bare = {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}}
    reply = PROVIDER.parse_response({**bare, "stopReason": "max_tokens"})
    assert reply.usage.prompt_tokens is None and reply.finish_reason == "length"
    reply = PROVIDER.parse_response(
        {
            **bare,
            "stopReason": "guardrail_intervened",
            "usage": {"inputTokens": 3, "outputTokens": 1},
        }
    )
    assert reply.finish_reason == "content_filter"
    assert (reply.usage.cached_tokens, reply.usage.cache_write_tokens) == (None, None)
    assert "cached_tokens" not in reply.usage.to_json_dict()
    with pytest.raises(ProviderError, match="not a Bedrock Converse response"):
        PROVIDER.parse_response({"usage": {}})


def test_bedrocks_error_body_is_read() -> None:
    assert PROVIDER.error_message({"message": "Too many requests"}) == "Too many requests"
    assert PROVIDER.error_message({"Message": "Denied"}) == "Denied"
    assert PROVIDER.error_message({"other": 1}) is None


class _Raw:
    """The raw stream botocore's EventStream reads: a ``stream()`` of byte chunks."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self) -> Any:
        yield from (self.data[start : start + 11] for start in range(0, len(self.data), 11))

    def close(self) -> None:
        pass


def _frames(response: dict[str, Any]) -> bytes:
    return b"".join(event_frame(kind, payload) for kind, payload in stream_events(response))


def test_a_stream_decodes_as_botocore_decodes_it_and_assembles_into_the_same_reply() -> None:
    data = _frames(RESPONSE)
    decoder = EventStreamDecoder()
    events: list[Any] = []
    for start in range(0, len(data), 7):  # in pieces that cut frames anywhere
        events += decoder.feed(data[start : start + 7])
    assert decoder.end() is None
    # botocore's own event-stream parser, on the ConverseStream output shape.
    shape = SERVICE.operation_model("ConverseStream").output_shape.members["stream"]
    theirs = list(EventStream(_Raw(data), shape, EventStreamJSONParser(), "ConverseStream"))
    assert events == theirs
    assert any(PROVIDER.first_token(event) for event in events)
    assert PROVIDER.stream_finished(events) and not PROVIDER.stream_finished(events[:-1])
    streamed, plain = PROVIDER.parse_response(events), PROVIDER.parse_response(RESPONSE)
    assert streamed.message == plain.message
    assert (streamed.usage, streamed.reasoning, streamed.finish_reason) == (
        plain.usage,
        plain.reasoning,
        plain.finish_reason,
    )


def test_an_exception_frame_ends_the_stream_with_its_message() -> None:
    data = event_frame("messageStart", {"role": "assistant"}) + exception_frame(
        "throttlingException", "Too many tokens, please wait."
    )
    events = EventStreamDecoder().feed(data)
    assert events[-1] == {"throttlingException": {"message": "Too many tokens, please wait."}}
    assert PROVIDER.stream_finished(events)
    with pytest.raises(ProviderError, match=r"throttlingException: Too many tokens, please wait\."):
        PROVIDER.parse_response(events)


def test_without_a_key_or_botocore_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "botocore.auth", None)  # as if the extra were missing
    config = ModelConfig(name="claude", model=MODEL, provider="bedrock")
    with pytest.raises(ProviderError) as caught:
        PROVIDER.sign(config, f"{BASE}/model/x/converse", {}, b"{}")
    assert str(caught.value) == (
        "model config 'claude' (provider 'bedrock'): no Bedrock API key and no AWS signer: set "
        "AWS_BEARER_TOKEN_BEDROCK to a Bedrock API key, or pip install 'pytest-chatexp[bedrock]' "
        "(botocore) to sign requests with your AWS credentials"
    )


def test_the_signing_region_comes_from_the_endpoint_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert signing_region(f"{BASE}/model/x/converse") == "us-west-2"
    assert signing_region("https://bedrock-runtime-fips.us-east-2.amazonaws.com/x") == "us-east-2"
    assert signing_region("http://127.0.0.1:8080/model/x/converse") == "eu-west-3"
