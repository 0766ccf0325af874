"""Prompt caches and reasoning over real HTTP: cached tokens priced at their own rates (OpenAI
and Anthropic), the cache hit-rate check, the reasoning setting as each provider receives it,
Anthropic's thinking text kept, recorded and replayed offline."""

from __future__ import annotations

import json

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply

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
