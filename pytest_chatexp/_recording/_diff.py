"""Why a replay missed: the recorded call closest to the one wanted, and what changed.

A replay miss in CI otherwise reads as "no recording for fingerprint 5f0c1d...", which tells the
author nothing. What they need is which edit caused it (a prompt line, a temperature, a tool)
and whether it was intended, so ``explain_miss`` names the closest recording and lists the
changes field by field, with JSON paths relative to the request body and line diffs for text.
It returns a ``Miss`` record: the terminal message and the Markdown report both render from it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from .._util import json_path
from ._fingerprint import canonical_json
from ._store import Interaction, Label, RecordedRequest

__all__ = [
    "Change",
    "Miss",
    "Wanted",
    "describe_request",
    "explain_miss",
    "label_of_json",
    "moved_endpoint",
]

MAX_LINES: Final = 40
_MAX_TEXT_DIFF_LINES: Final = 16
_MAX_VALUE_CHARS: Final = 60
_INDENT: Final = "  "

# changed: a value replaced; added, removed: a key or list item; text: prose with a line diff.
ChangeKind = Literal["changed", "added", "removed", "text"]
_KINDS: Final = ("changed", "added", "removed", "text")


@dataclass(frozen=True)
class Change:
    """One difference between the recorded request and the wanted one.

    ``path`` is ``provider``, ``endpoint`` or a JSON path in the body; ``old`` and ``new`` are
    the values as shown (JSON, clipped), None where there is none; ``diff`` holds a text
    change's line diff, each line marked `` ``, ``-`` or ``+`` as in a unified diff (an unmarked
    line is a note: lines left out, or only line endings differ).
    """

    path: str
    kind: ChangeKind
    old: str | None = None
    new: str | None = None
    diff: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The change as the terminal shows it: a headline, then a text change's diff."""
        if self.kind == "added":
            return [f"{self.path} added: {self.new}"]
        if self.kind == "removed":
            return [f"{self.path} removed (was {self.old})"]
        if self.kind == "text":
            return [f"{self.path} changed:", *(_INDENT * 2 + line for line in self.diff)]
        return [f"{self.path}: {self.old} -> {self.new}"]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "diff": list(self.diff),
        }

    @classmethod
    def from_json(cls, data: Any) -> Change | None:
        if not isinstance(data, Mapping) or data.get("kind") not in _KINDS:
            return None
        diff = data.get("diff")
        return cls(
            path=str(data.get("path") or ""),
            kind=data["kind"],
            old=_optional_str(data.get("old")),
            new=_optional_str(data.get("new")),
            diff=tuple(str(line) for line in diff) if isinstance(diff, list) else (),
        )


@dataclass(frozen=True)
class Miss:
    """Why one call had no recording: its label, and what the recording holds instead.

    ``recorded`` is False when the test had no recorded interaction at all. ``new_config``
    lists the recorded configs when the call's config is not among them; ``new_input`` says
    nothing was recorded for its input. ``closest`` is the recording most like the call and
    ``relation`` how it relates ("same label", "same config and input", "same config", "most
    similar request"); ``changes`` what differs from it. With no change and another sample
    index, ``recorded_samples`` are the samples recorded for the case.
    """

    label: Label
    recorded: bool = True
    new_config: tuple[str, ...] = ()
    new_input: bool = False
    closest: Label | None = None
    relation: str = ""
    changes: tuple[Change, ...] = ()
    recorded_samples: tuple[int, ...] = ()

    def notes(self) -> list[str]:
        """Sentences about the case, besides its changes."""
        label = self.label
        if not self.recorded:
            return ["This test has no recorded interactions (no recording file, or it is empty)."]
        notes: list[str] = []
        if self.new_config:
            names = ", ".join(f"'{name}'" for name in self.new_config)
            notes.append(f"model config '{label.config}' is new: the recording has {names}.")
        if self.new_input:
            notes.append(f"input '{label.input}' is new: nothing was recorded for it.")
        return notes

    def verdict(self) -> str | None:
        """What an unchanged request means, said after the closest recording; None if changed."""
        if not self.recorded or self.changes:
            return None
        if self.recorded_samples:
            return (
                f"The request is unchanged, but sample {self.label.sample} was never recorded "
                f"(recorded samples: {', '.join(map(str, self.recorded_samples))}); "
                "were samples added?"
            )
        return (
            "The request is unchanged, so this recording was made by an incompatible version "
            "of pytest-chatexp: re-record with --chatexp-record=all."
        )

    def render(self, alike: Sequence[Label] = ()) -> str:
        """A short report (at most ~``MAX_LINES`` lines) of why the call has no recording;
        with ``alike``, for those cases too, whose requests changed the same way."""
        if alike:
            cases = (
                f"{len(alike) + 1} cases that changed alike: {describe_cases([self.label, *alike])}"
            )
            lines = [f"no recorded response for {cases}.", *self.notes()]
            if self.relation:
                lines.append(f"Each compared with its closest recording ({self.relation}).")
        else:
            lines = [f"no recorded response for {describe_request(self.label)}.", *self.notes()]
            if self.closest is not None:
                closest = describe_request(self.closest)
                lines.append(f"Closest recording: {closest} ({self.relation}).")
        if self.changes:
            lines.append("Request changes since it was recorded:")
            lines.extend(capped(self.changes, room=MAX_LINES - len(lines)))
        verdict = self.verdict()
        if verdict is not None:
            lines.append(verdict)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": _label_json(self.label),
            "recorded": self.recorded,
            "new_config": list(self.new_config),
            "new_input": self.new_input,
            "closest": None if self.closest is None else _label_json(self.closest),
            "relation": self.relation,
            "changes": [change.to_json() for change in self.changes],
            "recorded_samples": list(self.recorded_samples),
        }

    @classmethod
    def from_json(cls, data: Any) -> Miss | None:
        """The record a report holds; None for anything else (a report of another version)."""
        if not isinstance(data, Mapping):
            return None
        label = label_of_json(data.get("label"))
        if label is None:
            return None
        changes = data.get("changes")
        return cls(
            label=label,
            recorded=data.get("recorded") is not False,
            new_config=tuple(str(name) for name in _list(data.get("new_config"))),
            new_input=data.get("new_input") is True,
            closest=label_of_json(data.get("closest")),
            relation=str(data.get("relation") or ""),
            changes=tuple(
                change for change in map(Change.from_json, _list(changes)) if change is not None
            ),
            recorded_samples=tuple(
                int(n) for n in _list(data.get("recorded_samples")) if isinstance(n, int)
            ),
        )


