"""Semantic snapshots: an answer passes when it equals, or means the same as, an approved one.

``assert chatexp == chatexp_snapshot.semantic(equivalent)`` keeps, per case (model config,
input), the answers a reviewer approved (``_approved``: a YAML file next to syrupy's snapshots).
Each sample's answer passes when it equals one of its case's approved answers (no call made);
otherwise ``equivalent(approved)`` builds a check (a ``SampleCheck`` such as ``similar_to``)
per approved answer, tried in the file's order until one passes. The checks' grader calls run
through the running test, so they are recorded with its recording and replay gives the same
verdict offline.

The comparison happens before syrupy's: the assertion hands syrupy the file's text as it should
be after this run (``SemanticOutcome.text``), which is the file's own text, byte for byte, when
every answer passed. So syrupy's machinery does the rest unchanged: a differing text fails (the
diff lines are ours: each unmatched sample against its closest approved answer), and
``--snapshot-update`` writes it, the new answers added as variants (or, with ``replace=True``,
a changed case's answers replaced by this run's). Cases no longer in the experiment fail the
comparison like any change, and ``--snapshot-update`` drops them; a test whose file is gone is
syrupy's unused snapshot.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from .._experiment._result import ExperimentResult, Sample
from .._reading import FileTooLarge, read_bounded
from ..checks._verdict import SampleCheck
from ._approved import ApprovedCase, ApprovedFileError, answer_of, parse, render
from ._format import plural
from ._snapshot import SNAPSHOT_NAME, ExperimentSnapshotExtension

__all__ = [
    "APPROVED_NAME",
    "ApprovedAnswersExtension",
    "ChatexpSnapshot",
    "Equivalent",
    "SemanticOutcome",
    "SemanticSnapshot",
    "compare",
]

APPROVED_NAME = "approved"
_A = TypeVar("_A", bound=SnapshotAssertion)
# From an approved answer, the check a new answer must pass to be equivalent to it.
Equivalent = Callable[[str], SampleCheck]
_EXCERPT = 60


class SemanticSnapshotError(Exception):
    """Bad input to a semantic snapshot (the equivalence factory, the compared value)."""


@dataclass(frozen=True)
class Mismatch:
    """A sample whose answer is neither one of its case's approved answers nor equivalent to
    one: the equivalence checks' reasons, and the approved answer closest to it."""

    case: str  # the case's label
    index: int
    answer: str
    approved: tuple[str, ...]
    reasons: tuple[str, ...]
    closest: int  # index into ``approved``


@dataclass(frozen=True)
class SemanticOutcome:
    """The comparison of an experiment with its approved answers: the file's text as it is
    after this run (its own text when nothing changed), and what changed."""

    text: str
    mismatches: tuple[Mismatch, ...]
    new_cases: tuple[ApprovedCase, ...]
    removed_cases: tuple[ApprovedCase, ...]
    exact: int  # samples equal to an approved answer
    equivalent: int  # samples the equivalence check passed
    replace: bool


def compare(
    result: ExperimentResult,
    approved_text: str | None,
    equivalent: Equivalent | None,
    *,
    replace: bool = False,
) -> SemanticOutcome:
    """Each sample of ``result`` against its case's approved answers (``approved_text``, the
    file; None when there is none). ApprovedFileError for a file that cannot be read,
    SemanticSnapshotError for a factory that does not give a check."""
    approved = {case.key: case for case in parse(approved_text)} if approved_text else {}
    pending: list[tuple[Sample, str, ApprovedCase]] = []
    answers: dict[tuple[str, str], list[str]] = {}
    new_cases: list[ApprovedCase] = []
    exact = 0
    for case in result.cases:
        key = (case.config.display_name, str(case.input.id))
        answers[key] = [answer_of(sample) for sample in case.samples]
        known = approved.get(key)
        if known is None:
            new_cases.append(ApprovedCase(*key, _distinct(answers[key])))
            continue
        for sample, answer in zip(case.samples, answers[key], strict=True):
            if answer in known.answers:
                exact += 1
            else:
                pending.append((sample, answer, known))
    reasons = _equivalence(pending, equivalent)
    mismatches = tuple(
        Mismatch(
            case=known.label,
            index=sample.index,
            answer=answer,
            approved=known.answers,
            reasons=tuple(reasons[id(sample)]),
            closest=_closest(answer, known.answers),
        )
        for sample, answer, known in pending
        if id(sample) in reasons
    )
    removed = tuple(case for key, case in approved.items() if key not in answers)
    if not mismatches and not new_cases and not removed and approved_text is not None:
        text = approved_text  # unchanged: byte for byte, however it was written
    else:
        text = render(_updated(approved, answers, new_cases, mismatches, replace=replace))
    return SemanticOutcome(
        text=text,
        mismatches=mismatches,
        new_cases=tuple(new_cases),
        removed_cases=removed,
        exact=exact,
        equivalent=len(pending) - len(mismatches),
        replace=replace,
    )


