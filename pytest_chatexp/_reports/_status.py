"""Statuses in the Markdown and HTML reports: the verdicts pytest and the checks gave, as data.

A test's status is its pytest outcome. A case's is the verdict of the assertions that judged it
(``assert_samples``), each held to the bar it set: a case whose 3 of 4 samples passed a
``min_pass_rate=0.75`` passes, though one sample failed. A case whose samples were judged with
no bar (``verdicts()`` alone) has no verdict of its own. A model config's row fails when one of
its cases failed. A report written before verdicts were recorded judges against every sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

__all__ = [
    "Status",
    "case_status",
    "case_verdicts",
    "config_status",
    "outcome_status",
    "sample_status",
    "worst",
]

Status = Literal["fail", "pass", "unchecked"]


def sample_status(sample: Mapping[str, Any]) -> Status:
    """A sample fails when a check gave it a failure, passes when one judged it, else neither."""
    if sample.get("failure"):
        return "fail"
    return "pass" if sample.get("checked") else "unchecked"


def case_verdicts(case: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    verdicts = case.get("verdicts")
    items = verdicts if isinstance(verdicts, list) else []
    return [verdict for verdict in items if isinstance(verdict, Mapping)]


def case_status(case: Mapping[str, Any]) -> Status:
    verdicts = case_verdicts(case)
    if verdicts:
        return "fail" if any(not verdict.get("ok") for verdict in verdicts) else "pass"
    if "verdicts" in case:
        return "unchecked"
    return worst(sample_status(sample) for sample in case.get("samples") or [])


def config_status(row: Mapping[str, Any]) -> Status:
    if "cases_failed" in row:
        if row.get("cases_failed"):
            return "fail"
        return "pass" if row.get("cases_judged") else "unchecked"
    checked = int(row.get("checked") or 0)
    if not checked:
        return "unchecked"
    return "pass" if int(row.get("passed") or 0) >= checked else "fail"


def outcome_status(test: Mapping[str, Any]) -> Status:
    outcome = str(test.get("outcome"))
    if outcome in ("failed", "error"):
        return "fail"
    return "pass" if outcome == "passed" else "unchecked"


def worst(statuses: Iterable[Status]) -> Status:
    seen = set(statuses)
    if "fail" in seen:
        return "fail"
    return "pass" if "pass" in seen else "unchecked"
