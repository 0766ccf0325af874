"""Summary statistics shared by the checks and the reports (kept apart so that writing a report
does not import every check)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile"]


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with ``percent``% of values at or below it.

    Example: ``percentile([0.1, 0.2, 0.9], 50) == 0.2``
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
