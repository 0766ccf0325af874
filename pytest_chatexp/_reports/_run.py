"""The run report: every chatexp test of a run with its experiments, as one JSON document.

It is what the JSON report file holds, what the Markdown and HTML reports render, and what
``python -m pytest_chatexp.report merge`` combines across CI shards. Stdlib only.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._settings import Settings

__all__ = [
    "FORMAT",
    "RunReport",
    "build_run_report",
    "merge_reports",
    "read_report",
    "write_atomic",
]

FORMAT = "pytest-chatexp-report"
VERSION = 1

RunReport = dict[str, Any]


def build_run_report(tests: Iterable[Mapping[str, Any]], *, record_mode: str) -> RunReport:
    """``tests``: one mapping per test with ``test``, ``outcome``, ``experiments``, ``changes``
    and ``failure`` (the first lines of its failure, or None)."""
    ordered = sorted((dict(test) for test in tests), key=lambda test: str(test["test"]))
    return {
        "format": FORMAT,
        "version": VERSION,
        "record_modes": [record_mode],
        "tests": ordered,
        "totals": _totals(ordered),
    }


def merge_reports(reports: Sequence[RunReport]) -> RunReport:
    """One report from several (CI shards, or runs of parts of a suite). A test present in more
    than one keeps its last entry, so re-running a shard replaces its results."""
    tests: dict[str, dict[str, Any]] = {}
    modes: list[str] = []
    for report in reports:
        for test in report["tests"]:
            tests[str(test["test"])] = test
        modes += [mode for mode in report.get("record_modes", []) if mode not in modes]
    merged = build_run_report(tests.values(), record_mode="")
    merged["record_modes"] = modes
    return merged


_TOKEN_KEYS = ("prompt_tokens", "generation_tokens", "total_tokens")


def known_sum(values: Iterable[Any]) -> int | None:
    """The sum of token counts, or None (unknown) when one of them is unknown."""
    counts = list(values)
    return None if None in counts else sum(int(count) for count in counts)


def _totals(tests: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [
        row for test in tests for experiment in test["experiments"] for row in experiment["configs"]
    ]
    costs = [row["cost_usd"] for row in rows]
    outcomes = [str(test["outcome"]) for test in tests]
    return {
        "tests": len(tests),
        "failed": sum(1 for outcome in outcomes if outcome in ("failed", "error")),
        "experiments": sum(len(test["experiments"]) for test in tests),
        "calls": sum(int(row["samples"]) for row in rows),
        "replayed": sum(int(row["replayed"]) for row in rows),
        "live": sum(int(row["live"]) for row in rows),
        **{key: known_sum(row[key] for row in rows) for key in _TOKEN_KEYS},
        "cost_usd": None if None in costs else round(sum(costs), 8),
    }


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
    return data


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_reports(settings: Settings, tests: list[dict[str, Any]]) -> list[str]:
    """Write the report files the command line asked for; returns their paths."""
    report = build_run_report(tests, record_mode=settings.record_mode)
    written: list[str] = []
    if settings.json_report:
        write_atomic(
            Path(settings.json_report), json.dumps(report, indent=1, sort_keys=True) + "\n"
        )
        written.append(settings.json_report)
    if settings.markdown_report:
        from ._markdown import render_markdown

        write_atomic(Path(settings.markdown_report), render_markdown(report))
        written.append(settings.markdown_report)
    if settings.html_report:
        from ._html import render_html

        write_atomic(Path(settings.html_report), render_html(report))
        written.append(settings.html_report)
    return written
