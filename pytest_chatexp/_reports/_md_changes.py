"""The Markdown report's "Changed prompts and configs" section, from the reports' records.

Calls that missed their recordings (``MissedCalls``) show the changed fields as a ``diff``
block, cases that changed alike sharing one; calls re-recorded (``ChangeRecord``) show their
token and cost deltas per test and model config, as computed where the prices were known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from .._calls._changes import ChangeRecord
from .._calls._misses import EXPLANATIONS_SHOWN, MissedCalls
from .._recording._diff import MAX_LINES, Change, Miss
from .._recording._store import Label
from ._entries import TestEntry
from ._md import breakable, code, fenced, row, signed_money, text, tokens

__all__ = ["Block", "changed_section"]

_MAX_TESTS: Final = 25  # tests detailed
_MAX_CHANGE_ROWS: Final = 50
_TOKEN_KINDS: Final = ("prompt", "generation", "total")


@dataclass(frozen=True)
class Block:
    """A piece of the report that is kept or left out whole (so no table or fence is cut)."""

    section: str
    text: str


def changed_section(tests: Sequence[TestEntry]) -> list[Block]:
    misses = [(test, test.miss) for test in tests if test.miss is not None]
    changed = [test for test in tests if test.changes]
    if not misses and not changed:
        return []
    section = "changed prompts and configs"
    blocks = [Block(section, "### Changed prompts and configs")]
    if misses:
        count = len(misses)
        blocks.append(
            Block(
                section,
                f"#### Calls without a matching recording\n\n{count} "
                f"test{'s' if count != 1 else ''} made calls that match no recording: a prompt, "
                "an input or a setting changed since it was recorded.",
            )
        )
        blocks += [Block(section, _miss_block(test, miss)) for test, miss in misses[:_MAX_TESTS]]
        if len(misses) > _MAX_TESTS:
            blocks.append(Block(section, f"_... and {len(misses) - _MAX_TESTS} more tests._"))
    if changed:
        blocks.append(Block(section, _changes_block(changed)))
    return blocks


# -- calls without a recording ------------------------------------------------------------------


def _miss_block(test: TestEntry, missed: MissedCalls) -> str:
    path = code(missed.recording)
    where = f"recording {path}" if missed.recording_exists else f"no recording file yet ({path})"
    lines = [f"**{code(test.test)}**: {text(missed.summary())}; {where}."]
    # Cases that changed the same way share one diff.
    groups = missed.explained_groups()
    for group in groups[:EXPLANATIONS_SHOWN]:
        miss = group[0]
        closest = f" (closest recording: {text(miss.relation)})" if miss.relation else ""
        lines += ["", f"{_case_labels([miss.label for miss in group])}{closest}:"]
        lines += [f"- {text(note)}" for note in _notes(miss)]
        if diff := _diff(miss):
            lines += ["", fenced("\n".join(diff), "diff")]
    more = sum(len(group) for group in groups[EXPLANATIONS_SHOWN:])
    others = [fix for fix in missed.fixes if fix is not None]
    if more > 0 or others:
        lines.append("")
        if more > 0:
            lines.append(f"- {text(f'... and {more} more cases')}")
        lines += [f"- {text(line)}" for fix in others for line in fix.splitlines() if line]
    if None in missed.fixes and missed.record_command:
        lines += ["", f"To record: {code(missed.record_command)}"]
    return "\n".join(lines)


def _notes(miss: Miss) -> list[str]:
    verdict = miss.verdict()
    return [*miss.notes(), *([verdict] if verdict else [])]


def _diff(miss: Miss) -> list[str]:
    """The changes as lines of a ``diff`` block, as many as the terminal shows."""
    room = MAX_LINES - 3 - len(miss.notes())
    lines: list[str] = []
    used = 0
    for shown, change in enumerate(miss.changes):
        size = len(change.lines())
        remaining = len(miss.changes) - shown
        if used + size > room - (1 if remaining > 1 else 0):
            lines.append(f" ... {remaining} more difference{'s' if remaining > 1 else ''}")
            break
        lines += _diff_lines(change)
        used += size
    return lines


def _diff_lines(change: Change) -> list[str]:
    if change.kind == "text":
        marked = [line if line[:1] in (" ", "-", "+") else " " + line for line in change.diff]
        return [f"@@ {change.path} @@", *marked]
    if change.kind == "removed":
        return [f"-{change.path}: {change.old}"]
    if change.kind == "added":
        return [f"+{change.path}: {change.new}"]
    return [f"-{change.path}: {change.old}", f"+{change.path}: {change.new}"]


def _case_labels(labels: Sequence[Label]) -> str:
    """``model config `a`, inputs `x`, `y``` for the cases of a diff, config by config."""
    inputs: dict[str, list[str]] = {}
    for label in labels:
        shown = code(label.input) + (f" (sample {label.sample})" if label.sample else "")
        inputs.setdefault(label.config, []).append(shown)
    return "; ".join(
        f"Model config {code(config)}, input{'s' if len(shown) > 1 else ''} {', '.join(shown)}"
        for config, shown in inputs.items()
    )


# -- re-recorded calls --------------------------------------------------------------------------


@dataclass
class _Delta:
    """Re-recorded calls of a test and model config: their tokens and cost before and after;
    a sum with an unknown part is unknown (None)."""

    rerecorded: int = 0
    new: int = 0
    new_tokens: int | None = 0  # of calls with no previous answer
    old: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(_TOKEN_KINDS, 0))
    now: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(_TOKEN_KINDS, 0))
    cost: float | None = 0.0

    def add(self, change: ChangeRecord) -> None:
        if change.new:
            self.new += 1
            self.new_tokens = _plus(self.new_tokens, change.tokens("new", "total"))
            return
        self.rerecorded += 1
        for kind in _TOKEN_KINDS:
            self.old[kind] = _plus(self.old[kind], change.tokens("old", kind))
            self.now[kind] = _plus(self.now[kind], change.tokens("new", kind))
        delta = change.cost_delta
        self.cost = None if self.cost is None or delta is None else self.cost + delta


def _plus(total: int | None, value: int | None) -> int | None:
    return None if total is None or value is None else total + value


def _changes_block(changed: Sequence[TestEntry]) -> str:
    rows: list[tuple[str, str, _Delta]] = []
    for test in changed:
        deltas: dict[str, _Delta] = {}
        for change in test.changes:
            deltas.setdefault(change.config, _Delta()).add(change)
        rows += [(test.test, config, deltas[config]) for config in sorted(deltas)]
    calls = sum(delta.rerecorded + delta.new for _, _, delta in rows)
    rerecorded = sum(delta.rerecorded for _, _, delta in rows)
    with_cost = any(delta.rerecorded and delta.cost is not None for _, _, delta in rows)
    header = ["Test, config", "Re-recorded", "Prompt tokens", "Generation tokens", "Total tokens"]
    header += ["Cost", "New calls"] if with_cost else ["New calls"]
    table = [row(header), row(["---"] + ["---:"] * (len(header) - 1))]
    for test_id, config, delta in rows[:_MAX_CHANGE_ROWS]:
        # Long ids break at their parts: the table fits a pull request's narrow pane.
        named = f"{breakable(test_id)}<br><code>{breakable(config)}</code>"
        cells = [named, f"{delta.rerecorded:,}"]
        cells += [
            _token_delta(delta.old[kind], delta.now[kind]) if delta.rerecorded else "—"
            for kind in _TOKEN_KINDS
        ]
        if with_cost:
            if not delta.rerecorded:
                cells.append("—")
            else:
                cells.append("unknown" if delta.cost is None else signed_money(delta.cost))
        new = f"{delta.new:,} ({tokens(delta.new_tokens)} tokens)" if delta.new else "—"
        table.append(row([*cells, new]))
    lines = [
        "#### Re-recorded calls",
        "",
        f"{calls:,} call{'s' if calls != 1 else ''} answered anew while recording, "
        f"{rerecorded:,} of them replacing a previous answer (tokens: before -> after).",
        "",
        *table,
    ]
    if len(rows) > _MAX_CHANGE_ROWS:
        lines += ["", f"_... and {len(rows) - _MAX_CHANGE_ROWS} more rows._"]
    return "\n".join(lines)


def _token_delta(old: int | None, new: int | None) -> str:
    if old is None or new is None:
        return f"{tokens(old)} -> {tokens(new)}"
    change = new - old
    if not change:
        return f"{old:,} -> {new:,} (no change)"
    percent = f", {100 * change / old:+.1f}%" if old else ""
    return f"{old:,} -> {new:,} ({change:+,}{percent})"
