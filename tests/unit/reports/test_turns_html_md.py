"""Transcripts in the HTML and Markdown reports: a tool loop's or a conversation's sample shows
its turns; a single call shows as it always did; every text is escaped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp._reports._entries import read_run
from pytest_chatexp._reports._html import render_html
from pytest_chatexp._reports._markdown import MAX_BYTES, render_markdown
from tests.unit.reports._turn_samples import (
    call,
    conversation,
    result,
    run_report,
    single,
    turn,
    user,
)
from tests.unit.reports.test_html import CHROMIUM, CHROMIUM_ARGS, parse
from tests.unit.reports.test_turns import simulated, tool_loop

XSS = '<script>alert(1)</script><img src=x onerror="x()"></details>'


def html(report: Any) -> str:
    return render_html(read_run(report))


def markdown(report: Any) -> str:
    return render_markdown(read_run(report))


def hostile() -> Any:
    """Every text a transcript shows, written to break out of it."""
    lookup = call(f"look{XSS}", '{"q": "</pre>|`x`"}')
    return conversation(
        [
            turn(f"say {XSS}", [lookup], [result(lookup, f"@team |{XSS}| ```", error=True)]),
            turn(f"done {XSS}"),
        ],
        prompt=(user(f"hi @team {XSS}"),),
    )


# -- HTML ---------------------------------------------------------------------------------------


def test_a_tool_loop_sample_shows_its_transcript_in_html() -> None:
    page = html(run_report(tool_loop()))
    assert "#0 · 3 turns · finish: stop" in page  # the number of turns, in the sample's head
    assert (
        '<pre class="output">I could not refund order 7.\nPlease try again tomorrow.</pre>' in page
    )
    (details,) = re.findall(r'<details class="transcript">.*?</details>', page, re.S)
    assert "<summary>Transcript: 3 turns, 2 tool calls</summary>" in details
    assert '<span class="role">user</span><pre class="message">help</pre>' in details
    assert '<span class="role">turn 1, assistant</span>' in details
    assert (
        '<code class="tool-name">lookup_order</code><pre class="tool-args">{\n  &quot;order_id'
        in details
    )
    assert '<pre class="tool-out">{&quot;status&quot;: &quot;delivered&quot;}</pre>' in details
    # The failed tool is marked, after its call.
    refund = details.index('<code class="tool-name">issue_refund</code><pre class="tool-args">')
    error = details.index(
        '<code class="tool-name">issue_refund</code> <span class="badge fail">error</span>'
    )
    assert refund < error
    assert '<li class="turn final">' in details and "turn 3, assistant (final answer)" in details
    assert "finish: tool_calls · 14 tokens · 250 ms" in details


def test_a_conversation_shows_the_simulated_users_turns_in_html() -> None:
    page = html(run_report(simulated()))
    (details,) = re.findall(r'<details class="transcript">.*?</details>', page, re.S)
    roles = re.findall(r'<span class="role">([^<]*)</span>', details)
    assert roles == [
        "turn 1, simulated user",
        "turn 2, assistant",
        "turn 3, simulated user",
        "turn 4, assistant (final answer)",
        "turn 5, simulated user",
    ]


def test_a_single_call_shows_no_transcript_in_html() -> None:
    page = html(run_report(single("Refunded."), single("Again.", index=1)))
    assert '<details class="transcript">' not in page and 'class="turn' not in page
    assert "#0 · finish: stop" in page and '<pre class="output">Refunded.</pre>' in page


def test_transcript_text_is_escaped_in_html() -> None:
    page = html(run_report(hostile()))
    parsed = parse(page)
    assert parsed.tags["script"] == 1 and parsed.tags.get("img", 0) == 0
    # The page's own (contents, configs, the cell's detail), the prompt's and the transcript's:
    # no text opened or closed one.
    assert parsed.tags["details"] == 5 and page.count("</details>") == 5
    assert '<pre class="message">hi @team &lt;script&gt;' in page
    assert "look&lt;script&gt;" in page and "&quot;q&quot;: &quot;&lt;/pre&gt;|`x`&quot;" in page


# -- Markdown -----------------------------------------------------------------------------------


def _transcripts(text: str) -> str:
    return text[text.index("### Transcripts") :]


def test_a_tool_loop_sample_is_a_details_block_in_markdown() -> None:
    section = _transcripts(markdown(run_report(tool_loop(), single(index=1))))
    assert section == (
        "### Transcripts\n\n1 sample took more than one model call or ran tools:\n\n"
        "<details><summary>✓ <code>t.py::test_agent</code> · <code>agent</code> &times; "
        "<code>refund</code> · sample 0 · 3 turns</summary>\n"
        "\n"
        "- **user:** help\n"
        "- **turn 1, assistant:**\n"
        '  - `lookup_order({"order_id":"7","verbose":true})` → `{"status": "delivered"}`\n'
        "- **turn 2, assistant:** Refunding now.\n"
        '  - `issue_refund({"order_id":"7"})` → **error** `Error: RuntimeError: payments down '
        "retry later`\n"
        "- **turn 3, assistant (final answer):** I could not refund order 7.<br>Please try "
        "again tomorrow.\n"
        "\n"
        "</details>\n"
    )


def test_failing_samples_come_first_with_their_failure() -> None:
    text = markdown(run_report(tool_loop(), tool_loop(index=1), failures={1: "contains('ok'): no"}))
    section = _transcripts(text)
    assert "2 samples took more than one model call or ran tools, failing first:" in section
    first, second = re.findall(r"<summary>(.*?)</summary>", section)
    assert first.startswith("✗ ") and "sample 1" in first
    assert second.startswith("✓ ") and "sample 0" in second
    assert "- **check failed:** contains('ok'): no\n" in section


def test_a_single_call_run_has_no_transcripts_section() -> None:
    text = markdown(run_report(single(), single(index=1)))
    assert "Transcripts" not in text and "<details>" not in text


def test_transcript_text_is_escaped_in_markdown() -> None:
    section = _transcripts(markdown(run_report(hostile())))
    # Code spans show their text as it is (a tool's name, arguments and result)...
    spans = re.findall(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", section)
    assert [text.strip() for _, text in spans] == [
        f'look{XSS}({{"q":"</pre>|`x`"}})',
        f"@team |{XSS}| ```",
    ]
    # ... and outside them, no text opens or closes HTML or mentions anyone.
    outside = re.sub(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", "", section)
    assert outside.count("<details>") == 1 and outside.count("</details>") == 1
    assert "<script" not in outside and "<img" not in outside
    assert "@team" not in outside and "@\u200bteam" in outside
    summary = re.search(r"<summary>(.*?)</summary>", section)
    assert summary is not None
    assert "<" not in summary.group(1).replace("<code>", "").replace("</code>", "")


def test_long_texts_are_clipped_and_many_samples_capped() -> None:
    tool = call("f", '{"a": "' + "y" * 500 + '"}')
    text = markdown(
        run_report(conversation([turn("x" * 1000, [tool], [result(tool, "w" * 500)]), turn("ok")]))
    )
    assert "x" * 299 + "…" in text and "x" * 300 not in text
    assert "y" * 150 in text and "y" * 160 not in text
    assert "w" * 159 + "…`" in text and "w" * 160 not in text
    many = [tool_loop(index=index) for index in range(25)]
    section = _transcripts(markdown(run_report(*many)))
    assert section.count("<details>") == 20
    assert "_... and 5 more: the HTML and JSON reports hold every transcript._" in section


def test_transcripts_are_the_first_left_out_of_a_long_report() -> None:
    big = [
        conversation(
            [turn("z" * 280, [call("f", "{}")], [result(call("f", "{}"), "r" * 150)])] * 20,
            index=index,
        )
        for index in range(20)
    ]
    text = markdown(run_report(*big))
    assert len(text.encode()) <= MAX_BYTES
    assert "### Experiments" in text and "<details>" in text
    assert text.rstrip().endswith("The JSON report (`--chatexp-json`) has everything._")
    assert "left out: transcripts." in text


# -- in a real browser --------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_a_transcript_opens_and_is_searched_in_headless_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    path.write_text(html(run_report(tool_loop(), single(index=1))), encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(path.as_uri())
            transcript = page.locator("details.transcript")
            assert transcript.count() == 1  # the loop's sample only
            error = transcript.locator(".tool-result.error")
            assert error.is_hidden()  # collapsed until asked for
            page.locator("td.cell", has=transcript).locator("details.more > summary").click()
            assert transcript.is_visible() and error.is_hidden()
            transcript.locator("summary").click()
            assert error.is_visible() and "payments down" in error.inner_text()
            assert transcript.locator("li.turn").count() == 4  # a user message, three turns
            # The search reads the transcript too.
            page.get_by_label("Search").fill("PAYMENTS DOWN")
            assert page.locator("tr.case-row").first.is_visible()
            page.get_by_label("Search").fill("no such text")
            assert page.locator("#no-match").is_visible()
        finally:
            browser.close()
