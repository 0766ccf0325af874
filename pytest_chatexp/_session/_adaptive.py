"""Adaptive sampling in a session: rounds of samples until each case's verdict is settled.

A test declares ``num_samples=(min, max)`` with ``checks``, ``min_pass_rate`` and
``confidence`` (``ExperimentSpec.adaptive``). The first round plans ``min`` samples per case;
the checks judge them (``checks.verdicts``); ``checks/_sequential.py`` says per case whether its
verdict is settled; each further round plans, for the cases that are not, all at once, as many
more samples as the nearest of them needs before it could stop (one at a time would stop at the
same looks, in more rounds), until none is left (or ``max``). The rounds are plain
experiments run the usual way (replay first, then the runner), so the recording holds exactly
the samples drawn and a replay, running the same procedure on the same answers, stops at the
same points without a server.

``rounds`` is the procedure as a generator of round specs, fed each round's result: the
session drives it, synchronously or from a coroutine, and it never touches the network
itself. At the end the cases' verdicts are recorded to the running test as an assertion's
are, and the failing ones wait in the item's stash until the test body has run
(``take_declared_failures``, called by the plugin's ``pytest_runtest_call`` wrapper): the
checks are asserted for the test, whose body may be just ``pass``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field, replace

import pytest

from .._calls._metering import CallTally
from .._experiment._result import Case, CaseSampling, ExperimentResult, Sample
from .._experiment._spec import ExperimentSpec, SampleRange
from .._reports._records import ExperimentRun
from .._util import percent
from ..checks._running import AssertionVerdict, current_test
from ..checks._sequential import (
    AdaptivePlan,
    Step,
    next_step,
    raw_verdict,
    samples_to_next_stop,
)
from ..checks._verdict import SampleCheck, verdicts

__all__ = [
    "FAILURES_KEY",
    "MergedRuns",
    "Rounds",
    "adrive",
    "drive",
    "rounds",
    "take_declared_failures",
]

# The declared checks' failure table, raised once the test body has run.
FAILURES_KEY = pytest.StashKey[str]()

# Yields round specs, is sent their results, returns the experiment's and the failure table.
Rounds = Generator[ExperimentSpec, ExperimentResult, tuple[ExperimentResult, str | None]]
_Key = tuple[str, str]  # (config name, input id)


@dataclass
class _CaseState:
    case: Case  # its config, input and every sample drawn so far
    passed: int = 0
    failures: list[tuple[Sample, str]] = field(default_factory=list)
    step: Step = Step.MORE


def rounds(spec: ExperimentSpec) -> Rounds:
    """Yield each round's spec, receive its result; return the whole experiment's result (every
    case with all its samples, and how sampling ended for each: ``sampling``) and the table of
    the cases that fail the declared checks, None when none does."""
    declared = spec.adaptive
    assert declared is not None
    plan = AdaptivePlan(
        declared.minimum, declared.maximum, declared.min_pass_rate, declared.confidence
    )
    checks: tuple[SampleCheck, ...] = declared.checks
    base = replace(spec, adaptive=None)
    states: dict[_Key, _CaseState] = {}
    wall_time = 0.0
    part = replace(base, num_samples=plan.minimum)
    while True:
        result = yield part
        wall_time += result.wall_time_s
        for verdict in verdicts(result, checks):  # judges the new samples only
            key = (verdict.case.config.display_name, str(verdict.case.input.id))
            state = states.get(key)
            if state is None:
                state = states[key] = _CaseState(replace(verdict.case, samples=()))
            samples = state.case.samples + verdict.case.samples
            state.case = replace(state.case, samples=samples)
            state.passed += len(verdict.case.samples) - len(verdict.failures)
            state.failures.extend(verdict.failures)
            state.step = next_step(state.passed, len(samples), plan)
        undecided = frozenset(key for key, state in states.items() if state.step is Step.MORE)
        if not undecided:
            break
        drawn = len(states[next(iter(undecided))].case.samples)  # the same for every one
        # As many samples as the nearest case needs before it could stop: no case overshoots
        # the look it would stop at one sample at a time, and there are far fewer rounds.
        more = min(samples_to_next_stop(states[key].passed, drawn, plan) for key in undecided)
        part = replace(base, num_samples=more, first_sample=drawn, only=undecided)
    ordered = [states[key] for key in _plan_order(spec) if key in states]
    final = ExperimentResult(
        name=spec.name,
        cases=tuple(state.case for state in ordered),
        wall_time_s=wall_time,
        model_configs=spec.model_configs,
        inputs=spec.inputs,
        sampling=tuple(_sampling(key, state, plan) for key, state in _keyed(ordered)),
    )
    return final, _record(final, ordered, declared)


def _plan_order(spec: ExperimentSpec) -> list[_Key]:
    return [(c.display_name, str(i.id)) for c in spec.model_configs for i in spec.inputs]


def _keyed(states: Sequence[_CaseState]) -> list[tuple[_Key, _CaseState]]:
    return [((s.case.config.display_name, str(s.case.input.id)), s) for s in states]


def _ok(state: _CaseState, bar: float) -> bool:
    step = state.step
    if step is Step.UNDECIDED:
        step = raw_verdict(state.passed, len(state.case.samples), bar)
    return step is Step.PASS


def _sampling(key: _Key, state: _CaseState, plan: AdaptivePlan) -> CaseSampling:
    return CaseSampling(
        config=key[0],
        input=key[1],
        drawn=len(state.case.samples),
        maximum=plan.maximum,
        passed=state.passed,
        ok=_ok(state, plan.bar),
        settled=state.step is not Step.UNDECIDED,
    )


def _record(
    result: ExperimentResult, states: list[_CaseState], declared: SampleRange
) -> str | None:
    """Each case's verdict to the running test, as ``assert_samples`` records its own; the
    failing cases' table, raised after the test body."""
    test = current_test()
    names = ", ".join(check.name for check in declared.checks)
    failing: list[str] = []
    for sampling, state in zip(result.sampling, states, strict=True):
        if test is not None:
            test.record_verdict(
                sampling.config,
                sampling.input,
                AssertionVerdict(
                    checks=names,
                    min_pass_rate=declared.min_pass_rate,
                    passed=sampling.passed,
                    samples=sampling.drawn,
                    ok=sampling.ok,
                ),
            )
        if not sampling.ok:
            failing.extend(_failure_lines(sampling, state))
    if not failing:
        return None
    header = (
        f"{sum(not s.ok for s in result.sampling)} of {len(result.sampling)} cases fail "
        f"[{names}] (required: a pass rate of at least {declared.min_pass_rate:.0%}; "
        f"adaptive sampling at {declared.confidence:.0%} confidence)"
    )
    return "\n".join([header, *failing])


