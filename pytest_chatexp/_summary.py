"""The terminal summary: per experiment and model config, then the session's totals.

It reads the records tests carry on their reports (see ``_reports._records``), so under xdist
the controller prints correct totals across workers. Stdlib only: the controller may never
import the rest of the plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._reports._format import percent

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

__all__ = ["relative_path", "write_plan", "write_summary", "write_unused"]

_EXPERIMENTS_SHOWN = 20
_HEADER = (
    "experiment / model config",
    "samples",
    "pass rate",
    "tokens",
    "cost",
    "p50",
    "p95",
    "calls",
)


def relative_path(path: Path, root: Path) -> str:
    """``path`` as the user reads it: relative to the rootdir when under it."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def write_summary(
    reporter: TerminalReporter, experiments: Sequence[dict[str, Any]], *, record_mode: str
) -> None:
    """A block per experiment (the 20 most expensive unless -v), a row per model config."""
    reporter.write_sep("-", f"chatexp experiments (record mode: {record_mode})")
    shown = list(experiments)
    if len(shown) > _EXPERIMENTS_SHOWN and reporter.config.getoption("verbose") < 1:
        shown = sorted(shown, key=lambda e: (-_total(e, "total_tokens"), e["test"]))
        shown = shown[:_EXPERIMENTS_SHOWN]
    rows: list[tuple[str, ...]] = [_HEADER]
    # Sorted: under xdist, reports arrive in completion order.
    for experiment in sorted(shown, key=lambda e: str(e["test"])):
        rows.append((str(experiment["test"]),))
        rows += [_config_cells(row) for row in experiment["configs"]]
    _write_table(reporter, rows)
    if len(shown) < len(experiments):
        reporter.write_line(f"... {len(experiments) - len(shown)} more experiments (-v lists all)")
    calls = sum(_total(e, "samples") for e in experiments)
    replayed = sum(_total(e, "replayed") for e in experiments)
    tokens = sum(_total(e, "total_tokens") for e in experiments)
    retries = sum(int(row.get("retries", 0)) for e in experiments for row in e["configs"])
    count = len(experiments)
    reporter.write_line(
        f"total: {count} experiment{'s' if count != 1 else ''}, {calls} calls "
        f"({replayed} replayed, {calls - replayed} live"
        f"{f', {retries} retries' if retries else ''}), {tokens:,} tokens, "
        f"{_money(_session_cost(experiments))}"
    )


def _config_cells(row: dict[str, Any]) -> tuple[str, ...]:
    checked = row["checked"]
    return (
        f"  {row['name']}",
        str(row["samples"]),
        percent(row["passed"], checked),
        f"{row['total_tokens']:,}",
        _money(row["cost_usd"]),
        f"{row['latency_p50_s']:.2f}s",
        f"{row['latency_p95_s']:.2f}s",
        _calls_cell(row),
    )


def _calls_cell(row: dict[str, Any]) -> str:
    cell = f"{row['replayed']} replayed" if not row["live"] else f"{row['live']} live"
    retries = int(row.get("retries", 0))
    return cell + (f", {retries} retr{'y' if retries == 1 else 'ies'}" if retries else "")


def _write_table(reporter: TerminalReporter, rows: list[tuple[str, ...]]) -> None:
    table = [row for row in rows if len(row) == len(_HEADER)]  # not the experiment headings
    widths = [max(len(row[col]) for row in table) for col in range(len(_HEADER))]
    for row in rows:
        if len(row) == 1:  # an experiment's heading
            reporter.write_line(row[0])
            continue
        numbers = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in numbers]
        reporter.write_line("  ".join(cells).rstrip())


def _total(experiment: dict[str, Any], key: str) -> int:
    return sum(int(row[key]) for row in experiment["configs"])


def _session_cost(experiments: Sequence[dict[str, Any]]) -> float | None:
    costs = [row["cost_usd"] for e in experiments for row in e["configs"]]
    return None if not costs or None in costs else sum(costs)


def _money(value: float | None) -> str:
    return "cost unknown" if value is None else f"${value:.4f}"


def write_plan(reporter: TerminalReporter, plans: Sequence[dict[str, Any]]) -> None:
    """What the run would do: per test, then in total. Nothing was called."""
    reporter.write_sep("-", "chatexp plan (nothing was called)")
    for plan in sorted(plans, key=lambda plan: str(plan["test"])):
        missing = f", {plan['missing']} without a recording" if plan["missing"] else ""
        reporter.write_line(
            f"{plan['test']}: {_calls(plan['calls'])}, {plan['replayed']} replayed, "
            f"{plan['live']} live{missing}"
        )
    calls = sum(plan["calls"] for plan in plans)
    live = sum(plan["live"] for plan in plans)
    missing = sum(plan["missing"] for plan in plans)
    tokens = sum(plan["estimated_tokens"] for plan in plans)
    costs = [plan["estimated_cost_usd"] for plan in plans]
    unpriced = sorted({model for plan in plans for model in plan["unpriced_models"]})
    cost = "cost unknown" if None in costs else f"~${sum(costs):.4f}"
    reporter.write_line(
        f"plan: {_calls(calls)}, {calls - live - missing} replayed, {live} live"
        + (f", {missing} without a recording (they would fail)" if missing else "")
        + f"; live calls estimated at ~{tokens:,} tokens, {cost}"
        + (f" (no price for {', '.join(unpriced)})" if unpriced else "")
    )


def _calls(count: int) -> str:
    return f"{count} call" if count == 1 else f"{count} calls"


def write_unused(
    reporter: TerminalReporter, entries: dict[str, int], files: Sequence[str], *, pruned: bool
) -> None:
    """Recordings nothing used: entries of prompts that changed, files of deleted tests."""
    if not entries and not files:
        return
    verb = "deleted" if pruned else "unused"
    for name, count in sorted(entries.items()):
        plural = "entry" if count == 1 else "entries"
        reporter.write_line(f"chatexp: {count} {verb} recording {plural} in {name}")
    for name in files:
        reporter.write_line(f"chatexp: {verb} recording file {name} (its test no longer exists)")
    if not pruned:
        reporter.write_line("chatexp: run with --chatexp-prune to delete unused recordings")
