"""The HTML report: escaping, determinism and contents, end to end through pytest, and in a real
headless browser (Debian's chromium, driven by Playwright; skipped only where it is absent)."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp._reports._entries import read_run
from pytest_chatexp._reports._html import render_html as render_run
from pytest_chatexp._reports._run import build_run_report
from pytest_chatexp.report import main as report_main
from pytest_chatexp.testing import ReferenceServer
from tests._suite import record_of


def render_html(report: Any) -> str:
    """The page for a run report, read as the report files are."""
    return render_run(read_run(report))


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

XSS = '<script>alert(1)</script></script><img src=x onerror="window.__xss=1"><!--'
ODD_CONFIG = 'beta <b>&</b> "q"'
ODD_INPUT = "xss </script>"


def _sample(index: int, *, failure: str | None = None, checked: bool = True) -> dict[str, Any]:
    return {
        "index": index,
        "latency_s": 0.05 + index / 100,
        "replayed": index % 2 == 0,
        "cost_usd": 0.0000066,
        "checked": checked,
        "failure": failure,
    }


def _case(
    config: str, input_id: str, outputs: list[str], samples: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    data = [
        {
            "index": index,
            "output": output,
            "finish_reason": extra.get("finish_reason", "stop"),
            "inputs": {"id": input_id, "question": f"Q about {input_id}\nsecond line"},
            "messages": [{"role": "user", "content": f"Q about {input_id}"}],
            "tool_calls": extra.get("tool_calls"),
        }
        for index, output in enumerate(outputs)
    ]
    return {
        "config": config,
        "input": input_id,
        "chat_response": {
            "data": data,
            "num_samples": len(data),
            "usage": {"prompt_tokens": 12, "generation_tokens": 8, "total_tokens": 20},
        },
        "samples": samples,
    }


def _row(name: str, *, checked: int, passed: int, cost: float | None = 0.0000132) -> dict[str, Any]:
    return {
        "name": name,
        "model": "gpt-4o-mini",
        "model_config_id": f"config_{name[:4].strip()}",
        "samples": 4,
        "checked": checked,
        "passed": passed,
        "prompt_tokens": 24,
        "generation_tokens": 16,
        "total_tokens": 40,
        "cost_usd": cost,
        "latency_p50_s": 0.051,
        "latency_p95_s": 1.25,
        "replayed": 2,
        "live": 2,
    }


def make_report() -> dict[str, Any]:
    """Two tests: a matrix with a failing cell (and hostile text everywhere), and one that passes."""
    tool_call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup</script>", "arguments": json.dumps({"order": XSS})},
    }
    failing = {
        "test": "suite.py::test_matrix",
        "outcome": "failed",
        "failure": f"AssertionError: 1 of 4 cases fail\n  output was {XSS}",
        "changes": [
            {
                "config": "concise",
                "input": "greeting",
                "sample": 0,
                "new": False,
                "old_total_tokens": 18,
                "new_total_tokens": 20,
            },
        ],
        "experiments": [
            {
                "test": "suite.py::test_matrix",
                "wall_time_s": 0.42,
                "configs": [
                    _row("concise", checked=4, passed=4),
                    _row(ODD_CONFIG, checked=2, passed=1, cost=None),
                ],
                "cases": [
                    _case(
                        "concise",
                        "greeting",
                        ["Hello!\n  indented line", "Hi."],
                        [_sample(0), _sample(1)],
                    ),
                    _case(
                        "concise",
                        ODD_INPUT,
                        [XSS, ""],
                        [_sample(0), _sample(1)],
                        tool_calls=[tool_call],
                        finish_reason="tool_call",
                    ),
                    _case(
                        ODD_CONFIG,
                        "greeting",
                        ["nope", "Hello"],
                        [
                            _sample(0, failure=f"contains('Hello'): does not contain {XSS}"),
                            _sample(1),
                        ],
                    ),
                    _case(
                        ODD_CONFIG,
                        ODD_INPUT,
                        ["x", "y"],
                        [_sample(0, checked=False), _sample(1, checked=False)],
                    ),
                ],
            }
        ],
    }
    passing = {
        "test": "suite.py::test_all_pass",
        "outcome": "passed",
        "failure": None,
        "changes": [],
        "experiments": [
            {
                "test": "suite.py::test_all_pass",
                "wall_time_s": 0.1,
                "configs": [_row("solo", checked=2, passed=2)],
                "cases": [_case("solo", "only", ["fine", "fine too"], [_sample(0), _sample(1)])],
            }
        ],
    }
    return build_run_report([record_of(failing), record_of(passing)], record_mode="once")


class _Page(HTMLParser):
    """Tag counts, link targets, and the text of matrix headers and failures."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, int] = {}
        self.columns: list[str] = []
        self.rows: list[str] = []
        self.failure_texts: list[str] = []
        self.urls: list[str] = []
        self._into: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        classes = (dict(attrs).get("class") or "").split()
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "action")]
        for name, texts in (
            ("config-head", self.columns),
            ("input-id", self.rows),
            ("failure-text", self.failure_texts),
        ):
            if name in classes:
                texts.append("")
                self._into = texts

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "span", "pre"):
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[-1] += data


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


