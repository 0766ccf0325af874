"""Summary statistics and formats shared by the checks and the reports (kept apart so that
writing a report does not import every check, nor a check the reports)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percent", "percentile"]


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with ``percent``% of values at or below it.

    Example: ``percentile([0.1, 0.2, 0.9], 50) == 0.2``
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


# --- formats: the checks and the reports show pass rates alike ------------------------------


def percent(passed: int, checked: int) -> str:
    """``passed`` of ``checked`` as a whole percentage, rounded half up, except that it never
    reads 100% unless all passed nor 0% unless none did (199 of 200 is 99%, not 100%)."""
    if checked <= 0:
        return "-"
    value = (200 * passed + checked) // (2 * checked)
    if passed < checked:
        value = min(value, 99)
    if passed > 0:
        value = max(value, 1)
    return f"{value}%"
