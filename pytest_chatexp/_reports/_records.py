"""Build a test's record: per experiment, per model config numbers, and optionally every case.

``ExperimentRecord`` and ``ConfigRow`` are TypedDicts of builtins: they cross process boundaries
under xdist and are written as JSON as they are.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from .._experiment import Case, ExperimentResult, Sample
from .._pricing import PriceTable
from .._stats import percentile

__all__ = ["ConfigRow", "ExperimentRecord", "Outcomes", "Verdicts", "experiment_record"]

# (config name, input id, sample index) -> None when every check passed, else the first failure.
Outcomes = dict[tuple[str, str, int], str | None]
# (config name, input id) -> the verdicts assertions gave the case: checks, min_pass_rate, passed,
# samples, ok. A case's verdict is its assertions', held to the bar each set.
Verdicts = dict[tuple[str, str], list[dict[str, Any]]]


class ConfigRow(TypedDict):
    name: str
    model: str
    model_config_id: str
    samples: int
    checked: int  # samples a check judged
    passed: int  # of those, how many passed every check
    prompt_tokens: int
    generation_tokens: int
    total_tokens: int
    cost_usd: float | None
    latency_p50_s: float
    latency_p95_s: float
    replayed: int
    live: int
    retries: int
    cases_judged: int  # cases an assertion gave a verdict
    cases_failed: int  # of those, how many missed the bar it set


class ExperimentRecord(TypedDict):
    test: str
    wall_time_s: float
    configs: list[ConfigRow]
    cases: NotRequired[list[dict[str, Any]]]


def experiment_record(
    test: str,
    result: ExperimentResult,
    outcomes: Outcomes,
    prices: PriceTable,
    *,
    with_cases: bool,
    verdicts: Verdicts | None = None,
) -> ExperimentRecord:
    verdicts = verdicts or {}
    record = ExperimentRecord(
        test=test,
        wall_time_s=round(result.wall_time_s, 4),
        configs=[
            _config_row(name, cases, outcomes, prices, verdicts)
            for name, cases in result.by_config.items()
        ],
    )
    if with_cases:
        record["cases"] = [_case(case, outcomes, prices, verdicts) for case in result.cases]
    return record


def _verdicts(case: Case, verdicts: Verdicts) -> list[dict[str, Any]]:
    return verdicts.get((case.config.display_name, str(case.input.id)), [])


def _config_row(
    name: str, cases: list[Case], outcomes: Outcomes, prices: PriceTable, verdicts: Verdicts
) -> ConfigRow:
    samples = [sample for case in cases for sample in case.samples]
    judged = [_outcome(sample, outcomes) for sample in samples]
    checked = [verdict for verdict in judged if verdict is not _UNCHECKED]
    costs = [_cost(sample, prices) for sample in samples]
    latencies = [sample.latency_s for sample in samples]
    config = cases[0].config
    return ConfigRow(
        name=name,
        model=config.model,
        model_config_id=config.model_config_id,
        samples=len(samples),
        checked=len(checked),
        passed=sum(1 for verdict in checked if verdict is None),
        prompt_tokens=sum(sample.usage.prompt_tokens for sample in samples),
        generation_tokens=sum(sample.usage.generation_tokens for sample in samples),
        total_tokens=sum(sample.usage.total_tokens for sample in samples),
        cost_usd=None if None in costs else round(sum(c for c in costs if c is not None), 8),
        latency_p50_s=round(percentile(latencies, 50), 4),
        latency_p95_s=round(percentile(latencies, 95), 4),
        replayed=sum(1 for sample in samples if sample.replayed),
        live=sum(1 for sample in samples if not sample.replayed),
        retries=sum(sample.retries for sample in samples),
        cases_judged=sum(1 for case in cases if _verdicts(case, verdicts)),
        cases_failed=sum(
            1 for case in cases if any(not v["ok"] for v in _verdicts(case, verdicts))
        ),
    )


_UNCHECKED = object()


def _outcome(sample: Sample, outcomes: Outcomes) -> object:
    key = (sample.config.display_name, str(sample.input.id), sample.index)
    return outcomes[key] if key in outcomes else _UNCHECKED


def _cost(sample: Sample, prices: PriceTable) -> float | None:
    usage = sample.usage
    return prices.cost(sample.config.model, usage.prompt_tokens, usage.generation_tokens)


def _case(case: Case, outcomes: Outcomes, prices: PriceTable, verdicts: Verdicts) -> dict[str, Any]:
    return {
        "config": case.config.display_name,
        "input": case.input.id,
        "chat_response": case.to_chat_response().to_json_dict(),
        "samples": [_sample(sample, outcomes, prices) for sample in case.samples],
        "verdicts": _verdicts(case, verdicts),
    }


def _sample(sample: Sample, outcomes: Outcomes, prices: PriceTable) -> dict[str, Any]:
    outcome = _outcome(sample, outcomes)
    return {
        "index": sample.index,
        "latency_s": round(sample.latency_s, 4),
        "replayed": sample.replayed,
        "cost_usd": _cost(sample, prices),
        "checked": outcome is not _UNCHECKED,
        "failure": None if outcome is _UNCHECKED else outcome,
    }
