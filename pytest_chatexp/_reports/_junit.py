"""Chatexp numbers for JUnit XML ``<property>`` elements: per test (xunit1), or the run's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["junit_properties"]


def junit_properties(records: Sequence[Any]) -> list[tuple[str, object]]:
    """Samples, pass rate (of the samples a check judged), tokens, cost and replays of
    experiments; none for no experiment. A number that is unknown (no sample judged, a model
    without a price, usage a provider did not report) is left out, never written as ``""``."""
    rows = [row for record in records for row in record["configs"]]
    if not rows:
        return []
    checked = sum(row["checked"] for row in rows)
    pass_rate = round(sum(row["passed"] for row in rows) / checked, 4) if checked else None
    cost = _total(rows, "cost_usd")
    properties: list[tuple[str, object | None]] = [
        ("chatexp_samples", _total(rows, "samples")),
        ("chatexp_pass_rate", pass_rate),
        ("chatexp_prompt_tokens", _total(rows, "prompt_tokens")),
        ("chatexp_generation_tokens", _total(rows, "generation_tokens")),
        ("chatexp_total_tokens", _total(rows, "total_tokens")),
        ("chatexp_cost_usd", None if cost is None else round(cost, 8)),
        ("chatexp_replayed", _total(rows, "replayed")),
    ]
    return [(name, value) for name, value in properties if value is not None]


def _total(rows: Sequence[Any], key: str) -> Any:
    """The sum of a column, or None when any row does not know its value."""
    values = [row.get(key) for row in rows]
    return None if None in values else sum(values)
