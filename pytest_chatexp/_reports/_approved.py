"""The approved-answers file of a semantic snapshot: per case, the answers a reviewer accepted.

``__snapshots__/<test module>/<test name>[approved].yaml``, block YAML a reviewer reads in a
pull request::

    # pytest-chatexp approved answers (format 1)
    # ...
    cases:
    - config: support
      input: refund
      approved:
      - Your refund is on its way.
      - |-
        We have sent your refund.
        It arrives within 5 days.

A case is a model config (by name) and an input (by id); its answers are in the order they were
approved. The file is parsed into ``ApprovedCase`` records and written from them; anything else
in it (a missing key, a number where an answer belongs) is refused naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._experiment._result import Sample
from .._reading import YamlProblem, load_yaml
from .._recording._text import dump_yaml
from .._redaction import redact

__all__ = ["FORMAT_VERSION", "ApprovedCase", "ApprovedFileError", "answer_of", "parse", "render"]

FORMAT_VERSION = 1
_HEADER = f"""\
# pytest-chatexp approved answers (format {FORMAT_VERSION})
# Per case (model config, input): the answers approved for it. A new answer passes when it
# equals one of them, or when the test's equivalence check finds it equivalent to one;
# `pytest --snapshot-update` approves the others (added here as variants).
"""


class ApprovedFileError(Exception):
    """The file cannot be read as approved answers: ``field`` (e.g. ``cases[2].input``) says
    where, the message what is wrong."""


@dataclass(frozen=True)
class ApprovedCase:
    config: str
    input: str
    answers: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.config, self.input)

    @property
    def label(self) -> str:
        return f"model config '{self.config}', input '{self.input}'"


def answer_of(sample: Sample) -> str:
    """What a sample answered, as the approved file holds it: its text (a tool loop's final
    answer), else its tool calls one per line, else ``(empty)``. Redacted like every file."""
    if sample.output.strip():
        text = sample.output
    elif sample.tool_calls:
        text = "\n".join(
            f"tool call: {call.function.name} {_compact(call.function.arguments)}"
            for call in sample.tool_calls
        )
    else:
        text = "(empty)"
    return redact(text)


def _compact(arguments: str | None) -> str:
    if not arguments:
        return "{}"
    try:
        return json.dumps(json.loads(arguments), sort_keys=True, ensure_ascii=False)
    except json.JSONDecodeError:
        return json.dumps(arguments, ensure_ascii=False) + " (not valid JSON)"


def render(cases: Sequence[ApprovedCase]) -> str:
    data = {
        "cases": [
            {"config": case.config, "input": case.input, "approved": list(case.answers)}
            for case in cases
        ]
    }
    return redact(_HEADER + dump_yaml(data))


def parse(text: str) -> list[ApprovedCase]:
    """The cases of an approved file's ``text``; ApprovedFileError naming the field."""
    try:
        data = load_yaml(text)
    except YamlProblem as exc:
        raise ApprovedFileError(f"not valid YAML{exc.where}: {exc.problem}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {"cases"}:
        raise ApprovedFileError("expected a mapping with one key, 'cases'")
    items = data["cases"] or []
    if not isinstance(items, list):
        raise ApprovedFileError(f"cases: expected a list, got {_kind(items)}")
    cases: list[ApprovedCase] = []
    seen: set[tuple[str, str]] = set()
    for number, item in enumerate(items):
        where = f"cases[{number}]"
        if not isinstance(item, dict) or set(item) != {"config", "input", "approved"}:
            raise ApprovedFileError(
                f"{where}: expected the keys 'config', 'input' and 'approved'"
                + (f", got {sorted(map(str, item))}" if isinstance(item, dict) else "")
            )
        config, name, answers = item["config"], item["input"], item["approved"]
        for field, value in (("config", config), ("input", name)):
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise ApprovedFileError(f"{where}.{field}: expected a name, got {_kind(value)}")
        if not isinstance(answers, list) or not answers:
            raise ApprovedFileError(f"{where}.approved: expected a list of answers")
        for index, answer in enumerate(answers):
            if not isinstance(answer, str):
                raise ApprovedFileError(
                    f"{where}.approved[{index}]: expected text, got {_kind(answer)}"
                )
        case = ApprovedCase(str(config), str(name), tuple(answers))
        if case.key in seen:
            raise ApprovedFileError(f"{where}: {case.label} is listed twice")
        seen.add(case.key)
        cases.append(case)
    return cases


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
