"""The Markdown report's "Transcripts" section: the samples of tool loops and conversations.

Narrow enough for a PR comment: per sample one collapsed ``<details>`` block, headed by its
test, case, verdict and number of turns, holding its turns as a list: the user messages, each
model call's text, its tool calls (compact JSON) each with what the tool returned (errors in
bold). Failing samples come first; texts are clipped, and the count of samples is capped (the
HTML and JSON reports have them all). A single call has no transcript: its output is the
sample.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import zip_longest
from typing import Final

from .._util import canonical_json
from ._entries import CaseEntry, SampleEntry, TestEntry, ToolCallEntry, ToolResultEntry, TurnEntry
from ._format import plural, turn_label
from ._md import cell, clip, code, html_text, reasoning_details
from ._md_changes import Block
from ._status import sample_status

__all__ = ["transcripts_section"]

_MAX_SAMPLES: Final = 20  # samples with a transcript shown
_MAX_TURNS: Final = 25  # turns per transcript
_TEXT_CHARS: Final = 300  # a message or an answer
_TOOL_CHARS: Final = 160  # a tool call's arguments, a tool's result
_MARKS: Final = {"fail": "✗", "pass": "✓", "unchecked": "\u2013"}


def transcripts_section(tests: Sequence[TestEntry]) -> list[Block]:
    found = [
        (test, case, sample)
        for test in tests
        for case in test.cases()
        for sample in case.samples
        if sample.turns
    ]
    if not found:
        return []
    # Failing first (a stable sort keeps report order within each group).
    found.sort(key=lambda item: sample_status(item[2]) != "fail")
    section = "transcripts"
    count = len(found)
    intro = (
        f"### Transcripts\n\n{plural(count, 'sample')} took more than one model call or ran "
        "tools"
        + (", failing first:" if any(sample_status(s) == "fail" for *_, s in found) else ":")
    )
    blocks = [Block(section, intro)]
    blocks += [Block(section, _details(*item)) for item in found[:_MAX_SAMPLES]]
    if count > _MAX_SAMPLES:
        blocks.append(
            Block(
                section,
                f"_... and {count - _MAX_SAMPLES} more: the HTML and JSON reports hold every "
                "transcript._",
            )
        )
    return blocks


def _details(test: TestEntry, case: CaseEntry, sample: SampleEntry) -> str:
    status = sample_status(sample)
    head = (
        f"{_MARKS[status]} <code>{html_text(test.test)}</code> · "
        f"<code>{html_text(case.config)}</code> &times; <code>{html_text(case.input)}</code> · "
        f"sample {sample.index} · {plural(len(sample.turns), 'turn')}"
    )
    final = sample.final_turn
    lines: list[str] = []
    for place, turn in enumerate(sample.turns[:_MAX_TURNS]):
        lines += _turn(place + 1, turn, place == final)
    if len(sample.turns) > _MAX_TURNS:
        lines.append(f"- _... and {plural(len(sample.turns) - _MAX_TURNS, 'more turn')}._")
    if sample.failure:
        lines.append(f"- **check failed:** {cell(sample.failure, _TEXT_CHARS)}")
    return "\n".join([f"<details><summary>{head}</summary>", "", *lines, "", "</details>"])


def _turn(number: int, turn: TurnEntry, final: bool) -> list[str]:
    lines = [f"- **user:** {cell(text, _TEXT_CHARS)}" for text in turn.user]
    said = f" {cell(turn.output, _TEXT_CHARS)}" if turn.output.strip() else ""
    if not said and not turn.tool_calls:
        said = " _(empty)_"
    lines.append(f"- **{turn_label(number, turn.speaker, final=final)}:**{said}")
    if turn.reasoning is not None and turn.reasoning.strip():
        lines.append(f"  - {reasoning_details(turn.reasoning)}")
    for call, result in zip_longest(turn.tool_calls, turn.tool_results):
        lines.append("  - " + " → ".join(_tool_parts(call, result)))
    return lines


def _tool_parts(call: ToolCallEntry | None, result: ToolResultEntry | None) -> list[str]:
    parts = []
    if call is not None:
        parts.append(code(clip(f"{call.name or '?'}({_compact(call.arguments)})", _TOOL_CHARS)))
    if result is not None:
        value = code(clip(result.result, _TOOL_CHARS)) if result.result.strip() else "_(empty)_"
        parts.append(f"**error** {value}" if result.error else value)
    return parts


def _compact(arguments: object) -> str:
    """Arguments on one line: canonical JSON when they are JSON, else as written."""
    if isinstance(arguments, str):
        try:
            return canonical_json(json.loads(arguments)) if arguments.strip() else ""
        except ValueError:
            return arguments
    return "" if arguments is None else canonical_json(arguments)
