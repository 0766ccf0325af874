"""End-to-end tests of the loopback reference server, through real HTTP clients."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from pytest_chatexp.testing import RecordedRequest, ReferenceServer, Reply, ToolCallReply
from pytest_chatexp.testing._http import Response

Json = dict[str, Any]


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as srv:
        yield srv


@pytest.fixture
def client(server: ReferenceServer) -> Iterator[httpx.Client]:
    # trust_env=False: proxy variables must never route loopback traffic elsewhere.
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as http:
        yield http


def chat(client: httpx.Client, content: Any = "hi", **extra: Any) -> Json:
    """POST a chat request whose single user message is ``content``; expect success."""
    body = {"model": "ref-model", "messages": [{"role": "user", "content": content}], **extra}
    response = client.post("/chat/completions", json=body)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def choice(completion: Json) -> Json:
    result: Json = completion["choices"][0]
    return result


def call_id(name: str, arguments: str, position: int) -> str:
    return "call_" + hashlib.sha256(f"{name}{arguments}{position}".encode()).hexdigest()[:8]


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def raw_exchange(server: ReferenceServer, data: bytes) -> bytes:
    """Send raw bytes and return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


# --- basics -----------------------------------------------------------------------------


def test_health(server: ReferenceServer, client: httpx.Client) -> None:
    response = client.get(server.url + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(server.requests) == 0  # only model requests are recorded


def test_echo_completion_has_the_openai_shape(client: httpx.Client) -> None:
    completion = chat(client, "Hello there")
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{16}", completion.pop("id"))
    assert completion == {
        "object": "chat.completion",
        "created": 1700000000,
        "model": "ref-model",
        "system_fingerprint": "fp_reference",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "echo: Hello there"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 3,
            "total_tokens": 6,
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def test_path_without_v1_prefix_is_accepted(server: ReferenceServer) -> None:
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        response = http.post(
            "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]}
        )
    assert response.json()["choices"][0]["message"]["content"] == "echo: x"


def test_echo_is_prefixed_with_the_start_of_the_system_prompt(client: httpx.Client) -> None:
    system = "You are a meticulous assistant who answers in haiku only."
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    completion = chat(client, messages=messages)
    assert choice(completion)["message"]["content"] == f"[system: {system[:40]}] echo: second"


def test_identical_requests_get_identical_responses_despite_temperature(
    client: httpx.Client,
) -> None:
    first = chat(client, "roll a die", temperature=1.5)
    assert chat(client, "roll a die", temperature=1.5) == first
    assert chat(client, "roll two dice", temperature=1.5)["id"] != first["id"]


def test_completion_id_ignores_json_key_order(client: httpx.Client) -> None:
    message = '{"role": "user", "content": "x"}'
    bodies = [
        f'{{"model": "m", "messages": [{message}], "temperature": 0}}',
        f'{{"temperature": 0, "messages": [{message}], "model": "m"}}',
    ]
    headers = {"content-type": "application/json"}
    ids = {
        client.post("/chat/completions", content=b, headers=headers).json()["id"] for b in bodies
    }
    assert len(ids) == 1


def test_token_counts_are_words_plus_one_per_message(client: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},  # 3 words + 1
        {
            "role": "user",  # 3 words + 1: only the text parts count
            "content": [
                {"type": "text", "text": "one two"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "three"},
            ],
        },
        {  # 0 words + 1
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},  # 1 word + 1
    ]
    completion = chat(client, messages=messages)
    content = choice(completion)["message"]["content"]
    assert content == "[system: You are terse.] echo: one two\nthree"
    assert completion["usage"]["prompt_tokens"] == 11
    assert completion["usage"]["completion_tokens"] == len(content.split()) == 8
    assert completion["usage"]["total_tokens"] == 19


# --- directives -------------------------------------------------------------------------


def test_reply_directive_replaces_the_whole_reply(client: httpx.Client) -> None:
    completion = chat(client, "ignored [[reply: Hello,\\nworld]] also ignored")
    assert choice(completion)["message"] == {"role": "assistant", "content": "Hello,\nworld"}
    assert choice(completion)["finish_reason"] == "stop"
    assert completion["usage"]["completion_tokens"] == 2


def test_tool_directives_become_tool_calls_in_order(client: httpx.Client) -> None:
    completion = chat(
        client, 'Use [[tool: get_weather {"city": "Paris", "days": [[1]]}]] [[tool: now]]'
    )
    message = choice(completion)["message"]
    weather_args = '{"city":"Paris","days":[[1]]}'
    assert message["content"] is None
    assert message["tool_calls"] == [
        {
            "id": call_id("get_weather", weather_args, 0),
            "type": "function",
            "function": {"name": "get_weather", "arguments": weather_args},
        },
        {
            "id": call_id("now", "{}", 1),
            "type": "function",
            "function": {"name": "now", "arguments": "{}"},
        },
    ]
    assert choice(completion)["finish_reason"] == "tool_calls"
    assert completion["usage"]["completion_tokens"] == 4  # name + compact arguments, twice


def test_tool_directive_with_invalid_json_passes_it_verbatim(client: httpx.Client) -> None:
    completion = chat(client, '[[tool: lookup {"q": }]]')
    assert choice(completion)["message"]["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"q": }',
    }


def test_reply_directive_next_to_tool_directive_is_the_accompanying_text(
    client: httpx.Client,
) -> None:
    message = choice(chat(client, "[[reply: Let me check.]] [[tool: search]]"))["message"]
    assert message["content"] == "Let me check."
    assert [call["function"]["name"] for call in message["tool_calls"]] == ["search"]


def test_tokens_directive_replies_with_exactly_n_words(client: httpx.Client) -> None:
    completion = chat(client, "write an essay [[tokens: 5]]")
    assert choice(completion)["message"]["content"] == "w1 w2 w3 w4 w5"
    assert completion["usage"]["completion_tokens"] == 5


def test_directives_are_read_from_the_last_user_message_only(client: httpx.Client) -> None:
    messages = [
        {"role": "user", "content": "[[reply: stale]]"},
        {"role": "assistant", "content": "stale"},
        {"role": "user", "content": "fresh"},
    ]
    assert choice(chat(client, messages=messages))["message"]["content"] == "echo: fresh"


# --- rules ------------------------------------------------------------------------------


def test_unconditional_string_rule_beats_directives(
    server: ReferenceServer, client: httpx.Client
) -> None:
    server.add_rule("fixed answer")
    assert choice(chat(client, "[[reply: directive]]"))["message"]["content"] == "fixed answer"


def test_substring_rule_matches_the_last_user_message(
    server: ReferenceServer, client: httpx.Client
) -> None:
    server.add_rule("Paris", when="capital of France")
    assert choice(chat(client, "What is the capital of France?"))["message"]["content"] == "Paris"
    assert (
        choice(chat(client, "capital of Spain?"))["message"]["content"] == "echo: capital of Spain?"
    )


def test_predicate_rule_and_callable_reply(server: ReferenceServer, client: httpx.Client) -> None:
    server.add_rule(
        lambda request: f"{len(request['messages'])} message(s) at t={request['temperature']}",
        when=lambda request: request.get("temperature") == 0,
    )
    assert choice(chat(client, "x", temperature=0))["message"]["content"] == "1 message(s) at t=0"
    assert choice(chat(client, "x", temperature=1))["message"]["content"] == "echo: x"


def test_first_matching_rule_wins_and_rules_can_be_cleared(
    server: ReferenceServer, client: httpx.Client
) -> None:
    server.add_rule("first", when="a")
    server.add_rule("second")
    assert choice(chat(client, "a"))["message"]["content"] == "first"
    assert choice(chat(client, "b"))["message"]["content"] == "second"
    server.clear_rules()
    assert choice(chat(client, "a"))["message"]["content"] == "echo: a"


def test_rule_reply_with_tool_calls_keeps_invalid_arguments_verbatim(
    server: ReferenceServer, client: httpx.Client
) -> None:
    server.add_rule(
        Reply(
            text="Checking.",
            tool_calls=[
                ToolCallReply("get_weather", {"unit": "C", "city": "Zürich"}),
                ToolCallReply("broken", '{"city": '),
            ],
        )
    )
    completion = chat(client, "weather?")
    message = choice(completion)["message"]
    assert message["content"] == "Checking."
    assert [call["function"] for call in message["tool_calls"]] == [
        {"name": "get_weather", "arguments": '{"city":"Zürich","unit":"C"}'},
        {"name": "broken", "arguments": '{"city": '},
    ]
    assert message["tool_calls"][1]["id"] == call_id("broken", '{"city": ', 1)
    assert choice(completion)["finish_reason"] == "tool_calls"


def test_reply_can_override_finish_reason_and_usage(
    server: ReferenceServer, client: httpx.Client
) -> None:
    server.add_rule(Reply("Sorry.", finish_reason="content_filter", usage={"prompt_tokens": 100}))
    completion = chat(client, "x")
    assert choice(completion)["finish_reason"] == "content_filter"
    assert completion["usage"]["prompt_tokens"] == 100
    assert completion["usage"]["total_tokens"] == 101


def test_failing_rule_answers_500_and_the_server_keeps_serving(
    server: ReferenceServer, client: httpx.Client
) -> None:
    def explode(request: Json) -> str:
        raise ValueError("boom")

    server.add_rule(explode, when="explode")
    response = client.post(
        "/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "explode"}]},
    )
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert "boom" in response.json()["error"]["message"]
    assert choice(chat(client, "fine"))["message"]["content"] == "echo: fine"


# --- tool_choice, response_format -------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "note": {"type": "string"}},
            "required": ["city"],
        },
    },
}
BOOKING_TOOL = {
    "type": "function",
    "function": {
        "name": "book",
        "parameters": {
            "type": "object",
            "properties": {
                "guest": {"type": "string"},
                "nights": {"type": "integer"},
                "budget": {"type": "number"},
                "breakfast": {"type": "boolean"},
                "rooms": {"type": "array", "items": {"type": "string"}},
                "preferences": {"type": "object"},
            },
        },
    },
}


