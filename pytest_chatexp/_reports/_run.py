"""The run report: every chatexp test of a run with its experiments, as one JSON document.

It is what the JSON report file holds, what the Markdown and HTML reports render, and what
``python -m pytest_chatexp.report merge`` combines across CI shards. ``TestRecord`` is a test
as the run log holds it; the report's JSON is TypedDicts of builtins, as written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from .._calls._changes import ChangeRecord
from .._redaction import redact_data
from .._util import write_atomic
from ._format import known_cost, known_sum
from ._shared import counted_once

if TYPE_CHECKING:
    from .._calls._misses import MissedCalls
    from ._entries import RunEntry
    from ._records import ExperimentRecord

__all__ = [
    "FORMAT",
    "ReportedTest",
    "RunReport",
    "TestRecord",
    "build_run_report",
    "experiment_records",
    "merge_reports",
    "read_report",
    "render",
    "write_reports",
]

FORMAT = "pytest-chatexp-report"
VERSION = 1


@dataclass(slots=True)
class TestRecord:
    """A chatexp test's last attempt: its outcome, experiments, recording changes, and the
    first lines of its failure with, when calls had no recording, the miss."""

    __test__ = False  # not a test class, whatever pytest's name-based discovery thinks

    test: str
    outcome: str = "passed"  # passed, failed, error or skipped
    failure: str | None = None
    experiments: list[ExperimentRecord] = field(default_factory=list)
    changes: list[ChangeRecord] = field(default_factory=list)
    miss: MissedCalls | None = None

    def to_json(self) -> ReportedTest:
        return ReportedTest(
            test=self.test,
            outcome=self.outcome,
            failure=self.failure,
            experiments=self.experiments,
            changes=[change.to_json() for change in self.changes],
            recording_miss=None if self.miss is None else self.miss.to_json(),
        )


def experiment_records(value: object) -> list[ExperimentRecord]:
    """The experiment records a report carries: builtins (they cross xdist as such), and the
    records are TypedDicts of builtins, so reading them is keeping what is a list of dicts."""
    if not isinstance(value, list):
        return []
    return [cast("ExperimentRecord", item) for item in value if isinstance(item, dict)]


class ReportedTest(TypedDict):
    test: str
    outcome: str
    failure: str | None
    experiments: list[ExperimentRecord]
    changes: list[dict[str, Any]]  # ``ChangeRecord.to_json``
    recording_miss: dict[str, Any] | None  # ``MissedCalls.to_json``


class TotalsJson(TypedDict):
    tests: int
    failed: int
    experiments: int
    calls: int
    replayed: int
    live: int
    prompt_tokens: int | None
    generation_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    # As in ``ConfigRow``: only when a row has them; None when some rows do not know them.
    cached_tokens: NotRequired[int | None]
    cache_write_tokens: NotRequired[int | None]
    # Calls never sent, their endpoint's circuit breaker open (not in ``calls``); when any were.
    skipped: NotRequired[int]
    # Live calls answered through a batch API (--chatexp-batch); when any were.
    batched: NotRequired[int]


class RunReport(TypedDict):
    format: str
    version: int
    record_modes: list[str]
    tests: list[ReportedTest]
    totals: TotalsJson


def build_run_report(tests: Iterable[TestRecord], *, record_mode: str) -> RunReport:
    return _report([test.to_json() for test in tests], [record_mode])


def _report(tests: Iterable[ReportedTest], record_modes: list[str]) -> RunReport:
    ordered = sorted(tests, key=lambda test: str(test["test"]))
    return RunReport(
        format=FORMAT,
        version=VERSION,
        record_modes=record_modes,
        tests=ordered,
        totals=_totals(ordered),
    )


def merge_reports(reports: Sequence[RunReport]) -> RunReport:
    """One report from several (CI shards, or runs of parts of a suite). A test present in more
    than one keeps its last entry, so re-running a shard replaces its results. Tests stay as
    their files hold them: a report of another version keeps its fields."""
    tests: dict[str, ReportedTest] = {}
    modes: list[str] = []
    for report in reports:
        for test in report["tests"]:
            tests[str(test["test"])] = test
        modes += [mode for mode in report.get("record_modes", []) if mode not in modes]
    return _report(tests.values(), modes)


def _totals(tests: list[ReportedTest]) -> TotalsJson:
    # A shared experiment is in each member test, and counted once.
    experiments = counted_once(experiment for test in tests for experiment in test["experiments"])
    rows = [row for experiment in experiments for row in experiment["configs"]]
    outcomes = [str(test["outcome"]) for test in tests]
    totals = TotalsJson(
        tests=len(tests),
        failed=sum(1 for outcome in outcomes if outcome in ("failed", "error")),
        experiments=len(experiments),
        calls=sum(int(row["replayed"]) + int(row["live"]) for row in rows),
        replayed=sum(int(row["replayed"]) for row in rows),
        live=sum(int(row["live"]) for row in rows),
        prompt_tokens=known_sum(row["prompt_tokens"] for row in rows),
        generation_tokens=known_sum(row["generation_tokens"] for row in rows),
        total_tokens=known_sum(row["total_tokens"] for row in rows),
        cost_usd=known_cost(row["cost_usd"] for row in rows),
    )
    # A row without the key is one whose provider reports no cache: unknown, once any row has it.
    if any("cached_tokens" in row for row in rows):
        totals["cached_tokens"] = known_sum(row.get("cached_tokens") for row in rows)
    if any("cache_write_tokens" in row for row in rows):
        totals["cache_write_tokens"] = known_sum(row.get("cache_write_tokens") for row in rows)
    if skipped := sum(int(row.get("skipped", 0)) for row in rows):
        totals["skipped"] = skipped
    if batched := sum(int(row.get("batched", 0)) for row in rows):
        totals["batched"] = batched
    return totals


def read_report(path: Path) -> RunReport:
    """Read a JSON report, with a clear error for a file that is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f'{path}: not a pytest-chatexp report (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: report version {data.get('version')!r}, expected {VERSION}")
    # Its tests are as the file holds them (the renderers read them leniently: ``_entries``).
    return cast(RunReport, data)


