"""The Markdown report as GitHub shows it: rendered by cmark-gfm (GitHub's own renderer) and laid
out in headless Chromium in a 900 px pane with GitHub's table styles, where no table may need a
horizontal scroll bar, however long the test ids, config and model names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.reports.test_html import CHROMIUM, CHROMIUM_ARGS
from tests.unit.reports.test_markdown import (
    MISS,
    MISSED,
    _case,
    _change,
    _render,
    _row,
    _test,
)

PANE_PX = 900
# GitHub's Markdown styles that decide a table's width (github-markdown-css): a table is a
# block that scrolls when its content is wider than the pane.
GITHUB_CSS = """
body { margin: 0; }
.markdown-body { width: PANEpx; box-sizing: border-box; padding: 16px; font-size: 14px;
  line-height: 1.5; word-wrap: break-word;
  font-family: -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
.markdown-body table { display: block; width: max-content; max-width: 100%; overflow: auto;
  border-spacing: 0; border-collapse: collapse; }
.markdown-body td, .markdown-body th { padding: 6px 13px; border: 1px solid #d1d9e0; }
.markdown-body code { font-size: 85%; padding: .2em .4em; white-space: break-spaces;
  font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, monospace; }
.markdown-body pre { overflow: auto; }
.markdown-body pre code { white-space: pre; }
""".replace("PANE", str(PANE_PX))

LONG_TEST = (
    "tests/llm/test_customer_support_agent.py::TestRefunds::test_refund_policy_is_followed"
    "[gpt-4o-mini-2024-07-18-temperature-0.7-refund-requested-after-thirty-days]"
)
LONG_CONFIG = "support-agent-v2-with-retrieval-and-guardrails-and-a-long-system-prompt"
LONG_MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0-us-east-1-inference-profile"


def report() -> str:
    """A report with every table the Markdown report writes, filled with long names."""
    failing = [
        _case(
            LONG_CONFIG,
            "refund-after-thirty-days-with-a-receipt",
            ["I cannot help."] * 2,
            ["contains('refund'): does not contain 'refund'", None],
        ),
        _case(LONG_CONFIG, "x" * 60, ["a|b " * 40] * 2, ["no", "no"]),
    ]
    return _render(
        _test(
            LONG_TEST,
            outcome="failed",
            failure="AssertionError: 2 of 2 cases fail",
            configs=[
                _row(LONG_CONFIG, model=LONG_MODEL, passed=1, cost=0.0123),
                _row("baseline", model=LONG_MODEL),
            ],
            cases=failing,
            changes=[
                _change(
                    LONG_CONFIG,
                    "refund-after-thirty-days-with-a-receipt",
                    0,
                    old=(1200, 300),
                    new=(1250, 340),
                )
            ],
        ),
        _test("test_support.py::test_support", outcome="error", failure=MISS, miss=MISSED),
        *[
            _test(f"{LONG_TEST[:-1]}-{n}]", configs=[_row(LONG_CONFIG, model=LONG_MODEL)])
            for n in range(12)
        ],
    )


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_every_table_fits_githubs_summary_pane(tmp_path: Path) -> None:
    import cmarkgfm
    from playwright.sync_api import sync_playwright

    markdown = report()
    assert LONG_TEST.split("::")[0].split("/")[-1].replace("_", "\\_") in markdown
    # The <details> of a long table opens in the browser, so its table is laid out too.
    body = cmarkgfm.github_flavored_markdown_to_html(
        markdown.replace("<details>", "<details open>"), options=cmarkgfm.Options.CMARK_OPT_UNSAFE
    )
    page_file = tmp_path / "summary.html"
    page_file.write_text(
        f"<!doctype html><meta charset=utf-8><style>{GITHUB_CSS}</style>"
        f'<article class="markdown-body">{body}</article>',
        encoding="utf-8",
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": PANE_PX, "height": 900})
            page.goto(page_file.as_uri())
            page_width = page.evaluate("document.documentElement.scrollWidth")
            widths = page.eval_on_selector_all(
                "table",
                "tables => tables.map(t => [t.scrollWidth, t.clientWidth,"
                " t.querySelector('th').textContent])",
            )
            page.screenshot(path=str(tmp_path / "summary.png"), full_page=True)
        finally:
            browser.close()
    assert len(widths) >= 3  # the experiments, failing cases and changed-fields tables at least
    too_wide = [(head, scroll, client) for scroll, client, head in widths if scroll > client]
    assert not too_wide, f"tables that scroll in a {PANE_PX} px pane: {too_wide}"
    assert page_width <= PANE_PX  # nor does anything else (a heading naming a long test id)
