"""The model's reasoning in the reports, over real HTTP: Anthropic thinking (a single call and a
tool loop) is carried as a typed field of the JSON report's samples and turns, and shown in the
Markdown and HTML reports collapsed under a "reasoning" label, escaped; a run without reasoning
writes no such field and shows none."""

from __future__ import annotations

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply
from tests._suite import REPORTS, Suite

SOURCE = """
import pytest
from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp import checks as c

THINKER = ModelConfig(name="thinker", provider="anthropic", model="an-model", max_tokens=4000,
                      reasoning={"budget_tokens": 2000},
                      chat_template=[{"role": "user", "content": "think <b>{{q}}</b>"}])
AGENT = THINKER.variant(name="agent", chat_template=[{"role": "user", "content": "weather {{q}}"}],
                        tools=[Tool(name="get_weather", parameters={"type": "object"},
                                    returns="sunny")])

@pytest.mark.chatexp(model_configs=[THINKER], inputs=[{"q": "hard"}])
def test_single(chatexp):
    c.assert_samples(chatexp, c.contains("nowhere in the answer"))

@pytest.mark.chatexp(model_configs=[AGENT], inputs=[{"q": "Paris"}])
def test_loop(chatexp):
    c.assert_samples(chatexp, c.called("get_weather"))
"""

THOUGHT = "Thinking within 2000 tokens about: think <b>hard</b>"


def _weather_agent(request: dict[str, object]) -> Reply:
    messages = request["messages"]
    assert isinstance(messages, list)
    if any(m["role"] == "tool" for m in messages):
        return Reply("It is sunny.")
    return Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})])


def test_reasoning_is_in_every_report(
    suite: Suite, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    server.add_rule(_weather_agent, when="weather")
    run = suite.write(SOURCE).run(*REPORTS).assert_outcomes(passed=1, failed=1)
    report, markdown, html = run.reports()
    tests = {test["test"].split("::")[-1]: test for test in report["tests"]}
    (single,) = tests["test_single"]["experiments"][0]["cases"][0]["samples"]
    assert single["reasoning"] == THOUGHT
    (loop,) = tests["test_loop"]["experiments"][0]["cases"][0]["samples"]
    turns = loop["turns"]
    assert [turn["reasoning"].split(" about")[0] for turn in turns] == [
        "Thinking within 2000 tokens"
    ] * 2
    assert loop["reasoning"] == "\n\n".join(turn["reasoning"] for turn in turns)
    # Markdown: beside the failing answer, and in the tool loop's transcript; escaped.
    assert (
        "<details><summary>reasoning</summary>Thinking within 2000 tokens about: think "
        "&lt;b&gt;hard&lt;/b&gt;</details>" in markdown
    )
    assert markdown.count("<summary>reasoning</summary>") == 3
    assert "<b>hard</b></details>" not in markdown  # (the failure text shows it, fenced)
    # HTML: collapsed under its label, escaped, once per sample or turn.
    assert html.count('<details class="reasoning"><summary>reasoning</summary>') == 3
    assert (
        '<pre class="reasoning">Thinking within 2000 tokens about: think &lt;b&gt;hard'
        "&lt;/b&gt;</pre>" in html
    )
    assert "<b>hard" not in html


def test_a_run_without_reasoning_shows_none(suite: Suite, server: ReferenceServer) -> None:
    plain = SOURCE.replace('provider="anthropic", ', "").replace(
        'reasoning={"budget_tokens": 2000},', ""
    )
    server.add_rule(_weather_agent, when="weather")
    run = suite.write(plain).run(*REPORTS).assert_outcomes(passed=1, failed=1)
    report, markdown, html = run.reports()
    samples = [
        sample
        for test in report["tests"]
        for case in test["experiments"][0]["cases"]
        for sample in case["samples"]
    ]
    assert len(samples) == 2
    assert all("reasoning" not in sample for sample in samples)
    assert all("reasoning" not in turn for turn in samples[0].get("turns", []))
    assert "reasoning" not in markdown
    assert '<details class="reasoning"' not in html
