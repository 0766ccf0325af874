"""The Anthropic Messages provider: request and response mapping, streams, the reference
server's /v1/messages route, whole sessions over loopback HTTP (live, recorded, replayed), and
cross-checks against the official ``anthropic`` SDK's own types (requests the plugin builds are
valid ``MessageCreateParams``; messages and stream events the SDK builds parse)."""

from __future__ import annotations

import json
from typing import Any, get_type_hints

import anthropic
import httpx
import pytest
import yaml
from anthropic.types import message_create_params
from pydantic import TypeAdapter

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._errors import InvalidExperimentError, ProviderError
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider
from pytest_chatexp._providers._anthropic import AnthropicMessagesProvider
from pytest_chatexp._providers._anthropic_stream import assemble_stream
from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply
from pytest_chatexp.testing._anthropic import stream_events
from tests._suite import assert_clean, samples_of

PROVIDER = AnthropicMessagesProvider()
KEY = "sk-ant-api03-" + "Zq9Xw8Vu7Ts6" * 3
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _call(messages: list[dict[str, Any]], **config: Any) -> PlannedCall:
    return PlannedCall(
        config=ModelConfig(model="claude-x", provider="anthropic", **config),
        input=Input(id="case-1"),
        messages=tuple(ChatMessage.model_validate(message) for message in messages),
        sample_index=0,
    )


# --- request mapping --------------------------------------------------------------------


def test_registered_under_anthropic() -> None:
    provider = get_provider("anthropic")
    assert isinstance(provider, AnthropicMessagesProvider)
    assert provider.kind == "anthropic"
    assert provider.default_base_url == "https://api.anthropic.com"
    assert provider.default_api_key_env == "ANTHROPIC_API_KEY"
    assert provider.base_url_env == "ANTHROPIC_BASE_URL"


def test_a_conversation_in_anthropic_shape() -> None:
    call = _call(
        [
            {"role": "system", "content": "You are terse."},
            {"role": "system", "content": "Use metric units."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": "Looking both up.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18 C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "24 C"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            },
        ],
        temperature=0.3,
        top_p=0.9,
        stop="END",
        tools=[WEATHER_TOOL],
        tool_choice="required",
        other={"top_k": 5, "metadata": {"user_id": "u1"}},
    )
    wire = PROVIDER.build_request(call, base_url="https://api.anthropic.com")
    assert wire.url == "https://api.anthropic.com/v1/messages"
    assert wire.headers == {"anthropic-version": "2023-06-01"}
    assert not wire.streams
    assert wire.body == {
        "model": "claude-x",
        "max_tokens": 1024,
        "system": "You are terse.\n\nUse metric units.",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking both up."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24 C"},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                ],
            },
        ],
        "temperature": 0.3,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "tools": [
            {
                "name": "get_weather",
                "description": "Current weather of a city",
                "input_schema": WEATHER_TOOL["parameters"],
            }
        ],
        "tool_choice": {"type": "any"},
        "top_k": 5,
        "metadata": {"user_id": "u1"},
    }
    assert PROVIDER.auth_headers("k") == {"x-api-key": "k"}


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, wire: dict[str, Any]) -> None:
    call = _call([{"role": "user", "content": "hi"}], tools=[WEATHER_TOOL], tool_choice=choice)
    assert PROVIDER.build_request(call, base_url="u").body["tool_choice"] == wire


def test_max_tokens_defaults_and_other_wins() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert PROVIDER.build_request(_call(messages), base_url="u").body["max_tokens"] == 1024
    unlimited = _call(messages, max_tokens=-1)
    assert PROVIDER.build_request(unlimited, base_url="u").body["max_tokens"] == 1024
    assert PROVIDER.build_request(_call(messages, max_tokens=50), base_url="u").body == {
        "model": "claude-x",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }
    streamed = PROVIDER.build_request(
        _call(messages, stop=["a", "b"], other={"stream": True, "max_tokens": 7}), base_url="u"
    )
    assert streamed.streams
    assert streamed.body["max_tokens"] == 7
    assert streamed.body["stop_sequences"] == ["a", "b"]
    tool = _call(messages, tools=[{"name": "ping"}])
    assert PROVIDER.build_request(tool, base_url="u").body["tools"] == [
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}}
    ]


