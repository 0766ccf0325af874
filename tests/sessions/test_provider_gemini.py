"""The Gemini provider as a user meets it: whole inner sessions against the reference server's
Gemini endpoints (``/v1beta/models/{model}:generateContent`` and its SSE stream)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from pytest_chatexp.testing import Fault, ReferenceServer, Reply, ToolCallReply
from tests._suite import Suite, glob

KEY = "gm-test-Qx41secretGEMINIkeyNeverShown"
DEAD = "http://127.0.0.1:9"  # nothing listens: a call that went live would fail at once

MODULE = """
import json
import pytest
from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="g", provider="gemini", model="gemini-2.5-flash", OPTIONS
                     chat_template=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "{{q}}"}])
"""


def module(body: str, options: str = "") -> str:
    return MODULE.replace("OPTIONS", options + ("," if options else "")) + body


@pytest.fixture
def gemini(recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> ReferenceServer:
    recording_session.faults.clear()
    monkeypatch.setenv("GEMINI_BASE_URL", recording_session.url)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("PYTEST_ADDOPTS", "--chatexp-record=off --chatexp-backoff=0.01")
    return recording_session


def _sent(server: ReferenceServer, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = server.requests[index].json
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_call_reaches_generate_content_with_the_key_in_its_header(
    suite: Suite, gemini: ReferenceServer, stream: bool
) -> None:
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hello there"}])
def test_it(chatexp):
    sample = chatexp.samples[0]
    assert sample.output == "[system: Be brief.] echo: hello there"
    assert sample.finish_reason == "stop"
    assert (sample.usage.prompt_tokens, sample.usage.generation_tokens) == (6, 6)
    assert (sample.first_token_s is not None) is STREAM
""".replace("STREAM", repr(stream)),
            options='other={"stream": True}, temperature=0.2, max_tokens=50' if stream else "",
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()
    request = gemini.requests[0]
    action = "streamGenerateContent" if stream else "generateContent"
    assert request.path == f"/v1beta/models/gemini-2.5-flash:{action}"
    assert parse_qs(request.query) == ({"alt": ["sse"]} if stream else {})
    assert request.headers["x-goog-api-key"] == KEY
    assert "authorization" not in request.headers
    body = _sent(gemini)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hello there"}]}]
    assert "stream" not in body
    if stream:
        assert body["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 50}


def _agent(request: dict[str, Any]) -> Reply:
    results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    if not results:
        return Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "7"})])
    return Reply(text="Done: " + " | ".join(results))


LOOP = """
LOOKUPS = []
def lookup_order(order_id):
    LOOKUPS.append(order_id)
    return {"order_id": order_id, "status": "delivered"}

ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}},
         "required": ["order_id"]}
AGENT = CONFIG.variant(tools=[Tool(name="lookup_order", parameters=ORDER, handler=lookup_order)],
                       tool_choice="auto")

@pytest.mark.chatexp(model_configs=AGENT, inputs=[{"q": "Where is order 7?"}])
def test_loop(chatexp):
    c.assert_samples(chatexp, c.called_in_order("lookup_order"), c.turn_count(min=2, max=2),
                     c.final_answer(c.contains('"status": "delivered"')), c.no_tool_errors())
    assert LOOKUPS == ["7"]
"""


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_tool_loop_sends_function_calls_and_responses(
    suite: Suite, gemini: ReferenceServer, stream: bool
) -> None:
    gemini.add_rule(_agent, when=lambda request: "tools" in request)
    suite.write(module(LOOP, 'other={"stream": True}' if stream else ""))
    suite.run().assert_outcomes(passed=1).assert_clean()
    first, second = _sent(gemini, 0), _sent(gemini, 1)
    assert first["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "lookup_order",
                    "parameters": {
                        "type": "object",
                        "properties": {"order_id": {"type": "string"}},
                        "required": ["order_id"],
                    },
                }
            ]
        }
    ]
    assert first["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert second["contents"][1:] == [
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "lookup_order", "args": {"order_id": "7"}}}],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "lookup_order",
                        "response": {"order_id": "7", "status": "delivered"},
                    }
                }
            ],
        },
    ]


def test_json_schema_output_asks_for_json_and_parses(suite: Suite, gemini: ReferenceServer) -> None:
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "echo", "schema": schema}}
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}])
def test_json(chatexp):
    assert json.loads(chatexp.samples[0].output) == {"echo": "hi"}