_KINDS = {"json": "JSON", "markdown": "Markdown", "html": "HTML"}


def write_reports(
    tests: Sequence[TestRecord],
    *,
    record_mode: str,
    json_path: str | None = None,
    markdown_path: str | None = None,
    html_path: str | None = None,
) -> list[tuple[str, bool]]:
    """Write the report files the command line asked for (an empty report when no chatexp test
    ran, so that CI shards always merge); returns per file a line to show and whether it was
    written. A path left None is not written.

    A file that cannot be written (a full disk, a directory in its place) is told in one line
    and does not stop the other reports or the summary; the run's exit status stays its tests'.
    """
    report: RunReport = redact_data(build_run_report(tests, record_mode=record_mode))
    # Read into entries once, for both renderers: reading is a good part of rendering's time.
    run = _entries_of(report) if markdown_path or html_path else None
    lines: list[tuple[str, bool]] = []
    for kind, path in (("json", json_path), ("markdown", markdown_path), ("html", html_path)):
        if not path:
            continue
        try:
            write_atomic(Path(path), render(kind, report, run))
        except OSError as exc:
            why = exc.strerror or str(exc)
            lines.append(
                (f"chatexp: could not write the {_KINDS[kind]} report {path}: {why}", False)
            )
        else:
            lines.append((f"chatexp: report written to {path}", True))
    return lines


def _entries_of(report: RunReport) -> RunEntry:
    # Here, not at the top: a run writing only the JSON report never loads the renderers.
    from ._entries import read_run

    return read_run(report)


def render(kind: str, report: RunReport, run: RunEntry | None = None) -> str:
    """The report as the text of a ``json``, ``markdown`` or ``html`` file; ``run``: the report
    already read into entries (else it is read here)."""
    if kind == "json":
        return json.dumps(report, indent=1, sort_keys=True) + "\n"
    if run is None:
        run = _entries_of(report)
    if kind == "markdown":
        from ._markdown import render_markdown

        return render_markdown(run)
    from ._html import render_html

    return render_html(run)
