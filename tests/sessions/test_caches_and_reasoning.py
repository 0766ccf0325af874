"""Prompt caches and reasoning over real HTTP: cached tokens priced at their own rates (OpenAI
and Anthropic), the cache hit-rate check, the reasoning setting as each provider receives it,
Anthropic's thinking text kept, recorded and replayed offline."""

from __future__ import annotations

import json

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply

PRICES = """
[pytest]
chatexp_prices =
    oa-model 10 100 1
    an-model 3 15 0.3 3.75
"""

CACHE_SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

TEMPLATE = [{"role": "user", "content": "cacheme {{q}}"}]
OPENAI = ModelConfig(name="oa", model="oa-model", chat_template=TEMPLATE)
ANTHROPIC = ModelConfig(name="an", provider="anthropic", model="an-model", max_tokens=64,
                        chat_template=TEMPLATE)

@pytest.mark.chatexp(model_configs=[OPENAI, ANTHROPIC], inputs=[{"q": "a"}])
def test_cached(chatexp):
    by_config = {case.config.name: case.samples[0].usage for case in chatexp.cases}
    assert by_config["oa"].cached_tokens == 8000 and by_config["oa"].cache_write_tokens is None
    assert (by_config["an"].cached_tokens, by_config["an"].cache_write_tokens) == (8000, 1000)
    assert by_config["an"].prompt_tokens == 10000  # input + cache reads + cache writes
    assert c.cost_of(chatexp) == pytest.approx(0.128 + 0.02415)
    c.assert_samples(chatexp, c.cache_hit_rate(min=0.75))
"""


def _cache_rules(server: ReferenceServer) -> None:
    openai = {
        "prompt_tokens": 10000,
        "completion_tokens": 1000,
        "prompt_tokens_details": {"cached_tokens": 8000},
    }
    anthropic = {
        "prompt_tokens": 1000,
        "completion_tokens": 1000,
        "cache_read_input_tokens": 8000,
        "cache_creation_input_tokens": 1000,
    }

    def reply(request: dict[str, object]) -> Reply:
        return Reply("ok", usage=anthropic if request.get("model") == "an-model" else openai)

    server.add_rule(reply, when="cacheme")


def test_cached_tokens_are_priced_at_their_rates(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    _cache_rules(server)
    pytester.makeini(PRICES)
    pytester.makepyfile(test_suite=CACHE_SUITE)
    result = pytester.runpytest("--chatexp-json=report.json")
    result.assert_outcomes(passed=1)
    # OpenAI: 2000 uncached x $10 + 8000 cached x $1 + 1000 out x $100 per million = $0.128;
    # Anthropic: 1000 x $3 + 8000 read x $0.30 + 1000 written x $3.75 + 1000 out x $15 = $0.02415.
    report = json.loads((pytester.path / "report.json").read_text())
    rows = {row["name"]: row for row in report["tests"][0]["experiments"][0]["configs"]}
    assert rows["oa"]["cost_usd"] == pytest.approx(0.128)
    assert rows["an"]["cost_usd"] == pytest.approx(0.02415)
    result.stdout.fnmatch_lines(["total: 1 experiment, 2 calls*, $0.1522"])


def test_a_low_cache_hit_rate_fails_the_check(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    _cache_rules(server)
    pytester.makeini(PRICES)
    pytester.makepyfile(test_suite=CACHE_SUITE.replace("min=0.75", "min=0.9"))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cache hit rate 0.80 < 0.9*"])


REASONING_SUITE = """
import pytest
from pytest_chatexp import ModelConfig, Reasoning, Tool
from pytest_chatexp import checks as c

TEMPLATE = [{"role": "user", "content": "think {{q}}"}]
OPENAI = ModelConfig(name="oa", model="o-model", reasoning=Reasoning(effort="high"),
                     chat_template=TEMPLATE)
THINKER = ModelConfig(name="an", provider="anthropic", model="an-model", max_tokens=4000,
                      reasoning={"budget_tokens": 2000}, chat_template=TEMPLATE)
STREAMED = THINKER.variant(name="an-stream", other={"stream": True})
AGENT = THINKER.variant(name="an-agent", reasoning={"effort": "low"}, chat_template=[
    {"role": "user", "content": "weather {{q}}"}],
    tools=[Tool(name="get_weather", parameters={"type": "object"}, returns="sunny")])

