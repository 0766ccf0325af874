"""Chatexp numbers for JUnit XML ``<property>`` elements: per test (xunit1), or the run's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._format import known_cost, known_sum
from ._shared import counted_once

if TYPE_CHECKING:
    from ._records import ConfigRow, ExperimentRecord

__all__ = ["junit_properties"]


def junit_properties(records: Sequence[ExperimentRecord]) -> list[tuple[str, object]]:
    """Samples, pass rate (of the samples a check judged), tokens, cost and replays of
    experiments; none for no experiment. A number that is unknown (no sample judged, a model
    without a price, usage a provider did not report) is left out, never written as ``""``."""
    records = counted_once(records)  # a shared experiment, once
    rows = [row for record in records for row in record["configs"]]
    if not rows:
        return []
    checked = sum(row["checked"] for row in rows)
    pass_rate = round(sum(row["passed"] for row in rows) / checked, 4) if checked else None

    properties: list[tuple[str, object | None]] = [
        ("chatexp_samples", known_sum(row["samples"] for row in rows)),
        ("chatexp_pass_rate", pass_rate),
        ("chatexp_prompt_tokens", known_sum(row["prompt_tokens"] for row in rows)),
        ("chatexp_generation_tokens", known_sum(row["generation_tokens"] for row in rows)),
        ("chatexp_total_tokens", known_sum(row["total_tokens"] for row in rows)),
        ("chatexp_cost_usd", known_cost(row["cost_usd"] for row in rows)),
        ("chatexp_replayed", known_sum(row["replayed"] for row in rows)),
        # Only when an assertion set a confidence: other runs' XML is as it was.
        ("chatexp_inconclusive_cases", _inconclusive(rows)),
        # Only when adaptive sampling was used, likewise: the counts the terminal line shows.
        *_adaptive(records),
    ]
    return [(name, value) for name, value in properties if value is not None]


def _adaptive(records: Sequence[ExperimentRecord]) -> list[tuple[str, int]]:
    cases = [case for record in records for case in record.get("adaptive", [])]
    if not cases:
        return []
    drawn = sum(case["drawn"] for case in cases)
    maximum = sum(case["maximum"] for case in cases)
    return [
        ("chatexp_samples_drawn", drawn),
        ("chatexp_samples_max", maximum),
        ("chatexp_samples_saved", maximum - drawn),
    ]


def _inconclusive(rows: Sequence[ConfigRow]) -> int | None:
    counts = [row["cases_inconclusive"] for row in rows if "cases_inconclusive" in row]
    return sum(counts) if counts else None
