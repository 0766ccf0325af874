"""The pytest entry point: options, the marker, fixtures and hooks -- nothing else.

Every pytest run imports this module, with or without chatexp tests, so it imports only pytest
and the stdlib. The rest of the plugin (httpx, pydantic, providers) loads when a test first needs
it, through ``_session``.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._settings import Settings, add_options
from ._summary import as_records, write_plan, write_summary, write_unused

if TYPE_CHECKING:
    from ._experiment import ExperimentResult
    from ._runner import ExperimentRunner
    from ._session import ChatexpSession
    from .testing import ReferenceServer

_SETTINGS = pytest.StashKey[Settings]()
_SESSION = pytest.StashKey["ChatexpSession"]()
_CALL_PASSED = pytest.StashKey[bool]()
_UNUSED = pytest.StashKey[dict[str, int]]()
_EXPERIMENT_FAILED = pytest.StashKey[bool]()

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
        from ._session import ChatexpSession

        ledger = getattr(config, "workerinput", {}).get("chatexp_ledger")
        session = config.stash[_SESSION] = ChatexpSession(
            config.stash[_SETTINGS], config.rootpath, Path(ledger) if ledger else None
        )
    return session


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("chatexp") is None:
        return
    from ._session import validate_at_collection

    validate_at_collection(metafunc)


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
    from ._errors import ChatexpError
    from ._session import fail_for

    session = _session(request.config)
    item = request.node
    _activate(item, session)
    request.addfinalizer(lambda: _finish(item))
    try:
        spec = session.spec_for(item, chatexp_config, selection=getattr(request, "param", None))
        return session.run(item, spec)
    except ChatexpError as exc:
        item.stash[_EXPERIMENT_FAILED] = True
        raise fail_for(item.nodeid, exc) from None


@pytest.fixture
def chatexp_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot`` for experiments: ``assert chatexp == chatexp_snapshot`` keeps a
    readable view of every config, input and sample in ``__snapshots__/``."""
    from ._snapshots import SNAPSHOT_NAME, ExperimentSnapshotExtension

    # An explicit name: syrupy's counters would renumber snapshots when assertions change.
    return snapshot.use_extension(ExperimentSnapshotExtension)(name=SNAPSHOT_NAME)


def junit_properties(records: list[Any]) -> list[tuple[str, object]]:
    """Per-test numbers for JUnit XML: samples, pass rate, tokens, cost."""
    rows = [row for record in records for row in record["configs"]]
    if not rows:
        return []
    checked = sum(row["checked"] for row in rows)
    costs = [row["cost_usd"] for row in rows]
    properties: list[tuple[str, object]] = [
        ("chatexp_samples", sum(row["samples"] for row in rows)),
        (
            "chatexp_pass_rate",
            round(sum(row["passed"] for row in rows) / checked, 4) if checked else "",
        ),
        ("chatexp_prompt_tokens", sum(row["prompt_tokens"] for row in rows)),
        ("chatexp_generation_tokens", sum(row["generation_tokens"] for row in rows)),
        ("chatexp_total_tokens", sum(row["total_tokens"] for row in rows)),
        ("chatexp_cost_usd", "" if None in costs else round(sum(costs), 8)),
        ("chatexp_replayed", sum(row["replayed"] for row in rows)),
    ]
    return properties


def _activate(item: pytest.Item, session: ChatexpSession) -> None:
    from ._context import activate

    activate(item, session)


def _finish(item: pytest.Item) -> None:
    """Teardown of a chatexp test: its recorder prunes or reports what the test left unused."""
    from ._context import deactivate
    from ._errors import ChatexpError
    from ._session import fail_for

    deactivate(item)
    session = _session(item.config)
    try:
        unused = session.finish(item, passed=item.stash.get(_CALL_PASSED, False))
    except ChatexpError as exc:
        raise fail_for(item.nodeid, exc) from None
    if item.config.option.xmlpath:
        item.user_properties.extend(junit_properties(session.records_for(item, with_cases=False)))
    if unused:
        item.stash[_UNUSED] = unused