# -- unit ---------------------------------------------------------------------------------------


def test_report_text_is_escaped_and_cannot_break_out() -> None:
    page = render_html(make_report())
    # One script element, the page's own: nothing from the report opened or closed one.
    assert len(re.findall(r"<script", page, re.IGNORECASE)) == 1
    assert len(re.findall(r"</script", page, re.IGNORECASE)) == 1
    assert "<img" not in page and "<!--" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/script&gt;&lt;img src=x" in page
    assert "onerror=&quot;window.__xss=1&quot;" in page
    parsed = parse(page)
    assert parsed.tags["script"] == 1 and parsed.tags.get("img", 0) == 0
    assert parsed.columns == ["solo", "concise", ODD_CONFIG]  # tests in report order
    # Tool-call arguments are pretty-printed JSON, still escaped.
    assert "&quot;order&quot;: &quot;&lt;script&gt;alert(1)" in page
    assert "lookup&lt;/script&gt;" in page


def test_same_report_gives_identical_bytes() -> None:
    report = make_report()
    first = render_html(report)
    assert render_html(copy.deepcopy(report)) == first
    assert render_html(json.loads(json.dumps(report))) == first
    assert report == make_report()  # rendering does not touch the report


def test_page_is_self_contained() -> None:
    page = render_html(make_report())
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    parsed = parse(page)
    assert all(url.startswith("#") for url in parsed.urls), parsed.urls
    assert parsed.tags.get("link", 0) == 0 and parsed.tags.get("img", 0) == 0
    for external in ("http://", "https://", "@import", "url("):
        assert external not in page, external


def test_matrix_stats_and_failures_are_shown() -> None:
    page = render_html(make_report())
    parsed = parse(page)
    assert parsed.columns == ["solo", "concise", ODD_CONFIG]  # tests in report order
    assert parsed.rows == ["only", "greeting", ODD_INPUT]
    assert len(parsed.failure_texts) == 1
    assert parsed.failure_texts[0].startswith(
        "AssertionError: 1 of 4 cases fail\n  output was <script>"
    )
    # Totals header.
    assert "<dt>Replayed / live</dt><dd>6 / 6</dd>" in page
    assert "<dt>Record mode</dt><dd>once</dd>" in page
    assert "<dt>Cost</dt><dd>unknown</dd>" in page  # one config has no price
    # Config rows: pass rate, cost, latencies.
    assert "4/4 (100%)" in page and "1/2 (50%)" in page
    assert "$0.0000132" in page and "51 ms" in page and "1.25 s" in page
    # Cells: statuses, the per-sample failure, tokens, tool calls, finish reasons.
    assert page.count('<td class="cell fail" data-status="fail"') == 1
    assert page.count('<td class="cell pass" data-status="pass"') == 3
    assert page.count('<td class="cell unchecked" data-status="unchecked"') == 1
    assert "1/2 failing" in page
    assert "contains(&#x27;Hello&#x27;): does not contain &lt;script&gt;" in page
    assert "12 / 8 / 20 tokens" in page and "finish: tool_call" in page
    assert '<pre class="output">Hello!\n  indented line</pre>' in page
    assert "18 → 20" in page  # recording changes
    assert 'id="only-fail"' in page and 'id="search"' in page


def test_empty_and_sparse_reports_render() -> None:
    assert "0 tests, all passed" in render_html(build_run_report([], record_mode="none"))
    sparse = build_run_report(
        [
            record_of(
                {
                    "test": "t.py::x",
                    "outcome": "error",
                    "failure": None,
                    "changes": [],
                    "experiments": [{"test": "t.py::x", "wall_time_s": 0.0, "configs": []}],
                }
            )
        ],
        record_mode="off",
    )
    page = render_html(sparse)
    assert "No failure text recorded." in page and "No cases in this report" in page


