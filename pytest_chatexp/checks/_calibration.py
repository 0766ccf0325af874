"""Calibrating a judge before it is trusted: ``calibrate(check, examples, min_agreement=)``.

A labelled set pairs responses with the verdict a person gave them. ``calibrate`` grades every
example with the check's own graders, votes and rule, in one grading experiment of the running
test (recorded and replayed like the check's grading of samples, counted and priced alike),
and fails the test at once, naming each example the judge got wrong, when the share it agrees
on is under ``min_agreement``. Called before the test's own experiment runs
(``chatexp_runner``), a judge that disagrees with its labels costs no model call beyond its
calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._running import active_test
from ._verdict import SampleCheck
from ._votes import GradedCheck, Vote

__all__ = ["Calibration", "Judged", "Labelled", "calibrate"]

_EXCERPT = 50
_NO_CONVERSATION = "(not given)"


@dataclass(frozen=True, slots=True)
class Labelled:
    """One labelled example: a response, whether it should pass, and optionally the
    conversation the grader is shown with it (else ``(not given)``)."""

    output: str
    passes: bool
    conversation: str = ""


@dataclass(frozen=True, slots=True)
class Judged:
    """A labelled example as the judge judged it: ``failure`` None when it passed."""

    number: int  # its place in the calibration set, from 1
    example: Labelled
    failure: str | None
    votes: tuple[Vote, ...]

    @property
    def agrees(self) -> bool:
        return (self.failure is None) == self.example.passes


@dataclass(frozen=True, slots=True)
class Calibration:
    """What ``calibrate`` found: every example as judged, and the share the judge agrees on."""

    check: str
    judged: tuple[Judged, ...]

    @property
    def agreement(self) -> float:
        return sum(one.agrees for one in self.judged) / len(self.judged)

    @property
    def disagreements(self) -> tuple[Judged, ...]:
        return tuple(one for one in self.judged if not one.agrees)


def calibrate(
    check: SampleCheck,
    examples: Sequence[Labelled | tuple[str, bool | str]],
    *,
    min_agreement: float = 1.0,
) -> Calibration:
    """Grade ``examples`` with ``check`` (made by ``judge`` or ``similar_to``) and fail the test
    when it agrees with fewer than ``min_agreement`` of their labels, naming each disagreement.

    An example is a ``Labelled(output, passes, conversation="")`` or a pair ``(output,
    verdict)``, the verdict True/False or "PASS"/"FAIL". Returns the ``Calibration`` when the
    judge is good enough. Needs a running chatexp test (its grading calls go into the test's
    recording).
    """
    __tracebackhide__ = True
    if not isinstance(check, GradedCheck) or check.grading is None:
        raise TypeError(
            "calibrate() needs a check made by judge() or similar_to(), got "
            f"{getattr(check, 'name', type(check).__name__)}"
        )
    if isinstance(min_agreement, bool) or not isinstance(min_agreement, int | float):
        raise ValueError(f"calibrate(): min_agreement must be in (0, 1], got {min_agreement!r}")
    if not 0.0 < min_agreement <= 1.0:
        raise ValueError(f"calibrate(): min_agreement must be in (0, 1], got {min_agreement!r}")
    labelled = _labelled(examples)
    grading = check.grading
    test = active_test("calibrate()")
    ids = [f"calibration#{number}" for number in range(1, len(labelled) + 1)]
    requests = [
        (case_id, grading.texts(example.conversation or _NO_CONVERSATION, example.output))
        for case_id, example in zip(ids, labelled, strict=True)
    ]
    # Examples that make the same grading request are graded once (one recorded answer).
    distinct: dict[tuple[tuple[str, str], ...], tuple[str, dict[str, str]]] = {}
    for case_id, variables in requests:
        distinct.setdefault(_key(variables), (case_id, variables))
    votes = grading.grade(test, list(distinct.values()))
    judged = []
    for number, ((_, variables), example) in enumerate(zip(requests, labelled, strict=True), 1):
        cast = votes[distinct[_key(variables)][0]]
        judged.append(Judged(number, example, grading.panel.decide(cast), cast))
    calibration = Calibration(check.name, tuple(judged))
    if calibration.agreement < min_agreement:
        raise AssertionError(_failure(calibration, min_agreement))
    return calibration


def _key(variables: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(variables.items()))


def _labelled(examples: object) -> list[Labelled]:
    __tracebackhide__ = True
    if isinstance(examples, str | bytes) or not isinstance(examples, Sequence):
        raise ValueError(
            "calibrate() needs the calibration set as a list of Labelled(output, passes) or "
            f"(output, verdict) pairs, got {type(examples).__name__}"
        )
    if not examples:
        raise ValueError(
            "calibrate(): the calibration set is empty: give it labelled examples, "
            "Labelled(output, passes) or (output, verdict) pairs"
        )
    labelled = []
    for number, example in enumerate(examples, 1):
        where = f"calibrate(): example {number}"
        if isinstance(example, Labelled):
            output, verdict, conversation = example.output, example.passes, example.conversation
        elif isinstance(example, tuple) and len(example) == 2:
            (output, verdict), conversation = example, ""
        else:
            raise ValueError(
                f"{where}: expected Labelled(...) or (output, verdict), got {example!r}"
            )
        if not isinstance(output, str):
            raise ValueError(f"{where}: the output must be text, got {type(output).__name__}")
        if not isinstance(conversation, str):
            raise ValueError(f"{where}: the conversation must be text, got {conversation!r}")
        labelled.append(Labelled(output, _verdict(verdict, where), conversation))
    return labelled


def _verdict(verdict: object, where: str) -> bool:
    __tracebackhide__ = True
    if isinstance(verdict, bool):
        return verdict
    if isinstance(verdict, str) and verdict.strip().upper() in ("PASS", "FAIL"):
        return verdict.strip().upper() == "PASS"
    raise ValueError(
        f"{where}: the expected verdict must be True/False or 'PASS'/'FAIL', got {verdict!r}"
    )


def _failure(calibration: Calibration, bar: float) -> str:
    judged = calibration.judged
    wrong = calibration.disagreements
    lines = [
        f"{calibration.check} is not calibrated: it agrees with {len(judged) - len(wrong)} of "
        f"{len(judged)} labelled examples ({calibration.agreement:.0%}), below the required "
        f"{bar:.0%}. It disagrees on:"
    ]
    for one in wrong:
        labelled = "PASS" if one.example.passes else "FAIL"
        if one.failure is not None:
            said = one.failure
        elif len(one.votes) == 1:
            said = f"judged PASS: {one.votes[0].reason}"
        else:
            said = "judged PASS; votes: " + "; ".join(map(str, one.votes))
        lines.append(
            f"  example {one.number} {_excerpt(one.example.output)}: labelled {labelled}, {said}"
        )
    return "\n".join(lines)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 1] + "…")
