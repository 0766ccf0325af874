"""Build a test's record: per experiment, per model config numbers, and optionally every case.

``ExperimentRecord`` and ``ConfigRow`` are TypedDicts of builtins: they cross process boundaries
under xdist and are written as JSON as they are. An experiment that raised has a record too,
from the calls its run counted (``CallTally``): what went out was spent, whatever came of it.
Token counts are None when unknown (a provider reported no usage), never 0. A sample of a tool
loop or a conversation also has its ``turns`` (``TurnRecord``, from ``_turns``); a single call's
record is as it always was, its answer in the case's chat response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from .._calls._metering import CallTally, ConfigTally
from .._experiment._config import ModelConfig
from .._experiment._humanloop import Usage
from .._experiment._result import Case, ExperimentResult, Sample, Turn
from .._pricing import BATCH_PRICE, PriceTable
from .._util import percentile
from ..checks._running import AssertionVerdict
from ._format import NOT_REPORTED, reported_sum
from ._turns import TurnView, shows_turns, turn_views
from ._verdicts import InconclusiveRecord, VerdictRecord, verdict_record

__all__ = [
    "CaseRecord",
    "ConfigRow",
    "ExperimentRecord",
    "ExperimentRun",
    "InconclusiveRecord",
    "Outcomes",
    "SampleRecord",
    "SamplingRecord",
    "ToolCallRecord",
    "ToolResultRecord",
    "TurnRecord",
    "VerdictRecord",
    "Verdicts",
    "experiment_record",
]

# (config name, input id, sample index) -> None when every check passed, else the first failure.
Outcomes = dict[tuple[str, str, int], str | None]
# (config name, input id) -> the verdicts assertions gave the case. A case's verdict is its
# assertions', held to the bar each set.
Verdicts = dict[tuple[str, str], list[AssertionVerdict]]


class ConfigRow(TypedDict):
    name: str
    model: str
    model_config_id: str
    samples: int
    checked: int  # samples a check judged
    passed: int  # of those, how many passed every check
    prompt_tokens: int | None  # None: unknown
    generation_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    latency_p50_s: float | None  # None: no sample (the experiment raised)
    latency_p95_s: float | None
    replayed: int  # calls answered from the recording
    live: int  # calls sent to the provider, answered or not
    failed: int  # of the live calls, those that got no answer
    retries: int  # HTTP attempts beyond each live call's first
    # Calls never sent, their endpoint's circuit breaker open; only when some were.
    skipped: NotRequired[int]
    # Of the live calls, those answered through a batch API (half price); only when some were.
    batched: NotRequired[int]
    cases_judged: int  # cases an assertion gave a verdict
    cases_failed: int  # of those, how many missed the bar it set (not the inconclusive ones)
    # Of those, how many an interval left inconclusive; only when an assertion set a confidence.
    cases_inconclusive: NotRequired[int]
    # Prompt-cache reads and writes (parts of prompt_tokens): only when a sample's provider
    # reported them; None when some samples' did not (unknown is not zero).
    cached_tokens: NotRequired[int | None]
    cache_write_tokens: NotRequired[int | None]


class UsageRecord(TypedDict):
    """A sample's token counts; None: unknown (the provider did not say)."""

    prompt_tokens: int | None
    generation_tokens: int | None
    total_tokens: int | None
    reasoning_tokens: int | None
    cached_tokens: NotRequired[int]  # only when the provider reported them
    cache_write_tokens: NotRequired[int]


class ToolCallRecord(TypedDict):
    name: str
    arguments: str | None  # as the model wrote them: JSON text, normally


class ToolResultRecord(TypedDict):
    name: str
    result: str  # as sent to the model
    error: bool  # the tool raised, or its call was invalid


