"""The OpenAI Responses provider (``provider="openai_responses"``) over the reference server:
plain and streamed answers, a tool loop, JSON schema output, reasoning tokens, faults, and a
recording replayed offline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_chatexp.testing import Fault, ReferenceServer
from pytest_chatexp.testing._responses import REASONING_TOKENS
from tests._suite import Suite

SUITE = """
import json
import pytest
from pytest_chatexp import ModelConfig, Tool

def lookup_order(order_id):
    return {"order_id": order_id, "status": "shipped"}

ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
PLAIN = ModelConfig(
    name="plain", provider="openai_responses", model="gpt-5-mini",
    chat_template=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{q}}"}],
)
STREAMED = PLAIN.variant(name="streamed", other={"stream": True})
AGENT = PLAIN.variant(
    name="agent", tools=[Tool(name="lookup_order", parameters=ORDER, handler=lookup_order)]
)
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
JSON = PLAIN.variant(
    name="json",
    response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA, "strict": True}},
)
REASONING = PLAIN.variant(name="reasoning", other={"reasoning": {"effort": "low", "summary": "auto"}})

@pytest.mark.chatexp(model_configs=[PLAIN, STREAMED], inputs=[{"id": "x", "q": "hello there"}])
def test_plain_and_streamed(chatexp):
    plain, streamed = chatexp.case("plain", "x").samples[0], chatexp.case("streamed", "x").samples[0]
    assert plain.output == "[system: Be brief.] echo: hello there"
    assert streamed.output == plain.output
    assert plain.finish_reason == streamed.finish_reason == "stop"
    assert plain.usage == streamed.usage
    assert plain.usage.prompt_tokens == 6 and plain.usage.generation_tokens == 6
    assert plain.usage.reasoning_tokens == 0
    assert plain.first_token_s is None
    assert streamed.first_token_s is not None and 0 <= streamed.first_token_s <= streamed.latency_s

PLAN = '[[step: lookup_order {"order_id": "7"}]] [[reply: Order: <<result:lookup_order.status>>]]'

@pytest.mark.chatexp(model_configs=[AGENT, AGENT.variant(name="agent-s", other={"stream": True})],
                     inputs=[{"id": "o", "q": PLAN}])
def test_tool_loop(chatexp):
    for name in ("agent", "agent-s"):
        sample = chatexp.case(name, "o").samples[0]
        assert sample.output == "Order: shipped"
        calls = [c.function.name for t in sample.turns for c in t.message.tool_calls or []]
        assert calls == ["lookup_order"]
        assert sample.finish_reason == "stop"

@pytest.mark.chatexp(model_configs=[JSON], inputs=[{"id": "j", "q": '[[reply: {"answer": "42"}]]'}])
def test_json_schema(chatexp):
    assert json.loads(chatexp.samples[0].output) == {"answer": "42"}

REASONING_S = REASONING.variant(
    name="reasoning-s", other={"reasoning": {"effort": "low", "summary": "auto"}, "stream": True}
)

@pytest.mark.chatexp(model_configs=[REASONING, REASONING_S], inputs=[{"id": "r", "q": "think"}])
def test_reasoning_tokens(chatexp):
    for sample in chatexp.samples:
        usage = sample.usage
        assert usage.reasoning_tokens == REASONING_TOKENS_VALUE
        words = len(sample.output.split())
        assert usage.generation_tokens == words + REASONING_TOKENS_VALUE
        # The summary, streamed as reasoning_summary_* events or sent whole, is the reasoning.
        assert sample.reasoning == "Considered the request step by step."
""".replace("REASONING_TOKENS_VALUE", str(REASONING_TOKENS))


@pytest.fixture
def server(server: ReferenceServer) -> Iterator[ReferenceServer]:
    server.faults.clear()
    yield server
    server.faults.clear()


def test_every_feature_over_http(suite: Suite, server: ReferenceServer) -> None:
    suite.write(SUITE).run().assert_outcomes(passed=4).assert_clean()
    bodies = [r.json for r in server.requests]
    assert {r.path for r in server.requests} == {"/v1/responses"}
    agent = [b for b in bodies if b.get("tools")]
    # The loop's second call carries the call and its output as Responses items.
    follow_up = next(b for b in agent if len(b["input"]) == 3)
    assert [item.get("type", "message") for item in follow_up["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert follow_up["input"][1]["call_id"] == follow_up["input"][2]["call_id"]
    assert follow_up["instructions"] == "Be brief."
    assert follow_up["tools"][0] == {
        "type": "function",
        "name": "lookup_order",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
        "strict": False,
    }
    [json_body] = [b for b in bodies if "text" in b]
    assert json_body["text"]["format"]["type"] == "json_schema"
    assert json_body["text"]["format"]["name"] == "a"


def test_a_429_is_retried(suite: Suite, server: ReferenceServer) -> None:
    server.faults.add(Fault.status(429), times=1)
    suite.write(SUITE).run("--chatexp-backoff=0.01", "-k", "json").assert_outcomes(passed=1)
    assert len(server.requests) == 2


def test_a_400_fails_at_once_with_the_message_and_no_key(
    suite: Suite, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-resp-canaryZZ81keyThatMustNotShow"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    server.faults.add(Fault.status(400, message="Unsupported parameter: 'temperature'"), times=5)
    run = suite.write(SUITE).run("--chatexp-backoff=0.01", "-k", "json")
    run.assert_outcomes(errors=1)
    assert len(server.requests) == 1
    run.fnmatch("*Unsupported parameter: 'temperature'*")
    assert key not in run.text and key[7:] not in run.text
    assert server.requests[0].headers["authorization"] == f"Bearer {key}"


def test_record_then_replay_offline(
    suite: Suite, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = suite.write(SUITE).run("--chatexp-record=all").assert_outcomes(passed=4)
    interactions = [i for r in recorded.recordings().values() for i in r["interactions"]]
    assert len(interactions) == 9  # 5 single calls, and two tool loops of two calls
    assert all(i["request"]["endpoint"] == "localhost/v1/responses" for i in interactions)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    recording_session.requests.clear()
    suite.run().assert_outcomes(passed=4)
    assert not recording_session.requests
