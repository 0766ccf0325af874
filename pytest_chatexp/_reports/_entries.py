"""The JSON report read once into typed records, for the Markdown and HTML renderers.

A report file may come from another version of the plugin (``python -m pytest_chatexp.report``
merges shard reports), so reading never fails: a missing or mistyped field reads as unknown
(None) or empty, and the renderers say so. Token counts and costs stay None when unknown,
never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._calls._changes import ChangeRecord
from .._calls._misses import MissedCalls
from ._lenient import float_ as _float
from ._lenient import int_ as _int
from ._lenient import list_ as _list
from ._lenient import map_ as _map
from ._lenient import str_ as _str
from ._lenient import text_or_none as _text_or_none
from ._sampling import SamplingEntry

__all__ = [
    "CaseEntry",
    "ConfigEntry",
    "ExperimentEntry",
    "MessageEntry",
    "OutputEntry",
    "RunEntry",
    "SampleEntry",
    "TestEntry",
    "ToolCallEntry",
    "ToolResultEntry",
    "Totals",
    "TurnEntry",
    "VerdictEntry",
    "read_run",
]


@dataclass(slots=True)
class Totals:
    tests: int | None
    failed: int | None
    experiments: int
    calls: int
    replayed: int
    live: int
    prompt_tokens: int | None
    generation_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    cached_tokens: int | None = None  # prompt-cache reads; None: not reported, or not by all
    cache_write_tokens: int | None = None
    skipped: int = 0  # calls never sent, their endpoint's circuit breaker open


@dataclass(slots=True)
class ConfigEntry:
    """A model config's row of an experiment. ``cases_judged`` and ``cases_failed`` are None
    in reports written before case verdicts were recorded."""

    name: str
    model: str
    model_config_id: str
    samples: int
    checked: int
    passed: int
    prompt_tokens: int | None
    generation_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    replayed: int
    live: int
    cases_judged: int | None
    cases_failed: int | None
    cases_inconclusive: int | None = None  # None: no assertion set a confidence
    cached_tokens: int | None = None  # prompt-cache reads; None: not reported, or not by all
    cache_write_tokens: int | None = None
    skipped: int = 0  # as in ``Totals``


@dataclass(slots=True)
class ToolCallEntry:
    """A tool call the model made: the function's name and its arguments, as the chat response
    holds them (a JSON string, normally; None when missing)."""

    name: object
    arguments: object


@dataclass(slots=True)
class ToolResultEntry:
    """What a tool the plugin ran returned to the model, and whether it was an error."""

    name: str
    result: str
    error: bool


@dataclass(slots=True)
class TurnEntry:
    """One model call of a tool loop's or a conversation's sample (``_records.TurnRecord``)."""

    speaker: str  # "assistant", or "user" for a simulated user's call
    user: tuple[str, ...]  # the user messages it answers that no turn wrote
    output: str
    tool_calls: tuple[ToolCallEntry, ...]
    tool_results: tuple[ToolResultEntry, ...]  # in the order of the calls
    finish_reason: str | None
    latency_s: float | None
    total_tokens: int | None
    reasoning: str | None = None  # the model's reasoning text or summary, when it returned one


@dataclass(slots=True)
class SampleEntry:
    """A sample's record. ``turns`` is empty for a single call, and in reports from before
    turns were recorded."""

    index: int
    checked: bool
    failure: str | None  # the first failed check, None when all passed or none judged
    latency_s: float | None
    replayed: bool | None  # None: not recorded
    cost_usd: float | None
    turns: tuple[TurnEntry, ...] = ()
    reasoning: str | None = None  # ``SampleRecord.reasoning``: None when there was none

    @property
    def final_turn(self) -> int | None:
        """The place in ``turns`` of the model's last call: the sample's answer."""
        places = [place for place, turn in enumerate(self.turns) if turn.speaker != "user"]
        return places[-1] if places else None


@dataclass(slots=True)
class MessageEntry:
    """A message of the prompt sent: its role, and its content (text, or a list of parts)."""

    role: str
    content: object


@dataclass(slots=True)
class OutputEntry:
    """What the model answered in one sample (an item of the case's chat response)."""

    index: int
    output: object  # text, or a JSON value
    tool_calls: tuple[ToolCallEntry, ...]
    finish_reason: str | None


@dataclass(slots=True)
class VerdictEntry:
    """An assertion's verdict on a case; the fields after ``min_pass_rate`` are None when the
    assertion set no confidence or reducer (and in reports from before they existed)."""

    ok: bool
    passed: int | None
    samples: int | None
    min_pass_rate: float | None
    confidence: float | None = None
    interval: tuple[float, float] | None = None
    outcome: str | None = None  # "pass", "fail" or "inconclusive"
    policy: str | None = None
    reducer: str | None = None
    estimate: float | None = None

    @property
    def failed(self) -> bool:
        """The case missed this verdict's bar (an inconclusive one did not: see ``policy``)."""
        return self.outcome == "fail" or (self.outcome != "inconclusive" and not self.ok)


@dataclass(slots=True)
class CaseEntry:
    """One input under one model config. ``verdicts`` is None in reports from before case
    verdicts were recorded; ``usage`` holds the chat response's token counts when it has any.
    Every sample of a case had the same prompt: ``inputs`` and ``prompt`` are read once, from
    its first output (``inputs``) and its lowest-numbered sample's (``prompt``)."""

    config: str
    input: str
    samples: tuple[SampleEntry, ...]
    outputs: tuple[OutputEntry, ...]
    inputs: dict[str, object] | None  # the input's variables
    prompt: tuple[MessageEntry, ...]  # the messages sent
    verdicts: tuple[VerdictEntry, ...] | None
    usage: tuple[int | None, int | None, int | None] | None  # prompt, generation, total

    def output(self, index: int) -> OutputEntry | None:
        return next((item for item in self.outputs if item.index == index), None)


@dataclass(slots=True)
class ExperimentEntry:
    test: str
    wall_time_s: float | None
    configs: tuple[ConfigEntry, ...]
    cases: tuple[CaseEntry, ...]
    adaptive: tuple[SamplingEntry, ...] = ()  # num_samples=(min, max); () in reports without

    def sampling(self, config: str, input_id: str) -> SamplingEntry | None:
        return next((s for s in self.adaptive if (s.config, s.input) == (config, input_id)), None)


@dataclass(slots=True)
class TestEntry:
    __test__ = False  # not a test class, whatever pytest's name-based discovery thinks

    test: str
    outcome: str
    failure: str | None
    experiments: tuple[ExperimentEntry, ...]
    changes: tuple[ChangeRecord, ...]
    miss: MissedCalls | None  # the test failed for calls without a recording

    def cases(self) -> list[CaseEntry]:
        return [case for experiment in self.experiments for case in experiment.cases]

    def configs(self) -> list[ConfigEntry]:
        return [row for experiment in self.experiments for row in experiment.configs]


@dataclass(slots=True)
class RunEntry:
    tests: tuple[TestEntry, ...]
    totals: Totals
    record_modes: tuple[str, ...]


def read_run(report: Mapping[str, Any]) -> RunEntry:
    """A run report (``_run.build_run_report``, or a report file's JSON) as records."""
    totals = _map(report.get("totals"))
    return RunEntry(
        tests=tuple(_test(_map(test)) for test in _list(report.get("tests"))),
        totals=Totals(
            tests=_int(totals.get("tests")),
            failed=_int(totals.get("failed")),
            experiments=_int(totals.get("experiments")) or 0,
            calls=_int(totals.get("calls")) or 0,
            replayed=_int(totals.get("replayed")) or 0,
            live=_int(totals.get("live")) or 0,
            prompt_tokens=_int(totals.get("prompt_tokens")),
            generation_tokens=_int(totals.get("generation_tokens")),
            total_tokens=_int(totals.get("total_tokens")),
            cost_usd=_float(totals.get("cost_usd")),
            cached_tokens=_int(totals.get("cached_tokens")),
            cache_write_tokens=_int(totals.get("cache_write_tokens")),
            skipped=_int(totals.get("skipped")) or 0,
        ),
        record_modes=tuple(_str(mode) for mode in _list(report.get("record_modes")) if mode),
    )


def _test(test: Mapping[str, Any]) -> TestEntry:
    failure = test.get("failure")
    return TestEntry(
        test=_str(test.get("test")),
        outcome=_str(test.get("outcome")),
        failure=failure if isinstance(failure, str) else None,
        experiments=tuple(_experiment(_map(item)) for item in _list(test.get("experiments"))),
        changes=tuple(
            change
            for change in map(ChangeRecord.from_json, _list(test.get("changes")))
            if change is not None
        ),
        miss=MissedCalls.from_json(test.get("recording_miss")),
    )


def _experiment(experiment: Mapping[str, Any]) -> ExperimentEntry:
    return ExperimentEntry(
        test=_str(experiment.get("test")),
        wall_time_s=_float(experiment.get("wall_time_s")),
        configs=tuple(_config(_map(row)) for row in _list(experiment.get("configs"))),
        cases=tuple(_case(_map(case)) for case in _list(experiment.get("cases"))),
        adaptive=tuple(
            entry
            for entry in map(_sampling, _list(experiment.get("adaptive")))
            if entry is not None
        ),
    )


def _sampling(case: Any) -> SamplingEntry | None:
    """A case's adaptive sampling; None without its counts (what else is missing is unknown)."""
    case = _map(case)
    drawn, maximum = _int(case.get("drawn")), _int(case.get("maximum"))
    if drawn is None or maximum is None:
        return None
    ok, settled = case.get("ok"), case.get("settled")
    return SamplingEntry(
        config=_str(case.get("config")),
        input=_str(case.get("input")),
        drawn=drawn,
        maximum=maximum,
        passed=_int(case.get("passed")),
        ok=ok if isinstance(ok, bool) else None,
        settled=settled if isinstance(settled, bool) else None,
    )


def _config(row: Mapping[str, Any]) -> ConfigEntry:
    return ConfigEntry(
        name=_str(row.get("name")),
        model=_str(row.get("model")),
        model_config_id=_str(row.get("model_config_id")),
        samples=_int(row.get("samples")) or 0,
        checked=_int(row.get("checked")) or 0,
        passed=_int(row.get("passed")) or 0,
        prompt_tokens=_int(row.get("prompt_tokens")),
        generation_tokens=_int(row.get("generation_tokens")),
        total_tokens=_int(row.get("total_tokens")),
        cost_usd=_float(row.get("cost_usd")),
        latency_p50_s=_float(row.get("latency_p50_s")),
        latency_p95_s=_float(row.get("latency_p95_s")),
        replayed=_int(row.get("replayed")) or 0,
        live=_int(row.get("live")) or 0,
        cases_judged=_int(row.get("cases_judged")) if "cases_failed" in row else None,
        cases_failed=_int(row.get("cases_failed")) or 0 if "cases_failed" in row else None,
        cases_inconclusive=_int(row.get("cases_inconclusive")),
        cached_tokens=_int(row.get("cached_tokens")),
        cache_write_tokens=_int(row.get("cache_write_tokens")),
        skipped=_int(row.get("skipped")) or 0,
    )


def _case(case: Mapping[str, Any]) -> CaseEntry:
    response = _map(case.get("chat_response"))
    usage = response.get("usage")
    verdicts = case.get("verdicts")
    items = [_map(item) for item in _list(response.get("data"))]
    outputs = tuple([_output(item) for item in items])
    inputs = items[0].get("inputs") if items else None
    prompted: Mapping[str, Any] = {}
    lowest = None
    for item, output in zip(items, outputs, strict=True):
        if lowest is None or output.index <= lowest:  # the last of equals, as a dict by index
            prompted, lowest = item, output.index
    return CaseEntry(
        config=_str(case.get("config")),
        input=_str(case.get("input")),
        samples=tuple([_sample(_map(sample)) for sample in _list(case.get("samples"))]),
        outputs=outputs,
        inputs=inputs if isinstance(inputs, dict) else None,
        prompt=tuple(
            [
                MessageEntry(str(message.get("role")), message.get("content"))
                for message in _list(prompted.get("messages"))
                if isinstance(message, dict)
            ]
        ),
        verdicts=None
        if "verdicts" not in case
        else tuple(_verdict(item) for item in _list(verdicts) if isinstance(item, dict)),
        usage=None
        if not isinstance(usage, dict)
        else (
            _int(usage.get("prompt_tokens")),
            _int(usage.get("generation_tokens")),
            _int(usage.get("total_tokens")),
        ),
    )


def _sample(sample: Mapping[str, Any]) -> SampleEntry:
    failure = sample.get("failure")
    replayed = sample.get("replayed")
    return SampleEntry(
        index=_int(sample.get("index")) or 0,
        checked=bool(sample.get("checked")),
        failure=_str(failure) if failure else None,
        latency_s=_float(sample.get("latency_s")),
        replayed=replayed if isinstance(replayed, bool) else None,
        cost_usd=_float(sample.get("cost_usd")),
        turns=tuple([_turn(_map(turn)) for turn in _list(sample.get("turns"))]),
        reasoning=_text_or_none(sample.get("reasoning")),
    )


def _turn(turn: Mapping[str, Any]) -> TurnEntry:
    finish = turn.get("finish_reason")
    return TurnEntry(
        speaker="user" if turn.get("speaker") == "user" else "assistant",
        user=tuple([_str(text) for text in _list(turn.get("user"))]),
        output=_str(turn.get("output")),
        tool_calls=tuple(
            [_tool_call(call) for call in _list(turn.get("tool_calls")) if isinstance(call, dict)]
        ),
        tool_results=tuple(
            [
                ToolResultEntry(
                    name=_str(result.get("name")),
                    result=_str(result.get("result")),
                    error=result.get("error") is True,
                )
                for result in _list(turn.get("tool_results"))
                if isinstance(result, dict)
            ]
        ),
        finish_reason=_str(finish) if finish else None,
        latency_s=_float(turn.get("latency_s")),
        total_tokens=_int(_map(turn.get("usage")).get("total_tokens")),
        reasoning=_text_or_none(turn.get("reasoning")),
    )


def _output(item: Mapping[str, Any]) -> OutputEntry:
    finish = item.get("finish_reason")
    calls = item.get("tool_calls")
    return OutputEntry(
        index=_int(item.get("index")) or 0,
        output=item.get("output"),
        tool_calls=tuple([_tool_call(call) for call in calls if isinstance(call, dict)])
        if calls
        else (),
        finish_reason=_str(finish) if finish else None,
    )


def _tool_call(call: Mapping[str, Any]) -> ToolCallEntry:
    # OpenAI's shape ({"function": {"name", "arguments"}}), else one with them at the top.
    function = call.get("function")
    function = function if isinstance(function, dict) and function else call
    return ToolCallEntry(name=function.get("name"), arguments=function.get("arguments"))


def _verdict(verdict: Mapping[str, Any]) -> VerdictEntry:
    bounds = [_float(bound) for bound in _list(verdict.get("interval"))]
    low, high = bounds if len(bounds) == 2 else (None, None)
    outcome = verdict.get("outcome")
    return VerdictEntry(
        ok=bool(verdict.get("ok")),
        passed=_int(verdict.get("passed")),
        samples=_int(verdict.get("samples")),
        min_pass_rate=_float(verdict.get("min_pass_rate")),
        confidence=_float(verdict.get("confidence")),
        interval=(low, high) if low is not None and high is not None else None,
        outcome=outcome if outcome in ("pass", "fail", "inconclusive") else None,
        policy=_str(verdict.get("policy")) or None,
        reducer=_str(verdict.get("reducer")) or None,
        estimate=_float(verdict.get("estimate")),
    )