class TurnRecord(TypedDict):
    """One model call of a sample (``_turns.TurnView``)."""

    speaker: str  # "assistant", or "user" for a simulated user's call
    user: list[str]  # the user messages it answers that no turn wrote (the first, scripted)
    output: str  # the text of the answer (a simulated user's: its next message)
    tool_calls: list[ToolCallRecord]
    tool_results: list[ToolResultRecord]  # in the order of the calls, when the tools ran
    finish_reason: str | None
    usage: UsageRecord
    latency_s: float
    reasoning: NotRequired[str]  # the model's reasoning text or summary, when it returned one


class SampleRecord(TypedDict):
    index: int
    latency_s: float
    first_token_s: float | None  # streamed answers only: when the first token arrived
    usage: UsageRecord
    replayed: bool
    cost_usd: float | None  # None: unknown (no price, no usage)
    checked: bool  # a check judged it
    failure: str | None  # the first failed check; None when all passed or none judged
    turns: NotRequired[list[TurnRecord]]  # a tool loop's or a conversation's only
    reasoning: NotRequired[str]  # ``Sample.reasoning``, only when the provider returned some
    batch: NotRequired[bool]  # answered through a batch API (priced at half); only when true


class CaseRecord(TypedDict):
    config: str
    input: str | None
    chat_response: dict[str, Any]  # the case as a Humanloop chat response (outputs, prompt)
    samples: list[SampleRecord]
    verdicts: list[VerdictRecord]  # as the assertions recorded them (``Verdicts``)


class SamplingRecord(TypedDict):
    """Adaptive sampling of one case: samples drawn of the maximum, its verdict, and whether
    the sequential test settled it (else the raw pass rate did)."""

    config: str
    input: str
    drawn: int
    maximum: int
    passed: int
    ok: bool
    settled: bool


class ExperimentRecord(TypedDict):
    test: str
    wall_time_s: float
    configs: list[ConfigRow]
    errored: NotRequired[bool]  # the experiment raised: the rows count its calls only
    cases: NotRequired[list[CaseRecord]]
    inconclusive: NotRequired[list[InconclusiveRecord]]  # only when there are some
    adaptive: NotRequired[list[SamplingRecord]]  # num_samples=(min, max): each case's sampling
    # The shared experiment this is (its scope's node id): every member test has a record of
    # the one run, and totals count it once (``counted_once``).
    shared: NotRequired[str]


@dataclass(frozen=True)
class ExperimentRun:
    """One experiment a test ran: its result, or None when it raised, and its calls."""

    model_configs: tuple[ModelConfig, ...]
    result: ExperimentResult | None
    tally: CallTally
    wall_time_s: float
    shared: str | None = None  # the shared experiment it is, run once for several tests


def experiment_record(
    test: str,
    run: ExperimentRun,
    outcomes: Outcomes,
    prices: PriceTable,
    *,
    with_cases: bool,
    verdicts: Verdicts | None = None,
) -> ExperimentRecord:
    verdicts = verdicts or {}
    result = run.result
    if result is None:
        errored = ExperimentRecord(
            test=test,
            wall_time_s=round(run.wall_time_s, 4),
            configs=[
                _errored_row(config, run.tally.of(config.display_name), prices)
                for config in run.model_configs
            ],
            errored=True,
        )
        if run.shared is not None:
            errored["shared"] = run.shared
        return errored
    record = ExperimentRecord(
        test=test,
        wall_time_s=round(result.wall_time_s, 4),
        configs=[
            _config_row(name, cases, outcomes, prices, run.tally.of(name), verdicts)
            for name, cases in result.by_config.items()
        ],
    )
    if with_cases:
        record["cases"] = [_case(case, outcomes, prices, verdicts) for case in result.cases]
    inconclusive = []
    for case in result.cases:
        given = _verdicts(case, verdicts)
        undecided = [v for v in given if v.outcome == "inconclusive" and v.confidence is not None]
        if undecided and not _failed(given):
            inconclusive.append(
                InconclusiveRecord(
                    config=case.config.display_name,
                    input=str(case.input.id),
                    confidence=undecided[0].confidence or 0.0,
                    policy=undecided[0].policy or "fail",
                )
            )
    if inconclusive:
        record["inconclusive"] = inconclusive
    if run.shared is not None:
        record["shared"] = run.shared
    if result.sampling:
        record["adaptive"] = [
            SamplingRecord(
                config=s.config,
                input=s.input,
                drawn=s.drawn,
                maximum=s.maximum,
                passed=s.passed,
                ok=s.ok,
                settled=s.settled,
            )
            for s in result.sampling
        ]
    return record


