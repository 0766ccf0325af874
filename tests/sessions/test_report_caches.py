"""Prompt-cache counts in the reports, over real HTTP: each sample's usage and each config row
carry cache reads and writes when the provider reported them, a row or total is unknown (null)
when only some of its parts reported them, nothing is written for a provider that never does,
the merged shard report totals them the same way, and the Markdown and HTML reports show them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply

CACHED = {
    "prompt_tokens": 10000,
    "completion_tokens": 100,
    "prompt_tokens_details": {"cached_tokens": 8000},
}
ANTHROPIC = {
    "prompt_tokens": 1000,
    "completion_tokens": 100,
    "cache_read_input_tokens": 8000,
    "cache_creation_input_tokens": 1000,
}
SILENT = {"prompt_tokens": 10000, "completion_tokens": 100}  # a server that reports no cache

SUITE = """
import pytest
from pytest_chatexp import ModelConfig

TEMPLATE = [{"role": "user", "content": "{{who}} {{q}}"}]
OPENAI = ModelConfig(name="oa", model="oa-model", chat_template=TEMPLATE)
ANTHROPIC = ModelConfig(name="an", provider="anthropic", model="an-model", max_tokens=64,
                        chat_template=TEMPLATE)

@pytest.mark.chatexp(model_configs=[OPENAI, ANTHROPIC], inputs=[{"who": "cached", "q": "a"},
                                                                {"who": "cached", "q": "b"}])
def test_cached(chatexp):
    pass

@pytest.mark.chatexp(model_configs=[OPENAI], inputs=[{"who": "cached", "q": "a"},
                                                     {"who": "silent", "q": "b"}])
def test_mixed(chatexp):
    pass
"""


def _usage(request: dict[str, object]) -> Reply:
    if request.get("model") == "an-model":
        return Reply("ok", usage=ANTHROPIC)
    text = json.dumps(request)
    return Reply("ok", usage=SILENT if "silent" in text else CACHED)


def test_cache_counts_are_in_the_json_markdown_html_and_merged_reports(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    server.add_rule(_usage, when="cached")
    server.add_rule(_usage, when="silent")
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(
        "-k",
        "cached",
        "--chatexp-json=cached.json",
        "--chatexp-markdown=cached.md",
        "--chatexp-html=cached.html",
    ).assert_outcomes(passed=1)
    report = json.loads((pytester.path / "cached.json").read_text())
    (experiment,) = report["tests"][0]["experiments"]
    rows = {row["name"]: row for row in experiment["configs"]}
    # OpenAI reports cache reads only: no cache-write field at all (not a zero).
    assert rows["oa"]["cached_tokens"] == 16000 and "cache_write_tokens" not in rows["oa"]
    assert (rows["an"]["cached_tokens"], rows["an"]["cache_write_tokens"]) == (16000, 2000)
    usages = {case["config"]: case["samples"][0]["usage"] for case in experiment["cases"]}
    assert usages["oa"]["cached_tokens"] == 8000 and "cache_write_tokens" not in usages["oa"]
    assert (usages["an"]["cached_tokens"], usages["an"]["cache_write_tokens"]) == (8000, 1000)
    # Totals: reads are known for every row; writes are not (OpenAI's are unknown).
    assert report["totals"]["cached_tokens"] == 32000
    assert report["totals"]["cache_write_tokens"] is None
    markdown = (pytester.path / "cached.md").read_text()
    assert "16,000 cached, 2,000 cache writes" in markdown
    assert "; 32,000 cached)" in markdown
    html = (pytester.path / "cached.html").read_text()
    assert '<span class="sub">16,000 cached, 2,000 cache writes</span>' in html
    assert " · 32,000 cached" in html

    pytester.runpytest("-k", "mixed", "--chatexp-json=mixed.json").assert_outcomes(passed=1)
    mixed = json.loads((pytester.path / "mixed.json").read_text())
    (row,) = mixed["tests"][0]["experiments"][0]["configs"]
    # One sample reported 8000 cached, the other nothing: the row does not know, and says so.
    assert row["cached_tokens"] is None and "cache_write_tokens" not in row
    samples = [case["samples"][0]["usage"] for case in mixed["tests"][0]["experiments"][0]["cases"]]
    assert [usage.get("cached_tokens") for usage in samples] == [8000, None]
    assert "cached_tokens" not in samples[1]
    assert mixed["totals"]["cached_tokens"] is None

    merged = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_chatexp.report",
            "merge",
            "-o",
            "all.json",
            "cached.json",
            "mixed.json",
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    everything = json.loads((pytester.path / "all.json").read_text())
    rows = {
        (test["test"].split("::")[-1], row["name"]): row
        for test in everything["tests"]
        for row in test["experiments"][0]["configs"]
    }
    assert rows[("test_cached", "an")]["cache_write_tokens"] == 2000
    assert rows[("test_mixed", "oa")]["cached_tokens"] is None
    assert everything["totals"]["cached_tokens"] is None  # one row does not know
    assert everything["totals"]["cache_write_tokens"] is None
    only_cached = subprocess.run(
        [sys.executable, "-m", "pytest_chatexp.report", "merge", "-o", "one.json", "cached.json"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert only_cached.returncode == 0, only_cached.stderr
    one = json.loads((pytester.path / "one.json").read_text())
    assert one["totals"]["cached_tokens"] == 32000


def test_a_run_without_cache_counts_writes_no_cache_fields(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.add_rule(_usage, when="silent")
    pytester.makepyfile(
        test_plain="""
import pytest
from pytest_chatexp import ModelConfig

@pytest.mark.chatexp(model_configs=[ModelConfig(name="oa", model="m",
    chat_template=[{"role": "user", "content": "silent"}])])
def test_plain(chatexp):
    pass
"""
    )
    pytester.runpytest("--chatexp-json=r.json", "--chatexp-markdown=r.md").assert_outcomes(passed=1)
    text = (pytester.path / "r.json").read_text()
    assert "cached_tokens" not in text and "cache_write_tokens" not in text
    assert "cached" not in (pytester.path / "r.md").read_text()
