"""The checks' port to the chatexp test running now: what graders that call models need (a run
recorded in the test's own recording, the session's price table) and where verdicts go.

The checks declare the port; the pytest glue implements it and fills the slot: the ``chatexp``
and ``chatexp_runner`` fixtures activate their test, checks read it. pytest runs one test at a
time per process (xdist uses processes), so one slot is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .._errors import InvalidExperimentError

if TYPE_CHECKING:
    from .._experiment._result import ExperimentResult
    from .._experiment._spec import ExperimentSpec
    from .._pricing import PriceTable

__all__ = [
    "AssertionVerdict",
    "RunningTest",
    "activate",
    "active_test",
    "current_test",
    "deactivate",
]


@dataclass(frozen=True, slots=True)
class AssertionVerdict:
    """An assertion's verdict on one case: its checks, the bar it set, how many samples passed
    of how many, and whether the case met the bar. Reports judge the case by it.

    With ``confidence`` the case was judged by its pass rate's interval: ``outcome`` is "pass",
    "fail" or "inconclusive", and ``policy`` what an inconclusive case did to the test ("fail",
    "pass", "xfail"); ``ok`` is False for a case that failed the test (an inconclusive one under
    "fail" or "xfail"). With a ``reducer`` (its label, e.g. "pass@3"), ``outcome`` is "pass" or
    "fail" and ``estimate`` the reducer's estimate, when it has one. None: not used.
    """

    checks: str  # the checks' names, comma-separated
    min_pass_rate: float
    passed: int
    samples: int
    ok: bool
    confidence: float | None = None
    interval: tuple[float, float] | None = None  # (low, high), with ``confidence``
    outcome: str | None = None  # "pass", "fail" or "inconclusive"
    policy: str | None = None  # an inconclusive case's policy, with ``confidence``
    reducer: str | None = None
    estimate: float | None = None  # the reducer's estimate (pass@k, pass^k)


class RunningTest(Protocol):
    """The running chatexp test, as checks see it."""

    @property
    def node_id(self) -> str:
        """The test's pytest node id."""
        ...

    @property
    def prices(self) -> PriceTable:
        """The session's price table (ini ``chatexp_prices`` over the built-in one)."""
        ...

    @property
    def inconclusive_policy(self) -> str:
        """What an inconclusive case does to the test when its assertion names no policy: ini
        ``chatexp_inconclusive`` / ``--chatexp-inconclusive`` ("fail", "pass" or "xfail")."""
        ...

    def run(self, spec: ExperimentSpec) -> ExperimentResult:
        """Run an experiment for this test: same runner, same recording, same record mode. A
        plugin error fails the test with its message alone (pytest's failure, no traceback)."""
        ...

    def record_outcome(self, config: str, case: str, index: int, failure: str | None) -> None:
        """Remember a check's verdict on one sample (None: it passed), for pass rates in
        reports. A sample that failed any check stays failed."""
        ...

    def record_verdict(self, config: str, case: str, verdict: AssertionVerdict) -> None:
        """Remember an assertion's verdict on a case (its checks, bar, count and whether it
        held), so that reports judge the case as the test did."""
        ...


_running: RunningTest | None = None


def activate(test: RunningTest) -> None:
    global _running
    _running = test


def deactivate(test: RunningTest) -> None:
    """Empty the slot if ``test`` (or one equal to it: the same test) holds it."""
    global _running
    if _running is not None and _running == test:
        _running = None


def current_test() -> RunningTest | None:
    return _running


def active_test(what: str) -> RunningTest:
    """The running chatexp test; ``what`` names the caller for the error outside of one."""
    if _running is None:
        raise InvalidExperimentError(
            f"{what} needs a running chatexp test: use it in a test that requests the "
            "'chatexp' or 'chatexp_runner' fixture"
        )
    return _running
