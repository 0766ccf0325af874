"""The JSON run report, merging reports from CI shards, and JUnit XML properties."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from pytest_chatexp import ChatResponse
from pytest_chatexp.testing import ReferenceServer

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="cheap", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(model_configs=[CONFIG, CONFIG.variant(name="pricey", model="gpt-4o")],
                     inputs=[{"id": "a", "q": "alpha"}, {"id": "b", "q": "beta"}], num_samples=2)
def test_shard_one(chatexp):
    c.assert_samples(chatexp, c.contains("alpha"), min_pass_rate=0.0)

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "gamma"}])
def test_shard_two(chatexp):
    c.assert_samples(chatexp, c.contains("delta"))

def test_plain():
    pass
"""


def test_json_report_holds_full_results(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--chatexp-json=out/report.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["chatexp: report written to out/report.json"])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["format"] == "pytest-chatexp-report" and report["version"] == 1
    assert [t["test"] for t in report["tests"]] == [
        "test_suite.py::test_shard_one",
        "test_suite.py::test_shard_two",
    ]
    one, two = report["tests"]
    assert (one["outcome"], two["outcome"]) == ("passed", "failed")
    assert "1 of 1 cases fail [contains('delta')]" in two["failure"]
    (experiment,) = one["experiments"]
    rows = {row["name"]: row for row in experiment["configs"]}
    assert (
        rows["cheap"]["samples"] == 4
        and rows["cheap"]["checked"] == 4
        and rows["cheap"]["passed"] == 2
    )
    assert rows["pricey"]["cost_usd"] > rows["cheap"]["cost_usd"] > 0
    assert [(case["config"], case["input"]) for case in experiment["cases"]] == [
        ("cheap", "a"),
        ("cheap", "b"),
        ("pricey", "a"),
        ("pricey", "b"),
    ]
    response = ChatResponse.model_validate(experiment["cases"][0]["chat_response"])
    assert [d.output for d in response.data] == ["echo: alpha", "echo: alpha"]
    failures = [s["failure"] for s in experiment["cases"][1]["samples"]]
    assert len(failures) == 2  # both samples of ('cheap', 'b')
    assert all(f and "does not contain 'alpha'" in f for f in failures)
    totals = report["totals"]
    assert (totals["tests"], totals["failed"], totals["experiments"], totals["calls"]) == (
        2,
        1,
        2,
        9,
    )
    assert totals["live"] == 9 and totals["replayed"] == 0


def test_reports_merge_across_shards(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("-k", "one", "--chatexp-json=shard-1.json").assert_outcomes(
        passed=1, deselected=2
    )
    pytester.runpytest("-k", "two", "--chatexp-json=shard-2.json").assert_outcomes(
        failed=1, deselected=2
    )
    pytester.runpytest("--chatexp-json=whole.json").assert_outcomes(passed=2, failed=1)
    merge = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_chatexp.report",
            "merge",
            "-o",
            "merged.json",
            "shard-1.json",
            "shard-2.json",
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merge.returncode == 0, merge.stderr
    assert merge.stdout.strip() == "wrote merged.json (2 tests)"
    merged = json.loads((pytester.path / "merged.json").read_text())
    whole = json.loads((pytester.path / "whole.json").read_text())

    def stable(report: dict) -> dict:
        # Latencies and failure texts' timings differ run to run; the rest must agree.
        for test in report["tests"]:
            for experiment in test["experiments"]:
                experiment.pop("wall_time_s")
                for row in experiment["configs"]:
                    row.pop("latency_p50_s"), row.pop("latency_p95_s")
                for case in experiment["cases"]:
                    for sample in case["samples"]:
                        sample.pop("latency_s")
            test.pop("failure")
        return report

    assert stable(merged)["tests"] == stable(whole)["tests"]
    assert merged["totals"] == whole["totals"]


def test_merge_refuses_files_that_are_not_reports(pytester: pytest.Pytester) -> None:
    (pytester.path / "other.json").write_text('{"hello": 1}')
    result = subprocess.run(
        [sys.executable, "-m", "pytest_chatexp.report", "merge", "-o", "m.json", "other.json"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == 'error: other.json: not a pytest-chatexp report (no "format": "pytest-chatexp-report")'
    )
    assert not (pytester.path / "m.json").exists()


def test_json_report_is_the_same_under_xdist(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest_subprocess("-n", "0", "--chatexp-json=serial.json").assert_outcomes(
        passed=2, failed=1
    )
    pytester.runpytest_subprocess("-n", "2", "--chatexp-json=parallel.json").assert_outcomes(
        passed=2, failed=1
    )
    serial = json.loads((pytester.path / "serial.json").read_text())
    parallel = json.loads((pytester.path / "parallel.json").read_text())
    assert serial["totals"] == parallel["totals"]
    assert [t["test"] for t in serial["tests"]] == [t["test"] for t in parallel["tests"]]


def test_junit_properties(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(test_suite=SUITE)
    # Per-test properties are xunit1's: xunit2 allows them on the suite only.
    pytester.runpytest("--junitxml=junit.xml", "-o", "junit_family=xunit1").assert_outcomes(
        passed=2, failed=1
    )
    tree = ET.parse(pytester.path / "junit.xml")
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in tree.iter("testcase")
    }
    one = properties["test_shard_one"]
    assert one["chatexp_samples"] == "8"
    assert one["chatexp_pass_rate"] == "0.5"
    assert int(one["chatexp_total_tokens"]) > 0
    assert float(one["chatexp_cost_usd"]) > 0
    assert properties["test_shard_two"]["chatexp_pass_rate"] == "0.0"
    assert properties["test_plain"] == {}
