"""The pytest entry point: options, the marker, fixtures and hooks -- nothing else.

Every pytest run imports this module, with or without chatexp tests, so it imports only pytest,
the stdlib and the two small modules configure needs (``_settings``, ``_pricing``). The rest of the
plugin (httpx, pydantic, providers) loads when a test first needs it, through ``_session``; the
run log (``_session/_runlog.py``) and the summary's code when there is something to log or
summarise. Without a cached ``.pyc`` pytest re-rewrites every module of the package it imports,
so each one costs a few ms. Each hook hands its work to the session or the run log.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._session._cli import add_options
from ._session._settings import Settings

if TYPE_CHECKING:
    from ._experiment._result import ExperimentResult
    from ._session._baseline_gate import BaselineGate
    from ._session._runlog import RunLog
    from ._session._session import ChatexpRunner, ChatexpSession
    from .testing import ReferenceServer

_SETTINGS = pytest.StashKey[Settings]()
_SESSION = pytest.StashKey["ChatexpSession"]()

_MARKER_HELP = (
    "chatexp(model_configs=..., inputs=..., messages=..., num_samples=1, concurrency=None, "
    "timeout=None, split=None): run an LLM experiment (every model config x every input x "
    "num_samples) for this test; the 'chatexp' fixture gives its result. "
    "num_samples=(min, max) with checks=[...], min_pass_rate= and confidence= samples "
    "adaptively and asserts the checks."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    config.stash[_SETTINGS] = settings = Settings.from_config(config)
    hooks = _RunLogHooks(config)
    config.pluginmanager.register(hooks, "chatexp-runlog")
    if settings.baseline is not None and not hasattr(config, "workerinput"):
        # Only with a baseline named, and where the summary is written (the xdist controller):
        # read now, so that a bad file stops the run before anything is spent.
        from ._session._baseline_gate import BaselineGate

        hooks.baseline = BaselineGate(settings)
        hooks.baseline.load()


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


# ``_recording/_store.py`` keeps each test module's recordings in this folder beside it.
_RECORDINGS_FOLDER = "__recordings__"


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """A recordings folder holds YAML only, one file per test: pytest need not walk it, which
    it would do file by file (the ignore and collect-file hooks and a virtualenv check on
    each recording, about 0.1 ms a file, so every replayed test paid it at collection)."""
    return True if collection_path.name == _RECORDINGS_FOLDER else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("chatexp") is None:
        return
    from ._session._collection import validate_at_collection

    validate_at_collection(metafunc, _session(metafunc.config).specs)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test using the fixtures without the marker is a chatexp test too: `-m chatexp` selects it.
    # Only tests taking the fixtures are looked at: a suite without them pays one name lookup
    # per test. Sharing needs the `chatexp` fixture too (``_sharing``).
    sharing = False
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "chatexp" not in names and "chatexp_runner" not in names:
            continue
        marks = list(item.iter_markers("chatexp"))
        if not marks:
            item.add_marker("chatexp")
        elif not sharing:
            sharing = any("share" in mark.kwargs for mark in marks)
    shard = config.stash[_SETTINGS].shard
    if shard is not None:
        from ._session._sharding import select_shard  # stdlib only, and only with the option

        select_shard(config, items, shard)
    if sharing:  # only then: a suite that shares nothing never loads the module
        from ._session._sharing import assign_shared

        assign_shared(items)  # among the tests this shard runs


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What makes this run a part of the suite: said first, so no one mistakes it for all."""
    settings, lines = config.stash[_SETTINGS], []
    if settings.shard is not None:
        index, count = settings.shard
        lines.append(
            f"chatexp: shard {index}/{count}: the chatexp tests whose id hashes to it"
            + (", and every test without chatexp" if index == 1 else "")
        )
    if settings.subsample is not None:
        seed = "the markers' seeds" if settings.subsample_seed is None else settings.subsample_seed
        lines.append(
            f"chatexp: subsample: each experiment runs at most {settings.subsample} of its "
            f"inputs (seed: {seed})"
        )
    return lines


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A CI shard that has no test to run passes (pytest would exit 5, "no tests ran")."""
    if (
        session.config.stash[_SETTINGS].shard is not None
        and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
    ):
        session.exitstatus = pytest.ExitCode.OK


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
    readable view of every config, input and sample in ``__snapshots__/``;
    ``assert chatexp == chatexp_snapshot.semantic(equivalent)`` keeps the approved answers of
    each case, a new answer passing when it means the same as one."""
    from ._reports._semantic import ChatexpSnapshot

    return ChatexpSnapshot.of(snapshot)


