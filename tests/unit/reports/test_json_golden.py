"""The JSON report, byte for byte, from what chatexp tests' reports carry (as builtins, the way
they cross xdist) through the run log's records: a change of the records between stages must
not change the file format. ``data/report_golden.json`` was written by the dict-based run log
this replaced."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp._calls._changes import ChangeRecord
from pytest_chatexp._experiment._humanloop import Usage
from pytest_chatexp._pricing import PriceTable
from pytest_chatexp._reports._run import write_reports
from pytest_chatexp._session._runlog import RunLog
from tests.unit.reports.test_html import make_report
from tests.unit.reports.test_markdown import MISSED

GOLDEN = Path(__file__).parents[2] / "data" / "report_golden.json"


def _change(sample: int, *, old: Usage | None) -> dict[str, Any]:
    return ChangeRecord.of(
        config="concise",
        input="greeting",
        sample=sample,
        model="gpt-4o-mini",
        old=old,
        new=Usage.of(12, 9),
        prices=PriceTable(),
    ).to_json()


def reports() -> list[pytest.TestReport]:
    """Per test its phases' reports, as the controller receives them."""
    reports: list[pytest.TestReport] = []
    tests = copy.deepcopy(make_report()["tests"])
    # A case judged by assertions: verdicts as the checks record them.
    tests[0]["experiments"][0]["cases"][0]["verdicts"] = [
        {"checks": "contains('Hello')", "min_pass_rate": 0.5, "passed": 2, "samples": 2, "ok": True}
    ]
    tests[0]["experiments"][0]["configs"][0] |= {"failed": 0, "retries": 1, "cases_judged": 1}
    tests[0]["experiments"][0]["configs"][0]["cases_failed"] = 0
    for test in tests:
        nodeid = test["test"]
        failed = test["outcome"] == "failed"
        setup = pytest.TestReport(nodeid, ("suite.py", 1, nodeid), {}, "passed", None, "setup")
        call = pytest.TestReport(
            nodeid,
            ("suite.py", 1, nodeid),
            {},
            "failed" if failed else "passed",
            test["failure"] if failed else None,
            "call",
        )
        call.chatexp_experiments = test["experiments"]  # type: ignore[attr-defined]
        if failed:
            call.chatexp_changes = [  # type: ignore[attr-defined]
                _change(0, old=Usage.of(10, 8)),
                _change(1, old=None),
            ]
            call.chatexp_miss = MISSED.to_json()  # type: ignore[attr-defined]
        teardown = pytest.TestReport(
            nodeid, ("suite.py", 1, nodeid), {}, "passed", None, "teardown"
        )
        reports += [setup, call, teardown]
    errored = "suite.py::test_errored"
    raised = pytest.TestReport(errored, ("suite.py", 9, errored), {}, "failed", "boom", "setup")
    raised.chatexp_experiments = [  # type: ignore[attr-defined]
        {"test": errored, "wall_time_s": 0.0, "configs": [], "errored": True}
    ]
    skipped = "suite.py::test_skipped"
    reports += [
        raised,
        pytest.TestReport(skipped, ("suite.py", 12, skipped), {}, "skipped", None, "setup"),
    ]
    return reports


def _written(tmp_path: Path) -> bytes:
    log = RunLog(None, None)  # type: ignore[arg-type]  # adding reports needs neither
    for report in reports():
        log.add(report)
    path = tmp_path / "r.json"
    write_reports(list(log.tests.values()), record_mode="once", json_path=str(path))
    return path.read_bytes()


def test_the_json_report_is_byte_identical(tmp_path: Path) -> None:
    assert _written(tmp_path) == GOLDEN.read_bytes()


def test_the_golden_report_holds_what_it_stands_for() -> None:
    # Every part of a test's record: changes, a miss, verdicts, an errored experiment, a skip.
    report = json.loads(GOLDEN.read_text())
    tests = {test["test"]: test for test in report["tests"]}
    assert [test["outcome"] for test in tests.values()] == ["passed", "error", "failed", "skipped"]
    failed = tests["suite.py::test_matrix"]
    assert len(failed["changes"]) == 2 and failed["recording_miss"]["total"] == 6
    passed = tests["suite.py::test_all_pass"]["experiments"][0]
    assert passed["cases"][0]["verdicts"][0]["ok"] is True
    assert tests["suite.py::test_errored"]["experiments"][0]["errored"] is True
