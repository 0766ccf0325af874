"""Comparing two model configs of one experiment: is the candidate no worse than the baseline?

An A/B experiment runs both configs on the same inputs and sample counts, so their samples are
directly comparable: the pass rate of some checks, the tokens each sample spends and what it
costs. ``assert_not_worse`` fails with both configs' numbers side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .._experiment._humanloop import Usage
from .._experiment._result import Case, group
from .._pricing import PriceTable
from ._budgets import cost_of, price_table
from ._verdict import Checkable, SampleCheck, cases_of, verdicts

__all__ = ["Comparison", "ConfigSummary", "assert_not_worse"]


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


@dataclass(frozen=True)
class _Row:
    metric: str
    baseline: str
    candidate: str
    change: str
    allowed: str
    worse: bool


def _config_cases(subject: Checkable, *, candidate: str, baseline: str) -> dict[str, list[Case]]:
    groups = group(cases_of(subject), lambda case: case.config.display_name)
    unknown = [name for name in (candidate, baseline) if name not in groups]
    if unknown:
        known = ", ".join(repr(name) for name in groups) or "none"
        which = " and ".join(repr(name) for name in unknown)
        raise ValueError(
            f"assert_not_worse(): no model config named {which} in this experiment "
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
    max_pass_rate_drop: float = 0.0,
    max_token_increase: float | None = None,
    max_cost_increase: float | None = None,
    prices: PriceTable | None = None,
) -> Comparison:
    """Assert that model config ``candidate`` does no worse than ``baseline`` (by display name).

    Compared over all of each config's samples: the pass rate of ``checks`` (the candidate's may
    be at most ``max_pass_rate_drop`` lower), and, when limits are given, the mean total tokens
    and the mean cost per sample (relative increases: 0.1 = 10%). ``prices`` defaults to the
    running test's table (ini ``chatexp_prices``). Returns both configs' numbers.

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
    if not 0.0 <= max_pass_rate_drop <= 1.0:
        raise ValueError(f"max_pass_rate_drop must be between 0 and 1, got {max_pass_rate_drop}")
    _check_fraction("max_token_increase", max_token_increase)
    _check_fraction("max_cost_increase", max_cost_increase)
    groups = _config_cases(subject, candidate=candidate, baseline=baseline)
    base_cases, cand_cases = groups[baseline], groups[candidate]

    failed: dict[str, int] = {}
    if checks:
        # One pass over both configs, so checks that prepare (graders) see every sample at once.
        for verdict in verdicts([*base_cases, *cand_cases], checks):
            name = verdict.case.config.display_name
            failed[name] = failed.get(name, 0) + len(verdict.failures)
    table = price_table(prices) if max_cost_increase is not None else None

    def summary(name: str, cases: list[Case]) -> ConfigSummary:
        samples = [sample for case in cases for sample in case.samples]
        return ConfigSummary(
            name=name,
            samples=len(samples),
            passed=len(samples) - failed.get(name, 0),
            total_tokens=Usage.combined(sample.usage for sample in samples).total_tokens,
            cost_usd=cost_of(cases, prices=table) if table is not None else None,
        )

    base, cand = summary(baseline, base_cases), summary(candidate, cand_cases)
    rows: list[_Row] = []
    if checks:
        floor = base.pass_rate - max_pass_rate_drop
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
        raise AssertionError(_table(rows, base=base, cand=cand))
    return Comparison(baseline=base, candidate=cand, worse=worse)


def _table(rows: list[_Row], *, base: ConfigSummary, cand: ConfigSummary) -> str:
    counts = (
        f"{base.samples} samples each"
        if base.samples == cand.samples
        else f"{base.samples} vs {cand.samples} samples"
    )
    bad = sum(row.worse for row in rows)
    header = ("metric", f"baseline '{base.name}'", f"candidate '{cand.name}'", "change", "allowed")
    cells = [header, *((r.metric, r.baseline, r.candidate, r.change, r.allowed) for r in rows)]
    widths = [max(len(cell[column]) for cell in cells) for column in range(len(header))]
    marks = ["", *("WORSE" if row.worse else "ok" for row in rows)]
    lines = [
        f"candidate '{cand.name}' is worse than baseline '{base.name}' on {bad} of "
        f"{len(rows)} metric{'' if len(rows) == 1 else 's'} ({counts})"
    ]
    for cell, mark in zip(cells, marks, strict=True):
        text = "  ".join(value.ljust(width) for value, width in zip(cell, widths, strict=True))
        lines.append(f"  {text}  {mark}".rstrip())
    return "\n".join(lines)
