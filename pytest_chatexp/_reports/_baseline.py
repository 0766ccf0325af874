"""A committed baseline for live runs: this run's report against one an earlier run wrote.

Nightly runs against real models cannot replay recordings; what they can do is compare with a
JSON report of a run that was reviewed and committed (``--chatexp-baseline``). Both sides are read
the same way (``_entries.read_run``), so the comparison is of two ``RunEntry``s:

- per case (test, model config, input), the samples its checks judged: this run's passes against
  the baseline's by a one-sided Fisher exact test, Holm-corrected across the cases compared,
  so that a suite of many cases does not turn up a "regression" by chance every night;
- per test and model config, the mean total tokens and cost per sample, flagged when they grew
  by more than a relative tolerance; unknown on either side is said, never counted as zero.

A significant regression or a flagged increase fails the run (``failed``); a drop that is not
significant is listed as such.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..checks._stats import fisher_less, holm
from ._entries import RunEntry, read_run
from ._run import FORMAT, VERSION

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

__all__ = [
    "BaselineComparison",
    "BaselineError",
    "CaseChange",
    "SpendChange",
    "compare_runs",
    "read_baseline",
    "write_baseline",
]

CaseKey = tuple[str, str, str]  # test, model config, input


class BaselineError(ValueError):
    """The baseline file cannot be used; the message is the paragraph to show."""


@dataclass(frozen=True)
class CaseChange:
    """One case compared: the baseline's and this run's checked samples and passes, the raw
    one-sided Fisher p-value and the Holm-adjusted one."""

    test: str
    config: str
    input: str
    baseline_passed: int
    baseline_checked: int
    passed: int
    checked: int
    p_value: float
    adjusted: float
    regressed: bool

    @property
    def dropped(self) -> bool:
        return self.passed * self.baseline_checked < self.baseline_passed * self.checked

    def describe(self) -> str:
        return (
            f"{self.test}  config {self.config}  input {self.input}: "
            f"{_rate(self.baseline_passed, self.baseline_checked)} -> "
            f"{_rate(self.passed, self.checked)}, p={_p(self.adjusted)}"
        )


@dataclass(frozen=True)
class SpendChange:
    """Tokens or cost per sample of one test's model config; None: unknown on that side."""

    test: str
    config: str
    metric: str  # "tokens" or "cost"
    baseline: float | None
    now: float | None
    flagged: bool

    @property
    def increase(self) -> float | None:
        if self.baseline is None or self.now is None:
            return None
        if self.baseline == 0:
            return 0.0 if self.now == 0 else math.inf
        return (self.now - self.baseline) / self.baseline

    def describe(self, max_increase: float) -> str:
        increase = self.increase
        if increase is None:
            change = "unknown"
        else:
            change = "+inf%" if math.isinf(increase) else f"{increase:+.1%}"
        return (
            f"{self.test}  config {self.config}: {self.metric} per sample "
            f"{_amount(self.metric, self.baseline)} -> {_amount(self.metric, self.now)} "
            f"({change}, allowed +{max_increase:.0%})"
        )


@dataclass(frozen=True)
class BaselineComparison:
    alpha: float
    max_increase: float
    cases: tuple[CaseChange, ...]  # the cases checked on both sides
    spending: tuple[SpendChange, ...]  # per test and model config run on both sides
    new_cases: int  # checked in this run, not in the baseline
    missing_cases: int  # checked in the baseline, not in this run

    @property
    def regressed(self) -> list[CaseChange]:
        return [case for case in self.cases if case.regressed]

    @property
    def wobbles(self) -> list[CaseChange]:
        """Cases whose pass rate dropped, but not significantly."""
        return [case for case in self.cases if case.dropped and not case.regressed]

    @property
    def increased(self) -> list[SpendChange]:
        return [change for change in self.spending if change.flagged]

    def unknown(self, metric: str) -> list[SpendChange]:
        return [
            change
            for change in self.spending
            if change.metric == metric and (change.baseline is None or change.now is None)
        ]

    @property
    def failed(self) -> bool:
        return bool(self.regressed or self.increased)


