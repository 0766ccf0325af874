"""Number formats shared by the terminal summary and the Markdown and HTML reports (``percent``,
which the checks show too, lives in ``_util``)."""

from __future__ import annotations

import math
from typing import Any

from .._util import percent

__all__ = ["money", "number", "percent", "seconds"]


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None for anything else (a missing cost, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def money(value: Any) -> str:
    """US dollars: four decimals from a cent up, the significant digits below it."""
    amount = number(value)
    if amount is None:
        return "unknown"
    if amount == 0:
        return "$0"
    if abs(amount) >= 0.01:
        return f"${amount:,.4f}"
    return "$" + f"{amount:.8f}".rstrip("0").rstrip(".")


def seconds(value: Any) -> str:
    """A duration: milliseconds below a second, else seconds; a dash for anything not a number."""
    amount = number(value)
    if amount is None:
        return "—"
    if amount < 1:
        return f"{amount * 1000:.0f} ms"
    return f"{amount:.2f} s"