def test_what_anthropic_cannot_take_is_refused_by_name() -> None:
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(InvalidExperimentError, match="model config 'claude-x': 'seed' is not"):
        PROVIDER.build_request(_call(messages, seed=3), base_url="u")
    orphan = _call([{"role": "tool", "content": "42"}])
    with pytest.raises(InvalidExperimentError, match=r"messages\[0\].*needs a 'tool_call_id'"):
        PROVIDER.build_request(orphan, base_url="u")
    bad_arguments = _call(
        [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "t", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
                ],
            }
        ]
    )
    with pytest.raises(InvalidExperimentError, match="must be a JSON object"):
        PROVIDER.build_request(bad_arguments, base_url="u")


# --- response mapping -------------------------------------------------------------------

MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "Checking "},
        {"type": "text", "text": "now."},
        {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 7},
}


def test_a_message_maps_to_text_tool_calls_and_usage() -> None:
    reply = PROVIDER.parse_response(MESSAGE)
    assert reply.raw_output == "Checking now."
    assert reply.message.content == "Checking now."
    assert reply.finish_reason == "tool_call"
    assert reply.message.tool_calls is not None
    (call,) = reply.message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        "toolu_9",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert reply.usage.model_dump() == {
        "prompt_tokens": 12,
        "generation_tokens": 7,
        "total_tokens": 19,
        "reasoning_tokens": None,
        "cached_tokens": None,
        "cache_write_tokens": None,
    }
    # Not reported: not set, so the Humanloop-shaped dump keeps the seed's usage shape.
    assert "cached_tokens" not in reply.usage.to_json_dict()


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_call"),
        ("refusal", "refusal"),
        (None, None),
    ],
)
def test_stop_reasons(stop_reason: str | None, finish_reason: str | None) -> None:
    body = {**MESSAGE, "content": [], "stop_reason": stop_reason}
    reply = PROVIDER.parse_response(body)
    assert reply.finish_reason == finish_reason
    assert reply.message.content is None and reply.message.tool_calls is None
    assert reply.raw_output == ""


def test_cached_prompt_tokens_count_as_prompt_tokens() -> None:
    usage = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
        "output_tokens": 5,
    }
    reply = PROVIDER.parse_response({**MESSAGE, "usage": usage})
    assert (reply.usage.prompt_tokens, reply.usage.total_tokens) == (1103, 1108)
    assert (reply.usage.cached_tokens, reply.usage.cache_write_tokens) == (1000, 100)
    # Anthropic counts no thinking tokens apart from the output: unknown, not zero.
    assert reply.usage.reasoning_tokens is None


def test_a_streams_cache_counts_come_from_message_start() -> None:
    start_usage = {"input_tokens": 4, "cache_read_input_tokens": 900, "output_tokens": 1}
    events = [
        {"type": "message_start", "message": {"content": [], "usage": start_usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 6},
        },
        {"type": "message_stop"},
    ]
    usage = PROVIDER.parse_response(events).usage
    assert (usage.prompt_tokens, usage.cached_tokens, usage.generation_tokens) == (904, 900, 6)
    assert usage.cache_write_tokens is None


def test_an_unexpected_shape_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match=r"not an Anthropic message: .*content"):
        PROVIDER.parse_response({"choices": []})
    with pytest.raises(ProviderError, match="tool_use block needs an 'id' and a 'name'"):
        PROVIDER.parse_response({"content": [{"type": "tool_use", "input": {}}]})


def test_error_messages() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert PROVIDER.error_message(error) == "overloaded_error: Overloaded"
    assert PROVIDER.error_message({"error": "plain"}) == "plain"
    assert PROVIDER.error_message({"detail": "x"}) is None
    assert PROVIDER.error_message("text") is None


# --- streams ----------------------------------------------------------------------------

EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            **MESSAGE,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        },
    },
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Check"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ing"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": ""},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": 'ris"}'},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 7},
    },
    {"type": "message_stop"},
]


def test_a_stream_is_assembled() -> None:
    reply = PROVIDER.parse_response(EVENTS)
    assert reply.raw_output == "Checking"
    assert reply.finish_reason == "tool_call"
    assert reply.message.tool_calls is not None
    assert reply.message.tool_calls[0].function.arguments == '{"city":"Paris"}'
    assert reply.message.tool_calls[0].id == "toolu_9"
    assert (reply.usage.prompt_tokens, reply.usage.generation_tokens) == (12, 7)