@pytest.mark.parametrize(
    ("tool_choice", "name", "arguments"),
    [
        ("required", "get_weather", {"city": "<city>"}),
        (
            {"type": "function", "function": {"name": "book"}},
            "book",
            {
                "guest": "<guest>",
                "nights": 1,
                "budget": 1.0,
                "breakfast": True,
                "rooms": [],
                "preferences": {},
            },
        ),
    ],
)
def test_forced_tool_choice_generates_arguments_from_the_schema(
    client: httpx.Client, tool_choice: object, name: str, arguments: Json
) -> None:
    completion = chat(client, "go", tools=[WEATHER_TOOL, BOOKING_TOOL], tool_choice=tool_choice)
    (call,) = choice(completion)["message"]["tool_calls"]
    assert call["function"]["name"] == name
    assert call["function"]["arguments"] == json.dumps(
        arguments, sort_keys=True, separators=(",", ":")
    )
    assert choice(completion)["finish_reason"] == "tool_calls"


def test_tool_choice_auto_does_not_force_a_call(client: httpx.Client) -> None:
    message = choice(chat(client, "hi", tools=[WEATHER_TOOL], tool_choice="auto"))["message"]
    assert message == {"role": "assistant", "content": "echo: hi"}


def test_json_object_response_format(client: httpx.Client) -> None:
    completion = chat(client, 'say "json"', response_format={"type": "json_object"})
    content = choice(completion)["message"]["content"]
    assert content == '{"echo":"say \\"json\\""}'
    assert json.loads(content) == {"echo": 'say "json"'}


