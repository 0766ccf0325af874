"""Verdicts across samples: a check per sample, a pass rate per case, one readable table.

A model answers differently each time, so a regression check says what must hold and for how
many samples. ``SampleCheck`` is the unit: a name and a function returning ``None`` when a sample
passes, or a short reason when it does not. ``assert_samples`` applies checks to every sample,
groups the results by case (model config x input) and fails with a table of the cases under
their required pass rate.

Two ways to judge a case other than its raw pass rate: with ``confidence=`` by the Wilson
interval of its pass rate (``_stats``), so that a case passes only when the data say its true
rate clears the bar, fails only when they say it does not, and is *inconclusive* in between (what
that does to the test is a policy: ``inconclusive=`` or the ini ``chatexp_inconclusive``); with
``reducer=`` by a named policy (``_reducers``: pass@k, pass^k, at least k, a majority).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import pytest

from .._experiment._result import Case, ExperimentResult, Sample
from .._util import interval_text, percent
from ._reducers import Reducer
from ._running import AssertionVerdict, current_test
from ._stats import Decision, Interval, check_confidence, decide, wilson

__all__ = [
    "POLICIES",
    "CaseVerdict",
    "SampleCheck",
    "assert_samples",
    "cases_of",
    "excerpt",
    "samples_to_decide",
    "verdicts",
]

# What an inconclusive case does to its test (``_session._settings.INCONCLUSIVE_POLICIES``).
POLICIES = ("fail", "pass", "xfail")
# The most samples ``samples_to_decide`` looks at: beyond it, "more samples" is no advice.
_MOST_SAMPLES = 2000

_EXCERPT = 60
_FAILURES_SHOWN = 3


@dataclass(frozen=True)
class SampleCheck:
    """A named condition on one sample: ``check(sample)`` is None when it holds, else why not."""

    name: str
    check: Callable[[Sample], str | None]
    # Checks that must see every sample at once before judging one (LLM graders) prepare here.
    prepare: Callable[[Sequence[Sample]], None] | None = field(default=None, compare=False)

    def __call__(self, sample: Sample) -> str | None:
        return self.check(sample)


@dataclass(frozen=True)
class CaseVerdict:
    """A case's samples as the checks judged them. ``interval`` (the pass rate's Wilson
    interval) and ``outcome`` (how it stands against the bar) are set by
    ``assert_samples(confidence=...)``; ``outcome`` and ``estimate`` (pass@k, pass^k) by
    ``assert_samples(reducer=...)``. None otherwise."""

    case: Case
    failures: tuple[tuple[Sample, str], ...]
    interval: Interval | None = None
    outcome: Decision | None = None
    estimate: float | None = None

    @property
    def passed(self) -> int:
        return len(self.case.samples) - len(self.failures)

    @property
    def pass_rate(self) -> float:
        total = len(self.case.samples)
        return self.passed / total if total else 1.0


Checkable = ExperimentResult | Case | Iterable[Case]


def cases_of(subject: Checkable) -> list[Case]:
    """The cases a check applies to: an experiment's, one case, or any list of cases."""
    if isinstance(subject, Case):
        return [subject]
    return list(subject)


def verdicts(subject: Checkable, checks: Sequence[SampleCheck]) -> list[CaseVerdict]:
    """Run ``checks`` on every sample; a sample fails on its first failing check."""
    cases = cases_of(subject)
    samples = [sample for case in cases for sample in case.samples]
    for check in checks:
        if check.prepare is not None:
            check.prepare(samples)
    results: list[CaseVerdict] = []
    for case in cases:
        failures: list[tuple[Sample, str]] = []
        for sample in case.samples:
            for check in checks:
                reason = check(sample)
                if reason is not None:
                    failures.append((sample, f"{check.name}: {reason}"))
                    break
        results.append(CaseVerdict(case, tuple(failures)))
    _record(results)
    return results


