"""The files every importer writes, from its typed records: the prompt file (model configs as
YAML, the plugin's own format), the JSONL dataset, and the test module that runs them.

Each emitter checks its output the way the plugin will read it (the YAML loaded back with the
plugin's loader, each config validated as a ModelConfig), so a plan that emits is one the plugin
accepts.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from .._errors import InvalidExperimentError
from .._experiment._config import model_config_from_data
from .._reading import load_yaml
from ._records import CaseChecks, CheckLine, ConfigRecord, DatasetRow, MigrationError
from ._records import TestModulePlan as ModulePlan

__all__ = ["config_fields", "dataset_jsonl", "model_configs_yaml", "py_literal", "test_module"]

_WIDTH = 96  # the generated module's prose and comments


def _wrapped(text: str) -> str:
    """Paragraphs filled to the width; indented lines (commands) kept as written."""
    return "\n\n".join(
        part if part.startswith(" ") else textwrap.fill(part, _WIDTH) for part in text.split("\n\n")
    )


def config_fields(record: ConfigRecord) -> dict[str, Any]:
    """A config as the prompt file holds it: name, provider, model, parameters, template."""
    fields: dict[str, Any] = {"name": record.name}
    if record.description:
        fields["description"] = record.description
    fields["provider"] = record.provider
    fields["model"] = record.model
    fields.update(record.params)
    fields["chat_template"] = [
        {"role": message.role, "content": message.content} for message in record.chat_template
    ]
    return fields


class _Dumper(yaml.SafeDumper):
    """Block style; a multi-line string as a literal block (``|``), as a person writes a prompt;
    no anchors (the plugin's loader refuses them), so a value two configs share is written twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML cannot write trailing spaces or tabs inside a literal block: those stay quoted.
    style = (
        "|"
        if "\n" in value and not any(line != line.rstrip() for line in value.split("\n"))
        else None
    )
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def model_configs_yaml(configs: Sequence[ConfigRecord], *, header: str) -> str:
    """The prompt file: ``model_configs:`` and a list of configs, each validated."""
    data = {"model_configs": [config_fields(record) for record in configs]}
    for position, fields in enumerate(data["model_configs"]):
        try:
            model_config_from_data(fields, where=f"model_configs[{position}]")
        except InvalidExperimentError as exc:
            raise MigrationError(
                f"the imported config '{fields['name']}' is invalid: {exc}"
            ) from None
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    if load_yaml(text) != data:  # the plugin's own loader must read back exactly this
        raise MigrationError("internal error: the prompt file does not read back as written")
    return _comment(header) + text


def dataset_jsonl(rows: Sequence[DatasetRow]) -> str:
    """The dataset: one structured row per line (``id``, ``inputs``, ``metadata``)."""
    lines = []
    for row in rows:
        data: dict[str, Any] = {"id": row.id, "inputs": dict(row.inputs)}
        if row.messages:
            data["messages"] = [{"role": m.role, "content": m.content} for m in row.messages]
        if row.metadata:
            data["metadata"] = dict(row.metadata)
        lines.append(json.dumps(data, ensure_ascii=False, allow_nan=False))
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.split("\n"))


