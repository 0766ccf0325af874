"""HTML building blocks the report's page and its transcripts share: escaping, a value as text,
and a tool call. Everything from a report is escaped here (model outputs are untrusted)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any, Final

from ._entries import MessageEntry, ToolCallEntry

__all__ = ["escaped", "prompt", "reasoning", "text", "tool_call"]

# A reasoning text shown in full up to this many characters (the JSON report has all of it):
# reasoning runs far longer than answers, and a report of many samples must stay readable.
REASONING_CHARS: Final = 4000


def escaped(text: str) -> str:
    return escape(text, quote=True)


def text(value: Any) -> str:
    """A value of the report as text: a string as it is, anything else as pretty JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def tool_call(call: ToolCallEntry) -> str:
    """A tool call: its name, and its arguments as pretty JSON (as written, if not JSON)."""
    name = str(call.name or "?")
    arguments = call.arguments
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pretty = arguments
        else:
            pretty = json.dumps(arguments, indent=2, ensure_ascii=False)
    else:
        pretty = json.dumps(arguments, indent=2, ensure_ascii=False)
    return (
        '<div class="tool-call"><span class="tool-label">tool call</span> '
        f'<code class="tool-name">{escaped(name)}</code>'
        f'<pre class="tool-args">{escaped(pretty)}</pre></div>'
    )


def prompt(messages: Sequence[MessageEntry]) -> str:
    """The messages a case sent, collapsed."""
    if not messages:
        return ""
    items = "".join(
        f'<li><span class="role">{escaped(message.role)}</span>'
        f'<pre class="message">{escaped(text(message.content))}</pre></li>'
        for message in messages
    )
    return f'<details class="prompt"><summary>Prompt</summary><ol>{items}</ol></details>'


def reasoning(value: str | None) -> str:
    """The model's reasoning, collapsed and labelled so it is not read as the answer; clipped
    at ``REASONING_CHARS``."""
    if value is None or not value.strip():
        return ""
    shown = value if len(value) <= REASONING_CHARS else value[: REASONING_CHARS - 1] + "…"
    return (
        '<details class="reasoning"><summary>reasoning</summary>'
        f'<pre class="reasoning">{escaped(shown)}</pre></details>'
    )
