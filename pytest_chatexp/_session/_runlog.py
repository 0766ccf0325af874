"""The run's log, on the side that writes the summary (the controller, under xdist): what chatexp
tests' reports carry, the budget ledger workers share, unused recordings, and at the end the
report files and the terminal summary.

``plugin.py`` routes its hooks here, and loads this module only once a run has something for
it (a chatexp test's report, a budget under xdist, a report file to write).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._calls._changes import ChangeRecord
from .._reports._run import TestRecord, experiment_records

if TYPE_CHECKING:
    from .._calls._budget import SessionBudget
    from .._calls._metering import LedgerState
    from .._reports._records import ExperimentRecord
    from ._settings import Settings

__all__ = ["RunLog", "recording_name", "unused_recording_files"]


class RunLog:
    """Collects what reports carry (the controller's copies, under xdist) and writes the
    reports and the summary."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.experiments: list[ExperimentRecord] = []
        self.unused_entries: dict[str, int] = {}
        self.unused_files: set[str] = set()
        self.adopted: list[str] = []  # recordings of renamed tests taken over (--chatexp-adopt)
        # Per chatexp test, its last attempt, for the report files and the JUnit XML totals.
        self.tests: dict[str, TestRecord] = {}
        self.plans: list[dict[str, Any]] = []
        self.ledger_dir: str | None = None
        self.shared_dir: str | None = None  # see ``shared_dir_for_worker``
        self.budget_stopped: list[str] = []  # tests the session budget stopped
        self.ledger: LedgerState | None = None  # the budget's final state, when one is set

    def ledger_for_worker(self) -> str:
        """Under xdist, workers share one budget ledger: the file, which the controller names."""
        if self.ledger_dir is None:
            import tempfile

            self.ledger_dir = tempfile.mkdtemp(prefix="chatexp-ledger-")
        return str(Path(self.ledger_dir) / "ledger.json")

    def shared_dir_for_worker(self) -> str:
        """Under xdist with ``--chatexp-record=all``, where workers mark the shared experiments
        one of them re-recorded in this run, so that the others replay it (``_sharing``)."""
        if self.shared_dir is None:
            import tempfile

            self.shared_dir = tempfile.mkdtemp(prefix="chatexp-shared-")
        return self.shared_dir

    def add(self, report: pytest.TestReport) -> None:
        """A chatexp test's report, of any phase."""
        if report.when == "setup":
            # A new attempt (pytest-rerunfailures runs the same item again): the test is what
            # its last attempt did, once.
            self.tests.pop(report.nodeid, None)
        # What a report carries crossed xdist as builtins: read into records here, once.
        experiments = experiment_records(getattr(report, "chatexp_experiments", None))
        self.experiments.extend(experiments)
        self.plans.extend(getattr(report, "chatexp_plan", None) or [])
        self.unused_entries.update(getattr(report, "chatexp_unused", None) or {})
        if adopted := getattr(report, "chatexp_adopted", None):
            self.adopted.append(str(adopted))
        if getattr(report, "chatexp_budget_stopped", False):
            self.budget_stopped.append(report.nodeid)
        if getattr(report, "chatexp_experiment_failed", False):
            from .._reports._snapshot import keep_snapshots_of

            keep_snapshots_of(report.nodeid)
        self._note(report, experiments)

    def _note(self, report: pytest.TestReport, experiments: list[ExperimentRecord]) -> None:
        test = self.tests.setdefault(report.nodeid, TestRecord(report.nodeid))
        test.experiments += experiments
        test.changes += [
            change
            for change in map(
                ChangeRecord.from_json, getattr(report, "chatexp_changes", None) or []
            )
            if change is not None
        ]
        if report.failed and test.failure is None:
            test.outcome = "failed" if report.when == "call" else "error"
            test.failure = "\n".join(report.longreprtext.splitlines()[-40:])
            miss = getattr(report, "chatexp_miss", None)
            if miss is not None:
                # Here, not at the top: it loads the recordings' modules (and YAML), which an
                # xdist controller needs only for a test that failed for a missing recording.
                from .._calls._misses import MissedCalls

                test.miss = MissedCalls.from_json(miss)
        elif report.skipped and test.outcome == "passed":
            # An xfail is pytest's own outcome (an inconclusive case under policy "xfail").
            test.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"

    def finish(
        self, collected: list[pytest.Item], *, ran: bool, budget: SessionBudget | None
    ) -> None:
        """The session ends (before junitxml writes its file): JUnit totals, the budget's final
        state, and in a process that ran chatexp tests (``ran``) the recordings no collected
        test owns."""
        if self.tests and self.config.option.xmlpath:
            self._junit_totals()
        if self.ledger_dir is not None:
            import shutil

            from .._calls._metering import Ledger, LedgerState

            ledger = Path(self.ledger_dir) / "ledger.json"
            self.ledger = Ledger(ledger).state() if ledger.exists() else LedgerState()
            shutil.rmtree(self.ledger_dir, ignore_errors=True)
        elif budget is not None:
            self.ledger = budget.ledger.state()
        if self.shared_dir is not None:
            import shutil

            shutil.rmtree(self.shared_dir, ignore_errors=True)
        if not ran or not _is_full_run(self.config):
            return
        found = [str(path) for path in unused_recording_files(collected)]
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["chatexp_unused_files"] = found
        else:
            self.unused_files.update(found)

    def _junit_totals(self) -> None:
        """The run's chatexp numbers as properties of JUnit XML's test suite."""
        from _pytest.junitxml import xml_key

        xml = self.config.stash.get(xml_key, None)
        if xml is None:  # a worker: the controller writes the file
            return
        from .._reports._junit import junit_properties

        records = [record for test in self.tests.values() for record in test.experiments]
        for name, value in junit_properties(records):
            xml.add_global_property(name, value)

    def summarise(self, terminalreporter: Any) -> None:
        """The plan, the report files, the summary, unused recordings (pruned if asked) and the
        budget, in that order."""
        settings = self.settings
        if self.plans:
            from .._calls._budget import PlanRecord
            from .._reports._summary import write_plan

            # The plans crossed xdist as builtins.
            write_plan(terminalreporter, [PlanRecord.from_json(plan) for plan in self.plans])
        # Reports come first: a run where every experiment failed needs its report most. A
        # shard without chatexp tests writes an empty one, so that shards always merge.
        if settings.reports_requested:
            from .._reports._run import write_reports

            for line, written in write_reports(
                list(self.tests.values()),
                record_mode=settings.record_mode,
                json_path=settings.json_report,
                markdown_path=settings.markdown_report,
                html_path=settings.html_report,
            ):
                terminalreporter.write_line(line, red=not written)
        if self.experiments:
            from .._reports._summary import relative_path, write_summary, write_unused

            write_summary(terminalreporter, self.experiments, record_mode=settings.record_mode)
            pruned = settings.prune
            if pruned:
                for name in self.unused_files:
                    Path(name).unlink(missing_ok=True)
            write_unused(
                terminalreporter,
                self.unused_entries,
                sorted(
                    relative_path(Path(name), self.config.rootpath) for name in self.unused_files
                ),
                pruned=pruned,
            )
        for adopted in sorted(self.adopted):
            terminalreporter.write_line(f"chatexp: adopted recording {adopted}")
        ledger = self.ledger
        if ledger is not None and (self.experiments or self.budget_stopped or ledger.calls):
            from .._reports._summary import write_budget

            write_budget(
                terminalreporter,
                ledger,
                max_tokens=settings.max_tokens,
                max_cost=settings.max_cost,
                stopped_tests=self.budget_stopped,
            )


def _is_full_run(config: pytest.Config) -> bool:
    """Unused recordings can only be judged when whole files were collected, not single ids."""
    return not any("::" in str(arg) for arg in config.args)


def recording_name(node_id: str) -> str:
    """The part of a node id after the file: ``TestClass::test_x[a]``."""
    return node_id.split("::", 1)[1] if "::" in node_id else node_id


def defined_in(item: pytest.Item) -> Callable[[str], bool]:
    """Whether a test id of ``item``'s module still names a test function there (parameters
    aside: a test whose ids changed is still defined, so its recording is never taken)."""
    module = getattr(item, "module", None)

    def defined(test_id: str) -> bool:
        if (
            module is None
            or "::" not in test_id  # a module's shared experiment
            or test_id.split("::", 1)[0] != item.nodeid.split("::", 1)[0]
        ):
            return True  # a module, another module's test, or not a Python test: not ours
        owner: object = module
        for part in recording_name(test_id).split("[", 1)[0].split("::"):
            owner = getattr(owner, part, None)
            if owner is None:
                return False
        return True

    return defined


def unused_recording_files(items: list[pytest.Item]) -> list[Path]:
    """Recording files in the folders of the collected test modules that no collected test owns:
    recordings of tests that were deleted or renamed."""
    # Here, not at the top: it loads YAML, which an xdist controller never needs otherwise.
    from .._recording import recording_path
    from ._sharing import SHARED_KEY

    expected: dict[Path, set[Path]] = {}
    for item in items:
        path = recording_path(Path(item.path), recording_name(item.nodeid))
        owned = expected.setdefault(path.parent, set())
        shared = item.stash.get(SHARED_KEY, None)
        # A shared experiment's members own its file; their own only for the experiments a
        # body builds (a file of a test from before it shared is unused).
        if shared is None or "chatexp_runner" in getattr(item, "fixturenames", ()):
            owned.add(path)
        if shared is not None:
            owned.add(recording_path(Path(item.path), shared.recording))
    unused: list[Path] = []
    for folder, owned in expected.items():
        if folder.is_dir():
            unused.extend(p for p in sorted(folder.glob("*.yaml")) if p not in owned)
    return unused
