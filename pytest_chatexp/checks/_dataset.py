"""Checks against a labelled dataset: each row's expected answer, and accuracy over all rows.

``expected(field)`` compares a sample with the value its own input carries (a dataset row's
``metadata`` or column), so one check serves every row. ``assert_pass_rate`` pools samples
across inputs: "each model config classifies at least 90% of the dataset right", with an
optional Wilson interval for a verdict that states its error.

The pooled samples of one input are not independent (they share its difficulty), so with
several samples per input the interval is narrower than it should be; with one sample per
input it is exact in the Wilson sense.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .._experiment._inputs import Input
from .._experiment._result import Case, Sample
from .._util import percent
from ._outputs import NotJson, compact_json, parse_json
from ._stats import Decision, Interval, check_confidence, decide, wilson
from ._verdict import CaseVerdict, Checkable, SampleCheck, cases_of, excerpt, verdicts

__all__ = ["PooledVerdict", "assert_pass_rate", "expected"]

_SHOWN = 40  # characters of a value quoted in a reason
_FAILURES_SHOWN = 3
_SOURCES = ("metadata", "inputs")

Compare = Callable[[Any, Any], bool | str | None]
"""A custom comparison ``compare(actual, expected)``: True or None pass, False fails, a string
fails with that reason. ``actual`` is the output text, or the tool argument's value."""
# A comparison: (actual, expected, whether actual is the output's text) -> the failure reason.
_Judge = Callable[[Any, Any, bool], str | None]


# --- expected(field) --------------------------------------------------------------------


def expected(
    field: str = "expected",
    *,
    compare: Literal["equals", "contains", "json"] | Compare = "equals",
    strip: bool = True,
    ignore_case: bool = False,
    tool: str | None = None,
    argument: str | None = None,
) -> SampleCheck:
    """The sample gives the answer its input expects: the value at ``field`` of its dataset row.

    ``field`` is a name or a dotted path. A bare name is looked up in the row's ``metadata``,
    then in its columns (``inputs``); ``"metadata.label"`` or ``"inputs.answer"`` say which,
    and further parts go into nested objects (``"metadata.gold.0"``). A row without the field
    fails the sample, naming the input and the field.

    ``compare``: ``"equals"`` (the whole output), ``"contains"`` (the output contains it),
    ``"json"`` (the output parsed as JSON equals it), or a function ``compare(actual,
    expected)`` returning True/None to pass, False or a reason to fail. For text comparisons
    a non-string expected value is compared as its JSON text (``3``, ``true``), and a list
    means "any of these"; ``strip`` and ``ignore_case`` apply to both sides.

    With ``tool=`` (and ``argument=``), the value compared is an argument of the sample's first
    call to that tool instead of the output: a classifier that answers by calling
    ``classify({"category": ...})``.

    Example: ``assert_pass_rate(chatexp, expected("label", ignore_case=True), min_pass_rate=0.9)``
    """
    path = _field_path(field)
    if (tool is None) != (argument is None):
        raise TypeError("expected(): give tool= and argument= together, or neither")
    if ignore_case and compare not in ("equals", "contains"):
        raise ValueError(
            "expected(): ignore_case applies to compare='equals' or 'contains'; a JSON or custom "
            "comparison decides itself what counts as equal"
        )
    judge = _comparison(compare, strip=strip, ignore_case=ignore_case)

    def check(sample: Sample) -> str | None:
        value = _lookup(sample.input, path)
        if isinstance(value, _Missing):
            return value.reason
        if tool is None or argument is None:
            return judge(sample.output, value, True)
        actual = _tool_argument(sample, tool, argument)
        if isinstance(actual, _Missing):
            return actual.reason
        return judge(actual, value, False)

    return SampleCheck(_name(field, compare, strip, ignore_case, tool, argument), check)


@dataclass(frozen=True)
class _Missing:
    reason: str


def _field_path(field: str) -> tuple[str, ...]:
    if not isinstance(field, str) or not field.strip(". "):
        raise TypeError(f"expected(): field must be a name or a dotted path, got {field!r}")
    parts = tuple(field.split("."))
    if any(not part for part in parts):
        raise ValueError(f"expected(): field {field!r} has an empty part")
    return parts