def _record(results: list[CaseVerdict]) -> None:
    """Report each sample's verdict to the running test, for pass rates in reports."""
    test = current_test()
    if test is None:
        return
    for verdict in results:
        failed = {sample.index: reason for sample, reason in verdict.failures}
        for sample in verdict.case.samples:
            test.record_outcome(
                verdict.case.config.display_name,
                str(verdict.case.input.id),
                sample.index,
                failed.get(sample.index),
            )


def _meets(verdict: CaseVerdict, min_pass_rate: float) -> bool:
    return verdict.pass_rate + 1e-9 >= min_pass_rate


@dataclass(frozen=True)
class _Bar:
    """How one ``assert_samples`` call judges its cases."""

    min_pass_rate: float
    confidence: float | None = None
    policy: str | None = None  # an inconclusive case's, with ``confidence``
    reducer: Reducer | None = None

    def judge(self, verdict: CaseVerdict) -> CaseVerdict:
        total = len(verdict.case.samples)
        if self.confidence is not None:
            interval = wilson(verdict.passed, total, self.confidence)
            return replace(verdict, interval=interval, outcome=decide(interval, self.min_pass_rate))
        if self.reducer is not None:
            holds = self.reducer.holds(verdict.passed, total, self.min_pass_rate)
            return replace(
                verdict,
                outcome=Decision.PASS if holds else Decision.FAIL,
                estimate=self.reducer.estimate(verdict.passed, total),
            )
        return verdict

    def fails(self, verdict: CaseVerdict) -> bool:
        """The case failed its bar (an inconclusive one did not)."""
        if verdict.outcome is None:
            return not _meets(verdict, self.min_pass_rate)
        return verdict.outcome is Decision.FAIL

    def ok(self, verdict: CaseVerdict) -> bool:
        """The case lets the test pass: it passed, or is inconclusive under policy "pass"."""
        if verdict.outcome is Decision.INCONCLUSIVE:
            return self.policy == "pass"
        return not self.fails(verdict)

    def requirement(self) -> str:
        if self.reducer is not None:
            return self.reducer.requirement(self.min_pass_rate)
        if self.min_pass_rate >= 1.0:
            return "every sample"
        need = f"a pass rate of at least {self.min_pass_rate:.0%}"
        if self.confidence is not None:
            need += f" at {self.confidence * 100:g}% confidence"
        return need


def _record_verdicts(results: list[CaseVerdict], *, names: str, bar: _Bar) -> None:
    """Report each case's verdict, with the bar it was held to, so that reports judge a case
    exactly as this assertion did."""
    test = current_test()
    if test is None:
        return
    for verdict in results:
        interval = verdict.interval
        test.record_verdict(
            verdict.case.config.display_name,
            str(verdict.case.input.id),
            AssertionVerdict(
                checks=names,
                min_pass_rate=bar.min_pass_rate,
                passed=verdict.passed,
                samples=len(verdict.case.samples),
                ok=bar.ok(verdict),
                confidence=bar.confidence,
                interval=None if interval is None else (interval.low, interval.high),
                outcome=None if verdict.outcome is None else verdict.outcome.value,
                policy=bar.policy,
                reducer=None if bar.reducer is None else bar.reducer.label,
                estimate=verdict.estimate,
            ),
        )


