"""Intervals, reducers and inconclusive cases in the reports' pieces: reading them back from a
report (of any version), statuses, JUnit properties and the terminal line (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_chatexp._reports._entries import VerdictEntry, read_run
from pytest_chatexp._reports._junit import junit_properties
from pytest_chatexp._reports._records import ExperimentRecord
from pytest_chatexp._reports._status import case_status, config_status, worst
from pytest_chatexp._reports._summary import write_inconclusive


def _case(verdicts: list[dict[str, Any]]) -> Any:
    case = {"config": "c", "input": "i", "chat_response": {"data": []}, "verdicts": verdicts}
    experiment = {"test": "t", "configs": [], "cases": [case]}
    return read_run({"tests": [{"test": "t", "experiments": [experiment]}]}).tests[0].cases()[0]


BASE = {"checks": "x", "min_pass_rate": 0.9, "passed": 5, "samples": 6}


def test_a_verdict_with_an_interval_reads_back_whole() -> None:
    case = _case(
        [
            {
                **BASE,
                "ok": False,
                "confidence": 0.95,
                "interval": [0.44, 0.97],
                "outcome": "inconclusive",
                "policy": "xfail",
            }
        ]
    )
    assert case.verdicts == (
        VerdictEntry(
            ok=False,
            passed=5,
            samples=6,
            min_pass_rate=0.9,
            confidence=0.95,
            interval=(0.44, 0.97),
            outcome="inconclusive",
            policy="xfail",
        ),
    )
    assert case_status(case) == "inconclusive"


@pytest.mark.parametrize(
    "junk",
    [{"interval": [0.1]}, {"interval": "[0.1, 0.2]"}, {"interval": [0.1, None]}, {"outcome": 3}],
)
def test_a_mangled_verdict_reads_as_unknown_never_fails(junk: dict[str, Any]) -> None:
    (verdict,) = _case([{**BASE, "ok": True, **junk}]).verdicts
    assert verdict.interval is None and verdict.outcome is None


def test_an_old_verdict_is_judged_as_before() -> None:
    assert case_status(_case([{**BASE, "ok": False}])) == "fail"
    assert case_status(_case([{**BASE, "ok": True}])) == "pass"


def test_a_failure_beats_an_inconclusive_case() -> None:
    undecided = {**BASE, "ok": True, "outcome": "inconclusive", "policy": "pass"}
    assert case_status(_case([undecided, {**BASE, "ok": True}])) == "inconclusive"
    assert case_status(_case([undecided, {**BASE, "ok": False}])) == "fail"
    assert case_status(_case([undecided, {**BASE, "ok": False, "outcome": "fail"}])) == "fail"
    # Under policy "fail" the case failed the test, but it is reported inconclusive.
    assert case_status(_case([{**undecided, "ok": False, "policy": "fail"}])) == "inconclusive"


def test_worst_orders_fail_inconclusive_pass_unchecked() -> None:
    assert worst(["pass", "inconclusive", "unchecked"]) == "inconclusive"
    assert worst(["inconclusive", "fail"]) == "fail"
    assert worst(["unchecked", "pass"]) == "pass"
    assert worst([]) == "unchecked"


def _row(**extra: Any) -> dict[str, Any]:
    return {"name": "c", "checked": 6, "passed": 5, "cases_judged": 2, "cases_failed": 0, **extra}


def test_a_config_with_inconclusive_cases_is_inconclusive() -> None:
    def status(row: dict[str, Any]) -> str:
        experiment = {"test": "t", "configs": [row]}
        test = read_run({"tests": [{"test": "t", "experiments": [experiment]}]}).tests[0]
        return config_status(test.experiments[0].configs[0])

    assert status(_row(cases_inconclusive=1)) == "inconclusive"
    assert status(_row(cases_inconclusive=1, cases_failed=1)) == "fail"
    assert status(_row(cases_inconclusive=0)) == "pass"
    assert status(_row()) == "pass"


def _record(rows: list[dict[str, Any]], inconclusive: list[Any] | None = None) -> Any:
    numbers = {
        "samples": 6,
        "checked": 6,
        "passed": 5,
        "prompt_tokens": 1,
        "generation_tokens": 1,
        "total_tokens": 2,
        "cost_usd": None,
        "replayed": 0,
    }
    record: dict[str, Any] = {"test": "t", "configs": [{**numbers, **row} for row in rows]}
    if inconclusive is not None:
        record["inconclusive"] = inconclusive
    return record


def test_junit_counts_inconclusive_cases_only_when_a_confidence_was_set() -> None:
    plain: list[ExperimentRecord] = [_record([{}])]
    assert "chatexp_inconclusive_cases" not in dict(junit_properties(plain))
    rows: list[ExperimentRecord] = [
        _record([{"cases_inconclusive": 2}, {}]),
        _record([{"cases_inconclusive": 0}]),
    ]
    assert dict(junit_properties(rows))["chatexp_inconclusive_cases"] == 2


class _Reporter:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def write_line(self, line: str, **markup: Any) -> None:
        self.lines.append((line, markup))


def test_the_terminal_line_counts_per_confidence_and_policy() -> None:
    def case(confidence: float, policy: str) -> dict[str, Any]:
        return {"config": "c", "input": "i", "confidence": confidence, "policy": policy}

    experiments = [
        _record([{}], [case(0.95, "xfail"), case(0.95, "xfail")]),
        _record([{}], [case(0.9, "pass")]),
        _record([{}]),
    ]
    reporter = _Reporter()
    write_inconclusive(reporter, experiments)  # type: ignore[arg-type]
    assert reporter.lines == [
        ("chatexp: 1 case inconclusive at 90% confidence (policy: pass)", {"yellow": True}),
        ("chatexp: 2 cases inconclusive at 95% confidence (policy: xfail)", {"yellow": True}),
    ]
    quiet = _Reporter()
    write_inconclusive(quiet, [_record([{}])])  # type: ignore[arg-type]
    assert quiet.lines == []
