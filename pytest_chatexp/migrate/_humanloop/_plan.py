"""Humanloop exports -> the plan: one prompt file of every config, one dataset of every
datapoint (or, without a dataset, of the inputs the logs were called with), a test module, and
seed recordings from the logs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ..._experiment._templates import placeholders
from .._emit import dataset_jsonl, model_configs_yaml, py_literal, test_module
from .._records import (
    CaseChecks,
    CheckLine,
    ConfigRecord,
    DatasetRow,
    MigrationError,
    MigrationPlan,
    PlannedFile,
    TemplateMessage,
    TestModulePlan,
    Unmapped,
)
from ._configs import ConfigSource
from ._data import DatapointRecord, EvaluatorRecord, LogRecord
from ._seeds import match_logs, seed_files
from ._source import read_exports

__all__ = ["DATASET_FILE", "MODULE_FILE", "PROMPTS_FILE", "plan_humanloop"]

PROMPTS_FILE = "prompts.yaml"
DATASET_FILE = "dataset.jsonl"
MODULE_FILE = "test_humanloop.py"
_TEST = "test_humanloop"


def plan_humanloop(paths: Sequence[Path]) -> MigrationPlan:
    exports = read_exports(list(paths))
    unmapped = list(exports.unmapped)
    configs = _configs(exports.configs, exports.logs)
    if not configs:
        raise MigrationError(
            f"{', '.join(p.name for p in paths)}: no model config, prompt version or .prompt "
            "file among them, and no log holds its config: nothing to test"
        )
    used = {
        name for c in configs for m in c.record.chat_template for name in placeholders(m.content)
    }
    rows = _rows(exports.datapoints, exports.logs, used, unmapped)
    chosen, notes = match_logs(exports.logs, configs, rows, used)
    stubs, todo = _stubs(exports.evaluators)
    unmapped += todo
    cases = tuple(
        CaseChecks(
            row.id,
            (CheckLine("target", 'c.expected("expected")'),) if "expected" in row.metadata else (),
        )
        for row in rows
    )
    module = TestModulePlan(
        module_name="humanloop",
        docstring=_docstring(len(configs), len(rows)),
        model_configs_file=PROMPTS_FILE,
        dataset_file=DATASET_FILE,
        num_samples=1,
        grader=None,
        default_checks=(),
        cases=cases,
        todos=tuple(unmapped),
        default_note="Checked on every row: add your ported evaluators here.",
        stubs=stubs,
    )
    header = (
        "Imported from Humanloop by python -m pytest_chatexp.migrate humanloop:\n"
        "one model config per Humanloop model config or prompt version."
    )
    prompts = PlannedFile(
        PurePosixPath(PROMPTS_FILE), model_configs_yaml([c.record for c in configs], header=header)
    )
    dataset = PlannedFile(PurePosixPath(DATASET_FILE), dataset_jsonl(rows))
    seeds = seed_files(chosen, prompts, dataset, MODULE_FILE, _TEST)
    files = (prompts, dataset, *seeds.files, PlannedFile(PurePosixPath(MODULE_FILE),
                                                         test_module(module)))  # fmt: skip
    checks = sum(len(case.checks) for case in cases)
    summary = (
        f"{len(configs)} model config{_s(configs)} -> {PROMPTS_FILE}; {len(rows)} "
        f"datapoint{_s(rows)} -> {DATASET_FILE}; {checks} target check{'' if checks == 1 else 's'}"
        f" in {MODULE_FILE}; {len(exports.logs)} log{_s(exports.logs)} -> {seeds.seeded} seeded "
        f"call{'' if seeds.seeded == 1 else 's'} in {len(seeds.files)} recording"
        f"{_s(seeds.files)}"
    )
    # Logs not used, and calls no log answers, follow the TODOs: not lost, but not to port.
    notes += [
        Unmapped(pair, "no log answers it: recorded on the first --chatexp-record=new run")
        for pair in seeds.unseeded
    ]
    return MigrationPlan(
        ", ".join(p.name for p in paths), files, tuple(unmapped), summary, tuple(notes)
    )


def _s(items: Sequence[Any]) -> str:
    return "" if len(items) == 1 else "s"


def _configs(configs: list[ConfigSource], logs: Sequence[LogRecord]) -> list[ConfigSource]:
    """The configs read, then those only logs hold (once each); names made unique."""
    found = list(configs)
    for log in logs:
        if log.config is None:
            continue
        known = any(log.config_ids & c.ids or c.record == log.config.record for c in found)
        if not known:
            found.append(log.config)
    names: list[str] = []
    unique = []
    for config in found:
        name, n = config.record.name, 1
        while name in names:
            n += 1
            name = f"{config.record.name}-{n}"
        names.append(name)
        record = config.record
        if name != record.name:
            record = ConfigRecord(
                name, record.provider, record.model, record.chat_template, record.params,
                record.description,
            )  # fmt: skip
        unique.append(ConfigSource(record, config.ids, config.where))
    return unique


def _rows(
    datapoints: Sequence[DatapointRecord],
    logs: Sequence[LogRecord],
    used: set[str],
    unmapped: list[Unmapped],
) -> list[DatasetRow]:
    rows: list[DatasetRow] = []
    seen: set[str] = set()
    sources: list[tuple[str | None, Mapping[str, Any], Any, Any, str]] = [
        (d.id, d.inputs, d.messages, d.target, d.where) for d in datapoints
    ]
    if not sources:  # no dataset: the logs' distinct inputs become the rows
        keys: list[Any] = []
        for log in logs:
            used_inputs = {k: v for k, v in log.inputs.items() if k in used}
            key = (sorted((k, repr(v)) for k, v in used_inputs.items()), repr(log.messages))
            if key not in keys:
                keys.append(key)
                sources.append((None, log.inputs, log.messages, None, log.where))
    if not sources:
        sources.append(("default", {}, (), None, "(no dataset)"))
    for n, (given, inputs, messages, target, where) in enumerate(sources):
        # Without an id, a row is named by its first text input, as a reviewer would.
        text = next((v for v in inputs.values() if isinstance(v, str) and v.strip()), "")
        row_id = _slug(given) if given else _words(text) or f"row-{n + 1}"
        while row_id in seen:
            row_id = f"{row_id}-{n + 1}"
        seen.add(row_id)
        row_inputs = {k: v for k, v in inputs.items() if k in used}
        for name in sorted(used - set(row_inputs)):
            row_inputs[name] = ""
            unmapped.append(Unmapped(f"{where}.inputs", f"no value for {{{{{name}}}}}: sent empty"))
        metadata: dict[str, Any] = {k: v for k, v in inputs.items() if k not in used}
        if given and given != row_id:
            metadata["humanloop_id"] = given
        if target is not None:
            metadata["target"] = target
            expected = target.get("output") if isinstance(target, Mapping) else target
            if isinstance(expected, str):
                metadata["expected"] = expected
            else:
                unmapped.append(
                    Unmapped(
                        f"{where}.target",
                        "no output to compare: kept as metadata.target for a check of yours",
                    )
                )
        rows.append(DatasetRow(row_id, row_inputs, metadata, _messages(messages, where)))
    return rows


def _messages(messages: Sequence[Mapping[str, Any]], where: str) -> tuple[TemplateMessage, ...]:
    out = []
    for n, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") not in ("system", "user", "assistant") or not isinstance(
            content, str
        ):
            raise MigrationError(
                f"{where}.messages[{n}]: only system, user and assistant messages with text "
                "content can be imported"
            )
        out.append(TemplateMessage(str(message["role"]), content))
    return tuple(out)


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[A-Za-z0-9_]+", text))[:60] or "row"


def _words(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:40].strip("-")


def _stubs(evaluators: Sequence[EvaluatorRecord]) -> tuple[str, list[Unmapped]]:
    """Each evaluator as a check function to finish by hand; its code kept as a comment."""
    out: list[str] = []
    todo: list[Unmapped] = []
    for evaluator in evaluators:
        name = re.sub(r"\W", "_", evaluator.name).strip("_").lower() or "evaluator"
        what = f"{evaluator.kind} evaluator '{evaluator.name}'"
        todo.append(
            Unmapped(
                evaluator.where,
                f"{what}: finish check_{name}() and add c.satisfies(check_{name}) to "
                "DEFAULT_CHECKS",
            )
        )
        out.append(f"\n\n# TODO: port the Humanloop {what} ({evaluator.where}).\n")
        if evaluator.code:
            out.append("# Its code, as exported:\n")
            out.extend(f"#   {line}".rstrip() + "\n" for line in evaluator.code.splitlines())
        out.append(
            f"def check_{name}(sample):\n"
            f"    raise NotImplementedError({py_literal('TODO: port ' + what)})\n"
        )
    return "".join(out) + ("\n" if out else ""), todo


def _docstring(configs: int, rows: int) -> str:
    return (
        "Imported from Humanloop by `python -m pytest_chatexp.migrate humanloop`.\n\n"
        f"Each model config or prompt version is a config of {PROMPTS_FILE} ({configs}); each "
        f"datapoint a row of {DATASET_FILE} ({rows}) and a pytest item of its own "
        '(split="inputs"); a target\'s output is checked with c.expected("expected"). '
        "Recordings seeded from the logs replay offline; record the rest with:\n\n"
        f"    pytest {MODULE_FILE} --chatexp-record=new\n"
    )
