"""Shared experiments: the tests under one module or class marker with ``share=True`` that
declare the same experiment run it once, record it in one file, and each get its result.

Who shares is decided at collection (``assign_shared``): the closest chatexp marker that says
``share=`` sets the scope (its module or class); a test is a member when the markers closer to
it add nothing new (a value it repeats is not new), it takes the ``chatexp`` fixture, and it is
not split. At setup the first member to run builds the experiment (``SharedRuns``); the others
get that result. Their resolved specs must agree on everything that decides the calls
(``experiment_key``): a ``chatexp_config`` fixture that makes one differ is a clear error.

Across xdist workers a lock on the shared recording serialises the run: the worker that comes
second reads what the first recorded and replays it (see ``shared_lock``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from .._errors import ChatexpError, InvalidExperimentError

if TYPE_CHECKING:
    from _pytest.nodes import Node

    from .._calls._budget import PlanRecord
    from .._calls._recorder import TestRecorder
    from .._experiment._result import ExperimentResult
    from .._experiment._spec import ExperimentSpec
    from .._reports._records import ExperimentRun
    from ._settings import Settings

__all__ = [
    "SHARED_KEY",
    "SharedExperiment",
    "SharedRuns",
    "assign_shared",
    "experiment_key",
    "run_shared",
    "same_experiment",
    "shared_plan",
    "shared_recording_name",
]


@dataclass(frozen=True, slots=True)
class SharedExperiment:
    """One experiment several tests share: its name (the scope's node id, as reports show
    it), the recording file's name in the module's recordings folder, and its members."""

    name: str
    recording: str
    members: tuple[str, ...]


SHARED_KEY = pytest.StashKey[SharedExperiment]()


def shared_recording_name(scope: Node) -> str:
    """The recording name of a scope's shared experiment: ``<Class>.shared`` for a class
    (``Outer::Inner.shared`` nested), ``<module>.shared`` for a module. No test's recording can
    be named so: a test's name has no dot outside its parameters' brackets."""
    if "::" in scope.nodeid:
        return f"{scope.nodeid.split('::', 1)[1]}.shared"
    return Path(str(scope.path)).stem + ".shared"


def assign_shared(items: list[pytest.Item]) -> None:
    """Stash each member of a shared experiment with its ``SharedExperiment``."""
    groups: dict[str, tuple[Node, list[pytest.Item]]] = {}
    for item in items:
        scope = _sharing_scope(item)
        if scope is not None:
            groups.setdefault(scope.nodeid, (scope, []))[1].append(item)
    for scope_id, (scope, members) in groups.items():
        shared = SharedExperiment(
            name=scope_id,
            recording=shared_recording_name(scope),
            members=tuple(item.nodeid for item in members),
        )
        for item in members:
            item.stash[SHARED_KEY] = shared


def _sharing_scope(item: pytest.Item) -> Node | None:
    """The module or class whose marker shares ``item``'s experiment, or None."""
    pairs = list(item.iter_markers_with_node("chatexp"))  # closest first
    position = next((n for n, (_, mark) in enumerate(pairs) if "share" in mark.kwargs), None)
    if position is None:
        return None
    scope, mark = pairs[position]
    if mark.kwargs["share"] is not True or scope is item:
        return None  # share=False, or a function's own (refused at collection, with why)
    if "chatexp" not in getattr(item, "fixturenames", ()):
        return None  # chatexp_runner builds its experiments in the body
    declared: dict[str, Any] = {}
    for _, outer in reversed(pairs[position:]):
        declared.update(outer.kwargs)
    if "split" in declared:
        return None  # refused at collection, with why
    for _, closer in pairs[:position]:
        if any(
            not _same(declared.get(key, _MISSING), value) for key, value in closer.kwargs.items()
        ):
            return None  # a closer marker changes the experiment: the test runs its own
    return scope


_MISSING = object()


def _same(left: Any, right: Any) -> bool:
    try:
        return bool(left is right or left == right)
    except Exception:  # an argument whose == raises compares unequal: its own experiment
        return False


def experiment_key(spec: ExperimentSpec) -> tuple[Any, ...]:
    """What decides an experiment's calls, compared (``==``) to tell whether two tests declare
    the same one: not its name (each test's), nor its concurrency or timeout (how calls go
    out, not which)."""
    return (
        spec.model_configs,
        spec.inputs,
        spec.messages,
        spec.num_samples,
        dict(spec.tool_handlers),
        spec.max_turns,
        spec.simulated_user,
        spec.adaptive,
        spec.only,
        spec.first_sample,
    )


def same_experiment(left: ExperimentSpec, right: ExperimentSpec) -> bool:
    return _same(experiment_key(left), experiment_key(right))


@dataclass
class SharedOutcome:
    """A shared experiment once run in this process: what the members that follow get."""

    spec: ExperimentSpec
    first: str  # the member that ran it
    run: ExperimentRun | None = None  # its calls and result, for each member's records
    result: ExperimentResult | None = None
    error: ChatexpError | None = None


