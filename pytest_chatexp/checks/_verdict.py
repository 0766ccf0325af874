"""Verdicts across samples: a check per sample, a pass rate per case, one readable table.

A model answers differently each time, so a regression check says what must hold and for how
many samples. ``SampleCheck`` is the unit: a name and a function returning ``None`` when a sample
passes, or a short reason when it does not. ``assert_samples`` applies checks to every sample,
groups the results by case (model config x input) and fails with a table of the cases under
their required pass rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .._experiment._result import Case, ExperimentResult, Sample
from .._util import percent
from ._running import AssertionVerdict, current_test

__all__ = ["CaseVerdict", "SampleCheck", "assert_samples", "cases_of", "excerpt", "verdicts"]

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
    case: Case
    failures: tuple[tuple[Sample, str], ...]

    @property
    def pass_rate(self) -> float:
        total = len(self.case.samples)
        return (total - len(self.failures)) / total if total else 1.0


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


def _record_verdicts(results: list[CaseVerdict], *, names: str, min_pass_rate: float) -> None:
    """Report each case's verdict, with the bar it was held to, so that reports judge a case
    exactly as this assertion did."""
    test = current_test()
    if test is None:
        return
    for verdict in results:
        total = len(verdict.case.samples)
        test.record_verdict(
            verdict.case.config.display_name,
            str(verdict.case.input.id),
            AssertionVerdict(
                checks=names,
                min_pass_rate=min_pass_rate,
                passed=total - len(verdict.failures),
                samples=total,
                ok=_meets(verdict, min_pass_rate),
            ),
        )


def assert_samples(
    subject: Checkable, *checks: SampleCheck, min_pass_rate: float = 1.0
) -> list[CaseVerdict]:
    """Assert that in every case at least ``min_pass_rate`` of the samples pass every check.

    The failure lists each case under its rate with the failing samples' index, reason and an
    excerpt of the output. Returns the verdicts, for tests that want to look further.
    """
    __tracebackhide__ = True
    if not checks:
        raise TypeError("assert_samples() needs at least one check")
    if not 0.0 <= min_pass_rate <= 1.0:
        raise ValueError(f"min_pass_rate must be between 0 and 1, got {min_pass_rate}")
    results = verdicts(subject, checks)
    failing = [v for v in results if not _meets(v, min_pass_rate)]
    names = ", ".join(check.name for check in checks)
    _record_verdicts(results, names=names, min_pass_rate=min_pass_rate)
    if failing:
        raise AssertionError(
            _table(failing, names=names, min_pass_rate=min_pass_rate, of=len(results))
        )
    return results


def _table(failing: list[CaseVerdict], *, names: str, min_pass_rate: float, of: int) -> str:
    need = (
        "every sample" if min_pass_rate >= 1.0 else f"a pass rate of at least {min_pass_rate:.0%}"
    )
    lines = [f"{len(failing)} of {of} cases fail [{names}] (required: {need})"]
    width = max(len(v.case.id) for v in failing)
    for verdict in failing:
        total = len(verdict.case.samples)
        passed = total - len(verdict.failures)
        lines.append(
            f"  {verdict.case.id.ljust(width)}  {passed}/{total} passed ({percent(passed, total)})"
        )
        for sample, reason in verdict.failures[:_FAILURES_SHOWN]:
            lines.append(f"    sample {sample.index}: {reason}")
            lines.append(f"      output: {excerpt(sample)}")
        if len(verdict.failures) > _FAILURES_SHOWN:
            lines.append(f"    ... {len(verdict.failures) - _FAILURES_SHOWN} more failing samples")
    return "\n".join(lines)


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
