"""Snapshots of experiments through syrupy: the view a reviewer reads in a PR.

``assert chatexp == chatexp_snapshot`` writes one text file per test,
``__snapshots__/<test module>/<test name>[experiment].chatexp``: per model config (name and the
parameters that shape answers), per input (its variables), per sample: the output as multi-line
text, tool calls as name and pretty arguments, finish reason and token usage. A sample of a tool
loop or a conversation is its turns instead (``_turns``): the user messages, each model call's
text and tool calls (compact JSON), the tools' results (errors marked), the final answer last.
Ids, timings and raw provider payloads never enter it, so a snapshot changes only when what the
model says (or a tool returns) changes.

A failing comparison shows each changed section (a config's parameters, an input's variables,
a sample) under its own header, so the diff says which config, input and sample now answer
differently; unchanged samples are folded.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterator
from itertools import zip_longest
from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from .._experiment._config import ModelConfig
from .._experiment._result import ExperimentResult, Sample
from .._redaction import redact
from .._util import canonical_json
from ._format import plural, turn_label
from ._turns import TurnView, shows_turns, turn_views

__all__ = ["SNAPSHOT_NAME", "ExperimentSnapshotExtension", "keep_snapshots_of", "render_experiment"]

SNAPSHOT_NAME = "experiment"
# Increase when the rendering changes, so old snapshots read as needing an update.
FORMAT_VERSION = 1
_PARAMETERS = (
    "provider",
    "model",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "response_format",
    "tool_choice",
    "reasoning",
)


class ExperimentSnapshotExtension(SingleFileSnapshotExtension):
    """syrupy extension: an ExperimentResult as a readable text file."""

    _write_mode = WriteMode.TEXT
    # One plain suffix: a dotted one confuses syrupy's location matching, ".ambr" is Amber's.
    file_extension = "chatexp"
    _file_extension = "chatexp"  # syrupy < 5

    def serialize(self, data: Any, **kwargs: Any) -> str:
        if not isinstance(data, ExperimentResult):
            raise TypeError(
                f"chatexp_snapshot compares experiment results (the 'chatexp' fixture), "
                f"not {type(data).__name__}"
            )
        # Redacted like every other file: a provider that echoes a key must not commit it here.
        return redact(render_experiment(data))

    def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
        """Changed lines grouped under the case they belong to."""
        old = str(snapshot_data).splitlines()
        new = str(serialized_data).splitlines()
        yield from _case_diff(old, new)


def keep_snapshots_of(node_id: str) -> None:
    """A test whose experiment failed (provider down, recording missing) never reached its
    snapshot assertion. syrupy would count its reviewed snapshot as unused and delete it under
    --snapshot-update; tell syrupy the test was skipped, which keeps it. The test itself still
    fails in pytest's report. (syrupy's session object is private; without it, do nothing.)
    """
    syrupy = sys.modules.get("syrupy")
    session = getattr(syrupy, "_syrupy", None)
    ran_item = getattr(session, "ran_item", None)
    if ran_item is not None:
        ran_item(node_id, "skipped")


def render_experiment(result: ExperimentResult) -> str:
    lines = [f"# pytest-chatexp experiment (format {FORMAT_VERSION})"]
    for name, cases in result.by_config.items():
        config = cases[0].config
        lines += ["", f"## model config: {name}"]
        lines += [f"{key}: {_inline(value)}" for key, value in _parameters(config)]
        for message in config.chat_template:
            lines.append(f"template {message.role}:")
            lines += _indented(message.text)
        if config.tools:
            lines.append("tools: " + ", ".join(tool.name for tool in config.tools))
        for case in cases:
            lines += ["", f"### input: {case.input.id}"]
            lines += [
                f"{key}: {_inline(value)}" for key, value in sorted(case.input.inputs.items())
            ]
            for sample in case.samples:
                lines += _sample(sample)
    return "\n".join(lines) + "\n"


def _parameters(config: ModelConfig) -> list[tuple[str, object]]:
    """The config's parameters that are set, in ``_PARAMETERS`` order (the default provider
    left out)."""
    return [
        (name, getattr(config, name))
        for name in _PARAMETERS
        if getattr(config, name) is not None and (name != "provider" or config.provider != "openai")
    ]


def _sample(sample: Sample) -> list[str]:
    usage = sample.usage
    # An unknown count (the provider reported none) reads "unknown", never 0.
    prompt, generation = (
        "unknown" if count is None else count
        for count in (usage.prompt_tokens, usage.generation_tokens)
    )
    tokens = f"{prompt} prompt + {generation} generation tokens"
    if usage.reasoning_tokens:
        tokens += f" ({usage.reasoning_tokens} reasoning)"
    head = f"#### sample {sample.index}: finish_reason {sample.finish_reason}, {tokens}"
    # The model's reasoning, only when the provider returned some: older snapshots unchanged.
    thought = ["reasoning:", *_indented(sample.reasoning)] if sample.reasoning is not None else []
    if shows_turns(sample):
        views = turn_views(sample)
        return [f"{head}, {plural(len(views), 'turn')}", *thought, *_turns(views)]
    lines = [head, *thought]
    if sample.output:
        lines.append("output:")
        lines += _indented(sample.output)
    for call in sample.tool_calls:
        lines.append(f"tool call: {call.function.name}")
        lines += _indented(_pretty_arguments(call.function.arguments))
    if not sample.output and not sample.tool_calls:
        lines.append("output: (empty)")
    return lines


def _turns(views: list[TurnView]) -> list[str]:
    """Each turn under its label, after the user messages it answers: its text, then each
    tool call on one line, followed by what the tool returned."""
    lines: list[str] = []
    for view in views:
        for text in view.user:
            lines += ["user:", *_indented(text)]
        turn = view.turn
        body = turn.output.splitlines() if turn.output.strip() else []
        for call, result in zip_longest(turn.tool_calls, turn.tool_results):
            if call is not None:
                arguments = _compact_arguments(call.function.arguments)
                body.append(f"tool call: {call.function.name} {arguments}")
            if result is not None:
                body.append(f"tool result{' (error)' if result.error else ''}: {result.name}")
                body += _indented(result.result) if result.result.strip() else ["  (empty)"]
        lines.append(turn_label(view.number, turn.speaker, final=view.final) + ":")
        lines += ["  " + line if line else "" for line in body or ["(empty)"]]
    return lines


def _compact_arguments(arguments: str | None) -> str:
    """A tool call's arguments on one line: canonical JSON, or the text itself, quoted."""
    if not arguments:
        return "{}"
    try:
        return canonical_json(json.loads(arguments))
    except json.JSONDecodeError:
        return json.dumps(arguments, ensure_ascii=False) + " (not valid JSON)"


