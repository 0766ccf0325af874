"""Adaptive sampling as the reports show it: a case's samples drawn of its maximum and what
decided it, and an experiment's samples drawn, maximum and samples not drawn (saved).

The terminal summary (from ``SamplingRecord``), the Markdown and HTML reports (from
``SamplingEntry``, read back from the JSON report) and the JUnit properties count alike: a
call saved is a sample of the maximum that was not drawn. Stdlib only: the terminal summary
uses it in the xdist controller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SamplingEntry", "case_text", "decided_by", "drawn_text", "saved_text", "totals"]


@dataclass(frozen=True, slots=True)
class SamplingEntry:
    """A case's adaptive sampling (``_records.SamplingRecord``) read back from a report; the
    verdict and what decided it are None when a report does not say."""

    config: str
    input: str
    drawn: int
    maximum: int
    passed: int | None = None
    ok: bool | None = None
    settled: bool | None = None  # True: the sequential test; False: the raw pass rate


def totals(cases: Sequence[SamplingEntry]) -> tuple[int, int]:
    """Samples drawn and the most that could have been, over ``cases``."""
    return sum(case.drawn for case in cases), sum(case.maximum for case in cases)


def saved_text(drawn: int, maximum: int) -> str:
    """``37 of at most 60 samples drawn, 23 samples saved``: the terminal summary's words.
    Samples, not calls: a sample never drawn of a tool loop would have cost an unknown number
    of calls."""
    return f"{drawn} of at most {maximum} samples drawn, {maximum - drawn} samples saved"


def drawn_text(case: SamplingEntry) -> str:
    """``14/20``: samples drawn of the maximum."""
    return f"{case.drawn}/{case.maximum}"


def decided_by(case: SamplingEntry) -> str:
    """What gave the case its verdict: the sequential test settled it, else the raw pass rate
    (at the maximum, or once the samples left could not change it); "?" when not recorded."""
    if case.settled is None:
        return "?"
    return "settled" if case.settled else "raw rate"


def case_text(case: SamplingEntry) -> str:
    """``14 of ≤20 samples, settled``: the HTML report's words for a case."""
    return f"{case.drawn} of ≤{case.maximum} samples, {decided_by(case)}"
