"""The committed-baseline gate of a live run (``--chatexp-baseline``), on the side that writes the
summary (the controller, under xdist, where the run log has every test's records merged).

At configure the baseline is read, so a missing or bad file stops the run before anything is
spent; at the session's end this run's report is compared with it (``_reports._baseline``) and
a regression sets the session's exit status, as a coverage threshold does; the terminal
summary then shows the comparison. With ``--chatexp-baseline-update`` this run's report is
written to the baseline's path instead, atomically, for review.

``plugin.py`` loads this module only when a baseline is named.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from .._redaction import redact_data
from .._reports._baseline import (
    BaselineComparison,
    BaselineError,
    compare_runs,
    read_baseline,
    write_baseline,
)
from .._reports._entries import RunEntry, read_run
from .._reports._run import TestRecord, build_run_report, render
from .._util import write_atomic
from ._settings import Settings

__all__ = ["BaselineGate"]


class BaselineGate:
    def __init__(self, settings: Settings) -> None:
        assert settings.baseline is not None
        self.settings = settings
        self.path = Path(settings.baseline)
        self.baseline: RunEntry | None = None
        self.comparison: BaselineComparison | None = None
        self.lines: list[tuple[str, bool]] = []  # what the update wrote, or failed to

    def load(self) -> None:
        """Read the baseline now (unless it is to be written): a bad one is a usage error."""
        if self.settings.baseline_update:
            return
        try:
            self.baseline = read_baseline(self.path, self.settings.baseline_option)
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None

    def finish(self, tests: Iterable[TestRecord], session: pytest.Session) -> None:
        """Compare (or write) this run's report; a regression fails the session."""
        settings = self.settings
        report = redact_data(build_run_report(tests, record_mode=settings.record_mode))
        if settings.baseline_update:
            try:
                write_atomic(self.path, render("json", report))
            except OSError as exc:
                why = exc.strerror or str(exc)
                self.lines.append(
                    (f"chatexp: could not write the baseline {self.path}: {why}", False)
                )
            else:
                self.lines.append((f"chatexp: baseline written to {self.path}", True))
            return
        assert self.baseline is not None
        self.comparison = compare_runs(
            self.baseline,
            read_run(report),
            alpha=settings.baseline_alpha,
            max_increase=settings.baseline_max_increase,
        )
        if self.comparison.failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def summarise(self, terminalreporter: Any) -> None:
        for line, written in self.lines:
            terminalreporter.write_line(line, red=not written)
        if self.comparison is not None:
            write_baseline(terminalreporter, self.comparison, str(self.settings.baseline))
