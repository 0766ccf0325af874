"""A tool loop with a scripted follow-up, run for real against the reference server: the
snapshot and the JSON, Markdown and HTML reports each show its tool calls, the tools' results
(the failed one marked) and the final answer, and replaying it gives the same snapshot, byte for
byte."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply
from tests._suite import REPORTS, Run, Suite

SOURCE = """
import pytest
from pytest_chatexp import ModelConfig, Tool

def lookup_order(order_id: str):
    return {"id": order_id, "status": "delivered"}

ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
CONFIG = ModelConfig(
    name="agent", model="gpt-4o-mini",
    tools=[Tool(name="lookup_order", parameters=ORDER, handler=lookup_order),
           Tool(name="issue_refund", raises="payment service down <b>")],
    chat_template=[{"role": "system", "content": "You help customers."}],
)

@pytest.mark.chatexp(model_configs=[CONFIG],
                     inputs=[{"id": "refund", "turns": ["Refund order 7 please", "Thanks, anything else?"]}])
def test_agent(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot
"""

FOLLOW_UP = "Thanks, anything else?"


def agent(request: dict[str, Any]) -> Reply:
    """The model under test: looks the order up, tries the refund, answers with what the tools
    said; answers a second user message on its own."""
    messages = request["messages"]
    results = [message["content"] for message in messages if message["role"] == "tool"]
    users = [message["content"] for message in messages if message["role"] == "user"]
    if len(users) > 1:
        return Reply(text=f"You're welcome. ({users[-1]})")
    if not results:
        return Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "7"})])
    if len(results) == 1:
        return Reply(
            tool_calls=[ToolCallReply("issue_refund", {"reason": "late", "order_id": "7"})]
        )
    return Reply(text=f"Order 7: {results[0]}\nThe refund failed: {results[1]}")


LOOKUP_RESULT = '{"id": "7", "status": "delivered"}'
REFUND_ERROR = "Error: payment service down <b>"
ANSWER = f"Order 7: {LOOKUP_RESULT}\nThe refund failed: {REFUND_ERROR}"
FINAL = f"You're welcome. ({FOLLOW_UP})"


@pytest.fixture
def recorded(suite: Suite, recording_session: ReferenceServer) -> Run:
    """The suite's run that recorded the experiment and wrote its snapshot and reports."""
    recording_session.add_rule(agent)
    suite.write(SOURCE, name="test_turns.py")
    return suite.run("--chatexp-record=all", "--snapshot-update", *REPORTS).assert_outcomes(
        passed=1
    )


def _snapshot(run: Run) -> bytes:
    return (
        run.path / "__snapshots__" / "test_turns" / "test_agent[experiment].chatexp"
    ).read_bytes()


def test_the_snapshot_shows_the_tool_loop_and_replays_byte_identical(
    recorded: Run, suite: Suite, recording_session: ReferenceServer
) -> None:
    text = _snapshot(recorded).decode()
    sample = text[text.index("#### sample 0") :]
    assert sample.startswith("#### sample 0: finish_reason stop, ")
    assert sample.splitlines()[0].endswith(" generation tokens, 4 turns")
    assert sample.split("\n", 1)[1] == (
        "user:\n"
        "  Refund order 7 please\n"
        "turn 1, assistant:\n"
        '  tool call: lookup_order {"order_id":"7"}\n'
        "  tool result: lookup_order\n"
        f"    {LOOKUP_RESULT}\n"
        "turn 2, assistant:\n"
        '  tool call: issue_refund {"order_id":"7","reason":"late"}\n'
        "  tool result (error): issue_refund\n"
        f"    {REFUND_ERROR}\n"
        "turn 3, assistant:\n"
        + "".join(f"  {line}\n" for line in ANSWER.splitlines())
        + f"user:\n  {FOLLOW_UP}\n"
        "turn 4, assistant (final answer):\n"
        f"  {FINAL}\n"
    )
    calls = len(recording_session.requests)
    # Replayed: the same view compares equal, and rewriting it changes no byte.
    suite.run("--chatexp-record=none").assert_outcomes(passed=1)
    suite.run("--chatexp-record=none", "--snapshot-update").assert_outcomes(passed=1)
    assert _snapshot(recorded) == text.encode()
    assert len(recording_session.requests) == calls  # no call went out


def test_the_json_report_holds_each_turn(recorded: Run) -> None:
    report, _, _ = recorded.reports()
    (case,) = report["tests"][0]["experiments"][0]["cases"]
    (sample,) = case["samples"]
    turns = sample["turns"]
    assert [turn["speaker"] for turn in turns] == ["assistant"] * 4
    assert [turn["user"] for turn in turns] == [["Refund order 7 please"], [], [], [FOLLOW_UP]]
    assert [turn["tool_calls"] for turn in turns] == [
        [{"name": "lookup_order", "arguments": '{"order_id":"7"}'}],
        [{"name": "issue_refund", "arguments": '{"order_id":"7","reason":"late"}'}],
        [],
        [],
    ]
    assert [turn["tool_results"] for turn in turns] == [
        [{"name": "lookup_order", "result": LOOKUP_RESULT, "error": False}],
        [{"name": "issue_refund", "result": REFUND_ERROR, "error": True}],
        [],
        [],
    ]
    assert [turn["output"] for turn in turns] == ["", "", ANSWER, FINAL]
    assert all(turn["latency_s"] >= 0 and turn["usage"]["total_tokens"] > 0 for turn in turns)
    assert sum(turn["usage"]["total_tokens"] for turn in turns) == sample["usage"]["total_tokens"]
    # The case's chat response keeps its shape: the final answer, every tool result.
    (data,) = case["chat_response"]["data"]
    assert data["output"] == FINAL
    assert [item["result"] for item in data["tool_results"]] == [LOOKUP_RESULT, REFUND_ERROR]


def test_the_html_report_shows_the_transcript(recorded: Run) -> None:
    _, _, page = recorded.reports()
    assert "#0 · 4 turns · finish: stop" in page
    (details,) = re.findall(r'<details class="transcript">.*?</details>', page, re.S)
    assert "<summary>Transcript: 4 turns, 2 tool calls</summary>" in details
    assert '<pre class="message">Refund order 7 please</pre>' in details
    assert '<code class="tool-name">lookup_order</code><pre class="tool-args">' in details
    assert "{&quot;id&quot;: &quot;7&quot;, &quot;status&quot;: &quot;delivered&quot;}" in details
    assert (
        '<code class="tool-name">issue_refund</code> <span class="badge fail">error</span>'
        '<pre class="tool-out">Error: payment service down &lt;b&gt;</pre>' in details
    )
    assert "turn 4, assistant (final answer)" in details
    assert "You&#x27;re welcome. (Thanks, anything else?)" in details


def test_the_markdown_report_shows_the_transcript(recorded: Run) -> None:
    _, markdown, _ = recorded.reports()
    section = markdown[markdown.index("### Transcripts") :]
    assert "<code>test_turns.py::test_agent</code> · <code>agent</code> &times; " in section
    assert "sample 0 · 4 turns</summary>" in section
    for line in (
        "- **user:** Refund order 7 please",
        '  - `lookup_order({"order_id":"7"})` → `{"id": "7", "status": "delivered"}`',
        '  - `issue_refund({"order_id":"7","reason":"late"})` → **error** '
        "`Error: payment service down <b>`",
        f"- **user:** {FOLLOW_UP}",
        "- **turn 4, assistant (final answer):** You're welcome. (Thanks, anything else?)",
    ):
        assert f"\n{line}\n" in section, line
