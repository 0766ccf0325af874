"""The run report: every chatexp test of a run with its experiments, as one JSON document.

It is what the JSON report file holds, what the Markdown and HTML reports render, and what
``python -m pytest_chatexp.report merge`` combines across CI shards. Stdlib only.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._redaction import redact_data

__all__ = [
    "FORMAT",
    "RunReport",
    "build_run_report",
    "merge_reports",
    "read_report",
    "render",
    "write_atomic",
    "write_reports",
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


def known_cost(values: Iterable[Any]) -> float | None:
    """The sum of costs in USD, to 8 places, or None (unknown) when one of them is unknown."""
    costs = list(values)
    return None if None in costs else round(sum(costs), 8)


def _totals(tests: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [
        row for test in tests for experiment in test["experiments"] for row in experiment["configs"]
    ]
    outcomes = [str(test["outcome"]) for test in tests]
    return {
        "tests": len(tests),
        "failed": sum(1 for outcome in outcomes if outcome in ("failed", "error")),
        "experiments": sum(len(test["experiments"]) for test in tests),
        "calls": sum(int(row["samples"]) for row in rows),
        "replayed": sum(int(row["replayed"]) for row in rows),
        "live": sum(int(row["live"]) for row in rows),
        **{key: known_sum(row[key] for row in rows) for key in _TOKEN_KEYS},
        "cost_usd": known_cost(row["cost_usd"] for row in rows),
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
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written.

    The file gets the mode a new file of ``open(path, "w")`` would (0666 less the umask: 0644
    under umask 022), as pytest's JUnit XML does: the temporary file is created with it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never another file's; mode 0666, which the kernel narrows by the umask.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


_KINDS = {"json": "JSON", "markdown": "Markdown", "html": "HTML"}


def write_reports(
    tests: list[dict[str, Any]],
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
    report = redact_data(build_run_report(tests, record_mode=record_mode))
    lines: list[tuple[str, bool]] = []
    for kind, path in (("json", json_path), ("markdown", markdown_path), ("html", html_path)):
        if not path:
            continue
        try:
            write_atomic(Path(path), render(kind, report))
        except OSError as exc:
            why = exc.strerror or str(exc)
            lines.append(
                (f"chatexp: could not write the {_KINDS[kind]} report {path}: {why}", False)
            )
        else:
            lines.append((f"chatexp: report written to {path}", True))
    return lines


def render(kind: str, report: RunReport) -> str:
    """The report as the text of a ``json``, ``markdown`` or ``html`` file."""
    if kind == "markdown":
        from ._entries import read_run
        from ._markdown import render_markdown

        return render_markdown(read_run(report))
    if kind == "html":
        from ._entries import read_run
        from ._html import render_html

        return render_html(read_run(report))
    return json.dumps(report, indent=1, sort_keys=True) + "\n"
