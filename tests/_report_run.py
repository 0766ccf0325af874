"""What the report tests share: the options writing all three reports, and reading them back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_chatexp._calls._changes import ChangeRecord
from pytest_chatexp._calls._misses import MissedCalls
from pytest_chatexp._reports._run import TestRecord, experiment_records

REPORTS = ("--chatexp-json=r.json", "--chatexp-markdown=r.md", "--chatexp-html=r.html")


def read_reports(path: Path) -> tuple[dict, str, str]:  # type: ignore[type-arg]
    """The JSON report, the Markdown summary and the HTML page that ``REPORTS`` wrote in ``path``."""
    report = json.loads((path / "r.json").read_text())
    return report, (path / "r.md").read_text(), (path / "r.html").read_text()


def record_of(test: dict[str, Any]) -> TestRecord:
    """A test as the run log records it, from the JSON the report holds for it."""
    changes = map(ChangeRecord.from_json, test.get("changes") or [])
    return TestRecord(
        test=test["test"],
        outcome=test["outcome"],
        failure=test.get("failure"),
        experiments=experiment_records(test.get("experiments")),
        changes=[change for change in changes if change is not None],
        miss=MissedCalls.from_json(test.get("recording_miss")),
    )
