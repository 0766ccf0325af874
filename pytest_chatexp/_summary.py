"""Per-experiment statistics and the terminal summary.

Statistics travel on test reports as plain dicts, because that is what pytest-xdist serialises
from workers to the controller; the controller sums them. This module imports only the stdlib:
it runs on the controller, which may never import the rest of the plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

    from ._experiment import ExperimentResult

__all__ = ["ExperimentStats", "stats_of", "write_summary"]


class ExperimentStats(TypedDict):
    test: str
    configs: list[str]
    calls: int
    replayed: int
    prompt_tokens: int
    generation_tokens: int
    total_tokens: int
    wall_time_s: float


def stats_of(test: str, result: ExperimentResult) -> ExperimentStats:
    usage = result.usage
    return ExperimentStats(
        test=test,
        configs=[config.display_name for config in result.model_configs],
        calls=len(result.samples),
        replayed=sum(1 for sample in result.samples if sample.replayed),
        prompt_tokens=usage.prompt_tokens,
        generation_tokens=usage.generation_tokens,
        total_tokens=usage.total_tokens,
        wall_time_s=round(result.wall_time_s, 4),
    )


_ROWS_SHOWN = 20


def write_summary(
    reporter: TerminalReporter, experiments: Sequence[ExperimentStats], *, record_mode: str
) -> None:
    """One line per experiment (the 20 most expensive unless -v), then the session's totals."""
    reporter.write_sep("-", f"chatexp experiments (record mode: {record_mode})")
    rows: list[tuple[str, ...]] = [("experiment", "configs", "calls", "tokens", "wall")]
    shown = list(experiments)
    if len(shown) > _ROWS_SHOWN and reporter.config.getoption("verbose") < 1:
        shown = sorted(shown, key=lambda stats: (-stats["total_tokens"], stats["test"]))[
            :_ROWS_SHOWN
        ]
    # Sorted: under xdist, reports arrive in completion order.
    for stats in sorted(shown, key=lambda stats: stats["test"]):
        rows.append(
            (
                stats["test"],
                str(len(stats["configs"])),
                _calls(stats["calls"], stats["replayed"]),
                f"{stats['total_tokens']:,}",
                f"{stats['wall_time_s']:.2f}s",
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    for row in rows:
        numbers = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in numbers]
        reporter.write_line("  ".join(cells))
    if len(shown) < len(experiments):
        reporter.write_line(f"... {len(experiments) - len(shown)} more experiments (-v lists all)")
    calls = sum(stats["calls"] for stats in experiments)
    replayed = sum(stats["replayed"] for stats in experiments)
    tokens = sum(stats["total_tokens"] for stats in experiments)
    wall = sum(stats["wall_time_s"] for stats in experiments)
    reporter.write_line(
        f"total: {len(experiments)} experiment{'s' if len(experiments) != 1 else ''}, "
        f"{_calls(calls, replayed)} calls, {tokens:,} tokens, {wall:.2f}s in experiments"
    )


def write_unused(
    reporter: TerminalReporter, entries: dict[str, int], files: Sequence[str], *, pruned: bool
) -> None:
    """Recordings nothing used: entries of prompts that changed, files of deleted tests."""
    if not entries and not files:
        return
    verb = "deleted" if pruned else "unused"
    for name, count in sorted(entries.items()):
        reporter.write_line(
            f"chatexp: {count} {verb} recording entr{'y' if count == 1 else 'ies'} in {name}"
        )
    for name in files:
        reporter.write_line(f"chatexp: {verb} recording file {name} (its test no longer exists)")
    if not pruned:
        reporter.write_line("chatexp: run with --chatexp-prune to delete unused recordings")


def _calls(calls: int, replayed: int) -> str:
    return f"{calls} ({replayed} replayed)" if replayed else str(calls)


def as_stats(value: Any) -> list[ExperimentStats]:
    """The stats a (possibly deserialised) report carries."""
    return list(value) if isinstance(value, list) else []
