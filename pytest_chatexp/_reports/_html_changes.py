"""The HTML report's table of a test's re-recorded calls (``ChangeRecord``): tokens and cost."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from .._calls._changes import ChangeRecord
from ._format import money

__all__ = ["changes_table"]


def changes_table(changes: Sequence[ChangeRecord]) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{_e(change.config)}</td>"
        f"<td>{_e(change.input)}</td>"
        f'<td class="num">{_e(change.call)}</td>'
        f"<td>{'new' if change.new else 'changed'}</td>"
        f'<td class="num">{_e(_delta(change))}</td>'
        f'<td class="num">{_e(_cost(change))}</td>'
        "</tr>"
        for change in changes
    )
    return (
        '<div class="scroll" role="region" tabindex="0" aria-label="Recording changes">'
        '<table class="changes"><caption>Recording changes</caption><thead><tr>'
        '<th scope="col">Config</th><th scope="col">Input</th><th scope="col">Sample</th>'
        '<th scope="col">Kind</th><th scope="col">Total tokens</th>'
        '<th scope="col">Cost</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _e(text: str) -> str:
    return escape(text, quote=True)


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _delta(change: ChangeRecord) -> str:
    if change.new:
        return _count(change.new_total_tokens)
    return f"{_count(change.old_total_tokens)} → {_count(change.new_total_tokens)}"


def _cost(change: ChangeRecord) -> str:
    """The call's cost, before and after; unknown (no price, no usage) says so."""
    if change.new:
        return money(change.new_cost_usd)
    return f"{money(change.old_cost_usd)} → {money(change.new_cost_usd)}"