# --- truncation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "expected"),
    [(",", "echo: alpha"), (["zzz", " beta", "a,"], "echo: alph"), ("absent", "echo: alpha, beta")],
)
def test_stop_cuts_at_the_first_stop_string(
    client: httpx.Client, stop: object, expected: str
) -> None:
    completion = chat(client, "alpha, beta", stop=stop)
    assert choice(completion)["message"]["content"] == expected
    assert choice(completion)["finish_reason"] == "stop"
    assert completion["usage"]["completion_tokens"] == len(expected.split())


@pytest.mark.parametrize("limit_key", ["max_tokens", "max_completion_tokens"])
def test_token_limit_keeps_the_first_words(client: httpx.Client, limit_key: str) -> None:
    completion = chat(client, "[[tokens: 10]]", **{limit_key: 3})
    assert choice(completion)["message"]["content"] == "w1 w2 w3"
    assert choice(completion)["finish_reason"] == "length"
    assert completion["usage"]["completion_tokens"] == 3


def test_token_limit_not_reached_finishes_with_stop(client: httpx.Client) -> None:
    completion = chat(client, "[[reply: one  two\\nthree]]", max_tokens=3)
    assert choice(completion)["message"]["content"] == "one  two\nthree"
    assert choice(completion)["finish_reason"] == "stop"


