"""The OpenAI Responses and Azure providers: request mapping, response and stream parsing, and
cross-checks against the official ``openai`` SDK's own types (requests the plugin builds are
valid ``ResponseCreateParams``; responses the SDK builds parse; the reference server's answers
and stream events are valid SDK ``Response`` / ``ResponseStreamEvent`` objects)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, get_type_hints

import httpx
import pytest
from openai.types.responses import (
    Response,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseStreamEvent,
)
from openai.types.responses import response_create_params as create_params
from pydantic import TypeAdapter

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._errors import InvalidExperimentError, ProviderError
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider
from pytest_chatexp._providers._azure import (
    DEFAULT_API_VERSION,
    AzureChatProvider,
    AzureResponsesProvider,
    with_api_version,
)
from pytest_chatexp._providers._responses import (
    ResponsesProvider,
    assemble_stream,
    reasoning_summary,
)
from pytest_chatexp.testing import Fault, ReferenceServer

PROVIDER = ResponsesProvider()
URL = "https://api.openai.com/v1"
ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Where is order 7?"}]},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order_id":"7"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"status":"shipped"}'},
]
CREATE_PARAMS = TypeAdapter(create_params.ResponseCreateParamsNonStreaming)
KNOWN_PARAMS = set(get_type_hints(create_params.ResponseCreateParamsBase)) | {"stream"}


def _call(messages: list[dict[str, Any]], **config: Any) -> PlannedCall:
    config.setdefault("provider", "openai_responses")
    config.setdefault("model", "gpt-5-mini")
    return PlannedCall(
        config=ModelConfig(**config),
        input=Input(id="case-1"),
        messages=tuple(ChatMessage.model_validate(message) for message in messages),
        sample_index=0,
    )


def _sdk_valid(body: dict[str, Any]) -> None:
    """``body`` is a request the SDK's TypedDict accepts, every part of it (lazily validated
    iterables consumed) and no parameter it does not know."""
    assert set(body) <= KNOWN_PARAMS, set(body) - KNOWN_PARAMS

    def consume(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                consume(item)
        elif isinstance(value, list | tuple):
            for item in value:
                consume(item)
        elif not isinstance(value, str | int | float | bool | type(None)):
            consume(list(value))  # pydantic's ValidatorIterator: validated as it is read

    consume(CREATE_PARAMS.validate_python({k: v for k, v in body.items() if k != "stream"}))


# --- requests ---------------------------------------------------------------------------


def test_registered_names() -> None:
    assert isinstance(get_provider("openai_responses"), ResponsesProvider)
    assert isinstance(get_provider("azure_openai"), AzureChatProvider)
    assert get_provider("openai_azure") is get_provider("azure_openai")
    assert isinstance(get_provider("azure_openai_responses"), AzureResponsesProvider)


def test_a_tool_conversation_in_responses_shape_is_valid_for_the_sdk() -> None:
    call = _call(
        CONVERSATION,
        tools=[{"name": "lookup_order", "description": "Find an order", "parameters": ORDER}],
        tool_choice={"type": "function", "function": {"name": "lookup_order"}},
        temperature=0.2,
        top_p=0.9,
        max_tokens=200,
        other={"reasoning": {"effort": "low", "summary": "auto"}, "store": False},
    )
    wire = PROVIDER.build_request(call, base_url="https://api.openai.com/v1")
    assert wire.url == "https://api.openai.com/v1/responses"
    assert wire.body == {
        "model": "gpt-5-mini",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Where is order 7?"}]},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup_order",
                "arguments": '{"order_id":"7"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": '{"status":"shipped"}'},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_output_tokens": 200,
        "tools": [
            {
                "type": "function",
                "name": "lookup_order",
                "description": "Find an order",
                "parameters": ORDER,
                "strict": False,
            }
        ],
        "tool_choice": {"type": "function", "name": "lookup_order"},
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": False,
    }
    _sdk_valid(wire.body)


@pytest.mark.parametrize(
    "response_format, expected",
    [
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "json_schema": {"name": "a", "schema": ORDER, "strict": True}},
            {"type": "json_schema", "name": "a", "schema": ORDER, "strict": True},
        ),
    ],
)
def test_response_format_is_text_format(
    response_format: dict[str, Any], expected: dict[str, Any]
) -> None:
    call = _call([{"role": "user", "content": "hi"}], response_format=response_format)
    body = PROVIDER.build_request(call, base_url="https://x/v1").body
    assert body["text"] == {"format": expected}
    assert body["input"] == [{"role": "user", "content": "hi"}]
    _sdk_valid(body)


def test_fields_responses_cannot_send_are_refused_by_name() -> None:
    call = _call([{"role": "user", "content": "hi"}], seed=3)
    with pytest.raises(InvalidExperimentError, match="'seed' is not supported by the OpenAI"):
        PROVIDER.build_request(call, base_url="https://x/v1")
    empty = _call([{"role": "user", "content": ""}])
    assert PROVIDER.build_request(empty, base_url="https://x/v1").body["input"] == [
        {"role": "user", "content": ""}
    ]
    bad = _call([{"role": "user", "content": "hi"}], response_format={"type": "json_schema"})
    with pytest.raises(InvalidExperimentError, match="needs a 'json_schema' object"):
        PROVIDER.build_request(bad, base_url="https://x/v1")


def test_azure_urls_and_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_AD_TOKEN", raising=False)
    call = _call([{"role": "user", "content": "hi"}], provider="azure_openai", model="dep/1")
    chat = AzureChatProvider().build_request(call, base_url="https://r.openai.azure.com")
    assert chat.url == (
        "https://r.openai.azure.com/openai/deployments/dep%2F1/chat/completions"
        f"?api-version={DEFAULT_API_VERSION}"
    )
    assert chat.body["model"] == "dep/1"
    responses = AzureResponsesProvider().build_request(call, base_url="https://r.openai.azure.com")
    assert responses.url == "https://r.openai.azure.com/openai/v1/responses"
    assert AzureChatProvider().auth_headers("k") == {"api-key": "k"}
    assert with_api_version("https://h/p?api-version=1&x=2") == "https://h/p?api-version=1&x=2"
    monkeypatch.setenv("OPENAI_API_VERSION", "v-env")
    assert with_api_version("https://h/p?x=2") == "https://h/p?x=2&api-version=v-env"
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "tok")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "key")
    assert AzureChatProvider().key_env() == "AZURE_OPENAI_API_KEY"  # a key wins over a token
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    assert AzureChatProvider().key_env() == "AZURE_OPENAI_AD_TOKEN"
    assert AzureChatProvider().auth_headers("tok") == {"Authorization": "Bearer tok"}


# --- responses built by the SDK ---------------------------------------------------------


def _sdk_response(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "model": "gpt-5-mini",
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "output": [
            {
                "id": "rs_1",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "Looked it up."}],
            },
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Shipped.", "annotations": []}],
            },
        ],
        "usage": {
            "input_tokens": 20,
            "input_tokens_details": {"cached_tokens": 16, "cache_write_tokens": 0},
            "output_tokens": 30,
            "output_tokens_details": {"reasoning_tokens": 24},
            "total_tokens": 50,
        },
    }
    data.update(changes)
    return Response.model_validate(data).model_dump(mode="json")


def test_an_sdk_built_response_parses() -> None:
    body = _sdk_response()
    reply = PROVIDER.parse_response(body)
    assert reply.raw_output == "Shipped."
    assert reply.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.generation_tokens) == (20, 30)
    assert (reply.usage.total_tokens, reply.usage.reasoning_tokens) == (50, 24)
    assert (reply.usage.cached_tokens, reply.usage.cache_write_tokens) == (16, 0)
    assert reasoning_summary(body) == reply.reasoning == "Looked it up."


def test_an_sdk_built_function_call_and_an_incomplete_response_parse() -> None:
    call = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_9",
        "name": "lookup_order",
        "arguments": '{"order_id":"7"}',
        "status": "completed",
    }
    reply = PROVIDER.parse_response(_sdk_response(output=[call]))
    assert reply.message.content is None
    [tool_call] = reply.message.tool_calls or []
    assert (tool_call.id, tool_call.function.name) == ("call_9", "lookup_order")
    assert reply.finish_reason == "tool_call"
    cut = _sdk_response(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
    assert PROVIDER.parse_response(cut).finish_reason == "length"


def test_failures_read_as_the_providers_words() -> None:
    failed = _sdk_response(status="failed", error={"code": "server_error", "message": "Boom."})
    with pytest.raises(ProviderError, match=r"the response failed: Boom\."):
        PROVIDER.parse_response(failed)
    with pytest.raises(ProviderError, match=r"not an OpenAI response: .*output"):
        PROVIDER.parse_response({"status": "completed"})
    assert PROVIDER.error_message({"error": {"message": "Bad key."}}) == "Bad key."
    with pytest.raises(ProviderError, match="the stream reported an error: Overloaded"):
        assemble_stream([{"type": "error", "code": "x", "message": "Overloaded"}])


# --- the reference server, checked against the SDK's types -----------------------------


@pytest.fixture
def server(chatexp_server: ReferenceServer) -> Iterator[ReferenceServer]:
    chatexp_server.clear_rules()
    chatexp_server.faults.clear()
    yield chatexp_server
    chatexp_server.faults.clear()


def _post(server: ReferenceServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.base_url + "/responses", json=body, timeout=5)


def test_the_servers_answer_is_an_sdk_response(server: ReferenceServer) -> None:
    call = _call(
        [{"role": "user", "content": '[[tool: lookup_order {"order_id": "7"}]]'}],
        tools=[{"name": "lookup_order", "parameters": ORDER}],
        other={"reasoning": {"effort": "low", "summary": "auto"}},
    )
    body = PROVIDER.build_request(call, base_url=server.base_url).body
    answer = _post(server, body)
    assert answer.status_code == 200
    sdk = Response.model_validate(answer.json())
    assert [item.type for item in sdk.output] == ["reasoning", "function_call"]
    assert sdk.usage is not None and sdk.usage.output_tokens_details.reasoning_tokens == 7
    reply = PROVIDER.parse_response(answer.json())
    assert reply.finish_reason == "tool_call"


def test_the_servers_stream_is_sdk_events_assembling_to_the_same_reply(
    server: ReferenceServer,
) -> None:
    call = _call([{"role": "user", "content": "say something long enough to split"}])
    body = PROVIDER.build_request(call, base_url=server.base_url).body
    plain = PROVIDER.parse_response(_post(server, body).json())
    streamed = _post(server, {**body, "stream": True})
    events = [
        json.loads(line[5:]) for line in streamed.text.splitlines() if line.startswith("data:")
    ]
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    kinds = [adapter.validate_python(event).type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 3
    assert PROVIDER.stream_finished(events) and not PROVIDER.stream_finished(events[:-1])
    assert PROVIDER.parse_response(events) == plain
    # A stream cut before its end still assembles what arrived, marked incomplete.
    cut = PROVIDER.parse_response(events[:-1])
    assert cut.raw_output == plain.raw_output and cut.finish_reason == "stream_ended_early"


def test_the_servers_faults_are_openai_shaped(server: ReferenceServer) -> None:
    server.faults.add(Fault.status(429))
    answer = _post(server, {"model": "m", "input": "hi"})
    assert answer.status_code == 429
    assert PROVIDER.error_message(answer.json()) is not None
    bad = _post(server, {"model": "m", "messages": []})
    assert bad.status_code == 400
    assert "input" in (PROVIDER.error_message(bad.json()) or "")


# --- the SDK's own clients send what the plugin sends ------------------------------------


def _sdk_sent(make_client: Any, create: str, body: dict[str, Any]) -> tuple[str, Any, Any]:
    """The URL, headers and JSON body the official SDK sends for ``body`` passed as keyword
    arguments to ``create`` (a TypeError if the SDK does not know a parameter)."""
    import httpx2  # the openai SDK's HTTP stack (test-only)

    sent: list[Any] = []

    def answer(request: Any) -> Any:
        sent.append(request)
        return httpx2.Response(200, json=_sdk_response())

    client = make_client(httpx2.Client(transport=httpx2.MockTransport(answer)))
    target = client
    for name in create.split("."):
        target = getattr(target, name)
    target(**body)  # the SDK builds its models loosely: any JSON answer will do
    [request] = sent
    return str(request.url), request.headers, json.loads(request.content)


def test_the_azure_sdk_sends_the_same_url_header_and_body(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai

    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_AD_TOKEN", raising=False)
    call = _call(
        CONVERSATION[1:2], provider="azure_openai", model="dep", temperature=0.5, max_tokens=9
    )
    wire = AzureChatProvider().build_request(call, base_url="https://r.openai.azure.com")
    url, headers, body = _sdk_sent(
        lambda http: openai.AzureOpenAI(
            azure_endpoint="https://r.openai.azure.com",
            api_key="k",
            api_version=DEFAULT_API_VERSION,
            http_client=http,
        ),
        "chat.completions.create",
        wire.body,
    )
    assert (url, body) == (wire.url, wire.body)
    assert headers["api-key"] == "k" and AzureChatProvider().auth_headers("k") == {"api-key": "k"}


def test_the_openai_sdk_sends_the_same_responses_request() -> None:
    import openai

    call = _call(
        CONVERSATION,
        tools=[{"name": "lookup_order", "parameters": ORDER}],
        tool_choice="required",
        response_format={"type": "json_object"},
        other={"reasoning": {"effort": "low"}},
    )
    wire = AzureResponsesProvider().build_request(call, base_url="https://r.openai.azure.com")
    url, _, body = _sdk_sent(
        lambda http: openai.OpenAI(
            base_url="https://r.openai.azure.com/openai/v1", api_key="k", http_client=http
        ),
        "responses.create",
        wire.body,
    )
    assert (url, body) == (wire.url, wire.body)


def test_reasoning_is_sent_as_an_effort_with_a_summary() -> None:
    body = PROVIDER.build_request(
        _call([{"role": "user", "content": "hi"}], reasoning={"effort": "low"}), base_url=URL
    ).body
    assert body["reasoning"] == {"effort": "low", "summary": "auto"}
    _sdk_valid(body)
    with pytest.raises(InvalidExperimentError, match="reasoning sets only budget_tokens"):
        PROVIDER.build_request(
            _call([{"role": "user", "content": "hi"}], reasoning={"budget_tokens": 900}),
            base_url=URL,
        )


# --- streamed reasoning summaries ---------------------------------------------------------

SUMMARY = "Considered the request step by step."


def _reasoning_stream(server: ReferenceServer) -> list[dict[str, Any]]:
    call = _call([{"role": "user", "content": "hi"}], reasoning={"effort": "low"})
    body = PROVIDER.build_request(call, base_url=server.base_url).body
    streamed = _post(server, {**body, "stream": True})
    return [json.loads(line[5:]) for line in streamed.text.splitlines() if line.startswith("data:")]


def test_the_servers_reasoning_summary_streams_as_sdk_events(server: ReferenceServer) -> None:
    events = _reasoning_stream(server)
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    kinds = [adapter.validate_python(event).type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
    ]
    assert kinds.count("response.reasoning_summary_text.delta") == 3
    assert "response.reasoning_summary_text.done" in kinds
    assert "response.reasoning_summary_part.done" in kinds
    assert events[1]["item"]["summary"] == []  # the item is added empty, as OpenAI does
    assert PROVIDER.parse_response(events).reasoning == SUMMARY


def test_a_summary_is_assembled_from_its_deltas_alone(server: ReferenceServer) -> None:
    events = _reasoning_stream(server)
    # Cut right after the summary's last delta: no text.done, no item.done, no completed.
    last_delta = max(
        place
        for place, event in enumerate(events)
        if event["type"] == "response.reasoning_summary_text.delta"
    )
    cut = PROVIDER.parse_response(events[: last_delta + 1])
    assert cut.reasoning == SUMMARY and cut.finish_reason == "stream_ended_early"
    # A server whose final events carry the item without its summary: the deltas still tell it.
    bare = json.loads(json.dumps(events))
    for event in bare:
        if event["type"] == "response.output_item.done" and event["item"]["type"] == "reasoning":
            event["item"]["summary"] = []
        if event["type"] == "response.completed":
            for item in event["response"]["output"]:
                if item["type"] == "reasoning":
                    item["summary"] = []
    kept = [event for event in bare if not event["type"].endswith(("text.done", "part.done"))]
    before = json.dumps(kept)
    assert PROVIDER.parse_response(kept).reasoning == SUMMARY
    assert json.dumps(kept) == before  # parsing changed no event (they are the recording)
    assert reasoning_summary(kept) == SUMMARY


def test_sdk_built_summary_events_assemble_into_the_reasoning() -> None:
    at = {"item_id": "rs_1", "output_index": 0, "sequence_number": 1}
    events = [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "sequence_number": 0,
            "item": {"id": "rs_1", "type": "reasoning", "summary": []},
        },
        ResponseReasoningSummaryPartAddedEvent(
            **at,
            summary_index=0,
            type="response.reasoning_summary_part.added",
            part={"type": "summary_text", "text": ""},
        ).model_dump(),
        *[
            ResponseReasoningSummaryTextDeltaEvent(
                **at,
                summary_index=index,
                delta=delta,
                type="response.reasoning_summary_text.delta",
            ).model_dump()
            for index, delta in ((0, "First "), (0, "part."), (1, "Second."))
        ],
        ResponseReasoningSummaryTextDoneEvent(
            **at,
            summary_index=1,
            text="Second, whole.",
            type="response.reasoning_summary_text.done",
        ).model_dump(),
    ]
    reply = PROVIDER.parse_response(events)
    assert reply.reasoning == "First part.\n\nSecond, whole."
    with pytest.raises(ProviderError, match="has no summary_index"):
        assemble_stream([{**events[2], "summary_index": None}])