def _verdicts(case: Case, verdicts: Verdicts) -> list[AssertionVerdict]:
    return verdicts.get((case.config.display_name, str(case.input.id)), [])


def _failed(verdicts: list[AssertionVerdict]) -> bool:
    """A case failed when one of its verdicts missed its bar; an interval that left it
    inconclusive is not a failure of the case (its policy may still have failed the test)."""
    return any(
        verdict.outcome == "fail" or (verdict.outcome is None and not verdict.ok)
        for verdict in verdicts
    )


def _inconclusive(verdicts: list[AssertionVerdict]) -> bool:
    return not _failed(verdicts) and any(v.outcome == "inconclusive" for v in verdicts)


def _config_row(
    name: str,
    cases: list[Case],
    outcomes: Outcomes,
    prices: PriceTable,
    tally: ConfigTally,
    verdicts: Verdicts,
) -> ConfigRow:
    samples = [sample for case in cases for sample in case.samples]
    judged = [_outcome(sample, outcomes) for sample in samples]
    checked = [verdict for verdict in judged if verdict is not _UNCHECKED]
    costs = [_cost(sample, prices) for sample in samples]
    latencies = [sample.latency_s for sample in samples]
    config = cases[0].config
    spent = [_spent(sample) for sample in samples]
    usage = Usage.combined(spent)
    row = ConfigRow(
        name=name,
        model=config.model,
        model_config_id=config.model_config_id,
        samples=len(samples),
        checked=len(checked),
        passed=sum(1 for verdict in checked if verdict is None),
        prompt_tokens=usage.prompt_tokens,
        generation_tokens=usage.generation_tokens,
        total_tokens=usage.total_tokens,
        cost_usd=None if None in costs else round(sum(c for c in costs if c is not None), 8),
        latency_p50_s=round(percentile(latencies, 50), 4),
        latency_p95_s=round(percentile(latencies, 95), 4),
        cases_judged=sum(1 for case in cases if _verdicts(case, verdicts)),
        cases_failed=sum(1 for case in cases if _failed(_verdicts(case, verdicts))),
        replayed=tally.replayed,
        live=tally.live,
        failed=tally.failed,
        retries=tally.retries,
    )
    if tally.skipped:
        row["skipped"] = tally.skipped
    if tally.batched:
        row["batched"] = tally.batched
    if (cached := reported_sum(u.cached_tokens for u in spent)) is not NOT_REPORTED:
        row["cached_tokens"] = cached
    if (writes := reported_sum(u.cache_write_tokens for u in spent)) is not NOT_REPORTED:
        row["cache_write_tokens"] = writes
    given = [_verdicts(case, verdicts) for case in cases]
    if any(v.confidence is not None for case_verdicts in given for v in case_verdicts):
        row["cases_inconclusive"] = sum(
            1 for case_verdicts in given if _inconclusive(case_verdicts)
        )
    return row


def _errored_row(config: ModelConfig, tally: ConfigTally, prices: PriceTable) -> ConfigRow:
    usage = Usage.of(*tally.tokens())
    cost = prices.usage_cost(config.model, usage)
    row = ConfigRow(
        name=config.display_name,
        model=config.model,
        model_config_id=config.model_config_id,
        samples=0,
        checked=0,
        passed=0,
        prompt_tokens=usage.prompt_tokens,
        generation_tokens=usage.generation_tokens,
        total_tokens=usage.total_tokens,
        cost_usd=None if cost is None else round(cost, 8),
        latency_p50_s=None,
        latency_p95_s=None,
        cases_judged=0,
        cases_failed=0,
        replayed=tally.replayed,
        live=tally.live,
        failed=tally.failed,
        retries=tally.retries,
    )
    if tally.skipped:
        row["skipped"] = tally.skipped
    if tally.batched:
        row["batched"] = tally.batched
    return row