def _equivalence(
    pending: list[tuple[Sample, str, ApprovedCase]], equivalent: Equivalent | None
) -> dict[int, list[str]]:
    """The samples not equivalent to any approved answer of their case, by ``id``, with each
    check's reason. Round k tries each sample still unmatched against its case's k-th approved
    answer, all samples facing the same answer in one check (one grading experiment)."""
    reasons: dict[int, list[str]] = {id(sample): [] for sample, _, _ in pending}
    if equivalent is None:
        return reasons
    checks: dict[str, SampleCheck] = {}
    rank = 0
    while pending:
        facing: dict[str, list[Sample]] = {}
        for sample, _, known in pending:
            if rank < len(known.answers):
                facing.setdefault(known.answers[rank], []).append(sample)
        if not facing:
            break
        passed: set[int] = set()
        for approved, samples in facing.items():
            check = checks.get(approved) or checks.setdefault(
                approved, _check_for(equivalent, approved)
            )
            if check.prepare is not None:
                check.prepare(samples)
            for sample in samples:
                reason = check(sample)
                if reason is None:
                    passed.add(id(sample))
                else:
                    reasons[id(sample)].append(
                        f"approved answer {rank + 1}: {check.name}: {reason}"
                    )
        for sample_id in passed:
            del reasons[sample_id]
        pending = [entry for entry in pending if id(entry[0]) not in passed]
        rank += 1
    return reasons


def _check_for(equivalent: Equivalent, approved: str) -> SampleCheck:
    try:
        check = equivalent(approved)
    except Exception as exc:
        raise SemanticSnapshotError(
            f"equivalent({_excerpt(approved)}) raised {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(check, SampleCheck):
        raise SemanticSnapshotError(
            f"equivalent({_excerpt(approved)}) returned {type(check).__name__}, not a check: "
            "it must build one from the approved answer, e.g. "
            "lambda approved: similar_to(approved, grader=GRADER)"
        )
    return check


def _updated(
    approved: dict[tuple[str, str], ApprovedCase],
    answers: dict[tuple[str, str], list[str]],
    new_cases: list[ApprovedCase],
    mismatches: Sequence[Mismatch],
    *,
    replace: bool,
) -> list[ApprovedCase]:
    """The cases as ``--snapshot-update`` leaves them, in the experiment's order: unmatched
    answers added to their case (or, with ``replace``, the case's answers replaced by this
    run's), new cases added, cases no longer in the experiment dropped."""
    new = {case.key: case for case in new_cases}
    unmatched: dict[str, list[str]] = {}
    for mismatch in mismatches:
        unmatched.setdefault(mismatch.case, []).append(mismatch.answer)
    cases: list[ApprovedCase] = []
    for key, run_answers in answers.items():
        if key in new:
            cases.append(new[key])
            continue
        known = approved[key]
        added = unmatched.get(known.label)
        if not added:
            cases.append(known)
        elif replace:
            cases.append(ApprovedCase(*key, _distinct(run_answers)))
        else:
            cases.append(ApprovedCase(*key, _distinct([*known.answers, *added])))
    return cases


def _distinct(answers: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(answers))


def _closest(answer: str, approved: Sequence[str]) -> int:
    """The approved answer most like ``answer`` by difflib's ratio (the first of equals)."""
    ratios = [
        difflib.SequenceMatcher(a=text, b=answer, autojunk=False).ratio() for text in approved
    ]
    return ratios.index(max(ratios))


# --- what a failure shows ---------------------------------------------------------------------


def failure_lines(outcome: SemanticOutcome) -> Iterator[str]:
    """Each unmatched sample under its case and sample, the checks' reasons, and a line diff
    against the closest approved answer; then new and removed cases."""
    if outcome.mismatches:
        yield (
            f"{plural(len(outcome.mismatches), 'sample')} not equivalent to an approved answer"
            f" ({outcome.exact} equal to one, {outcome.equivalent} equivalent)"
        )
    for mismatch in outcome.mismatches:
        yield f"@@ {mismatch.case}, sample {mismatch.index} @@"
        yield from (f"  not equivalent to {reason}" for reason in mismatch.reasons)
        if not mismatch.reasons:
            yield "  not equal to an approved answer (no equivalence check given)"
        total = len(mismatch.approved)
        yield f"  closest approved answer ({mismatch.closest + 1} of {total}), then this answer:"
        yield from _answer_diff(mismatch.approved[mismatch.closest], mismatch.answer)
    for case in outcome.new_cases:
        yield f"@@ {case.label} (new: no approved answers) @@"
        for answer in case.answers:
            yield from (f"+ {line}" for line in answer.splitlines() or [""])
    for case in outcome.removed_cases:
        yield f"@@ {case.label} (removed: no longer in the experiment) @@"
    action = "replaced by this run's answers" if outcome.replace else "added as approved variants"
    yield f"Run pytest with --snapshot-update to approve them ({action})."


def _answer_diff(old: str, new: str) -> Iterator[str]:
    before, after = old.splitlines() or [""], new.splitlines() or [""]
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            yield from (f"  {line}" for line in before[i1:i2])
            continue
        yield from (f"- {line}" for line in before[i1:i2])
        yield from (f"+ {line}" for line in after[j1:j2])


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 1] + "…")