def assert_samples(
    subject: Checkable,
    *checks: SampleCheck,
    min_pass_rate: float = 1.0,
    confidence: float | None = None,
    inconclusive: str | None = None,
    reducer: Reducer | None = None,
) -> list[CaseVerdict]:
    """Assert that in every case at least ``min_pass_rate`` of the samples pass every check.

    With ``confidence`` (e.g. 0.95) a case passes when the lower bound of its pass rate's
    Wilson interval clears ``min_pass_rate``, fails when the upper bound is below it, and is
    inconclusive otherwise: ``inconclusive`` ("fail", "pass" or "xfail"; default: ini
    ``chatexp_inconclusive``, else "fail") says what that does to the test. With ``reducer``
    (``pass_at_k``, ``pass_hat_k``, ``at_least``, ``majority``) the reducer judges each case.

    The failure lists each case under its rate with the failing samples' index, reason and an
    excerpt of the output. Returns the verdicts, for tests that want to look further.
    """
    __tracebackhide__ = True
    if not checks:
        raise TypeError("assert_samples() needs at least one check")
    if not 0.0 <= min_pass_rate <= 1.0:
        raise ValueError(f"min_pass_rate must be between 0 and 1, got {min_pass_rate}")
    bar = _bar(min_pass_rate, confidence, inconclusive, reducer)
    cases = cases_of(subject)
    if bar.reducer is not None:
        _check_enough_samples(cases, bar.reducer)
    results = [bar.judge(verdict) for verdict in verdicts(cases, checks)]
    names = ", ".join(check.name for check in checks)
    _record_verdicts(results, names=names, bar=bar)
    failing = [v for v in results if bar.fails(v)]
    undecided = [v for v in results if v.outcome is Decision.INCONCLUSIVE]
    if failing or (undecided and bar.policy == "fail"):
        raise AssertionError(_table(failing, undecided, names=names, bar=bar, of=len(results)))
    if undecided and bar.policy == "xfail":
        pytest.xfail(_xfail_reason(undecided, names=names, bar=bar, of=len(results)))
    return results


def _bar(
    min_pass_rate: float,
    confidence: float | None,
    inconclusive: str | None,
    reducer: Reducer | None,
) -> _Bar:
    """The arguments checked together: a clear error for each combination that makes no sense."""
    __tracebackhide__ = True
    if inconclusive is not None and confidence is None:
        raise TypeError(
            "assert_samples(inconclusive=...) applies only with confidence=...: without "
            "an interval no case is inconclusive"
        )
    if reducer is not None:
        if not isinstance(reducer, Reducer):
            raise TypeError(
                "assert_samples(reducer=...) takes c.pass_at_k(k), c.pass_hat_k(k), "
                f"c.at_least(k) or c.majority(), got {reducer!r}"
            )
        if confidence is not None:
            raise TypeError(
                f"assert_samples() takes reducer= or confidence=, not both: {reducer.label} "
                "decides each case by itself, without an interval"
            )
        if not reducer.uses_bar and min_pass_rate != 1.0:
            raise TypeError(
                f"assert_samples(reducer={reducer.label}) decides each case by counting passing "
                f"samples: drop min_pass_rate={min_pass_rate}"
            )
        return _Bar(min_pass_rate, reducer=reducer)
    if confidence is None:
        return _Bar(min_pass_rate)
    confidence = check_confidence(confidence)
    if min_pass_rate >= 1.0:
        raise ValueError(
            f"assert_samples(confidence={confidence:g}) with min_pass_rate=1.0 can never pass: "
            "the lower bound of a pass rate's interval is below 1 even when every sample "
            "passed. Pick a bar below 1 (e.g. min_pass_rate=0.9), or drop confidence to "
            "require every sample"
        )
    return _Bar(min_pass_rate, confidence=confidence, policy=_policy(inconclusive))


def _policy(inconclusive: str | None) -> str:
    __tracebackhide__ = True
    if inconclusive is None:
        test = current_test()
        return test.inconclusive_policy if test is not None else "fail"
    if inconclusive not in POLICIES:
        raise ValueError(
            "assert_samples(inconclusive=...) must be one of "
            f"{', '.join(repr(policy) for policy in POLICIES)}, got {inconclusive!r}"
        )
    return inconclusive


def _check_enough_samples(cases: Sequence[Case], reducer: Reducer) -> None:
    __tracebackhide__ = True
    for case in cases:
        if len(case.samples) < reducer.needs:
            raise ValueError(
                f"{reducer.label} needs at least {reducer.needs} samples per case, but case "
                f"'{case.id}' has {len(case.samples)}: raise num_samples to {reducer.needs} "
                "or more, or lower k"
            )


