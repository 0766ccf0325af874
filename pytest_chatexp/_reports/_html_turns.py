"""The HTML report's transcript of a tool loop's or a conversation's sample: a collapsed list
of its turns, each with the user messages it answers, the model's text, its tool calls and
what each tool returned (an error marked). A single call has none: its output is the sample."""

from __future__ import annotations

from itertools import zip_longest

from ._entries import SampleEntry, ToolResultEntry, TurnEntry
from ._format import plural, seconds, turn_label
from ._html_parts import escaped, reasoning, tool_call

__all__ = ["transcript"]


def transcript(sample: SampleEntry) -> str:
    turns = sample.turns
    final = sample.final_turn
    calls = sum(len(turn.tool_calls) for turn in turns)
    summary = plural(len(turns), "turn") + (f", {plural(calls, 'tool call')}" if calls else "")
    items = "".join(_turn(place + 1, turn, place == final) for place, turn in enumerate(turns))
    return (
        f'<details class="transcript"><summary>Transcript: {escaped(summary)}</summary>'
        f'<ol class="turns">{items}</ol></details>'
    )


def _turn(number: int, turn: TurnEntry, final: bool) -> str:
    users = "".join(
        '<li class="turn user"><span class="role">user</span>'
        f'<pre class="message">{escaped(text)}</pre></li>'
        for text in turn.user
    )
    facts = [f"finish: {turn.finish_reason}"] if turn.finish_reason else []
    if turn.total_tokens is not None:
        facts.append(f"{turn.total_tokens:,} tokens")
    if turn.latency_s is not None:
        facts.append(seconds(turn.latency_s))
    body = [f'<pre class="output">{escaped(turn.output)}</pre>'] if turn.output.strip() else []
    if turn.reasoning is not None:
        body.append(reasoning(turn.reasoning))
    for call, result in zip_longest(turn.tool_calls, turn.tool_results):
        if call is not None:
            body.append(tool_call(call))
        if result is not None:
            body.append(_tool_result(result))
    if not body:
        body.append('<p class="muted small">(empty)</p>')
    label = turn_label(number, turn.speaker, final=final)
    return (
        f'{users}<li class="turn {"final" if final else turn.speaker}">'
        f'<div class="turn-head"><span class="role">{escaped(label)}</span>'
        f'<span class="muted small">{escaped(" · ".join(facts))}</span></div>'
        f"{''.join(body)}</li>"
    )


def _tool_result(result: ToolResultEntry) -> str:
    error = ' <span class="badge fail">error</span>' if result.error else ""
    return (
        f'<div class="tool-result{" error" if result.error else ""}">'
        '<span class="tool-label">tool result</span> '
        f'<code class="tool-name">{escaped(result.name)}</code>{error}'
        f'<pre class="tool-out">{escaped(result.result)}</pre></div>'
    )