def test_broken_streams_are_provider_errors() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(ProviderError, match="stream reported an error: overloaded_error"):
        PROVIDER.parse_response([*EVENTS[:3], error])
    with pytest.raises(ProviderError, match="no message_start"):
        PROVIDER.parse_response(EVENTS[2:-2])
    with pytest.raises(ProviderError, match="message_delta before message_start"):
        PROVIDER.parse_response(EVENTS[2:])
    with pytest.raises(ProviderError, match="content block 1, which was never started"):
        PROVIDER.parse_response([EVENTS[0], EVENTS[7]])
    unfinished = [*EVENTS[:8], EVENTS[8], EVENTS[-2]]
    reply = PROVIDER.parse_response(unfinished)  # a cut-off JSON input is kept as written
    assert reply.message.tool_calls is not None
    assert reply.message.tool_calls[0].function.arguments == '{"city": "Pa'


def test_the_servers_events_assemble_into_its_message() -> None:
    message = {**MESSAGE, "content": MESSAGE["content"][1:]}
    assert assemble_stream(stream_events(message)) == message


# --- the reference server's /v1/messages route ------------------------------------------


def _post(server: ReferenceServer, body: Any, path: str = "/v1/messages") -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=10)


def test_server_rejects_requests_like_anthropic(server: ReferenceServer) -> None:
    base = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    cases = [
        ({k: v for k, v in base.items() if k != "max_tokens"}, "max_tokens: Field required"),
        ({k: v for k, v in base.items() if k != "model"}, "model: Field required"),
        ({**base, "max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({**base, "messages": []}, "messages: at least one message is required"),
        ({**base, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role: *"),
        ({**base, "presence_penalty": 1}, "presence_penalty: Extra inputs are not permitted"),
        ({**base, "tool_choice": {"type": "tool"}}, "tool_choice.name: Field required"),
    ]
    for body, message in cases:
        response = _post(server, body)
        assert response.status_code == 400
        data = response.json()
        assert data["type"] == "error"
        assert data["error"]["type"] == "invalid_request_error"
        assert data["error"]["message"] == message or (
            message.endswith("*") and data["error"]["message"].startswith(message[:-1])
        ), data


def test_server_answers_a_message(server: ReferenceServer) -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": "hello there"}],
    }
    response = _post(server, body, path="/messages")
    assert response.status_code == 200
    message = response.json()
    assert message == {
        "id": message["id"],
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "[system: Be brief.] echo: hello there"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 6, "output_tokens": 6},
    }
    assert message["id"].startswith("msg_")
    assert _post(server, body).json()["id"] == message["id"]  # deterministic


def test_server_reports_stop_sequences_and_max_tokens(server: ReferenceServer) -> None:
    server.add_rule("one two three four five")
    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "go"}]}
    stopped = _post(server, {**body, "stop_sequences": ["x", " four"]}).json()
    assert stopped["content"] == [{"type": "text", "text": "one two three"}]
    assert (stopped["stop_reason"], stopped["stop_sequence"]) == ("stop_sequence", " four")
    assert stopped["usage"]["output_tokens"] == 3
    limited = _post(server, {**body, "max_tokens": 2}).json()
    assert limited["content"] == [{"type": "text", "text": "one two"}]
    assert (limited["stop_reason"], limited["stop_sequence"]) == ("max_tokens", None)


def test_server_translates_tools_and_tool_results(server: ReferenceServer) -> None:
    seen: list[dict[str, Any]] = []

    def reply(request: dict[str, Any]) -> Reply:
        seen.append(request)
        return Reply(text="It is 18 C.", usage={"prompt_tokens": 40})

    server.add_rule(reply)
    body = {
        "model": "m",
        "max_tokens": 100,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"c": 1}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "18 C"}],
                    }
                ],
            },
        ],
    }
    message = _post(server, body).json()
    assert message["content"] == [{"type": "text", "text": "It is 18 C."}]
    assert message["usage"] == {"input_tokens": 40, "output_tokens": 4}
    (request,) = seen
    assert request["messages"] == [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"c":1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18 C"},
    ]
    assert request["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert request["tool_choice"] == "auto"


def test_server_forced_tool_and_invalid_arguments(server: ReferenceServer) -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "tools": [{"name": "get_weather", "input_schema": WEATHER_TOOL["parameters"]}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "anything"}],
    }
    message = _post(server, body).json()
    assert message["stop_reason"] == "tool_use"
    (block,) = message["content"]
    assert block["type"] == "tool_use" and block["id"].startswith("toolu_")
    assert block["input"] == {"city": "<city>"}
    server.add_rule(Reply(tool_calls=[ToolCallReply("f", "{not json")]))
    (block,) = _post(server, body).json()["content"]
    assert block["input"] == "{not json"


