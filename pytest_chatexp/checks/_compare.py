"""Comparing two model configs of one experiment: is the candidate no worse than the baseline?

An A/B experiment runs both configs on the same inputs and sample counts, so their samples are
directly comparable: the pass rate of some checks, the tokens each sample spends and what it
costs. ``assert_not_worse`` fails with both configs' numbers side by side.

Given ``alpha``, the pass rates are compared pair by pair (``_paired``): a candidate fails
``assert_not_worse`` only when it is significantly worse, and passes ``assert_better`` only
when it is significantly better, by a one-sided exact McNemar test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .._experiment._humanloop import Usage
from .._experiment._result import Case, group
from .._pricing import PriceTable
from ._budgets import cost_of, price_table
from ._paired import PairedCounts, PairedTest, check_alpha, outcomes_of, paired_counts, paired_test
from ._stats import Interval
from ._verdict import Checkable, SampleCheck, cases_of, verdicts

__all__ = ["Comparison", "ConfigSummary", "assert_better", "assert_not_worse"]


@dataclass(frozen=True)
class ConfigSummary:
    """One model config's samples, summed up: passes (with checks), tokens, cost."""

    name: str
    samples: int
    passed: int
    total_tokens: int | None  # None: some sample's usage is unknown
    cost_usd: float | None = None

    @property
    def pass_rate(self) -> float:
        return self.passed / self.samples if self.samples else 1.0

    @property
    def mean_total_tokens(self) -> float | None:
        if self.total_tokens is None:
            return None
        return self.total_tokens / self.samples if self.samples else 0.0

    @property
    def mean_cost_usd(self) -> float | None:
        if self.cost_usd is None:
            return None
        return self.cost_usd / self.samples if self.samples else 0.0


@dataclass(frozen=True)
class Comparison:
    """What ``assert_not_worse`` measured; ``worse`` names the metrics the candidate lost on."""

    baseline: ConfigSummary
    candidate: ConfigSummary
    worse: tuple[str, ...] = ()
    # With alpha: the one-sided McNemar p-value, the interval of (candidate - baseline) pass
    # rate over the paired samples, and the pairs themselves.
    p_value: float | None = None
    interval: Interval | None = None
    pairs: PairedCounts | None = None


@dataclass(frozen=True)
class _Row:
    metric: str
    baseline: str
    candidate: str
    change: str
    allowed: str
    worse: bool


def _config_cases(
    subject: Checkable, *, candidate: str, baseline: str, caller: str = "assert_not_worse"
) -> dict[str, list[Case]]:
    groups = group(cases_of(subject), lambda case: case.config.display_name)
    unknown = [name for name in (candidate, baseline) if name not in groups]
    if unknown:
        known = ", ".join(repr(name) for name in groups) or "none"
        which = " and ".join(repr(name) for name in unknown)
        raise ValueError(
            f"{caller}(): no model config named {which} in this experiment "
            f"(known model configs: {known})"
        )
    return groups


def _increase(baseline: float, candidate: float) -> float:
    """The candidate's relative increase over the baseline (0.1 = 10% more)."""
    if baseline == 0:
        return 0.0 if candidate == 0 else math.inf
    return (candidate - baseline) / baseline


def _percent(fraction: float) -> str:
    if math.isinf(fraction):
        return "+inf%"
    return f"{fraction * 100:+.1f}%"


def _allowed_increase(limit: float) -> str:
    return f"<= {limit * 100:+g}%"