_UNCHECKED = object()


def _outcome(sample: Sample, outcomes: Outcomes) -> object:
    key = (sample.config.display_name, str(sample.input.id), sample.index)
    return outcomes[key] if key in outcomes else _UNCHECKED


def _spent(sample: Sample) -> Usage:
    """What the sample's calls used: the model's turns, and a simulated user's (the test's
    spending, not the product's, but spent: the row's tokens and cost count them)."""
    return Usage.combined([sample.usage, *(turn.usage for turn in _simulated_user(sample))])


def _cost(sample: Sample, prices: PriceTable) -> float | None:
    if any(turn.batch for turn in sample.turns):
        # Some of its calls went by batch, at a discount: each turn priced on its own.
        parts = [
            (turn.model, turn.usage, BATCH_PRICE if turn.batch else 1.0) for turn in sample.turns
        ]
    else:
        parts = [(sample.model, sample.usage, 1.0)]
        parts += [(turn.model, turn.usage, 1.0) for turn in _simulated_user(sample)]
    costs = [prices.usage_cost(model, usage) for model, usage, _ in parts]
    if None in costs:
        return None
    return sum(cost * share for cost, (_, _, share) in zip(costs, parts, strict=True) if cost)


def _simulated_user(sample: Sample) -> list[Turn]:
    return [turn for turn in sample.turns if turn.speaker == "user"]


def _case(case: Case, outcomes: Outcomes, prices: PriceTable, verdicts: Verdicts) -> CaseRecord:
    return CaseRecord(
        config=case.config.display_name,
        input=case.input.id,
        chat_response=case.to_chat_response().to_json_dict(),
        samples=[_sample(sample, outcomes, prices) for sample in case.samples],
        verdicts=[verdict_record(verdict) for verdict in _verdicts(case, verdicts)],
    )


def _sample(sample: Sample, outcomes: Outcomes, prices: PriceTable) -> SampleRecord:
    outcome = _outcome(sample, outcomes)
    record = SampleRecord(
        index=sample.index,
        latency_s=round(sample.latency_s, 4),
        first_token_s=None if sample.first_token_s is None else round(sample.first_token_s, 4),
        usage=_usage(_spent(sample)),
        replayed=sample.replayed,
        cost_usd=_cost(sample, prices),
        checked=outcome is not _UNCHECKED,
        failure=outcome if isinstance(outcome, str) else None,
    )
    if shows_turns(sample):
        record["turns"] = [_turn(view) for view in turn_views(sample)]
    if sample.reasoning is not None:
        record["reasoning"] = sample.reasoning
    if any(turn.batch for turn in sample.turns):
        record["batch"] = True
    return record


def _turn(view: TurnView) -> TurnRecord:
    turn = view.turn
    record = TurnRecord(
        speaker=turn.speaker,
        user=list(view.user),
        output=turn.output,
        tool_calls=[
            ToolCallRecord(name=call.function.name, arguments=call.function.arguments)
            for call in turn.tool_calls
        ],
        tool_results=[
            ToolResultRecord(name=result.name, result=result.result, error=result.error)
            for result in turn.tool_results
        ],
        finish_reason=turn.finish_reason,
        usage=_usage(turn.usage),
        latency_s=round(turn.latency_s, 4),
    )
    if turn.reasoning is not None:
        record["reasoning"] = turn.reasoning
    return record


def _usage(usage: Usage) -> UsageRecord:
    record = UsageRecord(
        prompt_tokens=usage.prompt_tokens,
        generation_tokens=usage.generation_tokens,
        total_tokens=usage.total_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    )
    if usage.cached_tokens is not None:
        record["cached_tokens"] = usage.cached_tokens
    if usage.cache_write_tokens is not None:
        record["cache_write_tokens"] = usage.cache_write_tokens
    return record
