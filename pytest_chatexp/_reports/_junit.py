"""Chatexp numbers for JUnit XML ``<property>`` elements: per test (xunit1), or the run's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._run import known_cost, known_sum

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

    def column(key: str) -> list[Any]:
        return [row.get(key) for row in rows]

    properties: list[tuple[str, object | None]] = [
        ("chatexp_samples", known_sum(column("samples"))),
        ("chatexp_pass_rate", pass_rate),
        ("chatexp_prompt_tokens", known_sum(column("prompt_tokens"))),
        ("chatexp_generation_tokens", known_sum(column("generation_tokens"))),
        ("chatexp_total_tokens", known_sum(column("total_tokens"))),
        ("chatexp_cost_usd", known_cost(column("cost_usd"))),
        ("chatexp_replayed", known_sum(column("replayed"))),
    ]
    return [(name, value) for name, value in properties if value is not None]
