"""Number formats shared by the terminal summary and the Markdown and HTML reports (``percent``,
which the checks show too, is ``_util.percent``), the sums with unknowns they all total by, and
the label of a sample's turn, which the snapshot and both reports show alike."""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import Enum
from typing import Any, Final, Literal

__all__ = [
    "NOT_REPORTED",
    "cache_text",
    "known_cost",
    "known_sum",
    "money",
    "number",
    "plural",
    "reported_sum",
    "seconds",
    "turn_label",
]


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


def known_sum(values: Iterable[int | None]) -> int | None:
    """The sum of token counts, or None (unknown) when one of them is unknown."""
    counts = list(values)
    known = [count for count in counts if count is not None]
    return None if len(known) < len(counts) else sum(int(count) for count in known)


class _Reported(Enum):
    # No part reported the count at all (a provider without prompt caches): the field stays out.
    NOT_REPORTED = "not reported"


NOT_REPORTED: Final = _Reported.NOT_REPORTED


def reported_sum(values: Iterable[int | None]) -> int | Literal[_Reported.NOT_REPORTED] | None:
    """The sum of a count that only some providers report (prompt-cache reads and writes):
    ``NOT_REPORTED`` when no part reported it, None (unknown) when only some did, since a sum
    that skipped the silent parts would pretend to know; else the sum."""
    counts = list(values)
    if all(count is None for count in counts):
        return NOT_REPORTED
    return known_sum(counts)


def cache_text(cached: int | None, written: int | None, template: str = "{}") -> str:
    """``8,000 cached, 1,000 cache writes`` (put in ``template``): the prompt-cache counts that
    are known; "" when neither is (not reported, or not by every part of a sum)."""
    parts = [] if cached is None else [f"{cached:,} cached"]
    parts += [] if written is None else [f"{written:,} cache writes"]
    return template.format(", ".join(parts)) if parts else ""


def unsent_text(skipped: int, template: str = "{}") -> str:
    """``3 not sent (endpoint down)`` (put in ``template``): calls a circuit breaker stopped,
    which are neither replayed nor live; "" when there were none."""
    return template.format(f"{skipped:,} not sent (endpoint down)") if skipped else ""


def known_cost(values: Iterable[float | None]) -> float | None:
    """The sum of costs in USD, to 8 places, or None (unknown) when one of them is unknown."""
    costs = list(values)
    known = [cost for cost in costs if cost is not None]
    return None if len(known) < len(costs) else round(sum(known), 8)


def turn_label(number: int, speaker: str, *, final: bool = False) -> str:
    """``turn 3, assistant (final answer)``: a turn by its 1-based place among the sample's
    model calls; ``speaker`` "user" is a simulated user's call."""
    who = "simulated user" if speaker == "user" else "assistant"
    return f"turn {number}, {who}" + (" (final answer)" if final else "")


def plural(count: int, noun: str) -> str:
    """``1 turn``, ``3 turns``: a count of a regular noun."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