def test_stop_applies_before_the_token_limit(client: httpx.Client) -> None:
    completion = chat(client, "[[tokens: 8]]", stop=" w6", max_tokens=7)
    assert choice(completion)["message"]["content"] == "w1 w2 w3 w4 w5"
    assert choice(completion)["finish_reason"] == "stop"


# --- errors -----------------------------------------------------------------------------


def assert_openai_error(response: httpx.Response, status: int, mentions: str) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] is None
    assert mentions in error["message"]


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert_openai_error(client.post("/moderations", json={}), 404, "/v1/moderations")
    assert_openai_error(client.get("/chat/completions"), 404, "GET /v1/chat/completions")


def test_body_that_is_not_json_is_400(server: ReferenceServer, client: httpx.Client) -> None:
    response = client.post("/chat/completions", content=b"{not json")
    assert_openai_error(response, 400, "JSON")
    assert server.requests[0].json is None
    assert server.requests[0].body == b"{not json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": "hello"}, "messages"),
    ],
)
def test_missing_or_invalid_field_is_400_naming_it(
    client: httpx.Client, body: Json, field: str
) -> None:
    response = client.post("/chat/completions", json=body)
    assert_openai_error(response, 400, f"'{field}'")
    assert response.json()["error"]["param"] == field


# --- recording and statistics -----------------------------------------------------------


def test_requests_are_recorded_and_can_be_cleared(
    server: ReferenceServer, client: httpx.Client
) -> None:
    chat(client, "one")
    client.post(
        "/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "two"}]},
        headers={"X-Trace-Id": "abc"},
    )
    recorded = list(server.requests)
    assert [type(request) for request in recorded] == [RecordedRequest, RecordedRequest]
    last = server.requests[-1]
    assert (last.method, last.path) == ("POST", "/v1/chat/completions")
    assert last.headers["x-trace-id"] == "abc"
    assert last.headers["content-type"] == "application/json"
    assert last.json == {"model": "m", "messages": [{"role": "user", "content": "two"}]}
    assert json.loads(last.body) == last.json
    server.requests.clear()
    assert len(server.requests) == 0


def test_keep_alive_reuses_one_connection(server: ReferenceServer, client: httpx.Client) -> None:
    for word in ("a", "b", "c", "d", "e"):
        chat(client, word)
    client.get(server.url + "/health")
    assert server.connections_accepted == 1
    server.reset_stats()
    assert server.connections_accepted == 0


def test_connection_close_is_honoured(server: ReferenceServer) -> None:
    reply = raw_exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close" in head
    assert body == b'{"status":"ok"}'


def test_http_10_closes_by_default(server: ReferenceServer) -> None:
    reply = raw_exchange(server, b"GET /health HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.endswith(b'{"status":"ok"}')


def test_pipelined_requests_are_answered_in_order(server: ReferenceServer) -> None:
    body = b'{"model":"m","messages":[{"role":"user","content":"p"}]}'
    post = b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    last = b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"
    reply = raw_exchange(server, post + post + last)
    assert reply.count(b"HTTP/1.1 200 OK") == 3
    assert reply.count(b"echo: p") == 2
    assert reply.endswith(b'{"status":"ok"}')


def test_expect_100_continue(server: ReferenceServer) -> None:
    body = b'{"model":"m","messages":[{"role":"user","content":"big"}]}'
    head = b"POST /v1/chat/completions HTTP/1.1\r\nExpect: 100-continue\r\nConnection: close\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert b"echo: big" in read_until_closed(sock)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET /health HTTP/1.1\r\n bad-fold: x\r\n\r\n", b"400"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"501"),
        (b"GET /health HTTP/2.0\r\n\r\n", b"505"),
    ],
)
def test_malformed_requests_are_rejected_and_closed(
    server: ReferenceServer, request_bytes: bytes, status: bytes
) -> None:
    reply = raw_exchange(server, request_bytes)
    assert reply.startswith(b"HTTP/1.1 " + status)
    assert b"\r\nConnection: close" in reply
    error_type = b'"server_error"' if status >= b"500" else b'"invalid_request_error"'
    assert error_type in reply