def read_baseline(path: Path, option: str) -> RunEntry:
    """The baseline report at ``path`` (named by ``option``), or a ``BaselineError`` saying what
    is wrong with it and how to write a good one."""
    remedy = (
        f"The baseline must be a JSON report written by pytest-chatexp (--chatexp-json, or "
        f"--chatexp-baseline-update to write this run's results to {path})."
    )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(
            f"chatexp: {option}: the baseline report {path} does not exist. {remedy}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BaselineError(
            f"chatexp: {option}: cannot read the baseline report {path}: {why}. {remedy}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"chatexp: {option}: the baseline report {path} is not valid JSON ({exc.msg} at "
            f"line {exc.lineno}, column {exc.colno}). {remedy}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BaselineError(
            f'chatexp: {option}: {path} is not a pytest-chatexp report (no "format": '
            f'"{FORMAT}" in it). {remedy}'
        )
    if data.get("version") != VERSION:
        raise BaselineError(
            f"chatexp: {option}: the baseline report {path} is of report version "
            f"{data.get('version')!r}, and this version of pytest-chatexp reads version "
            f"{VERSION}: write the baseline again with --chatexp-baseline-update."
        )
    return read_run(data)


def _case_counts(run: RunEntry) -> dict[CaseKey, tuple[int, int]]:
    """(passed, checked) per case, over the samples a check judged (a test's experiments that
    ran the same case add up)."""
    counts: dict[CaseKey, tuple[int, int]] = {}
    for test in run.tests:
        for case in test.cases():
            checked = [sample for sample in case.samples if sample.checked]
            if not checked:
                continue
            key = (test.test, case.config, case.input)
            passed, total = counts.get(key, (0, 0))
            passes = sum(1 for sample in checked if sample.failure is None)
            counts[key] = (passed + passes, total + len(checked))
    return counts


def _spending(run: RunEntry) -> dict[tuple[str, str], tuple[int, int | None, float | None]]:
    """(samples, total tokens, cost) per test and model config; None: unknown."""
    sums: dict[tuple[str, str], tuple[int, int | None, float | None]] = {}
    for test in run.tests:
        for row in test.configs():
            key = (test.test, row.name)
            samples, tokens, cost = sums.get(key, (0, 0, 0.0))
            sums[key] = (
                samples + row.samples,
                None if tokens is None or row.total_tokens is None else tokens + row.total_tokens,
                None if cost is None or row.cost_usd is None else cost + row.cost_usd,
            )
    return sums


def compare_runs(
    baseline: RunEntry, run: RunEntry, *, alpha: float, max_increase: float
) -> BaselineComparison:
    """This ``run`` against the ``baseline``: Holm-corrected Fisher tests per case at ``alpha``,
    tokens and cost per sample against ``max_increase`` (0.1 = 10%)."""
    before, now = _case_counts(baseline), _case_counts(run)
    shared = sorted(before.keys() & now.keys())
    raw = [fisher_less(*now[key], *before[key]) for key in shared]
    adjusted = holm(raw)
    cases = tuple(
        CaseChange(
            test=key[0],
            config=key[1],
            input=key[2],
            baseline_passed=before[key][0],
            baseline_checked=before[key][1],
            passed=now[key][0],
            checked=now[key][1],
            p_value=p_value,
            adjusted=fixed,
            regressed=fixed <= alpha,
        )
        for key, p_value, fixed in zip(shared, raw, adjusted, strict=True)
    )
    spent_before, spent_now = _spending(baseline), _spending(run)
    spending: list[SpendChange] = []
    for key in sorted(spent_before.keys() & spent_now.keys()):
        (samples_before, *then), (samples_now, *current) = spent_before[key], spent_now[key]
        if not samples_before or not samples_now:
            continue
        for metric, old, new in zip(("tokens", "cost"), then, current, strict=True):
            mean_old = None if old is None else old / samples_before
            mean_new = None if new is None else new / samples_now
            change = SpendChange(key[0], key[1], metric, mean_old, mean_new, flagged=False)
            increase = change.increase
            flagged = increase is not None and increase > max_increase + 1e-9
            spending.append(replace(change, flagged=flagged))
    return BaselineComparison(
        alpha=alpha,
        max_increase=max_increase,
        cases=cases,
        spending=tuple(spending),
        new_cases=len(now.keys() - before.keys()),
        missing_cases=len(before.keys() - now.keys()),
    )


def write_baseline(reporter: TerminalReporter, comparison: BaselineComparison, path: str) -> None:
    """The ``chatexp baseline`` terminal section: what regressed (red), what dropped without
    significance, unknown spending, and the verdict."""
    reporter.write_sep("-", "chatexp baseline")
    compared = len(comparison.cases)
    extra = []
    if comparison.new_cases:
        extra.append(f"{comparison.new_cases} new without a baseline")
    if comparison.missing_cases:
        extra.append(f"{comparison.missing_cases} of the baseline not run")
    reporter.write_line(
        f"compared with {path}: {compared} case{'' if compared == 1 else 's'}"
        + (f" ({', '.join(extra)})" if extra else "")
        + f"; pass rates by Fisher's exact test, Holm-corrected at alpha {comparison.alpha:g}; "
        f"tokens and cost per sample allowed +{comparison.max_increase:.0%}"
    )
    for case in comparison.regressed:
        reporter.write_line(f"REGRESSED  {case.describe()}", red=True)
    for change in comparison.increased:
        reporter.write_line(f"INCREASED  {change.describe(comparison.max_increase)}", red=True)
    for case in comparison.wobbles:
        reporter.write_line(f"not significant  {case.describe()}")
    for metric in ("tokens", "cost"):
        unknown = comparison.unknown(metric)
        if unknown:
            reporter.write_line(
                f"{metric} per sample unknown (not compared) for {_names(unknown)}", yellow=True
            )
    if comparison.failed:
        parts = []
        if comparison.regressed:
            count = len(comparison.regressed)
            parts.append(f"{count} significant regression{'' if count == 1 else 's'}")
        if comparison.increased:
            count = len(comparison.increased)
            parts.append(f"{count} increase{'' if count == 1 else 's'} past the tolerance")
        reporter.write_line(f"chatexp baseline: FAILED: {' and '.join(parts)}", red=True)
    else:
        reporter.write_line("chatexp baseline: no significant regression", green=True)


def _names(changes: Iterable[SpendChange]) -> str:
    names = [f"{change.test} config {change.config}" for change in changes]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _rate(passed: int, total: int) -> str:
    return f"{passed / total:.0%} ({passed}/{total})"


def _amount(metric: str, value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:.6f}" if metric == "cost" else f"{value:.1f}"


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"