class SharedRuns:
    """The shared experiments this process ran, by name."""

    def __init__(self) -> None:
        self._outcomes: dict[str, SharedOutcome] = {}

    def get(self, shared: SharedExperiment) -> SharedOutcome | None:
        return self._outcomes.get(shared.name)

    def remember(self, shared: SharedExperiment, outcome: SharedOutcome) -> None:
        self._outcomes[shared.name] = outcome

    def forget(self, shared: SharedExperiment) -> None:
        self._outcomes.pop(shared.name, None)


class SharingSession(Protocol):
    """What a shared run needs of the session (``_session.ChatexpSession``)."""

    settings: Settings
    shared: SharedRuns

    def run(self, item: pytest.Item, spec: ExperimentSpec) -> ExperimentResult: ...

    def recorder_for(self, item: pytest.Item, spec: ExperimentSpec) -> TestRecorder | None: ...


def run_shared(
    session: SharingSession,
    item: pytest.Item,
    spec: ExperimentSpec,
    shared: SharedExperiment,
    path: Path,
    results: list[ExperimentRun],
) -> ExperimentResult:
    """The shared experiment's result for ``item``: run by the first member to ask (in this
    process; under a lock across processes), then the same result for each of the others,
    whose records carry the one run (``results``: the item's runs, for its reports)."""
    spec = replace(spec, name=shared.name)  # its recorder is the scope's (``recorder_for``)
    if session.settings.plan:
        return session.run(item, spec)  # each member shows the plan; totals count it once
    outcome = session.shared.get(shared)
    if outcome is None:
        return _run_first(session, item, spec, shared, path, results)
    if not same_experiment(outcome.spec, spec):
        raise InvalidExperimentError(
            f"this test's options (its chatexp_config fixture) make the shared experiment "
            f"{shared.name} different from the one {outcome.first} ran: tests share an "
            "experiment only when they declare the same calls (model configs, inputs, messages, "
            "samples, tools). Give the fixture the same options, or give this test its own "
            "experiment with @pytest.mark.chatexp(share=False)"
        )
    if outcome.run is not None:
        results.append(outcome.run)
    if outcome.error is not None:
        raise _shared_failure(shared, outcome.error, first=outcome.first) from outcome.error
    if outcome.result is None:  # pragma: no cover  (a run without an error has a result)
        raise ChatexpError(f"the shared experiment {shared.name} has no result")
    return outcome.result


def _run_first(
    session: SharingSession,
    item: pytest.Item,
    spec: ExperimentSpec,
    shared: SharedExperiment,
    path: Path,
    results: list[ExperimentRun],
) -> ExperimentResult:
    outcome = SharedOutcome(spec=spec, first=item.nodeid)
    session.shared.remember(shared, outcome)
    before = len(results)
    records = session.settings.record_mode in ("once", "new", "all")
    done = _rerecorded_marker(item, path)
    try:
        with shared_lock(path, enabled=records):
            recorder = session.recorder_for(item, spec)  # under the lock: the file as it is now
            if recorder is not None and done is not None and done.exists():
                recorder.mode = "new"  # re-recorded in this run by another worker: replayed
            outcome.result = session.run(item, spec)
            if done is not None:
                done.touch()
    except ChatexpError as exc:
        outcome.error = exc
        raise _shared_failure(shared, exc, first=None) from exc
    except BaseException:
        session.shared.forget(shared)  # interrupted: the next member tries again
        raise
    finally:
        if len(results) > before:  # its calls, even when it raised, for each member
            outcome.run = results[-1] = marked_shared(results[-1], shared)
    return outcome.result


def _rerecorded_marker(item: pytest.Item, path: Path) -> Path | None:
    """Under xdist with ``--chatexp-record=all``, the file that says another worker re-recorded
    the shared experiment at ``path`` in this run (in a folder the controller made and
    removes); None otherwise. Other modes need none: the file's entries replay."""
    folder = getattr(item.config, "workerinput", {}).get("chatexp_shared")
    if not folder:
        return None
    import hashlib

    return Path(folder) / hashlib.sha256(str(path).encode()).hexdigest()[:32]


def _shared_failure(
    shared: SharedExperiment, exc: ChatexpError, *, first: str | None
) -> ChatexpError:
    """The failure of a shared experiment, named, for each test that uses it."""
    count = len(shared.members)
    where = f" when {first} ran it" if first else ""
    return ChatexpError(
        f"the shared experiment {shared.name} (shared with {count} tests) failed{where}: {exc}"
    )


def shared_plan(item: pytest.Item, spec: ExperimentSpec, plan: PlanRecord) -> PlanRecord:
    """``plan``, saying so when it is of the scope's shared experiment."""
    shared = item.stash.get(SHARED_KEY, None)
    if shared is None or spec.name != shared.name:
        return plan
    return replace(plan, test=item.nodeid, shared=shared.name, members=len(shared.members))


def marked_shared(run: ExperimentRun, shared: SharedExperiment) -> ExperimentRun:
    """``run`` as one member's record of the shared experiment (counted once in totals)."""
    return replace(run, shared=shared.name)


@contextmanager
def shared_lock(path: Path, *, enabled: bool) -> Iterator[None]:
    """Across processes, one runs the shared experiment recorded at ``path`` at a time: the
    next reads the file after the first wrote it, and replays. Not when recording is off:
    nothing is written for another worker to replay."""
    if not enabled:
        yield
        return
    from .._recording import experiment_locked

    with experiment_locked(path):
        yield