@pytest.fixture(scope="session")
def chatexp_server() -> Iterator[ReferenceServer]:
    """The loopback reference server (OpenAI wire format), started for the session."""
    from .testing import ReferenceServer

    with ReferenceServer() as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """A failed collection's report, before anything shows it: no secret in it."""
    report = yield
    if report.failed:
        from ._redaction import redact_report

        redact_report(report)  # a config's error may quote its base URL or key
    return report


def pytest_exception_interact(
    node: pytest.Item | pytest.Collector,
    call: pytest.CallInfo[Any],
    report: pytest.CollectReport | pytest.TestReport,
) -> None:
    """A test module that fails to import because a ModelConfig in it is invalid: show the
    one-line message, not a traceback through the plugin's code. pytest calls this with the
    exception itself (the report only has its text) before it reports the failed collection."""
    if not isinstance(report, pytest.CollectReport) or call.excinfo is None:
        return
    from ._errors import ChatexpError

    if isinstance(call.excinfo.value, ChatexpError):
        from ._redaction import redact_report

        report.longrepr = f"chatexp: {node.nodeid}: {call.excinfo.value}"
        redact_report(report)


class _ReportAttributes:
    """Puts what a chatexp test's reports carry on them; registered with the first such test."""

    def __init__(self, session: ChatexpSession) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """After the test body: the checks its marker declared (adaptive sampling) fail it,
        with their table alone (no frame of the test or the plugin says more)."""
        from ._session._adaptive import take_declared_failures  # loaded with the session

        try:
            yield
        finally:
            failures = take_declared_failures(item)
        if failures is not None:
            pytest.fail(failures, pytrace=False)

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
            from ._reports._run import experiment_records

            # On this attempt's report, not on the item: pytest-rerunfailures runs the same item
            # again, and properties added to it would pile up, one set per attempt.
            records = experiment_records(getattr(report, "chatexp_experiments", None))
            report.user_properties = [*report.user_properties, *junit_properties(records)]
        # Here, in the process that knows the session's keys, before anything shows the report.
        from ._redaction import redact_report

        redact_report(report)
        return report


def _per_test_junit_properties(config: pytest.Config) -> bool:
    """JUnit XML per-test properties: only its xunit1 family allows them (pytest's own
    ``record_property`` says the same); xunit2, the default, gets the run's totals instead."""
    return bool(config.option.xmlpath) and config.getini("junit_family") in ("xunit1", "legacy")


class _RunLogHooks:
    """The run log's hooks, registered at configure (a plugin object: hooks such as
    pytest_runtest_logreport are not given the config). The log itself, in
    ``_session/_runlog.py``, loads once the run has something for it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.collected: list[pytest.Item] = []
        self.runlog: RunLog | None = None
        self.baseline: BaselineGate | None = None  # --chatexp-baseline, in the controller

    def _log(self) -> RunLog:
        if self.runlog is None:
            from ._session._runlog import RunLog

            self.runlog = RunLog(self.config, self.config.stash[_SETTINGS])
        return self.runlog

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Under xdist, workers share one budget ledger, a file the controller names, and with
        ``--chatexp-record=all`` a folder marking the shared experiments re-recorded."""
        settings = self.config.stash[_SETTINGS]
        if settings.max_tokens is not None or settings.max_cost is not None:
            node.workerinput["chatexp_ledger"] = self._log().ledger_for_worker()
        if settings.record_mode == "all":  # a shared experiment is re-recorded by one worker
            node.workerinput["chatexp_shared"] = self._log().shared_dir_for_worker()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Before -k/-m deselect anything: a deselected test still owns its recording.
        self.collected = list(items)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "chatexp" in report.keywords:  # the marker, set or added at collection
            self._log().add(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        found = getattr(node, "workeroutput", {}).get("chatexp_unused_files", [])
        if found:
            self._log().unused_files.update(found)

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        chatexp = self.config.stash.get(_SESSION, None)
        if chatexp is not None:
            chatexp.close()
        if self.runlog is not None or chatexp is not None:
            budget = chatexp.budget if chatexp is not None else None
            self._log().finish(self.collected, ran=chatexp is not None, budget=budget)
        if self.baseline is not None:
            # A regression fails the run through the session's exit status, which pytest
            # returns after this hook (as pytest-cov's --cov-fail-under does).
            tests = self.runlog.tests.values() if self.runlog is not None else ()
            self.baseline.finish(tests, session)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        # A report file is written even when no chatexp test ran, so that CI shards merge.
        if self.runlog is not None or self.config.stash[_SETTINGS].reports_requested:
            self._log().summarise(terminalreporter)
        if self.baseline is not None:
            self.baseline.summarise(terminalreporter)
