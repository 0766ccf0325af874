"""Number formats shared by the terminal summary, the Markdown and HTML reports and the checks."""

from __future__ import annotations

import math
from typing import Any

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