def samples_to_decide(passed: int, total: int, confidence: float, bar: float) -> int | None:
    """About how many samples would decide an inconclusive case if its pass rate held: the
    fewest (up to 2000) whose interval no longer holds the bar; None when none would."""
    if total <= 0:
        return None
    observed = passed / total
    for count in range(total + 1, _MOST_SAMPLES + 1):
        interval = wilson(round(observed * count), count, confidence)
        if decide(interval, bar) is not Decision.INCONCLUSIVE:
            return count
    return None


def _table(
    failing: list[CaseVerdict],
    undecided: list[CaseVerdict],
    *,
    names: str,
    bar: _Bar,
    of: int,
) -> str:
    shown = [v for v in failing if v not in undecided] + undecided
    head = f"{len(failing)} of {of} cases fail"
    if not failing:
        head = f"{len(undecided)} of {of} cases inconclusive"
    elif undecided:
        head += f" and {len(undecided)} {'is' if len(undecided) == 1 else 'are'} inconclusive"
    lines = [f"{head} [{names}] (required: {bar.requirement()})"]
    width = max(len(v.case.id) for v in shown)
    for verdict in shown:
        lines.append(f"  {verdict.case.id.ljust(width)}  {_rate(verdict, bar)}")
        if verdict.outcome is Decision.INCONCLUSIVE:
            lines.append(f"    {_undecided_note(verdict, bar)}")
        for sample, reason in verdict.failures[:_FAILURES_SHOWN]:
            lines.append(f"    sample {sample.index}: {reason}")
            lines.append(f"      output: {excerpt(sample)}")
        if len(verdict.failures) > _FAILURES_SHOWN:
            lines.append(f"    ... {len(verdict.failures) - _FAILURES_SHOWN} more failing samples")
    return "\n".join(lines)


def _rate(verdict: CaseVerdict, bar: _Bar) -> str:
    """``5/6 passed (83%)``, then the interval or the reducer's estimate when there is one."""
    total = len(verdict.case.samples)
    text = f"{verdict.passed}/{total} passed ({percent(verdict.passed, total)})"
    interval = verdict.interval
    if interval is not None:
        text += f", {interval_text(interval.low, interval.high, interval.confidence)}"
    if verdict.estimate is not None and bar.reducer is not None:
        text += f", {bar.reducer.label} = {verdict.estimate:.0%}"
    if verdict.outcome is Decision.INCONCLUSIVE:
        text += "  INCONCLUSIVE"
    return text


def _undecided_note(verdict: CaseVerdict, bar: _Bar) -> str:
    note = f"inconclusive: the bar ({bar.min_pass_rate:.0%}) lies inside the interval"
    assert bar.confidence is not None  # only an interval is inconclusive
    more = samples_to_decide(
        verdict.passed, len(verdict.case.samples), bar.confidence, bar.min_pass_rate
    )
    if more is not None:
        note += f"; about {more} samples at this pass rate would decide it"
    return note


def _xfail_reason(undecided: list[CaseVerdict], *, names: str, bar: _Bar, of: int) -> str:
    cases = "; ".join(
        f"{v.case.id}: {_rate(v, bar).removesuffix('  INCONCLUSIVE')}" for v in undecided
    )
    return (
        f"{len(undecided)} of {of} cases inconclusive [{names}] "
        f"(required: {bar.requirement()}): {cases}"
    )


def excerpt(sample: Sample, limit: int = _EXCERPT) -> str:
    """A one-line excerpt of what the sample said: text, or its tool calls."""
    if sample.output:
        text = " ".join(sample.output.split())
        return repr(text if len(text) <= limit else text[: limit - 1] + "…")
    if sample.tool_calls:
        return ", ".join(
            f"{call.function.name}({call.function.arguments or ''})" for call in sample.tool_calls
        )
    return "(empty)"
