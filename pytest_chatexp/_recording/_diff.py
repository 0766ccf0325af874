"""Why a replay missed: the recorded call closest to the one wanted, and what changed.

A replay miss in CI otherwise reads as "no recording for fingerprint 5f0c1d...", which tells the
author nothing. What they need is which edit caused it (a prompt line, a temperature, a tool)
and whether it was intended, so the report names the closest recording and lists the changes
field by field, with JSON paths relative to the request body and line diffs for text.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from .._util import json_path
from ._fingerprint import canonical_json
from ._store import Interaction, Label, RecordedRequest

__all__ = ["Wanted", "describe_request", "explain_miss", "moved_endpoint"]

MAX_LINES: Final = 40
_MAX_TEXT_DIFF_LINES: Final = 16
_MAX_VALUE_CHARS: Final = 60
_INDENT: Final = "  "

# A difference is its lines: a headline, then for text an indented line diff.
_Difference = list[str]


class Wanted(Protocol):
    """What ``explain_miss`` needs of the missed call: a ``Call`` or an ``Interaction``."""

    @property
    def label(self) -> Label: ...

    @property
    def request(self) -> RecordedRequest: ...


def describe_request(label: Label) -> str:
    """``model config 'support-v2', input 'refund', sample 0``, as in experiment errors."""
    return f"model config '{label.config}', input '{label.input}', sample {label.sample}"


def explain_miss(wanted: Wanted, recorded: Sequence[Interaction]) -> str:
    """A short report (at most ~``MAX_LINES`` lines) of why ``wanted`` has no recording."""
    label = wanted.label
    lines = [f"no recorded response for {describe_request(label)}."]
    if not recorded:
        lines.append("This test has no recorded interactions (no recording file, or it is empty).")
        return "\n".join(lines)
    configs = sorted({item.label.config for item in recorded})
    if label.config not in configs:
        names = ", ".join(f"'{name}'" for name in configs)
        lines.append(f"model config '{label.config}' is new: the recording has {names}.")
    if all(item.label.input != label.input for item in recorded):
        lines.append(f"input '{label.input}' is new: nothing was recorded for it.")

    closest, relation = _closest(wanted, recorded)
    differences = _request_differences(closest.request, wanted.request)
    lines.append(f"Closest recording: {describe_request(closest.label)} ({relation}).")
    if differences:
        lines.append("Request changes since it was recorded:")
        lines.extend(_capped(differences, room=MAX_LINES - len(lines)))
    elif closest.label.sample != label.sample:
        samples = sorted(
            item.label.sample
            for item in recorded
            if (item.label.config, item.label.input) == (label.config, label.input)
        )
        lines.append(
            f"The request is unchanged, but sample {label.sample} was never recorded "
            f"(recorded samples: {', '.join(map(str, samples))}); were samples added?"
        )
    else:
        lines.append(
            "The request is unchanged, so this recording was made by an incompatible version "
            "of pytest-chatexp: re-record with --chatexp-record=all."
        )
    return "\n".join(lines)


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
    return len(differences), sum(len(lines) for lines in differences)


def _request_differences(old: RecordedRequest, new: RecordedRequest) -> list[_Difference]:
    differences: list[_Difference] = []
    if old.provider != new.provider:
        differences.append([f"provider: '{old.provider}' -> '{new.provider}'"])
    if old.endpoint != new.endpoint:
        differences.append([f"endpoint: '{old.endpoint}' -> '{new.endpoint}'"])
    _compare(old.body, new.body, [], differences)
    return differences


def _compare(old: Any, new: Any, parts: list[str | int], out: list[_Difference]) -> None:
    """Append the differences between JSON values ``old`` and ``new`` at ``parts``."""
    if canonical_json(old) == canonical_json(new):  # also tells 1 from 1.0 and true
        return
    path = json_path(parts)
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(old.keys() | new.keys()):
            if key not in new:
                out.append([f"{json_path([*parts, key])} removed (was {_show(old[key])})"])
            elif key not in old:
                out.append([f"{json_path([*parts, key])} added: {_show(new[key])}"])
            else:
                _compare(old[key], new[key], [*parts, key], out)
    elif isinstance(old, list) and isinstance(new, list):
        _compare_lists(old, new, parts, out)
    elif isinstance(old, str) and isinstance(new, str) and _is_text(old, new):
        out.append([f"{path} changed:", *_text_diff(old, new)])
    else:
        out.append([f"{path}: {_show(old)} -> {_show(new)}"])


def _compare_lists(
    old: list[Any], new: list[Any], parts: list[str | int], out: list[_Difference]
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
            out.append([f"{json_path([*parts, index])} removed (was {_show(old[index])})"])
        for index in range(new_start + paired, new_end):
            out.append([f"{json_path([*parts, index])} added: {_show(new[index])}"])


def _is_text(old: str, new: str) -> bool:
    """Prose (prompts, outputs) reads best as a line diff; short values read best inline."""
    return any("\n" in text or len(text) > _MAX_VALUE_CHARS for text in (old, new))


def _text_diff(old: str, new: str) -> list[str]:
    indent = _INDENT * 2
    diff = [
        indent + line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1)
        if not line.startswith(("---", "+++", "@@"))
    ]
    if not diff:
        return [f"{indent}(only line endings or a trailing newline differ)"]
    if len(diff) > _MAX_TEXT_DIFF_LINES:
        hidden = len(diff) - _MAX_TEXT_DIFF_LINES + 1
        diff = [*diff[: _MAX_TEXT_DIFF_LINES - 1], f"{indent}... {hidden} more diff lines"]
    return diff


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def _capped(differences: list[_Difference], *, room: int) -> list[str]:
    """The differences' lines, indented, within ``room`` lines (one kept for the "more" note)."""
    lines: list[str] = []
    for shown, difference in enumerate(differences):
        remaining = len(differences) - shown
        if len(lines) + len(difference) > room - (1 if remaining > 1 else 0):
            lines.append(f"{_INDENT}... {remaining} more difference{'s' if remaining > 1 else ''}")
            break
        lines.extend(_INDENT + line for line in difference)
    return lines