def test_latency_is_concurrent_not_serial(server: ReferenceServer) -> None:
    server.latency = 0.1

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=10) as http:
            body = {"model": "m", "messages": [{"role": "user", "content": "slow"}]}
            return await asyncio.gather(
                *(http.post("/chat/completions", json=body) for _ in range(32))
            )

    started = time.perf_counter()
    responses = asyncio.run(burst())
    elapsed = time.perf_counter() - started
    assert [r.status_code for r in responses] == [200] * 32
    assert elapsed >= 0.1  # the latency was applied
    # Concurrent, counted rather than timed (a loaded CI machine stretches any wall time).
    assert server.max_in_flight >= 16
    server.reset_stats()
    assert server.max_in_flight == 0


# --- streaming --------------------------------------------------------------------------

EVENTS = [b"data: one\n\n", b"", b"data: two\n\n", b"data: [DONE]\n\n"]


async def _stream_events(request: RecordedRequest) -> Response:
    async def events() -> AsyncIterator[bytes]:
        for event in EVENTS:
            await asyncio.sleep(0)
            yield event

    return Response(body=events(), content_type="text/event-stream")


def test_streaming_route_is_sent_chunked(server: ReferenceServer, client: httpx.Client) -> None:
    server.routes[("GET", "/test/stream")] = _stream_events
    with client.stream("GET", server.url + "/test/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.headers["content-type"] == "text/event-stream"
        assert b"".join(response.iter_bytes()) == b"".join(EVENTS)
    chat(client, "after the stream")  # the connection is still usable afterwards
    assert server.connections_accepted == 1


def test_streaming_wire_format_is_valid_chunked_encoding(server: ReferenceServer) -> None:
    server.routes[("GET", "/test/stream")] = _stream_events
    reply = raw_exchange(server, b"GET /test/stream HTTP/1.1\r\nConnection: close\r\n\r\n")
    _, _, body = reply.partition(b"\r\n\r\n")
    expected = b"".join(b"%x\r\n%b\r\n" % (len(e), e) for e in EVENTS if e) + b"0\r\n\r\n"
    assert body == expected


def test_stream_that_fails_midway_is_cut_short(
    server: ReferenceServer, client: httpx.Client
) -> None:
    async def failing(request: RecordedRequest) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield b"data: partial\n\n"
            raise RuntimeError("upstream died")

        return Response(body=events(), content_type="text/event-stream")

    server.routes[("GET", "/test/failing-stream")] = failing
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url + "/test/failing-stream")
    assert chat(client, "still alive")["choices"][0]["message"]["content"] == "echo: still alive"


# --- lifecycle --------------------------------------------------------------------------


def test_stop_is_idempotent_and_closes_listener_and_connections() -> None:
    server = ReferenceServer().start()
    port = server.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
        idle.sendall(b"GET /health HTTP/1.1\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200")
        server.stop()
        assert idle.recv(4096) == b""  # the idle keep-alive connection was closed
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_stop_before_start_is_harmless_and_start_reports_bind_errors(
    server: ReferenceServer,
) -> None:
    ReferenceServer().stop()
    with pytest.raises(OSError):
        ReferenceServer(port=server.port).start()
    with pytest.raises(RuntimeError):
        server.start()


def test_urls(server: ReferenceServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.base_url == server.url + "/v1"


# --- command line -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server process exited early"
        try:
            if httpx.get(url + "/health", trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail("the server never became healthy")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_signalled(signum: signal.Signals) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "pytest_chatexp.testing",
        "--port",
        str(port),
        "--latency",
        "0.01",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            wait_until_healthy(url, proc)
            assert proc.stdout is not None
            assert proc.stdout.readline() == (
                f"pytest-chatexp reference server on {url} (OpenAI base URL: {url}/v1)\n"
            )
            with httpx.Client(base_url=url + "/v1", trust_env=False) as http:
                assert chat(http, "cli")["choices"][0]["message"]["content"] == "echo: cli"
            proc.send_signal(signum)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.stderr is not None
        assert proc.stderr.read() == ""
