"""The HTML viewer through pytest, as a user runs it: a split test's items are one matrix, and
after a re-recording the viewer shows each changed answer beside the one it replaced (carried
through the JSON report, so a merged report shows it too); in headless Chromium when present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_chatexp.report import main as report_main
from pytest_chatexp.testing import ReferenceServer
from tests.unit.reports.test_html import CHROMIUM, CHROMIUM_ARGS, parse

SPLIT = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

ALPHA = ModelConfig(name="alpha", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "{{q}}"}])
BETA = ALPHA.variant(name="beta", chat_template=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{q}}"}])
INPUTS = [{"id": "hello", "q": "say hello"}, {"id": "refund", "q": "how long do refunds take"}]

@pytest.mark.chatexp(model_configs=[ALPHA, BETA], inputs=INPUTS, split="cases")
def test_split(chatexp):
    c.assert_samples(chatexp, c.contains("days"))
"""


def test_a_split_test_is_one_matrix(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    server.add_rule("Refunds take 14 days.", when="refunds")
    pytester.makepyfile(test_suite=SPLIT)
    result = pytester.runpytest("--chatexp-json=r.json", "--chatexp-html=r.html")
    result.assert_outcomes(passed=2, failed=2)  # "hello" has no days in it, under both configs
    report = json.loads((pytester.path / "r.json").read_text())
    assert len(report["tests"]) == 4  # one item per case
    parsed = parse((pytester.path / "r.html").read_text())
    assert parsed.tags["table"] == 2  # one matrix and its configs' table, for four items
    assert parsed.columns == ["alpha", "beta"]
    assert sorted(parsed.rows) == ["hello", "refund"]
    assert "folded from 4 items" in (pytester.path / "r.html").read_text()


REFUNDS = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

ALPHA = ModelConfig(name="alpha", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "{{q}}"}])
BETA = ALPHA.variant(name="beta", chat_template=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(model_configs=[ALPHA, BETA], inputs=[{"id": "refund", "q": "refunds?"}])
def test_refunds(chatexp):
    c.assert_samples(chatexp, c.contains("days"))
"""


def test_a_rerecorded_answer_is_shown_beside_the_one_it_replaced(
    pytester: pytest.Pytester, recording_session: ReferenceServer, tmp_path: Path
) -> None:
    server = recording_session
    pytester.makepyfile(test_refunds=REFUNDS)
    server.add_rule("Refunds take 30 days.", when=lambda request: len(request["messages"]) == 1)
    server.add_rule("Refunds take 30 days.")
    pytester.runpytest("--chatexp-record=once").assert_outcomes(passed=1)
    server.clear_rules()
    # Re-recorded, alpha answers anew; beta's answer is the same as before.
    server.add_rule("Refunds take 14 days.", when=lambda request: len(request["messages"]) == 1)
    server.add_rule("Refunds take 30 days.")
    result = pytester.runpytest("--chatexp-record=all", "--chatexp-json=r.json")
    result.assert_outcomes(passed=1)

    report = json.loads((pytester.path / "r.json").read_text())
    changes = {change["config"]: change for change in report["tests"][0]["changes"]}
    assert changes["alpha"]["old_output"] == "Refunds take 30 days."
    assert changes["alpha"]["new_output"] == "Refunds take 14 days."
    assert changes["beta"]["old_output"] == changes["beta"]["new_output"]
    # The page is rendered from the JSON report: a merged or re-rendered report shows it too.
    assert report_main(["html", str(pytester.path / "r.json"), "-o", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert '<tr class="case-row f-chg f-dif" data-status="pass"' in page
    assert page.count('<span class="badge changed"') == 1  # alpha's; beta: "re-recorded"
    assert '<div class="ba-old"><span class="ba-label">recorded before</span>' in page
    assert '<pre class="output">Refunds take 30 days.</pre>' in page

    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} for the rest")
    from playwright.sync_api import sync_playwright

    chosen = os.environ.get("CHATEXP_ARTIFACTS")
    artifacts = Path(chosen) / "rerecorded" if chosen else tmp_path / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            view = browser.new_page(viewport={"width": 1280, "height": 900})
            view.goto((tmp_path / "r.html").as_uri())
            view.get_by_label("Changed since recording", exact=True).check()
            row = view.locator("tr.case-row")
            assert row.is_visible()
            alpha = row.locator("td.cell").first
            alpha.locator("details.more > summary").click()
            assert "Refunds take 30 days." in alpha.locator(".ba-old").inner_text()
            assert "Refunds take 14 days." in alpha.locator(".ba-new").inner_text()
            row.screenshot(path=str(artifacts / "rerecorded.png"))
        finally:
            browser.close()
    print(f"screenshot in {artifacts}")
