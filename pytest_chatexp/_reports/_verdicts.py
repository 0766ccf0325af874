"""An assertion's verdict on a case as the JSON report holds it (``VerdictRecord``), and a case
an interval left inconclusive (``InconclusiveRecord``): TypedDicts of builtins, like the rest
of ``_records``."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from ..checks._running import AssertionVerdict

__all__ = ["InconclusiveRecord", "VerdictRecord", "verdict_record"]


class VerdictRecord(TypedDict):
    """An ``AssertionVerdict`` as builtins; what it does not set is left out, so that a run
    without confidences or reducers writes what it always wrote."""

    checks: str
    min_pass_rate: float
    passed: int
    samples: int
    ok: bool
    confidence: NotRequired[float]
    interval: NotRequired[list[float]]  # [low, high]
    outcome: NotRequired[str]  # "pass", "fail" or "inconclusive"
    policy: NotRequired[str]  # an inconclusive case's: "fail", "pass" or "xfail"
    reducer: NotRequired[str]  # its label: "pass@3", "majority", ...
    estimate: NotRequired[float]  # pass@k or pass^k


class InconclusiveRecord(TypedDict):
    """A case an assertion's interval left inconclusive, for the terminal summary (which has
    no cases when no report file is written)."""

    config: str
    input: str
    confidence: float
    policy: str


def verdict_record(verdict: AssertionVerdict) -> VerdictRecord:
    """``verdict`` as the JSON report holds it."""
    record = VerdictRecord(
        checks=verdict.checks,
        min_pass_rate=verdict.min_pass_rate,
        passed=verdict.passed,
        samples=verdict.samples,
        ok=verdict.ok,
    )
    if verdict.confidence is not None:
        record["confidence"] = verdict.confidence
    if verdict.interval is not None:
        record["interval"] = [round(bound, 6) for bound in verdict.interval]
    if verdict.outcome is not None:
        record["outcome"] = verdict.outcome
    if verdict.policy is not None:
        record["policy"] = verdict.policy
    if verdict.reducer is not None:
        record["reducer"] = verdict.reducer
    if verdict.estimate is not None:
        record["estimate"] = round(verdict.estimate, 6)
    return record
