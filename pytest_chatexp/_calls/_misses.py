"""A recording miss as a record: which calls of a test had no recording, and why.

``RecordingMissError`` carries a ``MissedCalls`` record, and its message is rendered from it; the
JSON report carries the same record (``to_json``), and the Markdown report renders it again in
its own way, so no report ever reads the message text back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .._errors import RecordingError
from .._recording._diff import Miss

if TYPE_CHECKING:
    from .._recording import Call

__all__ = ["MissedCalls", "RecordingMissError", "missed_calls_of"]

EXPLANATIONS_SHOWN: Final = 3


@dataclass(frozen=True)
class MissedCalls:
    """The calls of one test (or one experiment of it) that found no recording.

    ``recording`` is the recording file's path as shown, ``recording_exists`` whether it was
    there (without it there is nothing to compare with: ``misses`` hold labels only). ``fixes``
    are what to do, one per distinct advice: None stands for re-recording with
    ``record_command``, a text for another fix (an endpoint that moved). ``total`` is how many
    calls the experiment made.
    """

    test: str
    mode: str
    recording: str
    recording_exists: bool
    record_command: str
    misses: tuple[Miss, ...]
    fixes: tuple[str | None, ...] = (None,)
    total: int = 1

    def headline(self) -> str:
        return f"{self.summary()}; {self.where()}."

    def summary(self) -> str:
        """How many calls missed, under which record mode."""
        calls = (
            "the call has" if self.total == 1 else f"{len(self.misses)} of {self.total} calls have"
        )
        return f"{calls} no matching recording (record mode '{self.mode}')"

    def where(self) -> str:
        if self.recording_exists:
            return f"recording {self.recording}"
        return f"no recording file yet ({self.recording})"

    def explained(self) -> list[Miss]:
        """The misses worth explaining: one per case (its samples share their explanation),
        none when there was no recording file to compare with."""
        if not self.recording_exists:
            return []
        cases: dict[tuple[str, str], Miss] = {}
        for miss in self.misses:
            cases.setdefault((miss.label.config, miss.label.input), miss)
        return list(cases.values())

    def explained_groups(self) -> list[list[Miss]]:
        """``explained()`` grouped by explanation: cases whose requests changed the same way
        (a system prompt edited for every input) share one, so it is shown once."""
        groups: dict[tuple[object, ...], list[Miss]] = {}
        for miss in self.explained():
            key = (miss.relation, miss.changes, tuple(miss.notes()), miss.verdict())
            groups.setdefault(key, []).append(miss)
        return list(groups.values())

    def fix_texts(self) -> list[str]:
        return [fix or f"To record, run: {self.record_command}" for fix in self.fixes]

    def render(self) -> str:
        lines = [self.headline()]
        groups = self.explained_groups()
        lines += [
            first.render([miss.label for miss in alike])
            for first, *alike in groups[:EXPLANATIONS_SHOWN]
        ]
        if more := sum(len(group) for group in groups[EXPLANATIONS_SHOWN:]):
            lines.append(f"... and {more} more case{'s' if more > 1 else ''}")
        lines += self.fix_texts()
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Builtins only: it crosses to the xdist controller and into the JSON report."""
        return {
            "test": self.test,
            "mode": self.mode,
            "recording": self.recording,
            "recording_exists": self.recording_exists,
            "record_command": self.record_command,
            "misses": [miss.to_json() for miss in self.misses],
            "fixes": list(self.fixes),
            "total": self.total,
        }

    @classmethod
    def from_json(cls, data: Any) -> MissedCalls | None:
        """The record a report holds; None for anything else (a report of another version)."""
        if not isinstance(data, Mapping):
            return None
        misses = data.get("misses")
        fixes = data.get("fixes")
        total = data.get("total")
        return cls(
            test=str(data.get("test") or ""),
            mode=str(data.get("mode") or ""),
            recording=str(data.get("recording") or ""),
            recording_exists=data.get("recording_exists") is not False,
            record_command=str(data.get("record_command") or ""),
            misses=tuple(
                miss
                for miss in map(Miss.from_json, misses if isinstance(misses, list) else [])
                if miss is not None
            ),
            fixes=tuple(None if fix is None else str(fix) for fix in fixes)
            if isinstance(fixes, list)
            else (None,),
            total=total if isinstance(total, int) and not isinstance(total, bool) else 1,
        )


class RecordingMissError(RecordingError):
    """A call has no matching recording and the record mode forbids calling the provider."""

    def __init__(self, record: MissedCalls, *, call: Call) -> None:
        super().__init__(record.render())
        self.record = record
        self.call = call  # the first call that missed

    @property
    def misses(self) -> list[Miss]:
        return list(self.record.misses)

    @property
    def mode(self) -> str:
        return self.record.mode

    @property
    def where(self) -> str:
        return self.record.where()

    @property
    def fix(self) -> str:
        return "\n".join(self.record.fix_texts())

    @property
    def explanation(self) -> str:
        """Why the first call missed, as text ("" without a recording file)."""
        explained = self.record.explained()
        return explained[0].render() if explained else ""

    @classmethod
    def combine(cls, errors: Sequence[RecordingMissError], *, total: int) -> RecordingMissError:
        """One error for every miss of an experiment: the CI gate's verdict."""
        first = errors[0].record
        record = MissedCalls(
            test=first.test,
            mode=first.mode,
            recording=first.recording,
            recording_exists=first.recording_exists,
            record_command=first.record_command,
            misses=tuple(miss for error in errors for miss in error.record.misses),
            fixes=tuple(dict.fromkeys(fix for error in errors for fix in error.record.fixes)),
            total=total,
        )
        return cls(record, call=errors[0].call)


def missed_calls_of(exc: BaseException | None) -> MissedCalls | None:
    """The miss record behind a test's failure: the error itself, or the one it was raised
    from or while handling (a plugin error is re-raised as a short pytest failure)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, RecordingMissError):
            return exc.record
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
