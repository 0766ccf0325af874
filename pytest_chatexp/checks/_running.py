"""The chatexp test running now, for checks that need the session: graders that call models
(recorded in the test's own recording) and the session's price table.

The ``chatexp`` and ``chatexp_runner`` fixtures activate their test; checks read it. pytest runs
one test at a time per process (xdist uses processes), so one slot is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from .._errors import InvalidExperimentError

if TYPE_CHECKING:
    from .._experiment._result import ExperimentResult
    from .._experiment._spec import ExperimentSpec
    from .._pricing import PriceTable
    from .._session._session import ChatexpSession

__all__ = [
    "OUTCOMES_KEY",
    "VERDICTS_KEY",
    "ActiveTest",
    "activate",
    "active_test",
    "current_test",
    "deactivate",
]

# (config name, input id, sample index) -> None when every check passed, else the first failure.
OUTCOMES_KEY: pytest.StashKey[dict[tuple[str, str, int], str | None]] = pytest.StashKey()
# (config name, input id) -> the verdicts assertions gave the case, each with the bar it set.
VERDICTS_KEY: pytest.StashKey[dict[tuple[str, str], list[dict[str, Any]]]] = pytest.StashKey()


@dataclass(frozen=True)
class ActiveTest:
    item: pytest.Item
    session: ChatexpSession

    def run(self, spec: ExperimentSpec) -> ExperimentResult:
        """Run an experiment for this test: same runner, same recording, same record mode."""
        return self.session.run(self.item, spec)

    @property
    def prices(self) -> PriceTable:
        return self.session.settings.prices

    def record_outcome(self, config: str, case: str, index: int, failure: str | None) -> None:
        """Remember a check's verdict on one sample, for pass rates in reports. A sample that
        failed any check stays failed."""
        outcomes = self.item.stash.setdefault(OUTCOMES_KEY, {})
        key = (config, case, index)
        if outcomes.get(key) is None:
            outcomes[key] = failure

    def record_verdict(self, config: str, case: str, verdict: dict[str, Any]) -> None:
        """Remember an assertion's verdict on a case (its checks, bar, count and whether it
        held), so that reports judge the case as the test did."""
        self.item.stash.setdefault(VERDICTS_KEY, {}).setdefault((config, case), []).append(verdict)


_active: ActiveTest | None = None


def activate(item: pytest.Item, session: ChatexpSession) -> None:
    global _active
    _active = ActiveTest(item, session)


def deactivate(item: pytest.Item) -> None:
    global _active
    if _active is not None and _active.item is item:
        _active = None


def current_test() -> ActiveTest | None:
    return _active


def active_test(what: str) -> ActiveTest:
    """The running chatexp test; ``what`` names the caller for the error outside of one."""
    if _active is None:
        raise InvalidExperimentError(
            f"{what} needs a running chatexp test: use it in a test that requests the "
            "'chatexp' or 'chatexp_runner' fixture"
        )
    return _active