class ChatexpRunner:
    """Runs experiments from a test body: ``chatexp_runner.run(model_configs=..., inputs=...)``.

    Keyword arguments are the marker's; they override the test's markers and ``chatexp_config``.
    """

    def __init__(self, request: pytest.FixtureRequest, fixture_config: dict[str, Any]) -> None:
        self._request = request
        self._fixture_config = fixture_config
        _activate(request.node, _session(request.config))
        request.addfinalizer(lambda: _finish(request.node))

    def run(self, **options: Any) -> ExperimentResult:
        from ._errors import ChatexpError
        from ._session import fail_for

        session = _session(self._request.config)
        item = self._request.node
        try:
            spec = session.spec_for(item, self._fixture_config, overrides=options)
            return session.run(item, spec)
        except ChatexpError as exc:
            item.stash[_EXPERIMENT_FAILED] = True
            raise fail_for(item.nodeid, exc) from None

    async def arun(self, **options: Any) -> ExperimentResult:
        from ._errors import ChatexpError
        from ._session import fail_for

        session = _session(self._request.config)
        item = self._request.node
        try:
            spec = session.spec_for(item, self._fixture_config, overrides=options)
            return await session.arun(item, spec)
        except ChatexpError as exc:
            item.stash[_EXPERIMENT_FAILED] = True
            raise fail_for(item.nodeid, exc) from None

    @property
    def runner(self) -> ExperimentRunner:
        """The session's shared runner."""
        return _session(self._request.config).runner


@pytest.fixture
def chatexp_runner(request: pytest.FixtureRequest, chatexp_config: dict[str, Any]) -> ChatexpRunner:
    """Build and run experiments programmatically from the test body."""
    return ChatexpRunner(request, chatexp_config)


@pytest.fixture(scope="session")
def chatexp_server() -> Iterator[ReferenceServer]:
    """The loopback reference server (OpenAI wire format), started for the session."""
    from .testing import ReferenceServer

    with ReferenceServer() as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if _SESSION not in item.config.stash:
        return report
    if call.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    if call.when != "teardown" and item.stash.get(_EXPERIMENT_FAILED, False):
        report.chatexp_experiment_failed = True  # type: ignore[attr-defined]
    elif call.when == "teardown":
        # Plain attributes of builtins: pytest-xdist ships them to the controller as they are.
        session = _session(item.config)
        with_cases = session.settings.reports_requested
        records = session.records_for(item, with_cases=with_cases)
        if records:
            report.chatexp_experiments = records  # type: ignore[attr-defined]
        changes = session.changes_for(item) if with_cases else []
        if changes:
            report.chatexp_changes = changes  # type: ignore[attr-defined]
        from ._session import PLANS_KEY

        plans = item.stash.get(PLANS_KEY, None)
        if plans:
            report.chatexp_plan = plans  # type: ignore[attr-defined]
        unused = item.stash.get(_UNUSED, None)
        if unused:
            report.chatexp_unused = unused  # type: ignore[attr-defined]
    return report


