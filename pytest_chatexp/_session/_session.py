"""The plugin's per-session state: settings, the shared runner, and per test its spec, recorder,
budget and runs (one body for sync and async runs: ``_running``); ``RunningItem``, the running
test the checks see; ``ChatexpRunner``, experiments run from a test body.

``plugin.py`` imports this module only when a chatexp test needs it, so a session without
chatexp tests never loads httpx, pydantic or any provider.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._calls._budget import Meter, PlanRecord, SessionBudget, plan_experiment
from .._calls._exchange import assemble_runs, replay
from .._calls._loop import SampleRun
from .._calls._metering import CallTally, Ledger
from .._calls._recorder import TestRecorder
from .._calls._reuse import AnswerReuse
from .._calls._target import CallOutcome, Exchange, Replay, send_directly
from .._errors import BudgetExhausted, ChatexpError, InvalidExperimentError
from .._experiment._result import ExperimentResult
from .._experiment._spec import ExperimentSpec, PlannedCall
from .._providers import Provider, WireRequest
from .._recording import recording_path
from .._recording._renamed import Orphans
from .._redaction import remember_secrets
from .._reports._records import ExperimentRecord, ExperimentRun, experiment_record
from .._reports._summary import relative_path
from .._util import gc_paused
from ..checks._running import AssertionVerdict, activate, deactivate
from ._adaptive import MergedRuns, adrive, drive, rounds
from ._collection import SpecCache, fail_for
from ._keys import check_keys, secrets_of
from ._options import CaseSelection, merge_marker_kwargs, parse_options
from ._runlog import defined_in, recording_name
from ._settings import Settings
from ._sharing import SHARED_KEY, SharedRuns, run_shared, shared_plan

if TYPE_CHECKING:
    from .._calls._runner import ExperimentRunner
    from .._pricing import PriceTable

__all__ = ["ChatexpRunner", "ChatexpSession", "RunningItem"]

RESULTS_KEY = pytest.StashKey[list[ExperimentRun]]()
BUDGET_STOPPED_KEY = pytest.StashKey[bool]()
CALL_PASSED_KEY = pytest.StashKey[bool]()
UNUSED_KEY = pytest.StashKey[dict[str, int]]()
EXPERIMENT_FAILED_KEY = pytest.StashKey[bool]()
PLANS_KEY = pytest.StashKey[list[PlanRecord]]()
RECORDER_KEY = pytest.StashKey[TestRecorder]()
# The recorder of the shared experiment (``_sharing``) the test ran for its scope's members.
SHARED_RECORDER_KEY = pytest.StashKey[TestRecorder]()
# (config name, input id, sample index) -> None when every check passed, else the first failure.
OUTCOMES_KEY = pytest.StashKey[dict[tuple[str, str, int], str | None]]()
# (config name, input id) -> the verdicts assertions gave the case, each with the bar it set.
VERDICTS_KEY = pytest.StashKey[dict[tuple[str, str], list[AssertionVerdict]]]()


class ChatexpSession:
    """Created on first use in a pytest session (or xdist worker), closed at its end."""

    def __init__(self, settings: Settings, rootpath: Path, ledger_path: Path | None = None) -> None:
        self.settings = settings
        self.rootpath = rootpath
        self.budget = (
            SessionBudget(
                max_tokens=settings.max_tokens,
                max_cost=settings.max_cost,
                ledger=Ledger(ledger_path),
                prices=settings.prices,
            )
            if settings.max_tokens is not None or settings.max_cost is not None
            else None
        )
        self._runner: ExperimentRunner | None = None
        # Split items of one test share its markers: resolve files and datasets once for all.
        self.specs = SpecCache(settings.subsample, settings.subsample_seed)
        self._display_folders: dict[Path, str] = {}  # recording folders as messages show them
        self.shared = SharedRuns()  # shared experiments run in this process
        self.orphans = Orphans()  # recordings of renamed tests, for tests that have none
        self.reuse = AnswerReuse()  # embeddings asked once per process (``_calls/_reuse``)

    @property
    def runner(self) -> ExperimentRunner:
        """The session's runner, started when a first call has to go out (a replay-only session
        never imports it, nor asyncio and httpx)."""
        if self._runner is None:
            self._runner = self.settings.make_runner()
        return self._runner

    def spec_for(
        self,
        item: pytest.Item,
        fixture_config: Mapping[str, Any],
        overrides: Mapping[str, Any] | None = None,
        selection: CaseSelection | None = None,
    ) -> ExperimentSpec:
        """Fixture config, then markers (module, class, function), then explicit overrides."""
        if not isinstance(fixture_config, Mapping):
            raise InvalidExperimentError(
                f"the chatexp_config fixture must return a dict of chatexp options, "
                f"got {type(fixture_config).__name__}"
            )
        marks = list(item.iter_markers("chatexp"))
        from_markers = not fixture_config and not overrides
        cached = self.specs.take(item.path, marks, item.nodeid) if from_markers else None
        if cached is not None:
            spec = cached
        else:
            parse_options(fixture_config, source="chatexp_config fixture")
            marker_kwargs = merge_marker_kwargs(marks)
            parse_options(marker_kwargs, source="chatexp marker")
            kwargs = {**fixture_config, **marker_kwargs, **(overrides or {})}
            options = parse_options(kwargs, source="experiment options")
            spec = self.specs.build(options, item.nodeid, Path(item.path).parent, render=False)
            if from_markers:
                self.specs.remember(item.path, marks, spec)
        if selection is not None:
            spec = selection.apply(spec)  # before rendering: a split item renders its part only
        spec.calls  # noqa: B018  (renders, so a missing variable fails before any call)
        return spec

    def begin(self, item: pytest.Item) -> None:
        """A chatexp test starts: checks and graders find it as the running test."""
        activate(RunningItem(self, item))

    def end(self, item: pytest.Item) -> None:
        """Teardown of a chatexp test: its recorder prunes or reports what it left unused."""
        deactivate(RunningItem(self, item))
        try:
            unused = self.finish(item, passed=item.stash.get(CALL_PASSED_KEY, False))
        except ChatexpError as exc:
            raise fail_for(item.nodeid, exc) from None
        if unused:
            item.stash[UNUSED_KEY] = unused

    def experiment(
        self,
        item: pytest.Item,
        fixture_config: Mapping[str, Any],
        *,
        selection: CaseSelection | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> ExperimentResult:
        """The test's experiment, run; a plugin error fails the test with its message alone."""
        with _failing_the_experiment(item):
            spec = self.spec_for(item, fixture_config, overrides, selection)
            shared = item.stash.get(SHARED_KEY, None)
            if shared is None or overrides is not None or selection is not None:
                return self.run(item, spec)
            path = recording_path(item.path, shared.recording)
            return run_shared(
                self, item, spec, shared, path, item.stash.setdefault(RESULTS_KEY, [])
            )

    async def aexperiment(
        self,
        item: pytest.Item,
        fixture_config: Mapping[str, Any],
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> ExperimentResult:
        """``experiment`` for async tests: awaits the run on the session's loop."""
        with _failing_the_experiment(item):
            return await self.arun(item, self.spec_for(item, fixture_config, overrides))

    def report_attributes(self, item: pytest.Item, when: str, passed: bool) -> dict[str, Any]:
        """What a phase's report carries for the controller: verdict flags, then at teardown
        the test's records, recording changes, plans and unused recordings."""
        if when == "call":
            item.stash[CALL_PASSED_KEY] = passed
        if when != "teardown":
            failed = item.stash.get(EXPERIMENT_FAILED_KEY, False)
            return {"chatexp_experiment_failed": True} if failed else {}
        with_cases = self.settings.records_cases
        attributes = {
            "chatexp_budget_stopped": item.stash.get(BUDGET_STOPPED_KEY, False),
            "chatexp_experiments": self.records_for(item, with_cases=with_cases),
            "chatexp_changes": self.changes_for(item) if with_cases else [],
            "chatexp_plan": [plan.to_json() for plan in item.stash.get(PLANS_KEY, [])],
            "chatexp_unused": item.stash.get(UNUSED_KEY, {}),
            "chatexp_adopted": getattr(item.stash.get(RECORDER_KEY, None), "adopted", None),
        }
        # Released once the report has them, so memory does not grow with the number of tests;
        # the verdicts too: a rerun attempt of the item (pytest-rerunfailures) starts afresh.
        done: list[pytest.StashKey[Any]] = [RESULTS_KEY, RECORDER_KEY, SHARED_RECORDER_KEY]
        for key in [*done, OUTCOMES_KEY, VERDICTS_KEY]:
            if key in item.stash:
                del item.stash[key]
        return {name: value for name, value in attributes.items() if value}

    def run(self, item: pytest.Item, spec: ExperimentSpec) -> ExperimentResult:
        if spec.adaptive is not None and not self.settings.plan:  # rounds (``_adaptive``)
            with MergedRuns(item, item.stash.setdefault(RESULTS_KEY, []), spec) as merged:
                return merged.finish(*drive(rounds(spec), partial(self.run, item)))
        with self._running(item, spec) as run:
            if run.result is None:
                run.result = self.runner.run(spec, exchange=run.exchange, runs=run.samples)
        return run.result

    async def arun(self, item: pytest.Item, spec: ExperimentSpec) -> ExperimentResult:
        if spec.adaptive is not None and not self.settings.plan:  # a plan counts the maximum
            with MergedRuns(item, item.stash.setdefault(RESULTS_KEY, []), spec) as merged:
                return merged.finish(*await adrive(rounds(spec), partial(self.arun, item)))
        with self._running(item, spec) as run:
            if run.result is None:
                run.result = await self.runner.arun(spec, exchange=run.exchange, runs=run.samples)
        return run.result

    @contextmanager
    def _running(self, item: pytest.Item, spec: ExperimentSpec) -> Iterator[_Run]:
        """Around one experiment: the recorder, the replay when every call has a recording,
        else the exchange for the runner (which the block calls). Its calls are counted and
        kept for the reports even when it raises; a budget stop fails the test and writes none
        of its new answers; whatever else was recorded is written, even when the run fails."""
        recorder = self._before_run(item, spec)
        started = time.perf_counter()
        tally = CallTally()
        run = _Run(result=None, exchange=send_directly)
        try:
            if recorder is not None:
                with gc_paused():
                    run.samples = replay(spec, _counting(recorder.replay, tally))
                    if all(sample.done for sample in run.samples):
                        elapsed = time.perf_counter() - started
                        run.result = assemble_runs(spec, run.samples, elapsed)
            if run.result is None:
                check_keys(spec, recorder)
            inner = recorder.live_exchange() if recorder is not None else send_directly
            run.exchange = Meter(tally, self.budget).guard(self.reuse.around(inner))
            yield run
        except BudgetExhausted:
            item.stash[BUDGET_STOPPED_KEY] = True
            if recorder is not None:  # a partial re-recording would replace good answers
                recorder.recorded.clear()
                recorder.changes.clear()
            raise
        finally:
            if recorder is not None:
                recorder.persist()
            runs = item.stash.setdefault(RESULTS_KEY, [])
            elapsed = time.perf_counter() - started
            runs.append(ExperimentRun(spec.model_configs, run.result, tally, elapsed))

    def _before_run(self, item: pytest.Item, spec: ExperimentSpec) -> TestRecorder | None:
        """The item's recorder; in plan mode, the plan instead (the test is skipped)."""
        remember_secrets(secrets_of(spec.model_configs))
        recorder = self.recorder_for(item, spec)
        if self.settings.plan:
            plan = plan_experiment(spec, recorder, self.settings.prices, batch=self.settings.batch)
            plan = shared_plan(item, spec, plan)
            item.stash.setdefault(PLANS_KEY, []).append(plan)
            raise pytest.skip.Exception(f"chatexp plan: {plan.describe()}")
        return recorder

    def recorder_for(self, item: pytest.Item, spec: ExperimentSpec) -> TestRecorder | None:
        """The item's recorder (one for all its experiments), or None when recording is off."""
        if self.settings.record_mode == "off":
            return None
        shared = item.stash.get(SHARED_KEY, None)
        key, name, test = RECORDER_KEY, recording_name(item.nodeid), item.nodeid
        if shared is not None and spec.name == shared.name:  # the scope's shared experiment
            key, name, test = SHARED_RECORDER_KEY, shared.recording, shared.name
        recorder = item.stash.get(key, None)
        if recorder is None:
            path = recording_path(item.path, name)
            folder = self._display_folders.get(path.parent)
            if folder is None:
                folder = relative_path(path.parent, self.rootpath) + os.sep
                self._display_folders[path.parent] = folder
            recorder = item.stash[key] = TestRecorder(
                path=path,
                display_path=folder + path.name,
                test_id=test,
                mode=self.settings.record_mode,
                rerun_hint=f"pytest --chatexp-record=new '{test}'",
                prices=self.settings.prices,
                orphans=self.orphans,
                defined=defined_in(item),
                adopt=self.settings.adopt,
                checkpoints=self.budget is None,  # a budget stop writes none of a test's answers
            )
        recorder.left_out |= spec.left_out  # a subsample's other inputs keep their answers
        return recorder

    def changes_for(self, item: pytest.Item) -> list[dict[str, Any]]:
        """Calls of this test answered anew, with tokens before and after."""
        recorders = (item.stash.get(key, None) for key in (SHARED_RECORDER_KEY, RECORDER_KEY))
        return [change.to_json() for r in recorders if r is not None for change in r.changes]

    def finish(self, item: pytest.Item, *, passed: bool) -> dict[str, int]:
        """End of a test: let its recorder prune or report stale entries ({file: count})."""
        unused: dict[str, int] = {}
        prune = self.settings.prune
        for key in (SHARED_RECORDER_KEY, RECORDER_KEY):
            recorder = item.stash.get(key, None)
            if recorder is not None and (stale := recorder.finish(passed=passed, prune=prune)):
                unused[recorder.display_path] = len(stale)
        return unused

    def records_for(self, item: pytest.Item, *, with_cases: bool) -> list[ExperimentRecord]:
        """The item's experiments as report records, with the verdicts its checks recorded."""
        outcomes = item.stash.get(OUTCOMES_KEY, {})
        verdicts = item.stash.get(VERDICTS_KEY, {})
        return [
            experiment_record(
                item.nodeid,
                run,
                outcomes,
                self.settings.prices,
                with_cases=with_cases,
                verdicts=verdicts,
            )
            for run in item.stash.get(RESULTS_KEY, [])
            # One that raised before any call was answered or sent has nothing to count.
            if run.result is not None or run.tally.calls or run.tally.skipped
        ]

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None


@contextmanager
def _failing_the_experiment(item: pytest.Item) -> Iterator[None]:
    """A plugin error fails the test with its message alone, and marks its experiment failed
    (its snapshots are kept, not reported unused)."""
    try:
        yield
    except ChatexpError as exc:
        item.stash[EXPERIMENT_FAILED_KEY] = True
        raise fail_for(item.nodeid, exc) from None


@dataclass(frozen=True)
class RunningItem:
    """A chatexp test as the checks see it while it runs (``checks._running.RunningTest``).
    Equal to another for the same session and item: ``end`` empties the slot ``begin`` filled."""

    session: ChatexpSession
    item: pytest.Item

    @property
    def node_id(self) -> str:
        return self.item.nodeid

    @property
    def prices(self) -> PriceTable:
        return self.session.settings.prices

    @property
    def inconclusive_policy(self) -> str:
        return self.session.settings.inconclusive

    def run(self, spec: ExperimentSpec) -> ExperimentResult:
        try:
            return self.session.run(self.item, spec)
        except ChatexpError as exc:
            raise fail_for(self.item.nodeid, exc) from None

    def record_outcome(self, config: str, case: str, index: int, failure: str | None) -> None:
        outcomes = self.item.stash.setdefault(OUTCOMES_KEY, {})
        key = (config, case, index)
        if outcomes.get(key) is None:
            outcomes[key] = failure

    def record_verdict(self, config: str, case: str, verdict: AssertionVerdict) -> None:
        self.item.stash.setdefault(VERDICTS_KEY, {}).setdefault((config, case), []).append(verdict)


@dataclass
class _Run:
    """An experiment being run: its result once known, and the exchange its live calls take."""

    result: ExperimentResult | None
    exchange: Exchange
    # Its samples as far as the recording answered them, for the runner to carry on.
    samples: list[SampleRun] | None = None


class ChatexpRunner:
    """Runs experiments from a test body: ``chatexp_runner.run(model_configs=..., inputs=...)``.

    Keyword arguments are the marker's; they override the test's markers and ``chatexp_config``.
    """

    def __init__(
        self, session: ChatexpSession, item: pytest.Item, fixture_config: Mapping[str, Any]
    ) -> None:
        self._session = session
        self._item = item
        self._fixture_config = fixture_config

    def run(self, **options: Any) -> ExperimentResult:
        return self._session.experiment(self._item, self._fixture_config, overrides=options)

    async def arun(self, **options: Any) -> ExperimentResult:
        """``run`` for async tests: awaits the experiment on the session's loop."""
        return await self._session.aexperiment(self._item, self._fixture_config, overrides=options)

    @property
    def runner(self) -> ExperimentRunner:
        """The session's shared runner."""
        return self._session.runner


def _counting(lookup: Replay, tally: CallTally) -> Replay:
    """``lookup``, counting each call it answers as replayed."""

    def counted(call: PlannedCall, provider: Provider, wire: WireRequest) -> CallOutcome | None:
        outcome = lookup(call, provider, wire)
        if outcome is not None:
            tally.of(call.case_config.display_name).replayed += 1
        return outcome

    return counted