@pytest.mark.chatexp(model_configs=[OPENAI, THINKER, STREAMED], inputs=[{"q": "hard"}])
def test_reasoning(chatexp, chatexp_snapshot):
    by_config = {case.config.name: case.samples[0] for case in chatexp.cases}
    assert by_config["oa"].reasoning is None
    for name in ("an", "an-stream"):
        assert by_config[name].reasoning == "Thinking within 2000 tokens about: think hard"
        assert by_config[name].output == "echo: think hard"
        assert by_config[name].usage.reasoning_tokens is None  # Anthropic counts none apart
    assert chatexp == chatexp_snapshot

@pytest.mark.chatexp(model_configs=[AGENT], inputs=[{"q": "Paris"}])
def test_thinking_in_a_tool_loop(chatexp):
    c.assert_samples(chatexp, c.called("get_weather"), c.final_answer(c.contains("sunny")))
    (sample,) = chatexp.samples
    assert sample.turns[0].reasoning.startswith("Thinking within 2048 tokens")
    assert sample.reasoning.count("Thinking within 2048 tokens") == 2
"""


def _weather_agent(request: dict[str, object]) -> Reply:
    messages = request["messages"]
    assert isinstance(messages, list)
    results = [m["content"] for m in messages if m["role"] == "tool"]
    if results:
        return Reply(f"It is {results[-1]}.")
    return Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})])


def test_reasoning_is_sent_per_provider_and_thinking_is_kept_and_replayed(
    pytester: pytest.Pytester, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = recording_session
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    server.add_rule(_weather_agent, when="weather")
    pytester.makepyfile(test_suite=REASONING_SUITE)
    recorded = pytester.runpytest("--chatexp-record=all", "--snapshot-update")
    recorded.assert_outcomes(passed=2)
    bodies = [request.json for request in server.requests]
    # The server saw each provider's own setting.
    openai = [body for body in bodies if body["model"] == "o-model"]
    assert [body["reasoning_effort"] for body in openai] == ["high"]
    assert all("thinking" not in body for body in openai)
    thinking = [body["thinking"] for body in bodies if body["model"] == "an-model"]
    assert {"type": "enabled", "budget_tokens": 2000} in thinking
    assert {"type": "enabled", "budget_tokens": 2048} in thinking  # effort "low"
    # The tool loop's second call sent the first turn's thinking block back, signed, first.
    (second,) = [
        body for body in bodies if body["model"] == "an-model" and len(body["messages"]) == 3
    ]
    assistant = second["messages"][1]["content"]
    assert [block["type"] for block in assistant] == ["thinking", "tool_use"]
    assert assistant[0]["signature"].startswith("sig_")
    snapshot = next(pytester.path.rglob("*.chatexp")).read_text()
    assert "reasoning:\n  Thinking within 2000 tokens about: think hard" in snapshot
    assert 'reasoning: {"budget_tokens": 2000}' in snapshot
    # Offline: the reasoning comes from the recording.
    server.requests.clear()
    pytester.runpytest("--chatexp-record=none").assert_outcomes(passed=2)
    assert not server.requests


def test_a_setting_a_provider_cannot_take_is_an_error_naming_the_config(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        test_budget="""
import pytest
from pytest_chatexp import ModelConfig

@pytest.mark.chatexp(model_configs=[ModelConfig(name="budgeted", model="m",
    reasoning={"budget_tokens": 500}, chat_template=[{"role": "user", "content": "hi"}])])
def test_budget(chatexp):
    pass
""",
        test_tight="""
from pytest_chatexp import ModelConfig

TIGHT = ModelConfig(name="tight", provider="anthropic", model="m", max_tokens=1000,
    reasoning={"effort": "medium"}, chat_template=[{"role": "user", "content": "hi"}])
""",
    )
    # Chat completions have no thinking budget: refused when the call is built, before sending.
    budget = pytester.runpytest("test_budget.py")
    budget.assert_outcomes(errors=1)
    budget.stdout.fnmatch_lines(
        [
            "*model config 'budgeted': reasoning sets only budget_tokens, which OpenAI chat "
            "completions cannot take*"
        ]
    )
    # Anthropic's max_tokens must exceed the budget: said when the config is declared.
    tight = pytester.runpytest("test_tight.py")
    assert tight.ret == pytest.ExitCode.INTERRUPTED
    tight.stdout.fnmatch_lines(
        [
            "*model config 'tight': Anthropic requires max_tokens (1000) to be greater than the "
            "thinking budget (8192 tokens, from reasoning={'effort': 'medium'}); raise max_tokens*"
        ]
    )
    assert not server.requests