def _label_json(label: Label) -> dict[str, Any]:
    return label.to_data()


def label_of_json(data: Any) -> Label | None:
    if not isinstance(data, Mapping):
        return None
    sample, turn = data.get("sample"), data.get("turn")
    return Label(
        config=str(data.get("config") or ""),
        input=str(data.get("input") or ""),
        sample=sample if isinstance(sample, int) and not isinstance(sample, bool) else 0,
        turn=turn if isinstance(turn, int) and not isinstance(turn, bool) else 0,
        simulated_user=data.get("simulated_user") is True,
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


class Wanted(Protocol):
    """What ``explain_miss`` needs of the missed call: a ``Call`` or an ``Interaction``."""

    @property
    def label(self) -> Label: ...

    @property
    def request(self) -> RecordedRequest: ...


def describe_request(label: Label) -> str:
    """``model config 'support-v2', input 'refund', sample 0``, as in experiment errors."""
    return label.describe()


def describe_cases(labels: Sequence[Label], shown: int = 8) -> str:
    """``model config 'a', inputs 'x', 'y'; model config 'b', input 'x'``, the first ``shown``."""
    inputs: dict[str, list[str]] = {}
    for label in labels[:shown]:
        inputs.setdefault(label.config, []).append(f"'{label.input}'")
    text = "; ".join(
        f"model config '{config}', input{'s' if len(names) > 1 else ''} {', '.join(names)}"
        for config, names in inputs.items()
    )
    return text + (f" and {len(labels) - shown} more" if len(labels) > shown else "")


def explain_miss(wanted: Wanted, recorded: Sequence[Interaction]) -> Miss:
    """Why ``wanted`` has no recording, compared with what ``recorded`` holds."""
    label = wanted.label
    if not recorded:
        return Miss(label=label, recorded=False)
    configs = sorted({item.label.config for item in recorded})
    closest, relation = _closest(wanted, recorded)
    changes = _request_differences(closest.request, wanted.request)
    samples: tuple[int, ...] = ()
    if not changes and closest.label.sample != label.sample:
        samples = tuple(
            sorted(
                {
                    item.label.sample
                    for item in recorded
                    if (item.label.config, item.label.input) == (label.config, label.input)
                }
            )
        )
    return Miss(
        label=label,
        new_config=tuple(configs) if label.config not in configs else (),
        new_input=all(item.label.input != label.input for item in recorded),
        closest=closest.label,
        relation=relation,
        changes=tuple(changes),
        recorded_samples=samples,
    )


def moved_endpoint(wanted: Wanted, recorded: Sequence[Interaction]) -> str | None:
    """The endpoint ``wanted`` was recorded at, when that recording differs from it in nothing
    else (label, provider and body alike): the base URL moved, not the call, so the fix is to
    point it back rather than to re-record against another endpoint."""
    body = canonical_json(wanted.request.body)
    for item in recorded:
        request = item.request
        if (
            item.label == wanted.label
            and request.provider == wanted.request.provider
            and request.endpoint != wanted.request.endpoint
            and canonical_json(request.body) == body
        ):
            return request.endpoint
    return None


def _closest(wanted: Wanted, recorded: Sequence[Interaction]) -> tuple[Interaction, str]:
    """The recording most like ``wanted``: same label, then same config and input, then same
    config, then anything; the fewest request differences within a tier."""
    label = wanted.label
    tiers = (
        ("same label", lambda item: item.label == label),
        (
            "same config and input",
            lambda item: (item.label.config, item.label.input) == (label.config, label.input),
        ),
        ("same config", lambda item: item.label.config == label.config),
    )
    for relation, matches in tiers:
        candidates = [item for item in recorded if matches(item)]
        if candidates:
            return _nearest(wanted, candidates), relation
    return _nearest(wanted, recorded), "most similar request"


def _nearest(wanted: Wanted, candidates: Sequence[Interaction]) -> Interaction:
    return min(
        candidates,
        key=lambda item: (
            _distance(item.request, wanted.request),
            abs(item.label.sample - wanted.label.sample),
        ),
    )


def _distance(old: RecordedRequest, new: RecordedRequest) -> tuple[int, int]:
    differences = _request_differences(old, new)
    return len(differences), sum(len(change.lines()) for change in differences)


def _request_differences(old: RecordedRequest, new: RecordedRequest) -> list[Change]:
    differences: list[Change] = []
    if old.provider != new.provider:
        differences.append(Change("provider", "changed", f"'{old.provider}'", f"'{new.provider}'"))
    if old.endpoint != new.endpoint:
        differences.append(Change("endpoint", "changed", f"'{old.endpoint}'", f"'{new.endpoint}'"))
    _compare(old.body, new.body, [], differences)
    return differences


def _compare(old: Any, new: Any, parts: list[str | int], out: list[Change]) -> None:
    """Append the differences between JSON values ``old`` and ``new`` at ``parts``."""
    if canonical_json(old) == canonical_json(new):  # also tells 1 from 1.0 and true
        return
    path = json_path(parts)
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(old.keys() | new.keys()):
            if key not in new:
                out.append(Change(json_path([*parts, key]), "removed", old=_show(old[key])))
            elif key not in old:
                out.append(Change(json_path([*parts, key]), "added", new=_show(new[key])))
            else:
                _compare(old[key], new[key], [*parts, key], out)
    elif isinstance(old, list) and isinstance(new, list):
        _compare_lists(old, new, parts, out)
    elif isinstance(old, str) and isinstance(new, str) and _is_text(old, new):
        out.append(Change(path, "text", diff=tuple(_text_diff(old, new))))
    else:
        out.append(Change(path, "changed", _show(old), _show(new)))


def _compare_lists(
    old: list[Any], new: list[Any], parts: list[str | int], out: list[Change]
) -> None:
    """Align the lists first, so one inserted message or tool is one difference, not many."""
    matcher = difflib.SequenceMatcher(
        a=[canonical_json(item) for item in old],
        b=[canonical_json(item) for item in new],
        autojunk=False,
    )
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(old_end - old_start, new_end - new_start)
        for offset in range(paired):
            _compare(
                old[old_start + offset], new[new_start + offset], [*parts, new_start + offset], out
            )
        for index in range(old_start + paired, old_end):
            out.append(Change(json_path([*parts, index]), "removed", old=_show(old[index])))
        for index in range(new_start + paired, new_end):
            out.append(Change(json_path([*parts, index]), "added", new=_show(new[index])))


def _is_text(old: str, new: str) -> bool:
    """Prose (prompts, outputs) reads best as a line diff; short values read best inline."""
    return any("\n" in text or len(text) > _MAX_VALUE_CHARS for text in (old, new))


def _text_diff(old: str, new: str) -> list[str]:
    """The lines of a unified diff without its headers, each marked " ", "-" or "+"; capped
    (a note, unmarked, says how many lines were left out)."""
    diff = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1)
        if not line.startswith(("---", "+++", "@@"))
    ]
    if not diff:
        return ["(only line endings or a trailing newline differ)"]
    if len(diff) > _MAX_TEXT_DIFF_LINES:
        hidden = len(diff) - _MAX_TEXT_DIFF_LINES + 1
        diff = [*diff[: _MAX_TEXT_DIFF_LINES - 1], f"... {hidden} more diff lines"]
    return diff


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def capped(changes: Sequence[Change], *, room: int) -> list[str]:
    """The changes' lines, indented, within ``room`` lines (one kept for the "more" note)."""
    lines: list[str] = []
    for shown, change in enumerate(changes):
        difference = change.lines()
        remaining = len(changes) - shown
        if len(lines) + len(difference) > room - (1 if remaining > 1 else 0):
            lines.append(f"{_INDENT}... {remaining} more difference{'s' if remaining > 1 else ''}")
            break
        lines.extend(_INDENT + line for line in difference)
    return lines
