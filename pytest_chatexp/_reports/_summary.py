"""The terminal summary: per experiment and model config, then the session's totals.

It reads the records tests carry on their reports (see ``_reports._records``), so under xdist
the controller prints correct totals across workers. Experiments that raised are in it too:
every call that went out is counted, retries included. Unknown token counts show as unknown.
Stdlib only: the controller may never import the rest of the plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._util import percent
from ._format import known_sum
from ._sampling import saved_text
from ._shared import counted_once

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

    from .._calls._budget import PlanRecord
    from .._calls._metering import LedgerState
    from ._records import ConfigRow, ExperimentRecord, SamplingRecord

__all__ = [
    "relative_path",
    "write_budget",
    "write_inconclusive",
    "write_plan",
    "write_summary",
    "write_unused",
]

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
    reporter: TerminalReporter, experiments: Sequence[ExperimentRecord], *, record_mode: str
) -> None:
    """A block per experiment (the 20 most expensive unless -v), a row per model config."""
    reporter.write_sep("-", f"chatexp experiments (record mode: {record_mode})")
    shown = list(experiments)
    if len(shown) > _EXPERIMENTS_SHOWN and reporter.config.getoption("verbose") < 1:
        shown = sorted(shown, key=lambda e: (-(_total(e, _total_tokens) or 0), e["test"]))
        shown = shown[:_EXPERIMENTS_SHOWN]
    rows: list[tuple[str, ...]] = [_HEADER]
    # Sorted: under xdist, reports arrive in completion order.
    for experiment in sorted(shown, key=lambda e: str(e["test"])):
        note = " (raised: no samples; its calls are counted)" if experiment.get("errored") else ""
        if "shared" in experiment:
            note += f" (shared experiment {experiment['shared']}: counted once)"
        rows.append((f"{experiment['test']}{note}",))
        rows += [_config_cells(row) for row in experiment["configs"]]
        if experiment.get("adaptive"):
            rows.append((_adaptive_line(experiment.get("adaptive", [])),))
    _write_table(reporter, rows)
    if len(shown) < len(experiments):
        reporter.write_line(f"... {len(experiments) - len(shown)} more experiments (-v lists all)")
    counted = counted_once(experiments)  # a shared experiment is in each member's record
    replayed, live, failed, retries, skipped, batched = (
        sum(_total(e, count) or 0 for e in counted) for count in _COUNTS
    )
    tokens = [_total(e, _total_tokens) for e in counted]
    count = len(counted)
    errored = sum(1 for e in counted if e.get("errored"))
    reporter.write_line(
        f"total: {count} experiment{'s' if count != 1 else ''}"
        f"{f' ({errored} raised)' if errored else ''}, "
        f"{_calls(replayed + live)} "
        f"({_calls_cell(replayed, live, failed, retries, skipped, batched, every=True)}), "
        + _tokens_total(tokens)
        + f", {_money(_session_cost(counted))}"
    )
    write_inconclusive(reporter, experiments)


def write_inconclusive(reporter: TerminalReporter, experiments: Sequence[ExperimentRecord]) -> None:
    """``chatexp: 2 cases inconclusive at 95% confidence (policy: xfail)``, a line per
    confidence and policy, in yellow: verdicts the samples could not give."""
    groups: dict[tuple[float, str], int] = {}
    for experiment in experiments:
        for case in experiment.get("inconclusive", []):
            key = (case["confidence"], case["policy"])
            groups[key] = groups.get(key, 0) + 1
    for (confidence, policy), count in sorted(groups.items()):
        reporter.write_line(
            f"chatexp: {count} case{'s' if count != 1 else ''} inconclusive at "
            f"{confidence * 100:g}% confidence (policy: {policy})",
            yellow=True,
        )


def _adaptive_line(cases: Sequence[SamplingRecord]) -> str:
    """Adaptive sampling: samples drawn of the most it could have, per case (the first few)."""
    drawn = sum(case["drawn"] for case in cases)
    most = sum(case["maximum"] for case in cases)
    shown = ", ".join(
        f"{case['config']}/{case['input']} {case['drawn']}/{case['maximum']}"
        for case in cases[:_ADAPTIVE_CASES_SHOWN]
    )
    more = (
        f", ... {len(cases) - _ADAPTIVE_CASES_SHOWN} more"
        if len(cases) > _ADAPTIVE_CASES_SHOWN
        else ""
    )
    return f"  adaptive sampling: {saved_text(drawn, most)} ({shown}{more})"


_ADAPTIVE_CASES_SHOWN = 6


# What a row counts, for the totals; a row of an older record may lack the last two.
_COUNTS: tuple[Callable[[ConfigRow], int | None], ...] = (
    lambda row: row["replayed"],
    lambda row: row["live"],
    lambda row: row.get("failed", 0),
    lambda row: row.get("retries", 0),
    lambda row: row.get("skipped", 0),
    lambda row: row.get("batched", 0),
)


def _total_tokens(row: ConfigRow) -> int | None:
    return row["total_tokens"]


def _tokens_total(tokens: list[int | None]) -> str:
    known = sum(count for count in tokens if count is not None)
    if None not in tokens:
        return f"{known:,} tokens"
    return "tokens unknown" if not known else f"{known:,} tokens + unknown usage"


def _config_cells(row: ConfigRow) -> tuple[str, ...]:
    checked = row["checked"]
    tokens = row["total_tokens"]
    return (
        f"  {row['name']}",
        str(row["samples"]),
        percent(row["passed"], checked),
        "unknown" if tokens is None else f"{tokens:,}",
        _money(row["cost_usd"]),
        _seconds(row["latency_p50_s"]),
        _seconds(row["latency_p95_s"]),
        _calls_cell(*(int(count(row) or 0) for count in _COUNTS)),
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _calls_cell(
    replayed: int,
    live: int,
    failed: int,
    retries: int,
    skipped: int = 0,
    batched: int = 0,
    *,
    every: bool = False,
) -> str:
    """'2 replayed, 3 live (1 failed, 2 by batch), 1 retry, 4 not sent': each part that is not
    zero (``every``: the replayed and live counts always). Not sent: an endpoint that was down;
    by batch: answered through a batch API (--chatexp-batch), at half price."""
    parts = [f"{replayed} replayed"] if replayed or every else []
    if live or every:
        notes = [f"{failed} failed"] * bool(failed) + [f"{batched} by batch"] * bool(batched)
        parts.append(f"{live} live" + (f" ({', '.join(notes)})" if notes else ""))
    if retries:
        parts.append(f"{retries} retr{'y' if retries == 1 else 'ies'}")
    if skipped:
        parts.append(f"{skipped} not sent (endpoint down)")
    return ", ".join(parts) or "-"


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


def _total(experiment: ExperimentRecord, count: Callable[[ConfigRow], int | None]) -> int | None:
    """The sum of ``count`` over the experiment's rows; None when a row's value is unknown."""
    return known_sum(count(row) for row in experiment["configs"])


def _session_cost(experiments: Sequence[ExperimentRecord]) -> float | None:
    costs = [row["cost_usd"] for e in experiments for row in e["configs"]]
    known = [cost for cost in costs if cost is not None]
    return None if not costs or len(known) < len(costs) else sum(known)


def _money(value: float | None) -> str:
    return "cost unknown" if value is None else f"${value:.4f}"


def write_budget(
    reporter: TerminalReporter,
    state: LedgerState,
    *,
    max_tokens: int | None,
    max_cost: float | None,
    stopped_tests: Sequence[str],
) -> None:
    """The session budget: the caps, what the live calls spent, and what the budget stopped."""
    caps = [] if max_tokens is None else [f"{max_tokens:,} tokens"]
    caps += [] if max_cost is None else [f"${max_cost:.4f}"]
    # Dollars only under a cost cap: only then is every live call's model priced.
    cost = "" if max_cost is None else f" (${state.spent_cost:.4f})"
    line = (
        f"chatexp budget: {' and '.join(caps)}; spent {state.spent_tokens:,} tokens{cost} "
        f"on {_calls(state.calls)}"
    )
    if state.unknown_usage:
        line += (
            f" ({state.unknown_usage} reported no usage and "
            f"{'was' if state.unknown_usage == 1 else 'were'} charged at the estimate)"
        )
    reporter.write_line(line)
    if state.stopped is None and not stopped_tests:
        return
    names = sorted(stopped_tests)
    reporter.write_line(
        f"chatexp budget: STOPPED: {state.stopped}. {_calls(state.refused)} refused; "
        f"{len(names)} test{'s' if len(names) != 1 else ''} failed for it: "
        + ", ".join(names[:_EXPERIMENTS_SHOWN])
        + (
            f" ... and {len(names) - _EXPERIMENTS_SHOWN} more" if names[_EXPERIMENTS_SHOWN:] else ""
        ),
        red=True,
        bold=True,
    )


def write_plan(reporter: TerminalReporter, plans: Sequence[PlanRecord]) -> None:
    """What the run would do: per test, then in total. Nothing was called."""
    reporter.write_sep("-", "chatexp plan (nothing was called)")
    for plan in sorted(plans, key=lambda plan: plan.test):
        without = f", {plan.missing} without a recording" if plan.missing else ""
        sharing = (
            f" (shared experiment {plan.shared}, shared with {plan.members} tests: counted once)"
            if plan.shared
            else ""
        )
        reporter.write_line(
            f"{plan.test}: {_calls(plan.calls)}, {plan.replayed} replayed, "
            f"{plan.live} live{_by_batch(plan.batched)}{without}{sharing}"
        )
    # Each member of a shared experiment has its plan; the totals count it once.
    plans = [plan for plan in plans if not plan.shared] + list(
        {plan.shared: plan for plan in plans if plan.shared}.values()
    )
    calls = sum(plan.calls for plan in plans)
    live = sum(plan.live for plan in plans)
    batched = sum(plan.batched for plan in plans)
    missing = sum(plan.missing for plan in plans)
    tokens = sum(plan.estimated_tokens for plan in plans)
    costs = [plan.estimated_cost_usd for plan in plans]
    unpriced = sorted({model for plan in plans for model in plan.unpriced_models})
    known = [cost for cost in costs if cost is not None]
    cost = "cost unknown" if len(known) < len(costs) else f"~${sum(known):.4f}"
    reporter.write_line(
        f"plan: {_calls(calls)}, {calls - live - missing} replayed, {live} live"
        + _by_batch(batched)
        + (f", {missing} without a recording (they would fail)" if missing else "")
        + f"; live calls estimated at ~{tokens:,} tokens, {cost}"
        + (f" (no price for {', '.join(unpriced)})" if unpriced else "")
    )


def _by_batch(batched: int) -> str:
    """Of a plan's live calls, those --chatexp-batch sends through a batch API: in a tool loop
    or a conversation, only first calls are planned (later turns go by batch too)."""
    return f" ({batched} by batch, at half price)" if batched else ""


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