class _RunLog:
    """Collects what reports carry (the controller's copies, under xdist) and prints the
    summary. Registered as a plugin object so its hooks see the config without module globals."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.experiments: list[dict[str, Any]] = []
        self.unused_entries: dict[str, int] = {}
        self.unused_files: set[str] = set()
        self.collected: list[pytest.Item] = []
        # Per chatexp test, for the report files: outcome, experiments, changes, failure.
        self.tests: dict[str, dict[str, Any]] = {}
        self.plans: list[dict[str, Any]] = []
        self.ledger_dir: str | None = None

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
        self.experiments.extend(as_records(getattr(report, "chatexp_experiments", None)))
        self.plans.extend(getattr(report, "chatexp_plan", None) or [])
        self.unused_entries.update(getattr(report, "chatexp_unused", None) or {})
        if getattr(report, "chatexp_experiment_failed", False):
            _keep_snapshots_of(report.nodeid)
        self._note_for_reports(report)

    def _note_for_reports(self, report: pytest.TestReport) -> None:
        if "chatexp" not in report.keywords:  # the marker, set or added at collection
            return
        experiments = as_records(getattr(report, "chatexp_experiments", None))
        test = self.tests.setdefault(
            report.nodeid,
            {
                "test": report.nodeid,
                "outcome": "passed",
                "experiments": [],
                "changes": [],
                "failure": None,
            },
        )
        test["experiments"] += experiments
        test["changes"] += list(getattr(report, "chatexp_changes", None) or [])
        if report.failed and test["failure"] is None:
            test["outcome"] = "failed" if report.when == "call" else "error"
            test["failure"] = "\n".join(report.longreprtext.splitlines()[-40:])
        elif report.skipped and test["outcome"] == "passed":
            test["outcome"] = "skipped"

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        self.unused_files.update(getattr(node, "workeroutput", {}).get("chatexp_unused_files", []))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.ledger_dir is not None:
            import shutil

            shutil.rmtree(self.ledger_dir, ignore_errors=True)
        chatexp_session = self.config.stash.get(_SESSION, None)
        if chatexp_session is None:
            return
        chatexp_session.close()
        if _is_full_run(self.config):
            from ._session import unused_recording_files

            found = [str(path) for path in unused_recording_files(self.collected)]
            workeroutput = getattr(self.config, "workeroutput", None)
            if workeroutput is not None:
                workeroutput["chatexp_unused_files"] = found
            else:
                self.unused_files.update(found)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        settings = self.config.stash[_SETTINGS]
        if self.plans:
            write_plan(terminalreporter, self.plans)
        # Reports come first: a run where every experiment failed needs its report most.
        if settings.reports_requested and self.tests:
            for path in _write_reports(settings, list(self.tests.values())):
                terminalreporter.write_line(f"chatexp: report written to {path}")
        if not self.experiments:
            return
        write_summary(terminalreporter, self.experiments, record_mode=settings.record_mode)
        pruned = settings.prune
        if pruned:
            for name in self.unused_files:
                Path(name).unlink(missing_ok=True)
        write_unused(
            terminalreporter,
            self.unused_entries,
            sorted(_relative(name, self.config.rootpath) for name in self.unused_files),
            pruned=pruned,
        )


def _write_reports(settings: Settings, tests: list[dict[str, Any]]) -> list[str]:
    import json

    from ._reports._run import build_run_report, write_atomic

    report = build_run_report(tests, record_mode=settings.record_mode)
    written: list[str] = []
    if settings.json_report:
        write_atomic(
            Path(settings.json_report), json.dumps(report, indent=1, sort_keys=True) + "\n"
        )
        written.append(settings.json_report)
    if settings.markdown_report:
        from ._reports._markdown import render_markdown

        write_atomic(Path(settings.markdown_report), render_markdown(report))
        written.append(settings.markdown_report)
    if settings.html_report:
        from ._reports._html import render_html

        write_atomic(Path(settings.html_report), render_html(report))
        written.append(settings.html_report)
    return written


def _keep_snapshots_of(node_id: str) -> None:
    """A test whose experiment failed (provider down, recording missing) never reached its
    snapshot assertion. syrupy would count its reviewed snapshot as unused and delete it under
    --snapshot-update; tell syrupy the test was skipped, which keeps it. The test itself still
    fails in pytest's report. (syrupy's session object is private; without it, do nothing.)
    """
    syrupy = sys.modules.get("syrupy")
    session = getattr(syrupy, "_syrupy", None)
    ran_item = getattr(session, "ran_item", None)
    if ran_item is not None:
        ran_item(node_id, "skipped")


def _is_full_run(config: pytest.Config) -> bool:
    """Unused recordings can only be judged when whole files were collected, not single ids."""
    return not any("::" in str(arg) for arg in config.args)


def _relative(name: str, root: Path) -> str:
    path = Path(name)
    return str(path.relative_to(root)) if path.is_relative_to(root) else name
