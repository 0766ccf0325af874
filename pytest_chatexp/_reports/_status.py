"""Statuses in the Markdown and HTML reports: the verdicts pytest and the checks gave, as data.

A test's status is its pytest outcome. A case's is the verdict of the assertions that judged it
(``assert_samples``), each held to the bar it set: a case whose 3 of 4 samples passed a
``min_pass_rate=0.75`` passes, though one sample failed. A case whose samples were judged with
no bar (``verdicts()`` alone) has no verdict of its own. A model config's row fails when one of
its cases failed. A report written before verdicts were recorded judges against every sample.

A case an interval left *inconclusive* (``assert_samples(confidence=...)``) is neither: it is
"inconclusive" whatever its policy did to the test (the test's own status says that), unless
another assertion failed it. Worst first: fail, inconclusive, pass, unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from ._entries import CaseEntry, ConfigEntry, SampleEntry, TestEntry

__all__ = [
    "Status",
    "case_status",
    "config_status",
    "outcome_status",
    "sample_status",
    "worst",
]

Status = Literal["fail", "inconclusive", "pass", "unchecked"]


def sample_status(sample: SampleEntry) -> Status:
    """A sample fails when a check gave it a failure, passes when one judged it, else neither."""
    if sample.failure:
        return "fail"
    return "pass" if sample.checked else "unchecked"


def case_status(case: CaseEntry) -> Status:
    if case.verdicts:
        if any(verdict.failed for verdict in case.verdicts):
            return "fail"
        if any(verdict.outcome == "inconclusive" for verdict in case.verdicts):
            return "inconclusive"
        return "pass"
    if case.verdicts is not None:
        return "unchecked"
    return worst(sample_status(sample) for sample in case.samples)


def config_status(row: ConfigEntry) -> Status:
    if row.cases_failed is not None:
        if row.cases_failed:
            return "fail"
        if row.cases_inconclusive:
            return "inconclusive"
        return "pass" if row.cases_judged else "unchecked"
    if not row.checked:
        return "unchecked"
    return "pass" if row.passed >= row.checked else "fail"


def outcome_status(test: TestEntry) -> Status:
    if test.outcome in ("failed", "error"):
        return "fail"
    return "pass" if test.outcome == "passed" else "unchecked"


def worst(statuses: Iterable[Status]) -> Status:
    seen = set(statuses)
    for status in ("fail", "inconclusive", "pass"):
        if status in seen:
            return status
    return "unchecked"
