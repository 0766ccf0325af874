"""Markdown building blocks for the Markdown report: escaping, code spans and fences, cells.

Everything taken from a report (model outputs, failure texts, test and config names) goes
through these, so it cannot break a table, close a code block, inject HTML or mention anyone.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Final

from .._util import percent
from ._format import money

__all__ = [
    "cell",
    "clip",
    "code",
    "fenced",
    "html_text",
    "pass_rate",
    "reasoning_details",
    "row",
    "signed_money",
    "text",
    "tokens",
]

# Markdown's own syntax and control characters, in any text from the report.
_ESCAPED: Final = re.compile(r"([\\`*_\[\]~|#!])")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BACKTICKS: Final = re.compile(r"`+")
_BREAK_AFTER: Final = re.compile(r"(/|::|\\\[|-)(?!$)")
_REASONING_CHARS: Final = 300  # reasoning shown beside an answer: its opening


def text(value: str) -> str:
    """``value`` as inline Markdown that renders as itself: Markdown punctuation escaped, HTML
    entities for ``<``, ``>`` and ``&``, no line breaks, and no @-mentions or control characters."""
    value = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    value = html.escape(value, quote=False)
    value = _ESCAPED.sub(r"\\\1", value)
    return value.replace("@", "@\u200b").replace("\n", " ")


def breakable(value: str) -> str:
    """``value`` as ``text``, with a line-break opportunity (``<wbr>``) after each ``/``,
    ``::``, ``[`` and ``-``: a test id or model name has no spaces, and would otherwise widen a
    table past a narrow pane (GitHub keeps ``<wbr>``)."""
    return _BREAK_AFTER.sub(r"\1<wbr>", text(value))


def html_text(value: str) -> str:
    """``value`` for raw HTML in the report (a ``<summary>``, where Markdown is not read, so
    backslashes would show): entities for ``<``, ``>``, ``&`` and quotes, one line, no
    @-mentions or control characters."""
    value = _CONTROL.sub("", " ".join(value.splitlines()))
    return html.escape(value, quote=True).replace("@", "@\u200b")


def clip(value: str, limit: int) -> str:
    """``value``, or its first ``limit - 1`` characters and an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def cell(value: str, limit: int) -> str:
    """``value`` clipped to ``limit`` characters, for a table cell: lines become ``<br>``."""
    lines = clip(value, limit).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br>".join(text(line) for line in lines)


def code(value: str, *, table: bool = False) -> str:
    """``value`` as a code span, on one line; in a table, with its pipes escaped."""
    value = _CONTROL.sub("", " ".join(value.splitlines())) or " "
    longest = max((len(run) for run in _BACKTICKS.findall(value)), default=0)
    fence = "`" * (longest + 1)
    if value.startswith("`") or value.endswith("`"):
        value = f" {value} "
    if table:
        value = value.replace("|", "\\|")
    return f"{fence}{value}{fence}"


def fenced(value: str, language: str) -> str:
    """``value`` in a fenced code block whose fence no line of ``value`` can close."""
    value = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).rstrip("\n")
    longest = max((len(run) for run in _BACKTICKS.findall(value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{value}\n{fence}"


def row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def pass_rate(passed: int, checked: int) -> str:
    if not checked:
        return "not checked"
    return f"{passed}/{checked} ({percent(passed, checked)})"


def signed_money(value: float) -> str:
    if abs(value) < 5e-9:
        return "$0"
    return ("+" if value > 0 else "-") + money(abs(value))


def tokens(value: int | None) -> str:
    """A token count; "unknown" when a provider reported none (never 0)."""
    return "unknown" if value is None else f"{value:,}"


def reasoning_details(value: str | None, *, table: bool = False) -> str:
    """The model's reasoning, collapsed under a "reasoning" label so it is not read as the
    answer, clipped (the HTML and JSON reports hold more); in a table cell, after a ``<br>``.
    Nothing when there was none."""
    if value is None or not value.strip():
        return ""
    block = f"<details><summary>reasoning</summary>{cell(value, _REASONING_CHARS)}</details>"
    return f"<br>{block}" if table else block
