"""The pytest entry point: options, the marker, fixtures and hooks -- nothing else.

Every pytest run imports this module, with or without chatexp tests, so it imports only pytest,
the stdlib and the two small modules configure needs (``_settings``, ``_pricing``). The rest of the
plugin (httpx, pydantic, providers) loads when a test first needs it, through ``_session``; the
terminal summary's code (``_summary``) when there is something to summarise. Without a cached
``.pyc`` pytest re-rewrites every module of the package it imports, so each one costs a few ms.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._session._settings import Settings, add_options

if TYPE_CHECKING:
    from ._experiment._spec import ExperimentResult
    from ._calls._metering import LedgerState
    from ._session._session import ChatexpRunner, ChatexpSession
    from .testing import ReferenceServer

_SETTINGS = pytest.StashKey[Settings]()
_SESSION = pytest.StashKey["ChatexpSession"]()

_MARKER_HELP = (
    "chatexp(model_configs=..., inputs=..., messages=..., num_samples=1, concurrency=None, "
    "timeout=None, split=None): run an LLM experiment (every model config x every input x "
    "num_samples) for this test; the 'chatexp' fixture gives its result."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    config.stash[_SETTINGS] = Settings.from_config(config)
    config.pluginmanager.register(_RunLog(config), "chatexp-runlog")


def _session(config: pytest.Config) -> ChatexpSession:
    session = config.stash.get(_SESSION, None)
    if session is None:
        from ._session._session import ChatexpSession

        ledger = getattr(config, "workerinput", {}).get("chatexp_ledger")
        session = config.stash[_SESSION] = ChatexpSession(
            config.stash[_SETTINGS], config.rootpath, Path(ledger) if ledger else None
        )
        # Only now: a run without chatexp tests never pays for the hook on every report.
        config.pluginmanager.register(_ReportAttributes(session), "chatexp-report-attributes")
        _redact_live_logs(config)
    return session


def _redact_live_logs(config: pytest.Config) -> None:
    """Live (``log_cli``) and ``--log-file`` logs are written as records arrive, not through
    reports: filter them (pytest's logging plugin has named its handlers so since pytest 6).
    Not when they write nowhere: every record would be scanned for nothing."""
    import logging
    import os

    from ._redaction import RedactingFilter

    logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
    for name in ("log_cli_handler", "log_file_handler"):
        handler = getattr(logging_plugin, name, None)
        if isinstance(handler, logging.Handler) and not (
            isinstance(handler, logging.NullHandler)  # live logging is off
            or getattr(handler, "baseFilename", None) == os.devnull  # no --log-file
        ):
            handler.addFilter(RedactingFilter())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("chatexp") is None:
        return
    from ._session._session import validate_at_collection

    validate_at_collection(metafunc, _session(metafunc.config))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test using the fixtures without the marker is a chatexp test too: `-m chatexp` selects it.
    for item in items:
        names = getattr(item, "fixturenames", ())
        if ("chatexp" in names or "chatexp_runner" in names) and not item.get_closest_marker(
            "chatexp"
        ):
            item.add_marker("chatexp")


@pytest.fixture
def chatexp_config() -> dict[str, Any]:
    """Default chatexp options for the tests in scope; override it in a conftest.py.

    It takes the marker's keyword arguments (model_configs, inputs, num_samples, ...); markers
    override it key by key.
    """
    return {}


@pytest.fixture
def chatexp(request: pytest.FixtureRequest, chatexp_config: dict[str, Any]) -> ExperimentResult:
    """The result of this test's experiment, run before the test body."""
    session = _begin(request)
    return session.experiment(
        request.node, chatexp_config, selection=getattr(request, "param", None)
    )


@pytest.fixture
def chatexp_runner(request: pytest.FixtureRequest, chatexp_config: dict[str, Any]) -> ChatexpRunner:
    """Build and run experiments from the test body: ``chatexp_runner.run(**options)``."""
    from ._session._session import ChatexpRunner

    return ChatexpRunner(_begin(request), request.node, chatexp_config)


def _begin(request: pytest.FixtureRequest) -> ChatexpSession:
    """Make the requesting test the running chatexp test, until its teardown."""
    session = _session(request.config)
    session.begin(request.node)
    request.addfinalizer(lambda: session.end(request.node))
    return session


@pytest.fixture
def chatexp_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot`` for experiments: ``assert chatexp == chatexp_snapshot`` keeps a
    readable view of every config, input and sample in ``__snapshots__/``."""
    from ._reports._snapshot import SNAPSHOT_NAME, ExperimentSnapshotExtension

    # An explicit name: syrupy's counters would renumber snapshots when assertions change.
    return snapshot.use_extension(ExperimentSnapshotExtension)(name=SNAPSHOT_NAME)


@pytest.fixture(scope="session")
def chatexp_server() -> Iterator[ReferenceServer]:
    """The loopback reference server (OpenAI wire format), started for the session."""
    from .testing import ReferenceServer

    with ReferenceServer() as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """A test module that fails to import because a ModelConfig in it is invalid: show the
    one-line message, not a traceback through the plugin's code."""
    report = yield
    if report.failed and "pytest_chatexp._errors." in str(report.longrepr):
        match = _PLUGIN_ERROR.search(str(report.longrepr))
        if match is not None:
            report.longrepr = f"chatexp: {collector.nodeid}: {match.group(1)}"
    if report.failed:
        from ._redaction import redact_report

        redact_report(report)  # a config's error may quote its base URL or key
    return report


_PLUGIN_ERROR = re.compile(r"pytest_chatexp\._errors\.\w+: (.+)")


class _ReportAttributes:
    """Puts what a chatexp test's reports carry on them; registered with the first such test."""

    def __init__(self, session: ChatexpSession) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        # Plain attributes of builtins: pytest-xdist ships them to the controller as they are.
        report.__dict__.update(self.session.report_attributes(item, call.when, report.passed))
        if report.failed and call.excinfo is not None:
            from ._calls._misses import missed_calls_of  # only for a failure: no start-up cost

            missed = missed_calls_of(call.excinfo.value)
            if missed is not None:  # for the reports, as a record rather than message text
                report.__dict__["chatexp_miss"] = missed.to_json()
        if call.when == "teardown" and _per_test_junit_properties(item.config):
            from ._reports._junit import junit_properties

            # On this attempt's report, not on the item: pytest-rerunfailures runs the same item
            # again, and properties added to it would pile up, one set per attempt.
            records = as_records(getattr(report, "chatexp_experiments", None))
            report.user_properties = [*report.user_properties, *junit_properties(records)]
        # Here, in the process that knows the session's keys, before anything shows the report.
        from ._redaction import redact_report

        redact_report(report)
        return report


def _per_test_junit_properties(config: pytest.Config) -> bool:
    """JUnit XML per-test properties: only its xunit1 family allows them (pytest's own
    ``record_property`` says the same); xunit2, the default, gets the run's totals instead."""
    return bool(config.option.xmlpath) and config.getini("junit_family") in ("xunit1", "legacy")


def as_records(value: Any) -> list[dict[str, Any]]:
    """The experiment records a (possibly deserialised) report carries."""
    return list(value) if isinstance(value, list) else []


class _RunLog:
    """Collects what reports carry (the controller's copies, under xdist) and prints the
    summary. Registered as a plugin object so its hooks see the config without module globals."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.experiments: list[dict[str, Any]] = []
        self.unused_entries: dict[str, int] = {}
        self.unused_files: set[str] = set()
        self.collected: list[pytest.Item] = []
        # Per chatexp test, its last attempt, for the report files and the JUnit XML totals:
        # outcome, experiments, changes, failure.
        self.tests: dict[str, dict[str, Any]] = {}
        self.plans: list[dict[str, Any]] = []
        self.ledger_dir: str | None = None
        self.budget_stopped: list[str] = []  # tests the session budget stopped
        self.ledger: LedgerState | None = None  # the budget's final state, when one is set

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Under xdist, workers share one budget ledger, a file the controller names."""
        settings = self.config.stash[_SETTINGS]
        if settings.max_tokens is None and settings.max_cost is None:
            return
        if self.ledger_dir is None:
            import tempfile

            self.ledger_dir = tempfile.mkdtemp(prefix="chatexp-ledger-")
        node.workerinput["chatexp_ledger"] = str(Path(self.ledger_dir) / "ledger.json")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Before -k/-m deselect anything: a deselected test still owns its recording.
        self.collected = list(items)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "chatexp" not in report.keywords:  # the marker, set or added at collection
            return
        if report.when == "setup":
            # A new attempt (pytest-rerunfailures runs the same item again): the test is what
            # its last attempt did, once.
            self.tests.pop(report.nodeid, None)
        experiments = as_records(getattr(report, "chatexp_experiments", None))
        self.experiments.extend(experiments)
        self.plans.extend(getattr(report, "chatexp_plan", None) or [])
        self.unused_entries.update(getattr(report, "chatexp_unused", None) or {})
        if getattr(report, "chatexp_budget_stopped", False):
            self.budget_stopped.append(report.nodeid)
        if getattr(report, "chatexp_experiment_failed", False):
            from ._reports._snapshot import keep_snapshots_of

            keep_snapshots_of(report.nodeid)
        self._note(report, experiments)

    def _note(self, report: pytest.TestReport, experiments: list[dict[str, Any]]) -> None:
        test = self.tests.setdefault(
            report.nodeid,
            {
                "test": report.nodeid,
                "outcome": "passed",
                "experiments": [],
                "changes": [],
                "failure": None,
                "recording_miss": None,
            },
        )
        test["experiments"] += experiments
        test["changes"] += list(getattr(report, "chatexp_changes", None) or [])
        if report.failed and test["failure"] is None:
            test["outcome"] = "failed" if report.when == "call" else "error"
            test["failure"] = "\n".join(report.longreprtext.splitlines()[-40:])
            test["recording_miss"] = getattr(report, "chatexp_miss", None)
        elif report.skipped and test["outcome"] == "passed":
            test["outcome"] = "skipped"

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        self.unused_files.update(getattr(node, "workeroutput", {}).get("chatexp_unused_files", []))

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.tests and self.config.option.xmlpath:
            self._junit_totals()
        chatexp_session = self.config.stash.get(_SESSION, None)
        if self.ledger_dir is not None:
            import shutil

            from ._calls._metering import Ledger, LedgerState

            ledger = Path(self.ledger_dir) / "ledger.json"
            self.ledger = Ledger(ledger).state() if ledger.exists() else LedgerState()
            shutil.rmtree(self.ledger_dir, ignore_errors=True)
        elif chatexp_session is not None and chatexp_session.budget is not None:
            self.ledger = chatexp_session.budget.ledger.state()
        if chatexp_session is None:
            return
        chatexp_session.close()
        if _is_full_run(self.config):
            from ._session._session import unused_recording_files

            found = [str(path) for path in unused_recording_files(self.collected)]
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
        from ._reports._junit import junit_properties

        records = [record for test in self.tests.values() for record in test["experiments"]]
        for name, value in junit_properties(records):
            xml.add_global_property(name, value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        settings = self.config.stash[_SETTINGS]
        if self.plans:
            from ._reports._summary import read_plans, write_plan

            write_plan(terminalreporter, read_plans(self.plans))
        # Reports come first: a run where every experiment failed needs its report most. A
        # shard without chatexp tests writes an empty one, so that shards always merge.
        if settings.reports_requested:
            from ._reports._run import write_reports

            for line, written in write_reports(settings, list(self.tests.values())):
                terminalreporter.write_line(line, red=not written)
        if self.experiments:
            from ._reports._summary import relative_path, write_summary, write_unused

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
        ledger = self.ledger
        if ledger is not None and (self.experiments or self.budget_stopped or ledger.calls):
            from ._reports._summary import write_budget

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
