"""Pairing promptfoo's prompts with its providers, its tests with their checks: the plan of
every file the import writes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ..._experiment._templates import placeholders as template_placeholders
from .._emit import dataset_jsonl, model_configs_yaml, test_module
from .._records import (
    CaseChecks,
    CheckLine,
    ConfigRecord,
    DatasetRow,
    MigrationError,
    MigrationPlan,
    PlannedFile,
    TestModulePlan,
    Unmapped,
)
from ._asserts import map_assertion, placeholders, render_value
from ._providers import ProviderRecord, grader_provider, read_providers
from ._source import PromptRecord, Source, read_config, read_prompts, unknown_keys
from ._tests import AssertionRecord, TestRecord, read_defaults, read_tests

__all__ = ["DATASET_FILE", "MODULE_FILE", "PROMPTS_FILE", "plan_promptfoo"]

PROMPTS_FILE = "prompts.yaml"
DATASET_FILE = "dataset.jsonl"
MODULE_FILE = "test_promptfoo.py"
# When the config names no grading provider: promptfoo's own default is an OpenAI model too.
_DEFAULT_GRADER = ("openai", "gpt-4o-mini")


def plan_promptfoo(config_path: Path) -> MigrationPlan:
    """Read ``config_path`` and plan the prompt file, the dataset and the test module."""
    source = read_config(config_path)
    unmapped: list[Unmapped] = unknown_keys(source)
    prompts, more = read_prompts(source)
    unmapped += more
    providers, more = read_providers(source)
    unmapped += more
    configs = _pair(source, prompts, providers)
    defaults = read_defaults(source)
    unmapped += defaults.unmapped
    tests = read_tests(source, defaults)
    for test in tests:
        unmapped += [u for u in test.unmapped if u not in unmapped]
    used = {
        name for c in configs for m in c.chat_template for name in template_placeholders(m.content)
    }
    rows = _rows(source, tests, used, unmapped)

    uses_grader = False
    default_lines: list[CheckLine] = []
    default_cost: float | None = None
    default_latency: float | None = None
    per_row_defaults: list[AssertionRecord] = []
    for record in defaults.asserts:
        if placeholders(record.spec.get("value")):
            per_row_defaults.append(record)  # rendered with each row's vars below
            continue
        mapped = map_assertion(source, record.spec, record.where)
        uses_grader |= mapped.uses_grader
        unmapped += mapped.unmapped
        if mapped.line is not None:
            default_lines.append(mapped.line)
        default_cost = mapped.max_cost_usd if mapped.max_cost_usd is not None else default_cost
        default_latency = (
            mapped.max_latency_s if mapped.max_latency_s is not None else default_latency
        )
    cases: list[CaseChecks] = []
    for row, test in zip(rows, tests, strict=True):
        lines: list[CheckLine] = []
        # A test's own limit replaces defaultTest's, as its assertions add to them.
        cost, latency = default_cost, default_latency
        for record in (*per_row_defaults, *test.asserts):
            spec = {**record.spec, "value": render_value(record.spec.get("value"), test.vars)}
            if "value" not in record.spec:
                del spec["value"]
            mapped = map_assertion(source, spec, record.where)
            uses_grader |= mapped.uses_grader
            unmapped += [u for u in mapped.unmapped if u not in unmapped]
            if mapped.line is not None:
                lines.append(mapped.line)
            cost = mapped.max_cost_usd if mapped.max_cost_usd is not None else cost
            latency = mapped.max_latency_s if mapped.max_latency_s is not None else latency
        cases.append(CaseChecks(row.id, tuple(lines), cost, latency))

    grader = (
        _grader(source, defaults.grader, defaults.grader_where, unmapped) if uses_grader else None
    )
    num_samples = _repeat(source)
    module = TestModulePlan(
        module_name="promptfoo",
        docstring=_docstring(source, len(configs), len(rows)),
        model_configs_file=PROMPTS_FILE,
        dataset_file=DATASET_FILE,
        num_samples=num_samples,
        grader=grader,
        default_checks=tuple(default_lines),
        cases=tuple(cases),
        todos=tuple(unmapped),
    )
    header = (
        f"Imported from {source.path.name} by python -m pytest_chatexp.migrate promptfoo:\n"
        "one model config per prompt x provider."
    )
    files = (
        PlannedFile(PurePosixPath(PROMPTS_FILE), model_configs_yaml(configs, header=header)),
        PlannedFile(PurePosixPath(DATASET_FILE), dataset_jsonl(rows)),
        PlannedFile(PurePosixPath(MODULE_FILE), test_module(module)),
    )
    checks = sum(1 for case in cases for line in case.checks if line.code) + sum(
        1 for line in default_lines if line.code
    )
    summary = (
        f"{len(prompts)} prompt{_s(prompts)} x {len(providers)} provider{_s(providers)} -> "
        f"{len(configs)} model config{_s(configs)} in {PROMPTS_FILE}; {len(rows)} test{_s(rows)} "
        f"-> {len(rows)} row{_s(rows)} of {DATASET_FILE}; "
        f"{checks} check{'' if checks == 1 else 's'} in {MODULE_FILE}"
    )
    return MigrationPlan(str(source.path), files, tuple(unmapped), summary)


def _s(items: Sequence[Any]) -> str:
    return "" if len(items) == 1 else "s"


def _pair(
    source: Source, prompts: list[PromptRecord], providers: list[ProviderRecord]
) -> list[ConfigRecord]:
    labels = [p.label for p in prompts]
    configs: list[ConfigRecord] = []
    for provider in providers:
        chosen = prompts
        if provider.prompts is not None:
            missing = [label for label in provider.prompts if label not in labels]
            if missing:
                raise MigrationError(
                    f"{provider.where.removesuffix('.id')}.prompts: no prompt is labelled "
                    f"{', '.join(map(repr, missing))} (labels: {', '.join(labels)})"
                )
            chosen = [p for p in prompts if p.label in provider.prompts]
        for prompt in chosen:
            if len(prompts) == 1:
                name = provider.label
            elif len(providers) == 1:
                name = prompt.label
            else:
                name = f"{prompt.label} x {provider.label}"
            configs.append(
                ConfigRecord(
                    name, provider.provider, provider.model, prompt.messages, dict(provider.params)
                )
            )
    names = [c.name for c in configs]
    return [
        c
        if names.count(c.name) == 1
        else ConfigRecord(f"{c.name}-{n + 1}", c.provider, c.model, c.chat_template, c.params)
        for n, c in enumerate(configs)
    ]


def _rows(
    source: Source, tests: list[TestRecord], used: set[str], unmapped: list[Unmapped]
) -> list[DatasetRow]:
    rows: list[DatasetRow] = []
    seen: set[str] = set()
    for n, test in enumerate(tests):
        base = _slug(test.description) if test.description else ""
        row_id = base or f"test-{n + 1}"
        while row_id in seen:
            row_id = f"{base or 'test'}-{n + 1}" if row_id == base else f"{row_id}-{n + 1}"
        seen.add(row_id)
        inputs = {k: v for k, v in test.vars.items() if k in used}
        for name in sorted(used - set(inputs)):
            inputs[name] = ""  # promptfoo renders a missing var as empty text
            note = Unmapped(
                source.where(f"{test.where}.vars"),
                f"no value for {{{{{name}}}}}: sent empty, as promptfoo does",
            )
            if note not in unmapped:
                unmapped.append(note)
        metadata: dict[str, Any] = {}
        if test.description:
            metadata["description"] = test.description
        metadata.update({k: v for k, v in test.vars.items() if k not in used})
        for key, value in test.metadata.items():
            if key in metadata:
                unmapped.append(
                    Unmapped(
                        source.where(f"{test.where}.metadata.{key}"),
                        "clashes with a var of the same name: not carried over",
                    )
                )
            else:
                metadata[key] = value
        rows.append(DatasetRow(row_id, inputs, metadata))
    return rows


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:40].strip("-")


def _grader(source: Source, value: Any, where: str, unmapped: list[Unmapped]) -> ConfigRecord:
    if value is None:
        unmapped.append(
            Unmapped(
                source.where("defaultTest.options.provider"),
                "no grading provider named: llm-rubric and similar are graded by "
                f"{_DEFAULT_GRADER[0]} {_DEFAULT_GRADER[1]} (GRADER); choose yours",
            )
        )
        return ConfigRecord("grader", *_DEFAULT_GRADER, ())
    provider, model, params, more = grader_provider(value, where)
    unmapped += more
    return ConfigRecord("grader", provider, model, (), params)


def _repeat(source: Source) -> int:
    options = source.data.get("evaluateOptions") or {}
    if not isinstance(options, dict):
        raise MigrationError(f"{source.where('evaluateOptions')}: expected a mapping")
    repeat = options.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise MigrationError(
            f"{source.where('evaluateOptions.repeat')}: expected a whole number >= 1"
        )
    return repeat


def _docstring(source: Source, configs: int, rows: int) -> str:
    description = source.data.get("description")
    title = f"{description}\n\n" if isinstance(description, str) and description.strip() else ""
    return (
        f"{title}Imported from {source.path.name} by "
        "`python -m pytest_chatexp.migrate promptfoo`.\n\n"
        f"Each prompt x provider is a model config of {PROMPTS_FILE} ({configs}); each "
        f"promptfoo test is a row of {DATASET_FILE} ({rows}) and a pytest item of its own "
        '(split="inputs"), checked with DEFAULT_CHECKS (defaultTest) and its CHECKS. Record '
        "once, then replay offline:\n\n"
        f"    pytest {MODULE_FILE} --chatexp-record=new\n"
    )