def _lookup(row: Input, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in the row, or why there is none (naming the input and the field)."""
    skip = 1 if path[0] in _SOURCES and len(path) > 1 else 0
    sources = [path[0]] if skip else list(_SOURCES)
    for source in sources:
        mapping: Mapping[str, Any] = getattr(row, source)
        if path[skip] in mapping:
            value = mapping[path[skip]]
            for depth in range(skip + 1, len(path)):
                part = path[depth]
                if isinstance(value, Mapping) and part in value:
                    value = value[part]
                elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                    value = value[int(part)]
                else:
                    named = ".".join(path[: depth + 1])
                    return _Missing(f"input '{row.id}' has no field '{named}'")
            return value
    places = " or its ".join(sources)
    return _Missing(f"input '{row.id}' has no field '{'.'.join(path)}' (in its {places})")


def _tool_argument(sample: Sample, tool: str, argument: str) -> Any:
    calls = [call for call in sample.trajectory if call.function.name == tool]
    if not calls:
        made = ", ".join(dict.fromkeys(c.function.name for c in sample.trajectory)) or "no tool"
        return _Missing(f"made no {tool} call (called {made})")
    text = calls[0].function.arguments or "{}"
    try:
        arguments = parse_json(text)
    except NotJson as error:
        return _Missing(f"{tool} arguments: {error}")
    if not isinstance(arguments, dict) or argument not in arguments:
        return _Missing(f"{tool}({_shown(text)}) has no argument '{argument}'")
    return arguments[argument]


def _comparison(compare: str | Compare, *, strip: bool, ignore_case: bool) -> _Judge:
    if callable(compare):
        return _custom(compare)
    if compare == "json":
        return _json_equal
    if compare not in ("equals", "contains"):
        raise ValueError(
            f"expected(): compare must be 'equals', 'contains', 'json' or a function, "
            f"got {compare!r}"
        )
    contains = compare == "contains"

    def normal(value: Any) -> str:
        text = value if isinstance(value, str) else compact_json(value)
        text = text.strip() if strip else text
        return text.casefold() if ignore_case else text

    def judge(actual: Any, wanted: Any, text: bool) -> str | None:
        options = wanted if isinstance(wanted, list) and wanted else [wanted]
        got = normal(actual)
        for option in options:
            want = normal(option)
            if (want in got) if contains else (want == got):
                return None
        shown = ", ".join(_shown(_text(option)) for option in options)
        which = f"one of {shown}" if len(options) > 1 else shown
        if contains:
            return f"does not contain {which}"
        return f"is {_shown(_text(actual))}, not {which}"

    return judge


def _custom(compare: Compare) -> _Judge:
    name = getattr(compare, "__name__", type(compare).__name__)

    def judge(actual: Any, wanted: Any, text: bool) -> str | None:
        result = compare(actual, wanted)
        if result is True or result is None:
            return None
        if result is False:
            return f"{name}({_shown(_text(actual))}, {_shown(_text(wanted))}) returned False"
        if isinstance(result, str):
            return result or f"{name} returned an empty reason"
        raise TypeError(
            f"expected(): compare={name} returned {result!r}; return True or None to pass, "
            "False or a reason string to fail"
        )

    return judge


def _json_equal(actual: Any, wanted: Any, text: bool) -> str | None:
    if text:  # the output, to parse; a tool argument is parsed already
        try:
            actual = parse_json(actual)
        except NotJson as error:
            return str(error)
    if _same_json(actual, wanted):
        return None
    return f"JSON {_shown(compact_json(actual))} is not {_shown(compact_json(wanted))}"


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality: objects by keys, arrays in order, and ``true`` never equals ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _name(
    field: str,
    compare: str | Compare,
    strip: bool,
    ignore_case: bool,
    tool: str | None,
    argument: str | None,
) -> str:
    parts = [repr(field)]
    if callable(compare):
        parts.append(f"compare={getattr(compare, '__name__', type(compare).__name__)}")
    elif compare != "equals":
        parts.append(f"compare={compare!r}")
    if not strip:
        parts.append("strip=False")
    if ignore_case:
        parts.append("ignore_case=True")
    if tool is not None:
        parts.append(f"tool={tool!r}, argument={argument!r}")
    return f"expected({', '.join(parts)})"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else compact_json(value)


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…")


# --- assert_pass_rate -------------------------------------------------------------------


@dataclass(frozen=True)
class PooledVerdict:
    """The pass rate of pooled samples: a model config's over all its inputs (``per="config"``),
    or the whole experiment's (``name`` is then ``"experiment"``). ``interval`` is the Wilson
    interval when a confidence was asked for, and ``decision`` how it stands against the bar
    (without one: PASS or FAIL by the raw rate)."""

    name: str
    cases: tuple[CaseVerdict, ...]
    min_pass_rate: float
    interval: Interval | None
    decision: Decision

    @property
    def total(self) -> int:
        return sum(len(verdict.case.samples) for verdict in self.cases)

    @property
    def passed(self) -> int:
        return self.total - sum(len(verdict.failures) for verdict in self.cases)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 1.0

    @property
    def ok(self) -> bool:
        return self.decision is Decision.PASS

    @property
    def failures(self) -> tuple[tuple[Case, Sample, str], ...]:
        """Each failing sample with its case and its first failing check's reason."""
        return tuple(
            (verdict.case, sample, reason)
            for verdict in self.cases
            for sample, reason in verdict.failures
        )


def assert_pass_rate(
    subject: Checkable,
    *checks: SampleCheck,
    min_pass_rate: float = 0.9,
    per: Literal["config", "experiment"] = "config",
    confidence: float | None = None,
) -> list[PooledVerdict]:
    """Assert that the samples pass ``checks`` at ``min_pass_rate`` or more, pooled across
    inputs: per model config (each must reach the bar over the whole dataset), or over the
    whole experiment with ``per="experiment"``.

    With ``confidence=`` (e.g. 0.95) a pool passes only when the lower bound of its Wilson
    interval clears the bar; when the bar lies inside the interval the verdict is inconclusive,
    which fails too. Samples of one input are not independent, so with ``num_samples`` > 1 the
    interval is approximate (optimistic); with one sample per input it is not.

    The failure is a table of every pool (passed/total, rate, interval, bar, verdict) with up
    to three failing samples of each failing one. Returns the pooled verdicts.

    Example: ``assert_pass_rate(chatexp, expected("label"), min_pass_rate=0.9)``
    """
    __tracebackhide__ = True
    if not checks:
        raise TypeError("assert_pass_rate() needs at least one check")
    if (
        isinstance(min_pass_rate, bool)
        or not isinstance(min_pass_rate, int | float)
        or not 0.0 <= min_pass_rate <= 1.0
    ):
        raise ValueError(
            f"assert_pass_rate(): min_pass_rate must be between 0 and 1, got {min_pass_rate!r}"
        )
    if per not in ("config", "experiment"):
        raise ValueError(f"assert_pass_rate(): per must be 'config' or 'experiment', got {per!r}")
    if confidence is not None:
        confidence = check_confidence(confidence, what="assert_pass_rate(): confidence")
    cases = cases_of(subject)
    if not any(case.samples for case in cases):
        raise ValueError("assert_pass_rate(): the subject has no samples to judge")
    groups: dict[str, list[CaseVerdict]] = {}
    for verdict in verdicts(cases, checks):  # records each sample's outcome for the reports
        name = verdict.case.config.display_name if per == "config" else "experiment"
        groups.setdefault(name, []).append(verdict)
    pools = [_pool(name, tuple(group), min_pass_rate, confidence) for name, group in groups.items()]
    if not all(pool.ok for pool in pools):
        names = ", ".join(check.name for check in checks)
        raise AssertionError(_table(pools, names=names, per=per, confidence=confidence))
    return pools


def _pool(
    name: str, cases: tuple[CaseVerdict, ...], bar: float, confidence: float | None
) -> PooledVerdict:
    total = sum(len(verdict.case.samples) for verdict in cases)
    passed = total - sum(len(verdict.failures) for verdict in cases)
    if confidence is None:
        meets = passed / total + 1e-9 >= bar if total else True
        return PooledVerdict(name, cases, bar, None, Decision.PASS if meets else Decision.FAIL)
    interval = wilson(passed, total, confidence)
    return PooledVerdict(name, cases, bar, interval, decide(interval, bar))


_WORDS = {Decision.PASS: "pass", Decision.FAIL: "FAIL", Decision.INCONCLUSIVE: "INCONCLUSIVE"}


def _table(pools: list[PooledVerdict], *, names: str, per: str, confidence: float | None) -> str:
    failing = [pool for pool in pools if not pool.ok]
    bar = pools[0].min_pass_rate
    over = "each config's samples" if per == "config" else "all samples"
    at = "" if confidence is None else f", at {_confidence(confidence)} confidence"
    what = f"{len(failing)} of {len(pools)} configs fail" if per == "config" else "experiment fails"
    lines = [f"{what} [{names}] (required: a pass rate of at least {bar:.0%} over {over}{at})"]
    header = [per, "passed", "rate"]
    if confidence is not None:
        header.append(f"interval ({_confidence(confidence)})")
    rows = [[*header, "bar", "verdict"]]
    for pool in pools:
        row = [pool.name, f"{pool.passed}/{pool.total}", percent(pool.passed, pool.total)]
        if pool.interval is not None:
            row.append(f"[{pool.interval.low:.0%}, {pool.interval.high:.0%}]")
        rows.append([*row, f"{pool.min_pass_rate:.0%}", _WORDS[pool.decision]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row, shown in zip(rows, [None, *pools], strict=True):
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  " + cells.rstrip())
        if shown is not None and not shown.ok:
            lines.extend(_failing_samples(shown))
    if any(pool.decision is Decision.INCONCLUSIVE for pool in pools):
        lines.append(
            "INCONCLUSIVE: the bar lies inside the interval, so these samples cannot tell "
            "whether the pass rate reaches it; add inputs or samples, or lower the confidence"
        )
    most = max(len(verdict.case.samples) for pool in pools for verdict in pool.cases)
    if confidence is not None and most > 1:
        lines.append(
            f"note: the {most} samples of an input are not independent, so the interval is "
            "approximate (optimistic)"
        )
    return "\n".join(lines)


def _failing_samples(pool: PooledVerdict) -> list[str]:
    failures = pool.failures
    lines: list[str] = []
    for case, sample, reason in failures[:_FAILURES_SHOWN]:
        lines.append(f"    {case.id} sample {sample.index}: {reason}")
        lines.append(f"      output: {excerpt(sample)}")
    if len(failures) > _FAILURES_SHOWN:
        more = len(failures) - _FAILURES_SHOWN
        lines.append(f"    ... {more} more failing sample{'s' if more > 1 else ''}")
    return lines


def _confidence(confidence: float) -> str:
    text = f"{confidence * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"