def test_report_command_renders_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.json").write_text(json.dumps(make_report()))
    assert report_main(["html", str(tmp_path / "in.json"), "-o", str(tmp_path / "out.html")]) == 0
    assert "out.html (2 tests)" in capsys.readouterr().out
    assert (tmp_path / "out.html").read_text() == render_html(make_report())


# -- end to end ---------------------------------------------------------------------------------

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

ALPHA = ModelConfig(name="alpha", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "{{q}}"}])
BETA = ALPHA.variant(name="beta", chat_template=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{q}}"}])
INPUTS = [{"id": "hello", "q": "say hello"}, {"id": "angle", "q": "say <script>alert(1)</script>"}]

@pytest.mark.chatexp(model_configs=[ALPHA, BETA], inputs=INPUTS, num_samples=2)
def test_passing(chatexp):
    c.assert_samples(chatexp, c.contains("say"))

@pytest.mark.chatexp(model_configs=[ALPHA, BETA], inputs=INPUTS, num_samples=2)
def test_failing(chatexp):
    c.assert_samples(chatexp, c.contains("zzz"))
"""


def test_html_report_through_pytest(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--chatexp-html=out/report.html")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["chatexp: report written to out/report.html"])
    page = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    parsed = parse(page)
    assert parsed.columns == ["alpha", "beta"] * 2
    assert parsed.rows == ["hello", "angle"] * 2
    assert parsed.tags["script"] == 1
    assert "echo: say &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "test_suite.py::test_failing" in page and "test_suite.py::test_passing" in page
    (failure,) = parsed.failure_texts
    assert "4 of 4 cases fail" in failure and "contains('zzz')" in failure
    assert page.count('data-status="fail"><div class="sample-head">') == 8  # every sample failed
    assert "0 / 16" in page  # replayed / live: record mode off calls live
    assert "<dt>Record mode</dt><dd>off</dd>" in page


# -- real browser -------------------------------------------------------------------------------


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render_html(make_report()), encoding="utf-8")
    return path


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_report_in_headless_chromium(report_file: Path, tmp_path: Path) -> None:
    from playwright.sync_api import Dialog, Locator, sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            def on_dialog(dialog: Dialog) -> None:  # an alert() from the report would land here
                errors.append(f"dialog: {dialog.message}")
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report_file.as_uri())

            def row(input_id: str) -> Locator:
                return page.locator("tr.case-row").filter(
                    has=page.locator(f'.input-id:text-is("{input_id}")')
                )

            matrices = page.locator("table.matrix")
            assert matrices.count() == 2
            first = page.locator("section.test", has_text="test_matrix").locator("table.matrix")
            assert first.is_visible()
            assert first.locator("thead th.config-head").all_inner_texts() == [
                "concise",
                ODD_CONFIG,
            ]
            assert first.locator("tbody .input-id").all_inner_texts() == ["greeting", ODD_INPUT]
            assert page.locator("#controls").is_visible()
            assert page.evaluate("window.__xss") is None

            passing_cells = page.locator('td.cell[data-status="pass"]')
            failing_cell = page.locator('td.cell[data-status="fail"]')
            assert passing_cells.count() == 3 and all(c.is_visible() for c in passing_cells.all())

            page.get_by_label("Failing", exact=True).check()
            assert failing_cell.is_visible()
            assert failing_cell.locator("li.sample").count() == 2  # all its samples, for context
            assert row("greeting").is_visible()  # the whole row: its passing cell beside it
            assert row(ODD_INPUT).is_hidden()  # no failing cell
            assert page.locator("section.test", has_text="test_all_pass").is_hidden()
            assert page.locator("section.failures").is_visible()
            assert page.locator("#filter-status").inner_text() == "1 of 3 input rows shown"
            page.screenshot(path=str(tmp_path / "only-failing.png"), full_page=True)

            page.get_by_label("Failing", exact=True).uncheck()
            assert all(cell.is_visible() for cell in passing_cells.all())
            page.get_by_label("Search").fill("INDENTED line")
            assert row("greeting").is_visible()
            assert row(ODD_INPUT).is_hidden()
            assert page.locator("section.test", has_text="test_all_pass").is_hidden()
            page.get_by_label("Search").fill("no such text anywhere")
            assert page.locator("#no-match").is_visible()
            page.get_by_label("Search").fill("")

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requests == [report_file.as_uri()]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_report_reads_without_javascript(report_file: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(java_script_enabled=False)
            page.goto(report_file.as_uri())
            assert page.locator("table.matrix").first.is_visible()
            assert page.locator('td.cell[data-status="pass"]').first.is_visible()
            assert page.locator("#controls").is_hidden()  # the filter needs JavaScript
        finally:
            browser.close()