def py_literal(value: Any) -> str:
    """Python source for a JSON-like value (strings double-quoted, as ruff formats them)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MigrationError(f"{value!r} is not a value a JSON dataset or check can hold")
        return repr(value)
    if isinstance(value, str):
        # A JSON string literal is a valid Python one: the same escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{py_literal(str(key))}: {py_literal(item)}" for key, item in value.items()
        )
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(py_literal(item) for item in value) + "]"
    raise MigrationError(f"cannot write {type(value).__name__} {value!r} as Python")


def test_module(plan: ModulePlan) -> str:
    """The generated test module: the experiment's marker, the checks by dataset row, one test."""
    docstring = _wrapped(plan.docstring.replace('"""', "'''"))
    out: list[str] = ['"""' + docstring.rstrip() + "\n"]
    if plan.todos:
        out.append("\nTODO, not carried over (also marked where it belongs below):\n")
        out.extend(
            textwrap.fill(
                f"{todo.where}: {todo.what}",
                _WIDTH,
                initial_indent="- ",
                subsequent_indent="  ",
                break_on_hyphens=False,
                break_long_words=False,
            )
            + "\n"
            for todo in plan.todos
        )
    out.append('"""\n\nimport pytest\n\n')
    if plan.grader is not None:
        out.append("from pytest_chatexp import ModelConfig\n")
    out.append("from pytest_chatexp import checks as c\n\n")
    marker = [
        f"model_configs={py_literal(plan.model_configs_file)}",
        f"inputs={py_literal(plan.dataset_file)}",
    ]
    if plan.num_samples != 1:
        marker.append(f"num_samples={plan.num_samples}")
    # One pytest item per dataset row, as promptfoo shows one result row per test.
    marker.append('split="inputs"')
    out.append(
        "pytestmark = pytest.mark.chatexp(\n" + "".join(f"    {m},\n" for m in marker) + ")\n"
    )
    if plan.grader is not None:
        fields = {
            "name": plan.grader.name,
            "provider": plan.grader.provider,
            "model": plan.grader.model,
        }
        fields.update(plan.grader.params)
        args = "".join(f"    {key}={py_literal(value)},\n" for key, value in fields.items())
        out.append(
            "\n# The model grading llm-rubric and similar assertions.\n"
            f"GRADER = ModelConfig(\n{args})\n"
        )
    out.append(plan.stubs)
    out.append(f"\n# {plan.default_note}\n")
    out.append(
        "DEFAULT_CHECKS: list[c.SampleCheck] = " + _check_list(plan.default_checks, indent=0) + "\n"
    )
    out.append("\n# Checked on one row each, by the row's id in the dataset.\n")
    out.append("CHECKS: dict[str, list[c.SampleCheck]] = {\n")
    for case in plan.cases:
        out.append(f"    {py_literal(case.input_id)}: {_check_list(case.checks, indent=4)},\n")
    out.append("}\n")
    limits = [
        case
        for case in plan.cases
        if case.max_cost_usd is not None or case.max_latency_s is not None
    ]
    if limits:
        out.append("\n# Per-call cost (US dollars) and latency (seconds) limits, by row.\n")
        out.append("LIMITS: dict[str, dict[str, float]] = {\n")
        out.extend(f"    {py_literal(case.input_id)}: {_limits(case)},\n" for case in limits)
        out.append("}\n")
    out.append(_test_function(plan.module_name, bool(limits)))
    return "".join(out)


def _check_list(lines: Sequence[CheckLine], *, indent: int) -> str:
    if not lines:
        return "[]"
    pad = " " * (indent + 4)
    body: list[str] = []
    for line in lines:
        if line.code is None:
            body.append(_comment_lines(f"TODO({line.source}): {line.comment}", pad))
            continue
        if line.comment:
            body.append(_comment_lines(f"{line.source}: {line.comment}", pad))
            body.append(f"{pad}{line.code},\n")
        else:
            body.append(f"{pad}{line.code},  # {line.source}\n")
    return "[\n" + "".join(body) + " " * indent + "]"


def _comment_lines(text: str, pad: str) -> str:
    width = max(_WIDTH - len(pad), 40)
    lines = textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)
    return "".join(f"{pad}# {line}\n" for line in lines)


def _limits(case: CaseChecks) -> str:
    limits: dict[str, float] = {}
    if case.max_cost_usd is not None:
        limits["max_cost_usd"] = case.max_cost_usd
    if case.max_latency_s is not None:
        limits["max_latency_s"] = case.max_latency_s
    return py_literal(limits)


def _test_function(name: str, limits: bool) -> str:
    lines = [
        f"\n\ndef test_{name}(chatexp):\n",
        "    (input_id,) = {case.input.id for case in chatexp.cases}\n",
        "    checks = [*DEFAULT_CHECKS, *CHECKS[input_id]]\n",
        "    if checks:\n",
        "        c.assert_samples(chatexp, *checks)\n",
    ]
    if limits:
        lines += [
            "    limits = LIMITS.get(input_id, {})\n",
            '    if "max_cost_usd" in limits:\n',
            '        c.assert_cost(chatexp, max_usd=limits["max_cost_usd"], per="sample")\n',
            '    if "max_latency_s" in limits:\n',
            '        c.assert_latency(chatexp, max=limits["max_latency_s"])\n',
        ]
    return "".join(lines)