def test_server_streams_server_sent_events(server: ReferenceServer) -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": 'Checking [[reply: On it, checking now]] [[tool: get_weather {"city": "Paris"}]]',
            }
        ],
    }
    with httpx.stream("POST", server.url + "/v1/messages", json=body, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        text = response.read().decode()
    frames = [frame for frame in text.split("\n\n") if frame]
    events = []
    for frame in frames:
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        event = json.loads(data_line[len("data: ") :])
        assert event["type"] == event_line[len("event: ") :]
        events.append(event)
    kinds = [event["type"] for event in events]
    assert kinds[:3] == ["message_start", "ping", "content_block_start"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    text_deltas = [e for e in events if e.get("delta", {}).get("type") == "text_delta"]
    json_deltas = [e for e in events if e.get("delta", {}).get("type") == "input_json_delta"]
    assert len(text_deltas) == 3 and len(json_deltas) == 4
    streamed = assemble_stream(events)
    plain = _post(server, {**body, "stream": False}).json()
    assert streamed == plain
    assert plain["content"][1]["input"] == {"city": "Paris"}


# --- whole sessions over loopback HTTP --------------------------------------------------

SUITE = """
import json
import pytest
from pytest_chatexp import ModelConfig

TOOL = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLAUDE = ModelConfig(
    name="claude",
    provider="anthropic",
    model="claude-ref",
    temperature=0.2,
    max_tokens=200,
    tools=[TOOL],
    chat_template=[
        {"role": "system", "content": "You are a weather bot."},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "{{question}}"},
    ],
)
STREAMED = CLAUDE.variant(name="claude-stream", other={"stream": True})
INPUTS = [
    {"id": "tool", "question": 'Weather? [[reply: Let me check.]] [[tool: get_weather {"city": "Paris"}]]'},
    {"id": "text", "question": "How are you today"},
]

@pytest.mark.chatexp(model_configs=[CLAUDE, STREAMED], inputs=INPUTS)
def test_weather(chatexp):
    tool = chatexp.case("claude", "tool").samples[0]
    assert tool.output == "Let me check."
    assert tool.finish_reason == "tool_call"
    (call,) = tool.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("toolu_")
    usage = tool.usage
    assert usage.prompt_tokens > 0 and usage.generation_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.generation_tokens
    assert chatexp.case("claude", "text").outputs == ["[system: You are a weather bot.\\n\\nBe brief.] echo: How are you today"]
    for input_id in ("tool", "text"):
        plain = chatexp.case("claude", input_id).samples[0]
        streamed = chatexp.case("claude-stream", input_id).samples[0]
        assert streamed.output == plain.output
        assert streamed.tool_calls == plain.tool_calls
        assert streamed.usage == plain.usage
        assert streamed.finish_reason == plain.finish_reason
        assert streamed.first_token_s is not None and streamed.first_token_s >= 0
        assert plain.first_token_s is None
"""


REPORT = "r.json"


def _results(pytester: pytest.Pytester) -> dict[str, Any]:
    """The samples of the last run, from its JSON report."""
    return samples_of(json.loads((pytester.path / REPORT).read_text()))


@pytest.fixture
def anthropic_server(server: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> ReferenceServer:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return server


def test_an_experiment_against_anthropic(
    pytester: pytest.Pytester, anthropic_server: ReferenceServer
) -> None:
    pytester.makepyfile(test_weather=SUITE)
    result = pytester.runpytest("--junitxml=report.xml", "-v", f"--chatexp-json={REPORT}")
    result.assert_outcomes(passed=1)
    requests = list(anthropic_server.requests)
    assert len(requests) == 4
    for request in requests:
        assert request.path == "/v1/messages"
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert request.json["system"] == "You are a weather bot.\n\nBe brief."
        assert [m["role"] for m in request.json["messages"]] == ["user"]
        assert request.json["max_tokens"] == 200
        assert request.json["tools"][0]["input_schema"]["required"] == ["city"]
    assert sorted(r.json.get("stream", False) for r in requests) == [False, False, True, True]
    results = _results(pytester)
    assert results["claude/tool"]["usage"] == results["claude-stream/tool"]["usage"]
    for path in pytester.path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path
    assert KEY not in result.stdout.str() + result.stderr.str()


def test_recorded_then_replayed_without_the_server(
    pytester: pytest.Pytester, anthropic_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.makepyfile(test_weather=SUITE)
    pytester.runpytest("--chatexp-record=all", f"--chatexp-json={REPORT}").assert_outcomes(passed=1)
    assert len(anthropic_server.requests) == 4
    recorded = _results(pytester)
    recording = pytester.path / "__recordings__" / "test_weather" / "test_weather.yaml"
    text = recording.read_text()
    assert KEY not in text
    interactions = yaml.safe_load(text)["interactions"]
    streamed = [i for i in interactions if i["label"]["config"] == "claude-stream"]
    assert len(streamed) == 2
    for interaction in streamed:
        events = interaction["response"]["body"]
        assert isinstance(events, list)
        assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
        assert interaction["response"]["first_token_s"] >= 0

    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    anthropic_server.requests.clear()
    replayed = pytester.runpytest(f"--chatexp-json={REPORT}")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*4 calls (4 replayed, 0 live)*"])
    assert not anthropic_server.requests
    again = _results(pytester)
    for key, sample in again.items():
        assert sample["replayed"] is True
        live = recorded[key]
        assert {k: v for k, v in sample.items() if k not in ("replayed", "first_token_s")} == {
            k: v for k, v in live.items() if k not in ("replayed", "first_token_s")
        }
        assert (sample["first_token_s"] is None) == (live["first_token_s"] is None)


def test_an_anthropic_error_names_the_case(
    pytester: pytest.Pytester, anthropic_server: ReferenceServer
) -> None:
    pytester.makepyfile(
        test_errors="""
        import pytest
        from pytest_chatexp import ModelConfig

        TEMPLATE = [{"role": "user", "content": "{{q}}"}]
        NO_LIMIT = ModelConfig(name="no-limit", provider="anthropic", model="c",
                               chat_template=TEMPLATE, other={"max_tokens": None})
        PENALTY = ModelConfig(name="penalised", provider="anthropic", model="c",
                              chat_template=TEMPLATE, presence_penalty=0.5)

        @pytest.mark.chatexp(model_configs=[NO_LIMIT], inputs=[{"id": "hello", "q": "hi"}])
        def test_no_limit(chatexp):
            pass

        @pytest.mark.chatexp(model_configs=[PENALTY], inputs=[{"q": "hi"}])
        def test_penalty(chatexp):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "chatexp: *::test_no_limit: model config 'no-limit', input 'hello', sample 0: "
            f"HTTP 400 from {anthropic_server.url}/v1/messages: "
            "invalid_request_error: max_tokens: Input should be a valid integer",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*model config 'penalised': 'presence_penalty' is not supported by the Anthropic*"]
    )
    assert_clean(result)
    assert KEY not in result.stdout.str()
    assert len(anthropic_server.requests) == 1


def test_an_error_event_mid_stream_names_the_case(
    pytester: pytest.Pytester, anthropic_server: ReferenceServer
) -> None:
    from pytest_chatexp.testing._http import RecordedRequest, Response

    async def overloaded(request: RecordedRequest) -> Response:
        async def events() -> Any:
            start = {"type": "message_start", "message": {**MESSAGE, "content": []}}
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}}
            for event in (start, error):
                yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

        return Response(body=events(), content_type="text/event-stream")

    original = anthropic_server.routes[("POST", "/v1/messages")]
    anthropic_server.routes[("POST", "/v1/messages")] = overloaded
    try:
        pytester.makepyfile(
            """
            import pytest
            from pytest_chatexp import ModelConfig

            C = ModelConfig(name="s", provider="anthropic", model="c", other={"stream": True},
                            chat_template=[{"role": "user", "content": "hi"}])

            @pytest.mark.chatexp(model_configs=[C], inputs=[{"id": "one"}])
            def test_stream(chatexp):
                pass
            """
        )
        result = pytester.runpytest()
    finally:
        anthropic_server.routes[("POST", "/v1/messages")] = original
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: *::test_stream: model config 's', input 'one', sample 0: "
            "the stream reported an error: overloaded_error: Busy"
        ]
    )


# --- the official SDK's own types ---------------------------------------------------------
# Requests the plugin builds are valid ``anthropic.types.MessageCreateParams`` (a TypedDict,
# checked with pydantic's TypeAdapter); messages and stream events the SDK builds parse.

SDK_PARAMS: TypeAdapter[Any] = TypeAdapter(message_create_params.MessageCreateParams)
SDK_KNOWN = set(get_type_hints(message_create_params.MessageCreateParamsBase)) | {"stream"}
SDK_EVENT: TypeAdapter[Any] = TypeAdapter(anthropic.types.RawMessageStreamEvent)
SAMPLING = {"temperature", "top_p", "top_k"}


def _sdk_valid(body: dict[str, Any]) -> None:
    """``body`` is a request the SDK's TypedDict accepts, every part of it (lazily validated
    iterables consumed), with no parameter it does not know."""
    assert set(body) <= SDK_KNOWN, set(body) - SDK_KNOWN

    def consume(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                consume(item)
        elif isinstance(value, list | tuple):
            for item in value:
                consume(item)
        elif not isinstance(value, str | int | float | bool | type(None)):
            consume(list(value))  # pydantic's ValidatorIterator: validated as it is read

    consume(SDK_PARAMS.validate_python(body))


def _thinking_tool_turn() -> dict[str, Any]:
    """An assistant turn that thought, then called a tool: an SDK-built ``Message``."""
    message = anthropic.types.Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-x",
        content=[
            anthropic.types.ThinkingBlock(
                type="thinking", thinking="Paris first.", signature="sig_abc"
            ),
            anthropic.types.ToolUseBlock(
                type="tool_use", id="toolu_7", name="get_weather", input={"city": "Paris"}
            ),
        ],
        stop_reason="tool_use",
        stop_sequence=None,
        usage=anthropic.types.Usage(input_tokens=20, output_tokens=9),
    )
    return message.model_dump(mode="json", exclude_none=True)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_requests_are_valid_sdk_message_create_params(stream: bool) -> None:
    other = {"stream": True} if stream else {}
    plain = PROVIDER.build_request(
        _call(
            [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
            temperature=0.2,
            stop=["END"],
            other=other,
        ),
        base_url="https://api.anthropic.com",
    ).body
    tools = PROVIDER.build_request(
        _call(
            [{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            other=other,
        ),
        base_url="https://api.anthropic.com",
    ).body
    thinking = PROVIDER.build_request(
        _call(
            [{"role": "user", "content": "Think first."}],
            max_tokens=4000,
            reasoning={"budget_tokens": 2000},
            other=other,
        ),
        base_url="https://api.anthropic.com",
    ).body
    for body in (plain, tools, thinking):
        # The config's sampling fields aside: the SDK's TypedDict stopped declaring them in
        # anthropic 1.0 (0.x has them); the API is sent them as the config sets them.
        _sdk_valid({k: v for k, v in body.items() if k not in SAMPLING})
    assert plain["temperature"] == 0.2 and plain["stop_sequences"] == ["END"]
    assert thinking["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert tools["tool_choice"] == {"type": "tool", "name": "get_weather"}


def test_a_thinking_tool_loops_follow_up_is_valid_sdk_params() -> None:
    # The SDK-built turn parses; its signed thinking block goes back before the tool result.
    reply = PROVIDER.parse_response(_thinking_tool_turn())
    assert reply.reasoning == "Paris first." and reply.finish_reason == "tool_call"
    follow_up = PlannedCall(
        config=ModelConfig(
            model="claude-x",
            provider="anthropic",
            max_tokens=4000,
            reasoning={"budget_tokens": 2000},
            tools=[WEATHER_TOOL],
        ),
        input=Input(id="case-1"),
        messages=(
            ChatMessage(role="user", content="Weather in Paris?"),
            reply.message,
            ChatMessage(role="tool", tool_call_id="toolu_7", content="18 C"),
        ),
        sample_index=0,
    )
    body = PROVIDER.build_request(follow_up, base_url="https://api.anthropic.com").body
    _sdk_valid(body)
    assistant, results = body["messages"][1], body["messages"][2]
    assert [block["type"] for block in assistant["content"]] == ["thinking", "tool_use"]
    assert assistant["content"][0]["signature"] == "sig_abc"
    assert results["content"][0]["type"] == "tool_result"
    assert results["content"][0]["tool_use_id"] == "toolu_7"


def test_an_sdk_built_message_parses_field_for_field() -> None:
    message = anthropic.types.Message(
        id="msg_2",
        type="message",
        role="assistant",
        model="claude-x",
        content=[
            anthropic.types.ThinkingBlock(type="thinking", thinking="Hmm.", signature="sig_1"),
            anthropic.types.TextBlock(type="text", text="It is "),
            anthropic.types.TextBlock(type="text", text="sunny."),
        ],
        stop_reason="max_tokens",
        stop_sequence=None,
        usage=anthropic.types.Usage(
            input_tokens=10,
            output_tokens=4,
            cache_read_input_tokens=300,
            cache_creation_input_tokens=50,
        ),
    )
    reply = PROVIDER.parse_response(message.model_dump(mode="json"))
    assert reply.raw_output == reply.message.content == "It is sunny."
    assert reply.reasoning == "Hmm."
    assert reply.finish_reason == "length"
    usage = reply.usage
    assert (usage.prompt_tokens, usage.generation_tokens, usage.total_tokens) == (360, 4, 364)
    assert (usage.cached_tokens, usage.cache_write_tokens) == (300, 50)
    assert reply.message.tool_calls is None


def test_sdk_built_stream_events_assemble_like_the_message() -> None:
    turn = _thinking_tool_turn()
    events = [
        {"type": "message_start", "message": {**turn, "content": [], "stop_reason": None}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Paris "},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "first."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig_abc"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_7",
                "name": "get_weather",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]
    # Built by the SDK's own event types, then sent as the SDK would read them off the wire.
    wire = [SDK_EVENT.validate_python(event).model_dump(mode="json") for event in events]
    assert [event["type"] for event in wire] == [event["type"] for event in events]
    streamed, whole = PROVIDER.parse_response(wire), PROVIDER.parse_response(turn)
    assert streamed.reasoning == whole.reasoning == "Paris first."
    assert streamed.finish_reason == whole.finish_reason == "tool_call"
    assert streamed.message.tool_calls is not None and whole.message.tool_calls is not None
    assert [
        (call.id, call.function.name, json.loads(call.function.arguments or "{}"))
        for call in streamed.message.tool_calls
    ] == [
        (call.id, call.function.name, json.loads(call.function.arguments or "{}"))
        for call in whole.message.tool_calls
    ]
    assert streamed.usage == whole.usage
    # The thinking block goes back signed either way.
    assert streamed.message.model_extra == whole.message.model_extra


SCHEMA = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}


def test_a_json_schema_format_is_structured_output_and_json_mode_is_refused() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "echo", "schema": SCHEMA}}
    messages = [{"role": "user", "content": "Hi"}]
    body = PROVIDER.build_request(_call(messages, response_format=fmt), base_url="h").body
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    if "output_config" in SDK_KNOWN:  # the SDK floor (0.47) predates structured output
        _sdk_valid(body)
    text = PROVIDER.build_request(_call(messages, response_format={"type": "text"}), base_url="h")
    assert "output_config" not in text.body
    with pytest.raises(InvalidExperimentError, match="no JSON mode without a schema"):
        PROVIDER.build_request(
            _call(messages, response_format={"type": "json_object"}), base_url="h"
        )


def test_structured_output_reaches_the_server_and_the_answer_is_json(
    pytester: pytest.Pytester, anthropic_server: ReferenceServer
) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "echo", "schema": SCHEMA}}
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_chatexp import ModelConfig
        from pytest_chatexp import checks as c

        CONFIG = ModelConfig(provider="anthropic", model="claude-x", response_format={fmt!r},
                             chat_template=[{{"role": "user", "content": "{{{{q}}}}"}}])

        @pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"q": "hi"}}])
        def test_json(chatexp):
            c.assert_samples(chatexp, c.json_schema({SCHEMA!r}))
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    [request] = anthropic_server.requests
    assert request.json["output_config"]["format"]["schema"] == SCHEMA