def _failure_lines(sampling: CaseSampling, state: _CaseState) -> list[str]:
    how = "settled by the sequential test" if sampling.settled else "by the raw pass rate"
    lines = [
        f"  {state.case.id}  {sampling.passed}/{sampling.drawn} passed "
        f"({percent(sampling.passed, sampling.drawn)}; {sampling.drawn} of at most "
        f"{sampling.maximum} samples drawn, {how})"
    ]
    for sample, reason in state.failures[:3]:
        lines.append(f"    sample {sample.index}: {reason}")
    if len(state.failures) > 3:
        lines.append(f"    ... {len(state.failures) - 3} more failing samples")
    return lines


def drive(
    plan: Rounds, run: Callable[[ExperimentSpec], ExperimentResult]
) -> tuple[ExperimentResult, str | None]:
    """Run every round of ``plan`` with ``run``, one after the other."""
    part = next(plan)
    while True:
        try:
            part = plan.send(run(part))
        except StopIteration as done:
            ended: tuple[ExperimentResult, str | None] = done.value
            return ended


async def adrive(
    plan: Rounds, run: Callable[[ExperimentSpec], Awaitable[ExperimentResult]]
) -> tuple[ExperimentResult, str | None]:
    """``drive`` from a coroutine."""
    part = next(plan)
    while True:
        try:
            part = plan.send(await run(part))
        except StopIteration as done:
            ended: tuple[ExperimentResult, str | None] = done.value
            return ended


class MergedRuns:
    """Around the rounds of one adaptive experiment: the runs each round appended to the
    item's list become one, the experiment's, so that reports show it once with every call."""

    def __init__(self, item: pytest.Item, runs: list[ExperimentRun], spec: ExperimentSpec) -> None:
        self.item = item
        self.runs = runs
        self.spec = spec
        self.start = len(runs)
        self.started = time.perf_counter()
        self.result: ExperimentResult | None = None

    def __enter__(self) -> MergedRuns:
        return self

    def finish(self, result: ExperimentResult, failures: str | None) -> ExperimentResult:
        """The rounds are over: the experiment's result, and its failure table (if any) for
        the test to raise after its body."""
        self.result = result
        if failures is not None:
            self.item.stash[FAILURES_KEY] = failures
        return result

    def __exit__(self, *exc: object) -> None:
        parts = self.runs[self.start :]
        del self.runs[self.start :]
        tally = CallTally()
        for run in parts:
            for name, counts in run.tally.configs.items():
                merged = tally.of(name)
                merged.replayed += counts.replayed
                merged.live += counts.live
                merged.failed += counts.failed
                merged.retries += counts.retries
                merged.skipped += counts.skipped
                merged.answers.extend(counts.answers)
        elapsed = time.perf_counter() - self.started
        self.runs.append(ExperimentRun(self.spec.model_configs, self.result, tally, elapsed))


def take_declared_failures(item: pytest.Item) -> str | None:
    """The table of the cases failing the checks the test declared, once (a rerun of the item
    starts afresh); None when every case passed or the test declared none."""
    failures = item.stash.get(FAILURES_KEY, None)
    if failures is not None:
        del item.stash[FAILURES_KEY]
    return failures
