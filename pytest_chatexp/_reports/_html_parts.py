"""HTML building blocks the report's page and its transcripts share: escaping, a value as text,
and a tool call. Everything from a report is escaped here (model outputs are untrusted)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from ._entries import MessageEntry, ToolCallEntry

__all__ = ["escaped", "prompt", "text", "tool_call"]


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
