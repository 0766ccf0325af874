"""One cell of the HTML viewer's matrix (an input under a model config): compact, with its
detail collapsed.

The compact part is what a row shows: the verdict against the bar the test set, the first
answer clipped, tokens, cost and latency, and a mark when this run re-recorded the case. The
detail (a closed ``<details>``, so a browser lays none of it out until it is opened) holds every
sample: its output or transcript, tool calls, reasoning, the failed check, the prompt sent, and
for a re-recorded call the answer it replaced beside the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .._calls._changes import ChangeRecord
from .._util import interval_text, percentile
from ._entries import CaseEntry, OutputEntry, SampleEntry
from ._format import money, plural
from ._format import seconds as _seconds
from ._html_parts import escaped as _e
from ._html_parts import prompt as _prompt
from ._html_parts import reasoning
from ._html_parts import text as _text
from ._html_parts import tool_call as _tool_call
from ._html_turns import transcript
from ._sampling import SamplingEntry, case_text
from ._status import Status, sample_status

__all__ = ["STATUS_LABEL", "answer_key", "cell", "changed", "count"]

STATUS_LABEL: Final[dict[Status, str]] = {
    "fail": "✗ fail",
    "inconclusive": "? inconclusive",
    "pass": "✓ pass",
    "unchecked": "\u2013 unchecked",
}
# The compact cell's answer, clipped: the whole of it is one click away.
PREVIEW_CHARS: Final = 280


def count(value: int | float | None) -> str:
    """A count; a dash when unknown (never 0)."""
    return "—" if value is None else f"{int(value):,}"


def changed(changes: Sequence[ChangeRecord]) -> bool:
    """Whether re-recording changed the case's answers: a call that had none, or one whose
    answer differs from the one it replaced (unknown answers count as changed)."""
    return any(
        change.new
        or change.old_output is None
        or change.new_output is None
        or (change.old_output, change.old_tool_calls) != (change.new_output, change.new_tool_calls)
        for change in changes
    )


def answer_key(case: CaseEntry) -> str:
    """What the case answered (every sample's text and tool calls), whitespace-normalized: two
    configs' cells differ when their keys do."""
    parts = []
    for item in sorted(case.outputs, key=lambda output: output.index):
        parts.append(" ".join(_text(item.output).split()))
        parts.extend(f"{call.name}({call.arguments})" for call in item.tool_calls)
    return "\x1f".join(parts)


def cell(
    case: CaseEntry,
    status: Status,
    column: str,
    input_id: str,
    sampling: SamplingEntry | None,
    changes: Sequence[ChangeRecord],
    differs: bool,
    lazy: list[str] | None = None,
) -> str:
    """The cell's markup. With ``lazy``, its detail goes there instead (the page carries them
    as data, added when a cell is opened) and the cell holds its place in that list."""
    data = {item.index: item for item in case.outputs}
    samples = list(case.samples) or [  # no per-sample record: show the outputs unjudged
        SampleEntry(index, False, None, None, None, None) for index in sorted(data)
    ]
    usage = case.usage
    tokens = (
        " / ".join(count(value) for value in usage) + " tokens"
        if usage is not None
        else "tokens unknown"
    )
    costs = [sample.cost_usd for sample in samples]
    cost = (
        money(sum(c for c in costs if c is not None))
        if costs and None not in costs
        else "cost unknown"
    )
    facts = [tokens, cost] + ([case_text(sampling)] if sampling is not None else [])
    latencies = [sample.latency_s for sample in samples if sample.latency_s is not None]
    if latencies:
        middle = percentile(latencies, 50)
        facts.append(_seconds(middle) + (" p50" if len(latencies) > 1 else ""))
    verdict = cell_verdict(case, samples, status)
    is_changed = changed(changes)
    marks = ""
    if changes:
        marks += (
            '<span class="badge changed" title="this run re-recorded it; its answer changed">'
            "changed</span>"
            if is_changed
            else '<span class="badge unchecked" title="re-recorded, same answer">re-recorded</span>'
        )
    if differs:
        marks += '<span class="badge differs" title="differs from another config">differs</span>'
    rendered = "".join(_sample(sample, data.get(sample.index)) for sample in samples)
    tools = sum(len(item.tool_calls) for item in case.outputs)
    summary = plural(len(samples), "sample") + (f", {plural(tools, 'tool call')}" if tools else "")
    if any(sample.turns for sample in samples):
        summary += ", transcript"
    detail = (
        f"{before_after(changes) if changes else ''}"
        f'<ol class="samples">{rendered}</ol>{_prompt(case.prompt)}'
    )
    if lazy is not None:
        # A button, not a <details>: a browser gives each <details> a shadow tree of its own,
        # and 10,000 of them cost seconds.
        lazy.append(detail)
        more = (
            f'<button type="button" class="more" data-lazy="{len(lazy) - 1}" '
            f'aria-expanded="false">{_e(summary)}</button>'
        )
    else:
        more = f'<details class="more"><summary>{_e(summary)}</summary>{detail}</details>'
    return (
        f'<td class="cell {status}" data-status="{status}" '
        f'aria-label="{_e(column)} &times; {_e(input_id)}: {_e(verdict)}">'
        f'<div class="cell-head"><span class="badge {status}">{_e(verdict)}</span>{marks}'
        f'<span class="muted small facts">{_e(" · ".join(facts))}</span></div>'
        f"{_preview(samples, data)}"
        f"{more}</td>"
    )


def _preview(samples: Sequence[SampleEntry], data: dict[int, OutputEntry]) -> str:
    """The first sample's answer, clipped (a tool loop's: its final turn's)."""
    if not samples:
        return '<p class="preview muted">no samples</p>'
    sample = samples[0]
    final = sample.final_turn
    item = data.get(sample.index)
    if final is not None:
        shown = sample.turns[final].output
        calls = [str(call.name) for call in sample.turns[final].tool_calls]
    elif item is not None:
        shown = _text(item.output)
        calls = [str(call.name or "?") for call in item.tool_calls]
    else:
        return '<p class="preview muted">no output recorded</p>'
    shown = shown.strip()
    clipped = shown if len(shown) <= PREVIEW_CHARS else shown[: PREVIEW_CHARS - 1] + "…"
    tools = f'<span class="tool-name">{_e(", ".join(calls))}()</span> ' if calls else ""
    if not clipped and not tools:
        return '<p class="preview muted">(empty output)</p>'
    return f'<p class="preview">{tools}{_e(clipped)}</p>'


def before_after(changes: Sequence[ChangeRecord]) -> str:
    """Each re-recorded call's previous answer beside this run's."""
    blocks = []
    for change in sorted(changes, key=lambda c: (c.sample, c.turn)):
        blocks.append(
            f'<div class="ba"><div class="ba-head small">sample {_e(change.call)}: '
            f"{_kind(change)}</div>"
            '<div class="ba-pair">'
            f'<div class="ba-old"><span class="ba-label">recorded before</span>'
            f"{_answer(change.old_output, change.old_tool_calls, change.new)}</div>"
            f'<div class="ba-new"><span class="ba-label">this run</span>'
            f"{_answer(change.new_output, change.new_tool_calls, False)}</div>"
            "</div></div>"
        )
    return f'<div class="before-after">{"".join(blocks)}</div>'


def _kind(change: ChangeRecord) -> str:
    if change.new:
        return "new call, nothing recorded before"
    return "re-recorded, answer changed" if changed([change]) else "re-recorded, same answer"


def _answer(output: str | None, calls: Sequence[str], new: bool) -> str:
    if new:
        return '<p class="muted small">(none)</p>'
    if output is None:
        return '<p class="muted small">(not in this report)</p>'
    body = f'<pre class="output">{_e(output)}</pre>' if output else ""
    body += "".join(f'<pre class="tool-args">{_e(call)}</pre>' for call in calls)
    return body or '<p class="muted small">(empty output)</p>'


def cell_verdict(case: CaseEntry, samples: Sequence[SampleEntry], status: Status) -> str:
    """The cell's badge: the samples that passed and, when the case failed, the bar it missed;
    a verdict with an interval or a reducer says so."""
    verdicts = case.verdicts or ()
    missed = [verdict for verdict in verdicts if verdict.failed]
    undecided = [verdict for verdict in verdicts if verdict.outcome == "inconclusive"]
    shown = (missed or undecided or [v for v in verdicts if v.interval or v.reducer])[:1]
    if shown:
        verdict = shown[0]
        text = f"{count(verdict.passed)}/{count(verdict.samples)} passed"
        if verdict.interval is not None and verdict.confidence is not None:
            text += f", {interval_text(*verdict.interval, verdict.confidence)}"
        if verdict.reducer is not None:
            estimate = "" if verdict.estimate is None else f" = {verdict.estimate:.0%}"
            text += f", {verdict.reducer}{estimate}"
        bar = verdict.min_pass_rate
        # A counting reducer (at_least, majority) holds the case to no rate.
        held_to_bar = verdict.reducer is None or verdict.estimate is not None
        if verdict.failed and bar is not None and held_to_bar:
            text += f", needs {bar:.0%}"
        if verdict.outcome == "inconclusive":
            text += ", inconclusive"
        return text
    failing = sum(1 for sample in samples if sample_status(sample) == "fail")
    if not failing:
        return STATUS_LABEL[status].split(" ", 1)[1]
    if status == "fail":  # a report from before verdicts: every sample had to pass
        return f"{failing}/{len(samples)} failing"
    passed = sum(1 for sample in samples if sample_status(sample) == "pass")
    return f"{passed}/{len(samples)} passed" + ("" if status == "pass" else ", no bar set")


def _sample(sample: SampleEntry, data: OutputEntry | None) -> str:
    status = sample_status(sample)
    meta = [f"#{count(sample.index)}"]
    if sample.turns:
        meta.append(plural(len(sample.turns), "turn"))
    if data is not None and data.finish_reason:
        meta.append(f"finish: {data.finish_reason}")
    if sample.latency_s is not None:
        meta.append(_seconds(sample.latency_s))
    if sample.replayed is not None:
        meta.append("replayed" if sample.replayed else "live")
    if sample.cost_usd is not None:
        meta.append(money(sample.cost_usd))
    body: list[str] = []
    if data is None:
        body.append('<p class="muted">No output recorded.</p>')
    else:
        output = data.output
        tool_calls = data.tool_calls
        if output:
            body.append(f'<pre class="output">{_e(_text(output))}</pre>')
        elif not tool_calls:
            body.append('<p class="muted small">(empty output)</p>')
        body.extend(_tool_call(call) for call in tool_calls)
    if sample.reasoning is not None and not sample.turns:  # a transcript shows it per turn
        body.append(reasoning(sample.reasoning))
    if sample.turns:
        body.append(transcript(sample))
    if sample.failure:
        body.append(f'<p class="sample-failure">{_e(sample.failure)}</p>')
    return (
        f'<li class="sample {status}" data-status="{status}">'
        f'<div class="sample-head"><span class="mark {status}">{_e(STATUS_LABEL[status])}</span>'
        f'<span class="muted small">{_e(" · ".join(meta))}</span></div>'
        f"{''.join(body)}</li>"
    )
