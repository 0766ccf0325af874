"""Adaptive sampling in the reports' pieces (issue 16 item 7): read back from a report of any
version and from merged shard reports, rendered in Markdown and HTML per case and experiment,
and counted in JUnit properties; a report without it renders exactly as before."""

from __future__ import annotations

import copy
from typing import Any

from pytest_chatexp._reports._entries import read_run
from pytest_chatexp._reports._html import render_html
from pytest_chatexp._reports._junit import junit_properties
from pytest_chatexp._reports._markdown import render_markdown
from pytest_chatexp._reports._records import ExperimentRecord
from pytest_chatexp._reports._run import RunReport, merge_reports
from pytest_chatexp._reports._sampling import SamplingEntry
from tests.unit.reports.test_html import ODD_CONFIG, ODD_INPUT, make_report


def _sampling(config: str, input_id: str, drawn: int, **extra: Any) -> dict[str, Any]:
    return {
        "config": config,
        "input": input_id,
        "drawn": drawn,
        "maximum": 20,
        "passed": drawn,
        "ok": True,
        "settled": True,
        **extra,
    }


# The failing test's four cases, sampled adaptively: 14 + 3 + 20 + 9 of at most 80.
ADAPTIVE = [
    _sampling("concise", "greeting", 14),
    _sampling("concise", ODD_INPUT, 3, passed=0, ok=False),
    _sampling(ODD_CONFIG, "greeting", 20, passed=16, settled=False),
    _sampling(ODD_CONFIG, ODD_INPUT, 9),
]


def matrix(report: RunReport) -> dict[str, Any]:
    """The experiment of ``make_report``'s failing test, whose cases ``ADAPTIVE`` names."""
    (test,) = [test for test in report["tests"] if test["test"] == "suite.py::test_matrix"]
    experiment: dict[str, Any] = test["experiments"][0]  # type: ignore[assignment]
    return experiment


def adaptive_report() -> RunReport:
    report = make_report()
    matrix(report)["adaptive"] = copy.deepcopy(ADAPTIVE)
    return report


# -- reading back -------------------------------------------------------------------------------


def test_the_adaptive_records_read_back_whole() -> None:
    (experiment,) = read_run(adaptive_report()).tests[1].experiments
    assert experiment.adaptive[0] == SamplingEntry("concise", "greeting", 14, 20, 14, True, True)
    assert experiment.adaptive[2] == SamplingEntry(ODD_CONFIG, "greeting", 20, 20, 16, True, False)
    assert experiment.sampling("concise", ODD_INPUT) == experiment.adaptive[1]
    assert experiment.sampling("concise", "nowhere") is None


def test_a_report_without_them_reads_as_none_and_a_mangled_one_never_fails() -> None:
    assert [test.experiments[0].adaptive for test in read_run(make_report()).tests] == [(), ()]
    report = make_report()
    matrix(report)["adaptive"] = [
        "junk",
        {"config": "c", "input": "i", "drawn": "3", "maximum": 20},  # no count: left out
        {"config": "c", "input": "j", "drawn": 3.0, "maximum": 20, "ok": "yes", "settled": 1},
    ]
    (experiment,) = read_run(report).tests[1].experiments
    assert experiment.adaptive == (SamplingEntry("c", "j", 3, 20),)  # the rest unknown
    # And it renders, what is unknown as such.
    assert "| `c` | `j` | 3/20 | ? (?) |" in render_markdown(read_run(report))
    matrix(report)["adaptive"] = {"not": "a list"}
    assert read_run(report).tests[1].experiments[0].adaptive == ()


def test_merged_shard_reports_keep_each_shards_sampling() -> None:
    with_sampling, without = adaptive_report(), make_report()
    without["tests"] = [test for test in without["tests"] if "all_pass" in test["test"]]
    with_sampling["tests"] = [test for test in with_sampling["tests"] if "matrix" in test["test"]]
    merged = read_run(merge_reports([with_sampling, without]))
    assert [len(e.adaptive) for test in merged.tests for e in test.experiments] == [0, 4]
    assert "70 of at most 80 samples drawn" not in render_markdown(merged)
    assert "46 of at most 80 samples drawn, 34 samples saved" in render_markdown(merged)


