"""The baseline comparison's logic: cases by Fisher's test, Holm across them, spending by a
relative tolerance, and what a bad baseline file is told."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp._reports._baseline import BaselineError, compare_runs, read_baseline
from pytest_chatexp._reports._entries import RunEntry, read_run
from pytest_chatexp.checks._stats import fisher_less


def _case(input_id: str, passed: int, total: int, unchecked: int = 0) -> dict[str, Any]:
    samples = [
        {"index": index, "checked": True, "failure": None if index < passed else "no"}
        for index in range(total)
    ]
    samples += [
        {"index": total + index, "checked": False, "failure": None} for index in range(unchecked)
    ]
    return {"config": "v1", "input": input_id, "samples": samples}


def _run(
    cases: Sequence[dict[str, Any]],
    *,
    tokens: int | None = 100,
    cost: float | None = 0.01,
    samples: int = 10,
    test: str = "t.py::test",
    experiments: int = 1,
) -> RunEntry:
    row = {"name": "v1", "samples": samples, "total_tokens": tokens, "cost_usd": cost}
    experiment = {"test": test, "configs": [row], "cases": list(cases)}
    return read_run({"tests": [{"test": test, "experiments": [experiment] * experiments}]})


def test_one_clear_drop_regresses_and_holm_weighs_many_cases() -> None:
    before = _run([_case("a", 10, 10)])
    now = _run([_case("a", 5, 10)])
    alone = compare_runs(before, now, alpha=0.05, max_increase=0.1)
    (case,) = alone.cases
    assert case.p_value == pytest.approx(fisher_less(5, 10, 10, 10))
    assert case.p_value < 0.05 and case.regressed and alone.failed
    assert case.describe() == "t.py::test  config v1  input a: 100% (10/10) -> 50% (5/10), p=0.016"
    # The same drop among four cases: Holm multiplies the smallest p-value by 4.
    others = [_case(name, 10, 10) for name in "bcd"]
    many = compare_runs(
        _run([_case("a", 10, 10), *others]),
        _run([_case("a", 5, 10), *others]),
        alpha=0.05,
        max_increase=0.1,
    )
    dropped = next(case for case in many.cases if case.input == "a")
    assert dropped.adjusted == pytest.approx(4 * dropped.p_value)
    assert not dropped.regressed and not many.failed
    assert many.wobbles == [dropped]


def test_unchecked_samples_new_and_missing_cases_are_not_compared() -> None:
    before = _run([_case("a", 10, 10), _case("gone", 10, 10), _case("unchecked", 0, 0, 5)])
    now = _run([_case("a", 10, 10, unchecked=4), _case("new", 0, 10), _case("unchecked", 0, 0, 5)])
    comparison = compare_runs(before, now, alpha=0.05, max_increase=0.1)
    assert [(case.input, case.checked) for case in comparison.cases] == [("a", 10)]
    assert (comparison.new_cases, comparison.missing_cases) == (1, 1)
    assert not comparison.failed


def test_a_test_running_a_case_twice_adds_its_samples_up() -> None:
    comparison = compare_runs(
        _run([_case("a", 3, 4)], experiments=2),
        _run([_case("a", 10, 10)]),
        alpha=0.05,
        max_increase=0.1,
    )
    (case,) = comparison.cases
    assert (case.baseline_passed, case.baseline_checked) == (6, 8)


def test_an_improvement_is_neither_a_regression_nor_a_wobble() -> None:
    comparison = compare_runs(
        _run([_case("a", 2, 10)]), _run([_case("a", 10, 10)]), alpha=0.05, max_increase=0.1
    )
    assert comparison.cases[0].p_value == pytest.approx(1.0)
    assert comparison.regressed == [] and comparison.wobbles == []


def test_spending_is_flagged_past_the_tolerance_per_sample() -> None:
    before = _run([], tokens=100, cost=0.01, samples=10)
    # Twice the samples, 2.2x the tokens: +10% per sample, at the limit; cost +25%.
    now = _run([], tokens=220, cost=0.025, samples=20)
    comparison = compare_runs(before, now, alpha=0.05, max_increase=0.1)
    tokens, cost = comparison.spending
    assert (tokens.baseline, tokens.now, tokens.flagged) == (10.0, 11.0, False)
    assert cost.flagged and cost.increase == pytest.approx(0.25)
    assert comparison.increased == [cost] and comparison.failed
    assert cost.describe(0.1) == (
        "t.py::test  config v1: cost per sample $0.001000 -> $0.001250 (+25.0%, allowed +10%)"
    )


def test_unknown_spending_is_said_and_never_flagged() -> None:
    comparison = compare_runs(
        _run([], tokens=None, cost=0.0),
        _run([], tokens=500, cost=None),
        alpha=0.05,
        max_increase=0.1,
    )
    assert comparison.increased == [] and not comparison.failed
    assert [change.metric for change in comparison.unknown("tokens")] == ["tokens"]
    assert [change.now for change in comparison.unknown("cost")] == [None]
    # From nothing to something is an infinite increase, when both are known.
    grown = compare_runs(_run([], cost=0.0), _run([], cost=0.5), alpha=0.05, max_increase=10)
    assert [change.metric for change in grown.increased] == ["cost"]
    assert "+inf%" in grown.increased[0].describe(10)


def _report(**fields: Any) -> str:
    return json.dumps({"format": "pytest-chatexp-report", "version": 1, "tests": [], **fields})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "the baseline report {path} does not exist. The baseline must be"),
        ("", "the baseline report {path} is not valid JSON (Expecting value at line 1, column 1)"),
        (b"\xff\xfe", "cannot read the baseline report {path}: 'utf-8' codec can't decode"),
        ('{"tests": []}', '{path} is not a pytest-chatexp report (no "format"'),
        (_report(version="1"), "is of report version '1', and this version of pytest-chatexp"),
    ],
)
def test_a_bad_baseline_file_is_one_paragraph_naming_file_and_option(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "baseline.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(BaselineError) as info:
        read_baseline(path, "ini option chatexp_baseline")
    text = str(info.value)
    assert text.startswith("chatexp: ini option chatexp_baseline: ")
    assert message.format(path=path) in text
    assert "\n" not in text


def test_a_directory_is_not_a_baseline(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match=r"cannot read the baseline report .*: Is a directory"):
        read_baseline(tmp_path, "--chatexp-baseline")


def test_a_good_baseline_reads_as_a_run(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(_report(tests=[{"test": "t.py::test", "experiments": []}]))
    assert [test.test for test in read_baseline(path, "--chatexp-baseline").tests] == ["t.py::test"]