def _pretty_arguments(arguments: str | None) -> str:
    if not arguments:
        return "{}"
    try:
        return json.dumps(json.loads(arguments), indent=2, sort_keys=True, ensure_ascii=False)
    except json.JSONDecodeError:
        return arguments + "\n(not valid JSON)"


def _indented(text: str) -> list[str]:
    return ["  " + line if line else "" for line in text.splitlines() or [""]]


def _inline(value: Any) -> str:
    if isinstance(value, str):
        return value if "\n" not in value else json.dumps(value, ensure_ascii=False)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", exclude_none=True)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _case_diff(old: list[str], new: list[str]) -> Iterator[str]:
    """The changed sections (a config's parameters, an input's variables, a sample), each under
    its own header, changed lines with one line of context; unchanged sections are folded.

    Sections are matched by their place (config, input, sample), not by line position, so a
    sample whose output gains or loses lines never drags its neighbours' lines into its hunk.
    """
    before, after = _sections(old), _sections(new)
    keys = difflib.SequenceMatcher(
        a=[key for key, _ in before], b=[key for key, _ in after], autojunk=False
    )
    unchanged = 0
    for tag, i1, i2, j1, j2 in keys.get_opcodes():
        if tag == "equal":
            for (key, old_lines), (_, new_lines) in zip(before[i1:i2], after[j1:j2], strict=True):
                if old_lines == new_lines:
                    unchanged += ", sample " in key
                    continue
                yield f"@@ {key} @@"
                yield from _section_diff(old_lines, new_lines)
            continue
        for key, lines in before[i1:i2]:
            yield f"@@ {key} (removed) @@"
            yield from (f"- {line}" for line in lines)
        for key, lines in after[j1:j2]:
            yield f"@@ {key} (new) @@"
            yield from (f"+ {line}" for line in lines)
    if unchanged:
        yield f"({plural(unchanged, 'unchanged sample')} not shown)"


def _section_diff(old: list[str], new: list[str]) -> Iterator[str]:
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for number, group in enumerate(matcher.get_grouped_opcodes(1)):
        if number:
            yield "  ..."
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (f"  {line}" for line in old[i1:i2])
                continue
            yield from (f"- {line}" for line in old[i1:i2])
            yield from (f"+ {line}" for line in new[j1:j2])


def _sections(lines: list[str]) -> list[tuple[str, list[str]]]:
    """The snapshot's lines cut at its headers, each part named by the config, input and
    sample in force (blank separator lines left out)."""
    sections: list[tuple[str, list[str]]] = [("experiment", [])]
    config = case = ""
    for line in lines:
        if line.startswith("## model config: "):
            config, case = line.removeprefix("## model config: "), ""
            sections.append((f"model config '{config}'", []))
        elif line.startswith("### input: "):
            case = line.removeprefix("### input: ")
            sections.append((f"model config '{config}', input '{case}'", []))
        elif line.startswith("#### sample "):
            sample = line.removeprefix("#### ").split(":", 1)[0]
            sections.append((f"model config '{config}', input '{case}', {sample}", []))
        if line:
            sections[-1][1].append(line)
    return sections
