"""Budgets: tokens, cost and latency an experiment may spend.

Each ``assert_*`` sums or ranks what the samples report (``sample.usage``, ``sample.latency_s``)
per unit — a sample, a case (model config x input) or the whole experiment — and fails with one
line per unit over its limit. Replayed samples carry their recorded usage and latency, so a budget
holds in CI without calling a provider.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .._errors import InvalidExperimentError
from .._experiment._humanloop import Usage
from .._experiment._result import Case, ExperimentResult, Sample
from .._pricing import PriceTable, PricingError
from .._util import percentile
from ._running import active_test
from ._verdict import Checkable, SampleCheck, cases_of

__all__ = [
    "LatencyStats",
    "Per",
    "assert_cost",
    "assert_latency",
    "assert_tokens",
    "cache_hit_rate",
    "cost_of",
    "latency_stats",
    "percentile",
    "price_table",
]

Per = Literal["sample", "case", "experiment"]

_PER: tuple[Per, ...] = ("sample", "case", "experiment")
_TOKEN_KINDS = ("prompt", "generation", "total", "reasoning")
_UNITS_SHOWN = 20


@dataclass(frozen=True)
class _Unit:
    """What a limit applies to: its label in a failure, and its samples."""

    label: str
    samples: tuple[Sample, ...]

    @property
    def usage(self) -> Usage:
        return Usage.combined(sample.usage for sample in self.samples)


def _units(subject: Checkable, per: str) -> list[_Unit]:
    __tracebackhide__ = True
    if per not in _PER:
        raise ValueError(f"per must be one of {', '.join(map(repr, _PER))}, got {per!r}")
    cases = cases_of(subject)
    if per == "sample":
        return [
            _Unit(f"{case.id} sample {sample.index}", (sample,))
            for case in cases
            for sample in case.samples
        ]
    if per == "case":
        return [_Unit(case.id, case.samples) for case in cases]
    samples = tuple(sample for case in cases for sample in case.samples)
    name = f" {subject.name}" if isinstance(subject, ExperimentResult) and subject.name else ""
    return [_Unit(f"experiment{name}", samples)]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _check_limit(name: str, value: float | None) -> None:
    __tracebackhide__ = True
    if value is not None and (not math.isfinite(value) or value < 0):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def _listing(lines: list[str], offending: Sequence[tuple[str, str]]) -> None:
    """One line per offending unit (label, what is over), labels aligned."""
    width = builtins.max(len(label) for label, _ in offending)
    lines.extend(f"  {label.ljust(width)}  {over}" for label, over in offending[:_UNITS_SHOWN])
    if len(offending) > _UNITS_SHOWN:
        lines.append(f"  ... {len(offending) - _UNITS_SHOWN} more")


# --- tokens ----------------------------------------------------------------------------------


def _count(usage: Usage, kind: str) -> int | None:
    """The unit's ``kind`` tokens; None when unknown (a sample's provider did not report it)."""
    if kind == "prompt":
        return usage.prompt_tokens
    if kind == "generation":
        return usage.generation_tokens
    if kind == "total":
        return usage.total_tokens
    return usage.reasoning_tokens or 0


def _over(usage: Usage, kind: str, limit: int) -> str | None:
    """What is wrong with the unit's ``kind`` tokens against ``limit``, or None if within it.
    Unknown usage fails: a limit nobody can check has not been met."""
    count = _count(usage, kind)
    if count is None:
        return f"{kind} tokens unknown (the provider reported no usage)"
    return f"{kind} {count} > {limit}" if count > limit else None


def assert_tokens(
    subject: Checkable,
    *,
    prompt: int | None = None,
    generation: int | None = None,
    total: int | None = None,
    reasoning: int | None = None,
    per: Per = "sample",
) -> dict[str, Usage]:
    """Assert that no unit (``per`` sample, case or experiment) uses more tokens than allowed.

    Each limit is a maximum of the tokens summed over the unit; reasoning tokens a provider does
    not report count as 0. A unit whose prompt, generation or total count is unknown (its
    provider reported no usage) fails a limit on that count. Returns each unit's usage by its
    label.

    Example: ``assert_tokens(chatexp, generation=200, total=1500)``
    """
    __tracebackhide__ = True
    limits = {
        kind: limit
        for kind, limit in zip(_TOKEN_KINDS, (prompt, generation, total, reasoning), strict=True)
        if limit is not None
    }
    if not limits:
        raise TypeError("assert_tokens() needs a limit: prompt=, generation=, total= or reasoning=")
    for kind, limit in limits.items():
        _check_limit(kind, limit)
    units = _units(subject, per)
    usages = {unit.label: unit.usage for unit in units}
    offending: list[tuple[str, str]] = []
    for unit in units:
        usage = usages[unit.label]
        over = [
            problem
            for kind, limit in limits.items()
            if (problem := _over(usage, kind, limit)) is not None
        ]
        if over:
            offending.append((unit.label, ", ".join(over)))
    if offending:
        wanted = ", ".join(f"{kind} <= {limit}" for kind, limit in limits.items())
        lines = [
            f"token budget exceeded: {len(offending)} of {_plural(len(units), per)} over "
            f"(limits per {per}: {wanted})"
        ]
        _listing(lines, offending)
        raise AssertionError("\n".join(lines))
    return usages


def cache_hit_rate(min: float = 0.5) -> SampleCheck:
    """The share of each sample's prompt tokens read from the provider's prompt cache
    (``usage.cached_tokens / usage.prompt_tokens``) is at least ``min``: a guard on a cacheable
    prefix, since a prompt edit that breaks caching is a cost regression. A sample whose
    provider did not report its cache reads (or its prompt tokens) fails, saying so: unknown
    is not a hit.

    Example: ``assert_samples(chatexp, cache_hit_rate(min=0.8), min_pass_rate=0.9)``
    """
    __tracebackhide__ = True
    if not (isinstance(min, int | float) and 0 <= min <= 1):
        raise ValueError(f"cache_hit_rate(min=...) must be a number from 0 to 1, got {min!r}")

    def check(sample: Sample) -> str | None:
        usage = sample.usage
        if usage.prompt_tokens is None or usage.cached_tokens is None:
            return "cache hit rate unknown (the provider reported no cached token count)"
        rate = usage.cached_tokens / usage.prompt_tokens if usage.prompt_tokens else 0.0
        if rate >= min:
            return None
        return (
            f"cache hit rate {rate:.2f} < {min:g} "
            f"({usage.cached_tokens} of {usage.prompt_tokens} prompt tokens cached)"
        )

    return SampleCheck(f"cache_hit_rate(min={min:g})", check)


# --- cost ------------------------------------------------------------------------------------


def price_table(prices: PriceTable | None = None) -> PriceTable:
    """The prices to use: ``prices`` if given, else the running test's (ini ``chatexp_prices``),
    else the built-in table.

    Example: ``price_table().price_of("gpt-4o-mini")``
    """
    if prices is not None:
        return prices
    try:
        return active_test("pricing").prices
    except InvalidExperimentError:
        return PriceTable()


def _sample_costs(samples: Sequence[Sample], table: PriceTable) -> list[float]:
    __tracebackhide__ = True
    costs: list[float] = []
    missing: dict[str, list[str]] = {}
    unknown = [
        f"{s.config.display_name}/{s.input.id} sample {s.index}"
        for s in samples
        if not s.usage.known
    ]
    if unknown:
        more = f" ... and {len(unknown) - _UNITS_SHOWN} more" if unknown[_UNITS_SHOWN:] else ""
        raise AssertionError(
            f"cannot compute the cost: the token usage of {_plural(len(unknown), 'sample')} is "
            f"unknown (the provider reported no usage): {', '.join(unknown[:_UNITS_SHOWN])}{more}"
        )
    for sample in samples:
        model = sample.model
        cost = table.usage_cost(model, sample.usage)
        if cost is None:
            configs = missing.setdefault(model, [])
            if sample.config.display_name not in configs:
                configs.append(sample.config.display_name)
            continue
        costs.append(cost)
    if missing:
        described = ", ".join(
            f"'{model}' (model config {', '.join(repr(name) for name in configs)})"
            for model, configs in missing.items()
        )
        example = "\n".join(f"        {model} <input> <output>" for model in missing)
        raise PricingError(
            f"cannot compute the cost: no price for model{'s' if len(missing) > 1 else ''} "
            f"{described}. Add {'them' if len(missing) > 1 else 'it'} to the ini file "
            "(pytest.ini, or [tool.pytest.ini_options] in pyproject.toml) as "
            "'chatexp_prices = <model> <input> <output>', prices in US dollars per million "
            f"input and output tokens:\n    [pytest]\n    chatexp_prices =\n{example}"
        )
    return costs


def cost_of(subject: Checkable, *, prices: PriceTable | None = None) -> float:
    """What the samples cost in US dollars: prompt and generation tokens at each config's model
    price (``prices``, default: the running test's table from ini ``chatexp_prices``).

    Raises ``PricingError`` naming every model without a price, and how to add one.

    Example: ``print(f"${cost_of(chatexp):.4f}")``
    """
    __tracebackhide__ = True
    samples = [sample for case in cases_of(subject) for sample in case.samples]
    return math.fsum(_sample_costs(samples, price_table(prices)))


def _usd(value: float) -> str:
    return f"${value:.6f}"


def assert_cost(
    subject: Checkable,
    *,
    max_usd: float,
    per: Per = "experiment",
    prices: PriceTable | None = None,
) -> float:
    """Assert that no unit (``per`` sample, case or experiment) costs more than ``max_usd``.

    Returns the cost of the whole subject in US dollars.

    Example: ``assert_cost(chatexp, max_usd=0.05)``
    """
    __tracebackhide__ = True
    _check_limit("max_usd", max_usd)
    units = _units(subject, per)
    table = price_table(prices)
    costs = {unit.label: math.fsum(_sample_costs(unit.samples, table)) for unit in units}
    offending: list[tuple[str, str]] = []
    for unit in units:
        cost = costs[unit.label]
        if cost > max_usd:
            usage = unit.usage
            offending.append(
                (
                    unit.label,
                    f"{_usd(cost)} > {_usd(max_usd)}  (prompt {usage.prompt_tokens}, "
                    f"generation {usage.generation_tokens} tokens)",
                )
            )
    if offending:
        lines = [
            f"cost budget exceeded: {len(offending)} of {_plural(len(units), per)} over "
            f"{_usd(max_usd)} (per {per})"
        ]
        _listing(lines, offending)
        raise AssertionError("\n".join(lines))
    return math.fsum(costs.values())


# --- latency ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyStats:
    """Seconds per call over a case's samples (nearest-rank percentiles)."""

    samples: int
    p50: float
    p95: float
    max: float
    replayed: int = 0


def latency_stats(case: Case) -> LatencyStats:
    """A case's p50, p95 and max latency in seconds.

    Example: ``latency_stats(chatexp.cases[0]).p95``
    """
    latencies = [sample.latency_s for sample in case.samples]
    return LatencyStats(
        samples=len(latencies),
        p50=percentile(latencies, 50),
        p95=percentile(latencies, 95),
        max=builtins.max(latencies),
        replayed=sum(sample.replayed for sample in case.samples),
    )


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def assert_latency(
    subject: Checkable,
    *,
    p50: float | None = None,
    p95: float | None = None,
    max: float | None = None,
) -> dict[str, LatencyStats]:
    """Assert every case's latency percentiles (seconds, nearest rank over its samples).

    Replayed samples count with the latency recorded for them. Returns each case's stats by id.

    Example: ``assert_latency(chatexp, p95=2.0, max=5.0)``
    """
    __tracebackhide__ = True
    limits = {
        name: limit
        for name, limit in (("p50", p50), ("p95", p95), ("max", max))
        if limit is not None
    }
    if not limits:
        raise TypeError("assert_latency() needs a limit: p50=, p95= or max=")
    for name, limit in limits.items():
        _check_limit(name, limit)
    stats = {case.id: latency_stats(case) for case in cases_of(subject) if case.samples}
    rows: list[tuple[str, LatencyStats, str]] = []
    for case_id, case_stats in stats.items():
        measured = {"p50": case_stats.p50, "p95": case_stats.p95, "max": case_stats.max}
        over = [
            f"{name} {_seconds(measured[name])} > {_seconds(limit)}"
            for name, limit in limits.items()
            if measured[name] > limit
        ]
        if over:
            rows.append((case_id, case_stats, ", ".join(over)))
    if rows:
        wanted = ", ".join(f"{name} <= {_seconds(limit)}" for name, limit in limits.items())
        width = builtins.max(len("case"), *(len(case_id) for case_id, _, _ in rows))
        lines = [
            f"latency budget exceeded: {len(rows)} of {_plural(len(stats), 'case')} over "
            f"(limits per case: {wanted})",
            f"  {'case'.ljust(width)}  samples      p50      p95      max  over",
        ]
        lines.extend(
            f"  {case_id.ljust(width)}  {s.samples:>7}  {_seconds(s.p50):>7}  "
            f"{_seconds(s.p95):>7}  {_seconds(s.max):>7}  {over}"
            for case_id, s, over in rows[:_UNITS_SHOWN]
        )
        if len(rows) > _UNITS_SHOWN:
            lines.append(f"  ... {len(rows) - _UNITS_SHOWN} more")
        replayed = sum(s.replayed for _, s, _ in rows)
        if replayed:
            shown = sum(s.samples for _, s, _ in rows)
            lines.append(
                f"  ({replayed} of these {shown} samples were replayed: their latency is the "
                "one recorded)"
            )
        raise AssertionError("\n".join(lines))
    return stats
