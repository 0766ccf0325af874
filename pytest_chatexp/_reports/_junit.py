"""Per-test numbers for JUnit XML ``<property>`` elements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._run import known_sum

__all__ = ["junit_properties"]


def junit_properties(records: Sequence[Any]) -> list[tuple[str, object]]:
    """Samples, pass rate (of the samples a check judged), tokens, cost and replays of a test's
    experiments; none for a test that ran none."""
    rows = [row for record in records for row in record["configs"]]
    if not rows:
        return []
    checked = sum(row["checked"] for row in rows)
    costs = [row["cost_usd"] for row in rows]
    pass_rate = round(sum(row["passed"] for row in rows) / checked, 4) if checked else ""
    return [
        ("chatexp_samples", sum(row["samples"] for row in rows)),
        ("chatexp_pass_rate", pass_rate),
        *(
            (f"chatexp_{key}", _unknown_blank(known_sum(row[key] for row in rows)))
            for key in ("prompt_tokens", "generation_tokens", "total_tokens")
        ),
        ("chatexp_cost_usd", "" if None in costs else round(sum(costs), 8)),
        ("chatexp_replayed", sum(row["replayed"] for row in rows)),
    ]


def _unknown_blank(count: int | None) -> object:
    # Unknown token counts (a provider reported no usage) are blank, as unknown costs are.
    return "" if count is None else count