""",
            f"response_format={fmt!r}",
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()
    assert _sent(gemini)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": schema,
    }


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_thoughts_count_as_reasoning_tokens_and_stay_out_of_the_output(
    suite: Suite, gemini: ReferenceServer, stream: bool
) -> None:
    thinking = {"thinkingConfig": {"thinkingBudget": 64, "includeThoughts": True}}
    other: dict[str, Any] = {"generationConfig": thinking, **({"stream": True} if stream else {})}
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}])
def test_thinks(chatexp):
    sample = chatexp.samples[0]
    assert sample.output == "[system: Be brief.] echo: hi"
    # "Thinking about: hi" is 3 words; generation counts the answer's 5 and the thoughts.
    assert sample.usage.reasoning_tokens == 3
    assert sample.usage.generation_tokens == 5 + 3
    assert sample.usage.total_tokens == 5 + 8
""",
            f"max_tokens=40, other={other!r}",
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()
    # ``other``'s generationConfig merges into the one built from the config's fields.
    assert _sent(gemini)["generationConfig"] == {"maxOutputTokens": 40, **thinking}


def test_a_429_is_retried(suite: Suite, gemini: ReferenceServer) -> None:
    gemini.faults.add(Fault.status(429, retry_after="0"))
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}])
def test_it(chatexp):
    assert chatexp.samples[0].retries == 1
"""
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()
    assert len(gemini.requests) == 2


def test_a_400_fails_at_once_with_googles_message_and_no_key(
    suite: Suite, gemini: ReferenceServer
) -> None:
    message = "API key {api_key} cannot use model gemini-2.5-flash."
    gemini.faults.add(Fault.status(400, message=message), times=None)
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"id": "only", "q": "hi"}])
def test_it(chatexp):
    pass
"""
        )
    )
    run = suite.run()
    run.assert_outcomes(errors=1).assert_clean()
    url = f"{gemini.url}/v1beta/models/gemini-2.5-flash:generateContent"
    run.fnmatch(
        glob(
            f"chatexp: *::test_it: model config 'g', input 'only', sample 0: HTTP 400 from {url}: "
            "INVALID_ARGUMENT: API key [REDACTED] cannot use model gemini-2.5-flash."
        )
    )
    assert len(gemini.requests) == 1
    assert KEY not in run.text and "attempts" not in run.text


def test_recorded_then_replayed_offline(
    suite: Suite, gemini: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gemini.add_rule(_agent, when=lambda request: "tools" in request)
    suite.write(module(LOOP, 'other={"stream": True}'))
    suite.run("--chatexp-record=all").assert_outcomes(passed=1).fnmatch(
        "*2 calls (0 replayed, 2 live)*"
    )
    recording = json.dumps(suite.run("--chatexp-record=none").recordings())
    assert KEY not in recording and "gemini-2.5-flash:streamGenerateContent" in recording
    monkeypatch.setenv("GEMINI_BASE_URL", DEAD)
    monkeypatch.delenv("GEMINI_API_KEY")
    replayed = suite.run("--chatexp-record=none")
    replayed.assert_outcomes(passed=1).fnmatch("*2 calls (2 replayed, 0 live)*").assert_clean()
    assert len(gemini.requests) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_cached_content_is_priced_at_the_built_in_cache_read_rate(
    suite: Suite, gemini: ReferenceServer, stream: bool
) -> None:
    # No chatexp_prices: gemini-2.5-flash is priced from the built-in table.
    gemini.add_rule(
        lambda request: Reply(
            "ok",
            usage={
                "promptTokenCount": 100_000,
                "candidatesTokenCount": 1_000,
                "cachedContentTokenCount": 80_000,
            },
        ),
        when="cacheme",
    )
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "cacheme"}])
def test_cached(chatexp):
    usage = chatexp.samples[0].usage
    assert (usage.prompt_tokens, usage.cached_tokens) == (100_000, 80_000)
    # 20,000 uncached x $0.30 + 80,000 cached x $0.03 + 1,000 out x $2.50 per million.
    assert c.cost_of(chatexp) == pytest.approx(0.006 + 0.0024 + 0.0025)
    c.assert_samples(chatexp, c.cache_hit_rate(min=0.8))
""",
            "other={'stream': True}" if stream else "",
        )
    )
    run = suite.run(report=True).assert_outcomes(passed=1).assert_clean()
    (row,) = run.report["tests"][0]["experiments"][0]["configs"]
    assert row["cost_usd"] == pytest.approx(0.0109)
    assert row["cached_tokens"] == 80_000