# -- Markdown -----------------------------------------------------------------------------------


def test_markdown_shows_each_case_drawn_of_its_maximum_and_the_samples_saved() -> None:
    markdown = render_markdown(read_run(adaptive_report()))
    section = markdown.split("### Adaptive sampling", 1)[1]
    assert "`suite.py::test_matrix`: 46 of at most 80 samples drawn, 34 samples saved." in section
    assert "| `concise` | `greeting` | 14/20 | pass (settled) |" in section
    assert "| `concise` | `xss </script>` | 3/20 | fail (settled) |" in section
    assert '| `beta <b>&</b> "q"` | `greeting` | 20/20 | pass (raw rate) |' in section
    # Narrow: four columns.
    assert "| Config | Input | Drawn | Verdict |" in section
    # Only the experiment that sampled adaptively.
    assert "test_all_pass" not in section


def test_markdown_collapses_an_experiment_of_many_cases() -> None:
    report = make_report()
    many = [_sampling("c", f"case {n}", 5) for n in range(60)]
    matrix(report)["adaptive"] = many
    section = render_markdown(read_run(report)).split("### Adaptive sampling", 1)[1]
    assert "<details><summary>suite.py::test_matrix: 300 of at most 1200 samples drawn" in section
    assert section.count("| `c` |") == 50
    assert "_... and 10 more cases._" in section


def test_markdown_without_adaptive_sampling_is_unchanged() -> None:
    report = make_report()
    before = render_markdown(read_run(report))
    matrix(report)["adaptive"] = []
    assert render_markdown(read_run(report)) == before
    assert "Adaptive sampling" not in before and "samples drawn" not in before


# -- HTML ---------------------------------------------------------------------------------------


def test_html_shows_each_cell_drawn_of_its_maximum_and_the_samples_saved() -> None:
    page = render_html(read_run(adaptive_report()))
    assert (
        '<p class="sampling">Adaptive sampling: 46 of at most 80 samples drawn, '
        "34 samples saved.</p>" in page
    )
    assert page.count("of ≤20 samples") == 4
    assert "12 / 8 / 20 tokens · $0.0000132 · 14 of ≤20 samples, settled" in page
    assert "20 of ≤20 samples, raw rate" in page
    # The passing test's experiment was not sampled adaptively.
    passing = page.split('<section class="test" id="t1"', 1)[1].split('id="t2"', 1)[0]
    assert "suite.py::test_all_pass" in passing
    assert "Adaptive sampling" not in passing and "of ≤" not in passing


def test_html_without_adaptive_sampling_is_unchanged() -> None:
    report = make_report()
    before = render_html(read_run(report))
    matrix(report)["adaptive"] = []
    assert render_html(read_run(report)) == before
    assert "Adaptive sampling" not in before and "of ≤" not in before


# -- JUnit --------------------------------------------------------------------------------------


def _record(adaptive: list[dict[str, Any]] | None = None) -> ExperimentRecord:
    row = {
        "samples": 6,
        "checked": 6,
        "passed": 5,
        "prompt_tokens": 1,
        "generation_tokens": 1,
        "total_tokens": 2,
        "cost_usd": None,
        "replayed": 0,
    }
    record: dict[str, Any] = {"test": "t", "configs": [row]}
    if adaptive is not None:
        record["adaptive"] = adaptive
    return record


def test_junit_counts_drawn_maximum_and_saved_only_when_sampling_adaptively() -> None:
    plain = junit_properties([_record(), _record()])
    assert [name for name, _ in plain] == [
        "chatexp_samples",
        "chatexp_pass_rate",
        "chatexp_prompt_tokens",
        "chatexp_generation_tokens",
        "chatexp_total_tokens",
        "chatexp_replayed",
    ]
    assert junit_properties([_record([])]) == junit_properties([_record()])
    mixed = junit_properties([_record(ADAPTIVE[:2]), _record(), _record(ADAPTIVE[2:])])
    assert mixed[-3:] == [
        ("chatexp_samples_drawn", 46),
        ("chatexp_samples_max", 80),
        ("chatexp_samples_saved", 34),
    ]
    assert mixed[:-3] == junit_properties([_record()] * 3)