def _check_fraction(name: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (a fraction: 0.1 = 10%), got {value!r}")


def assert_not_worse(
    subject: Checkable,
    *,
    candidate: str,
    baseline: str,
    checks: Sequence[SampleCheck] = (),
    max_pass_rate_drop: float | None = None,
    max_token_increase: float | None = None,
    max_cost_increase: float | None = None,
    prices: PriceTable | None = None,
    alpha: float | None = None,
) -> Comparison:
    """Assert that model config ``candidate`` does no worse than ``baseline`` (by display name).

    Compared over all of each config's samples: the pass rate of ``checks`` (the candidate's may
    be at most ``max_pass_rate_drop`` lower, default 0), and, when limits are given, the mean
    total tokens and the mean cost per sample (relative increases: 0.1 = 10%). ``prices``
    defaults to the running test's table (ini ``chatexp_prices``). Returns both configs' numbers.

    With ``alpha`` (e.g. 0.05) the pass rates are compared over the samples both configs have
    (same input and sample index), and the candidate fails only when it is significantly worse
    at ``alpha`` (one-sided exact McNemar test) and, if ``max_pass_rate_drop`` is given, dropped
    by more than it.

    Example: ``assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[is_json])``
    """
    __tracebackhide__ = True
    if not checks and max_token_increase is None and max_cost_increase is None:
        raise TypeError(
            "assert_not_worse() has nothing to compare: pass checks=, max_token_increase= "
            "or max_cost_increase="
        )
    if candidate == baseline:
        raise ValueError(f"assert_not_worse(): candidate and baseline are both {candidate!r}")
    if alpha is not None:
        alpha = check_alpha(alpha)
        if not checks:
            raise TypeError("assert_not_worse(): alpha= tests the pass rate of checks=: pass them")
    drop = 0.0 if max_pass_rate_drop is None else max_pass_rate_drop
    if not 0.0 <= drop <= 1.0:
        raise ValueError(f"max_pass_rate_drop must be between 0 and 1, got {max_pass_rate_drop}")
    _check_fraction("max_token_increase", max_token_increase)
    _check_fraction("max_cost_increase", max_cost_increase)
    groups = _config_cases(subject, candidate=candidate, baseline=baseline)
    base_cases, cand_cases = groups[baseline], groups[candidate]

    failed, failing = _judge(base_cases, cand_cases, checks)
    table = price_table(prices) if max_cost_increase is not None else None

    def summary(name: str, cases: list[Case]) -> ConfigSummary:
        cost = cost_of(cases, prices=table) if table is not None else None
        return _pass_summary(name, cases, failed, cost_usd=cost)

    base, cand = summary(baseline, base_cases), summary(candidate, cand_cases)
    rows: list[_Row] = []
    test: PairedTest | None = None
    if checks and alpha is not None:
        test = paired_test(
            _pairs(base_cases, cand_cases, failing), alpha=alpha, alternative="worse"
        )
        rows.append(_paired_row(checks, test, max_pass_rate_drop))
    elif checks:
        floor = base.pass_rate - drop
        rows.append(
            _Row(
                f"pass rate [{', '.join(check.name for check in checks)}]",
                f"{base.pass_rate:.0%} ({base.passed}/{base.samples})",
                f"{cand.pass_rate:.0%} ({cand.passed}/{cand.samples})",
                f"{(cand.pass_rate - base.pass_rate) * 100:+.0f} pp",
                f">= {max(floor, 0.0):.0%}",
                cand.pass_rate + 1e-9 < floor,
            )
        )
    if max_token_increase is not None:
        base_tokens, cand_tokens = base.mean_total_tokens, cand.mean_total_tokens
        if base_tokens is None or cand_tokens is None:
            # A provider did not report usage: an increase cannot be ruled out, so not passed.
            change, lost = "usage unknown", True
        else:
            increase = _increase(base_tokens, cand_tokens)
            change, lost = _percent(increase), increase > max_token_increase + 1e-9
        rows.append(
            _Row(
                "total tokens per sample",
                "unknown" if base_tokens is None else f"{base_tokens:.1f}",
                "unknown" if cand_tokens is None else f"{cand_tokens:.1f}",
                change,
                _allowed_increase(max_token_increase),
                lost,
            )
        )
    if max_cost_increase is not None:
        base_cost, cand_cost = base.mean_cost_usd or 0.0, cand.mean_cost_usd or 0.0
        increase = _increase(base_cost, cand_cost)
        rows.append(
            _Row(
                "cost per sample",
                f"${base_cost:.6f}",
                f"${cand_cost:.6f}",
                _percent(increase),
                _allowed_increase(max_cost_increase),
                increase > max_cost_increase + 1e-9,
            )
        )
    worse = tuple(row.metric for row in rows if row.worse)
    if worse:
        notes = [test.counts.describe()] if test is not None else []
        raise AssertionError(_table(rows, base=base, cand=cand, notes=notes))
    return _comparison(base, cand, worse, test)


def assert_better(
    subject: Checkable,
    *,
    candidate: str,
    baseline: str,
    checks: Sequence[SampleCheck],
    alpha: float = 0.05,
) -> Comparison:
    """Assert that model config ``candidate`` passes ``checks`` significantly more often than
    ``baseline``: a one-sided exact McNemar test at ``alpha`` over the samples both configs
    have (same input and sample index). Fails with the table ``assert_not_worse`` shows.

    Example: ``assert_better(chatexp, candidate="v2", baseline="v1", checks=[is_json])``
    """
    __tracebackhide__ = True
    if not checks:
        raise TypeError("assert_better() has nothing to compare: pass checks=")
    if candidate == baseline:
        raise ValueError(f"assert_better(): candidate and baseline are both {candidate!r}")
    alpha = check_alpha(alpha)
    groups = _config_cases(subject, candidate=candidate, baseline=baseline, caller="assert_better")
    base_cases, cand_cases = groups[baseline], groups[candidate]
    failed, failing = _judge(base_cases, cand_cases, checks)
    test = paired_test(_pairs(base_cases, cand_cases, failing), alpha=alpha, alternative="better")
    base = _pass_summary(baseline, base_cases, failed)
    cand = _pass_summary(candidate, cand_cases, failed)
    row = _paired_row(checks, test, None)
    if not test.significant:
        raise AssertionError(
            _table(
                [row],
                base=base,
                cand=cand,
                notes=[test.counts.describe()],
                headline=f"candidate '{cand.name}' is not significantly better than baseline "
                f"'{base.name}'",
                marks=("NOT BETTER", "better"),
            )
        )
    return _comparison(base, cand, (), test)


def _judge(
    base_cases: list[Case], cand_cases: list[Case], checks: Sequence[SampleCheck]
) -> tuple[dict[str, int], dict[int, set[int]]]:
    """Failing samples, counted per config name and listed (by index) per case (``id``)."""
    failed: dict[str, int] = {}
    failing: dict[int, set[int]] = {}
    if checks:
        # One pass over both configs, so checks that prepare (graders) see every sample at once.
        for verdict in verdicts([*base_cases, *cand_cases], checks):
            name = verdict.case.config.display_name
            failed[name] = failed.get(name, 0) + len(verdict.failures)
            failing[id(verdict.case)] = {sample.index for sample, _ in verdict.failures}
    return failed, failing


def _pairs(
    base_cases: list[Case], cand_cases: list[Case], failing: dict[int, set[int]]
) -> PairedCounts:
    return paired_counts(outcomes_of(base_cases, failing), outcomes_of(cand_cases, failing))


def _pass_summary(
    name: str, cases: list[Case], failed: dict[str, int], *, cost_usd: float | None = None
) -> ConfigSummary:
    samples = [sample for case in cases for sample in case.samples]
    return ConfigSummary(
        name=name,
        samples=len(samples),
        passed=len(samples) - failed.get(name, 0),
        total_tokens=Usage.combined(sample.usage for sample in samples).total_tokens,
        cost_usd=cost_usd,
    )


def _paired_row(
    checks: Sequence[SampleCheck], test: PairedTest, max_pass_rate_drop: float | None
) -> _Row:
    counts = test.counts
    if test.alternative == "better":
        allowed, lost = f"significantly better (alpha {test.alpha:g})", not test.significant
    else:
        allowed = f"not significantly worse (alpha {test.alpha:g})"
        lost = test.significant
        if max_pass_rate_drop is not None:
            allowed += f", or a drop <= {max_pass_rate_drop * 100:g} pp"
            lost = lost and -counts.effect > max_pass_rate_drop + 1e-9
    base_passed = counts.both + counts.only_baseline
    cand_passed = counts.both + counts.only_candidate
    return _Row(
        f"pass rate [{', '.join(check.name for check in checks)}]",
        f"{counts.baseline_rate:.0%} ({base_passed}/{counts.pairs})",
        f"{counts.candidate_rate:.0%} ({cand_passed}/{counts.pairs})",
        test.describe_effect(),
        allowed,
        lost,
    )


def _comparison(
    base: ConfigSummary, cand: ConfigSummary, worse: tuple[str, ...], test: PairedTest | None
) -> Comparison:
    if test is None:
        return Comparison(baseline=base, candidate=cand, worse=worse)
    return Comparison(
        baseline=base,
        candidate=cand,
        worse=worse,
        p_value=test.p_value,
        interval=test.interval,
        pairs=test.counts,
    )


def _table(
    rows: list[_Row],
    *,
    base: ConfigSummary,
    cand: ConfigSummary,
    notes: Sequence[str] = (),
    headline: str | None = None,
    marks: tuple[str, str] = ("WORSE", "ok"),
) -> str:
    counts = (
        f"{base.samples} samples each"
        if base.samples == cand.samples
        else f"{base.samples} vs {cand.samples} samples"
    )
    bad = sum(row.worse for row in rows)
    header = ("metric", f"baseline '{base.name}'", f"candidate '{cand.name}'", "change", "allowed")
    cells = [header, *((r.metric, r.baseline, r.candidate, r.change, r.allowed) for r in rows)]
    widths = [max(len(cell[column]) for cell in cells) for column in range(len(header))]
    shown = ["", *(marks[0] if row.worse else marks[1] for row in rows)]
    if headline is None:
        headline = (
            f"candidate '{cand.name}' is worse than baseline '{base.name}' on {bad} of "
            f"{len(rows)} metric{'' if len(rows) == 1 else 's'}"
        )
    lines = [f"{headline} ({counts})"]
    for cell, mark in zip(cells, shown, strict=True):
        text = "  ".join(value.ljust(width) for value, width in zip(cell, widths, strict=True))
        lines.append(f"  {text}  {mark}".rstrip())
    lines += [f"  {note}" for note in notes]
    return "\n".join(lines)