# --- syrupy -----------------------------------------------------------------------------------


class _Compared(str):
    """The text syrupy compares and writes, carrying the comparison for the failure's lines."""

    outcome: SemanticOutcome

    def __new__(cls, outcome: SemanticOutcome) -> _Compared:
        text = super().__new__(cls, outcome.text)
        text.outcome = outcome
        return text


class ApprovedAnswersExtension(SingleFileSnapshotExtension):
    """syrupy extension: the approved answers of a semantic snapshot, one YAML file a test."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"
    _file_extension = "yaml"  # syrupy < 5

    def serialize(self, data: Any, **kwargs: Any) -> str:
        if not isinstance(data, SemanticOutcome):  # only SemanticSnapshot compares with it
            raise TypeError("compare experiments with chatexp_snapshot.semantic(...)")
        return _Compared(data)

    def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
        outcome = getattr(serialized_data, "outcome", None)
        if isinstance(outcome, SemanticOutcome):
            yield from failure_lines(outcome)
        else:
            yield from super().diff_lines(serialized_data, snapshot_data)


def _like(assertion: SnapshotAssertion, cls: type[_A], extension: type[Any]) -> _A:
    """An assertion of class ``cls`` with ``assertion``'s options (whatever syrupy version's
    fields they are) and ``extension``."""
    options = {f.name: getattr(assertion, f.name) for f in fields(assertion) if f.init}
    options["extension_class"] = extension
    return cls(**options)


class SemanticSnapshot(SnapshotAssertion):
    """``chatexp_snapshot.semantic(...)``: compares an experiment with its approved answers."""

    equivalent: Equivalent | None = None
    replace: bool = False

    def __eq__(self, other: object) -> bool:
        __tracebackhide__ = True
        if not isinstance(other, ExperimentResult):
            _fail(
                f"compares experiment results (the 'chatexp' fixture), not {type(other).__name__}"
            )
        location = Path(
            self.extension.get_location(test_location=self.test_location, index=self.index)
        )
        try:
            outcome = compare(other, _read(location), self.equivalent, replace=self.replace)
        except ApprovedFileError as exc:
            _fail(f"{location}: {exc}")
        except SemanticSnapshotError as exc:
            _fail(str(exc))
        return self._assert(outcome)

    __hash__ = None  # type: ignore[assignment]


class ChatexpSnapshot(SnapshotAssertion):
    """The ``chatexp_snapshot`` fixture: syrupy's assertion with the experiment extension,
    and ``semantic()`` for approved answers compared by meaning."""

    @classmethod
    def of(cls, snapshot: SnapshotAssertion) -> SnapshotAssertion:
        # An explicit name: syrupy's counters would renumber snapshots when assertions change.
        return _like(snapshot, cls, ExperimentSnapshotExtension)(name=SNAPSHOT_NAME)

    def semantic(
        self, equivalent: Equivalent | None = None, *, replace: bool = False
    ) -> SnapshotAssertion:
        """The approved answers of this test, compared with ``assert chatexp == ...``.

        ``equivalent``: from an approved answer, the check that a new answer means the same
        (``lambda approved: similar_to(approved, grader=GRADER)``); None: only an answer equal
        to an approved one passes. ``replace``: ``--snapshot-update`` replaces a changed case's
        approved answers with this run's instead of adding them.
        """
        __tracebackhide__ = True
        if equivalent is not None and not callable(equivalent):
            _fail(
                "equivalent= must be a function from an approved answer to a check, e.g. "
                "lambda approved: similar_to(approved, grader=GRADER); "
                f"got {type(equivalent).__name__}"
            )
        if not isinstance(replace, bool):
            _fail(f"replace= must be True or False, got {type(replace).__name__}")
        assertion = _like(self, SemanticSnapshot, ApprovedAnswersExtension)
        assertion.equivalent, assertion.replace = equivalent, replace
        return assertion(name=APPROVED_NAME)

    __hash__ = None  # type: ignore[assignment]


def _read(location: Path) -> str | None:
    """The approved file's text (newlines as syrupy reads them), None when there is none."""
    try:
        data = read_bounded(location)
    except FileNotFoundError:
        return None
    except (FileTooLarge, OSError) as exc:
        raise ApprovedFileError(f"cannot be read: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApprovedFileError(f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(f"chatexp_snapshot.semantic: {message}", pytrace=False)
