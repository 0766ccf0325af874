"""promptfoo assertions -> the plugin's checks, as Python source for the generated module.

Each assertion becomes a ``CheckLine`` (a check, with a comment where it is an approximation),
a per-call limit (``cost``, ``latency``), or a TODO line listed by the command: code assertions
(``javascript``, ``python``), types without a check here, negations ``checks`` does not offer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._emit import py_literal
from .._records import CheckLine, MigrationError, Unmapped
from ._source import Source, nunjucks_problems, read_structured

__all__ = ["MappedAssertion", "map_assertion", "placeholders", "render_value"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
# promptfoo's default similarity threshold.
_SIMILAR_DEFAULT = 0.75
_CONTAINMENT = {
    "contains": ("contains", False),
    "icontains": ("icontains", False),
    "contains-any": ("contains", True),
    "icontains-any": ("icontains", True),
    "contains-all": ("contains", False),
    "icontains-all": ("icontains", False),
}
# Negations with a check: not_contains passes when none of the texts is there.
_NEGATED = {
    "not-contains": False,
    "not-contains-any": False,
    "not-icontains": True,
    "not-icontains-any": True,
}
_KNOWN_KEYS = frozenset({"type", "value", "threshold", "weight", "metric", "provider"})


@dataclass(frozen=True, slots=True)
class MappedAssertion:
    line: CheckLine | None  # None for a limit
    uses_grader: bool = False
    max_cost_usd: float | None = None
    max_latency_s: float | None = None
    unmapped: tuple[Unmapped, ...] = ()


def placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """An assertion value with the test's ``{{var}}`` filled in, as promptfoo renders it."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: _text(variables.get(m.group(1), "")), value)
    if isinstance(value, list):
        return [render_value(v, variables) for v in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else py_literal(value).strip('"')


def map_assertion(source: Source, spec: Mapping[str, Any], field: str) -> MappedAssertion:
    where = source.where(field)
    kind = str(spec["type"])
    label = f"{field} {kind}"
    notes = [
        Unmapped(f"{where}.{key}", "not carried over") for key in spec if key not in _KNOWN_KEYS
    ]
    if spec.get("metric") is not None:
        notes.append(Unmapped(f"{where}.metric", "named metrics are not carried over"))
    if isinstance(spec.get("provider"), str | Mapping) and kind not in ("llm-rubric", "similar"):
        notes.append(Unmapped(f"{where}.provider", "not carried over"))
    mapped = _map(source, kind, spec, label, where)
    if spec.get("weight") == 0 and mapped.line is not None and mapped.line.code is not None:
        # promptfoo reports a weight-0 assertion without letting it fail the test.
        line = CheckLine(
            label, None, f"weight 0 (report only in promptfoo), not asserted: {mapped.line.code}"
        )
        mapped = MappedAssertion(
            line, False, unmapped=(Unmapped(where, "weight 0: report only, so not asserted"),)
        )
    todo = mapped.line is not None and mapped.line.code is None
    extra = () if todo else tuple(notes)
    if todo and mapped.line is not None and not mapped.unmapped:
        extra = (Unmapped(where, mapped.line.comment or kind), *notes)
    return MappedAssertion(
        mapped.line,
        mapped.uses_grader,
        mapped.max_cost_usd,
        mapped.max_latency_s,
        (*mapped.unmapped, *extra),
    )


def _todo(label: str, comment: str) -> MappedAssertion:
    return MappedAssertion(CheckLine(label, None, comment))


def _map(
    source: Source, kind: str, spec: Mapping[str, Any], label: str, where: str
) -> MappedAssertion:
    value = spec.get("value")
    threshold = spec.get("threshold")
    if placeholders(value):
        return _todo(label, f"value {value!r} uses variables no row fills in")
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(text, str) and nunjucks_problems(text, where) for text in texts):
        return _todo(label, f"value {value!r} uses Nunjucks beyond {{{{var}}}}: rewrite it")
    if kind == "equals":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return _todo(
                label,
                f"equals with a {type(value).__name__} value: compare the parsed JSON, e.g. "
                "c.expected(..., compare='json')",
            )
        return _line(label, f"c.equals({py_literal(str(value))}, strip=False)")
    if kind in _CONTAINMENT:
        function, any_ = _CONTAINMENT[kind]
        texts = _texts(value, where)
        suffix = ", any=True" if any_ and len(texts) > 1 else ""
        return _line(label, f"c.{function}({', '.join(py_literal(t) for t in texts)}{suffix})")
    if kind in _NEGATED:
        texts = _texts(value, where)
        suffix = ", ignore_case=True" if _NEGATED[kind] else ""
        return _line(label, f"c.not_contains({', '.join(py_literal(t) for t in texts)}{suffix})")
    if kind == "regex":
        try:
            re.compile(str(value))
        except re.error as exc:
            return _todo(
                label,
                f"the regex {value!r} is not a Python regex ({exc}): rewrite it for c.matches()",
            )
        return _line(label, f"c.matches({py_literal(str(value))})")
    if kind == "starts-with":
        return _line(label, f"c.startswith({py_literal(str(value))}, strip=False)")
    if kind in ("is-json", "contains-json"):
        return _json_check(source, kind, value, label, where)
    if kind == "cost":
        return MappedAssertion(None, max_cost_usd=_number(threshold, f"{where}.threshold"))
    if kind == "latency":
        return MappedAssertion(None, max_latency_s=_number(threshold, f"{where}.threshold") / 1000)
    if kind == "llm-rubric":
        if not isinstance(value, str) or not value.strip():
            raise MigrationError(f"{where}.value: llm-rubric needs the rubric text")
        notes: tuple[Unmapped, ...] = ()
        if threshold is not None:
            notes = (
                Unmapped(
                    f"{where}.threshold",
                    "the grader answers PASS or FAIL here: a score threshold has no equivalent",
                ),
            )
        return MappedAssertion(
            CheckLine(label, f"c.judge({py_literal(value)}, grader=GRADER)"), True, unmapped=notes
        )
    if kind == "similar":
        if not isinstance(value, str):
            return _todo(
                label, "similar to a list of references: write one c.similar_to() per reference"
            )
        score = _SIMILAR_DEFAULT if threshold is None else _number(threshold, f"{where}.threshold")
        code = f"c.similar_to({py_literal(value)}, grader=GRADER, min_score={score!r})"
        return MappedAssertion(
            CheckLine(label, code, "scored by a grader model, not by embedding cosine"), True
        )
    if kind in ("javascript", "python"):
        return _todo(
            label,
            f"{kind} code to port by hand, e.g. as c.satisfies(lambda sample: ...): "
            f"{_short(value)}",
        )
    if kind == "assert-set":
        return _todo(label, "an assert-set: list its assertions one by one")
    if kind.startswith("not-"):
        return _todo(
            label,
            f"{kind}: pytest_chatexp.checks has no negation of {kind[4:]!r}; write it as "
            "c.satisfies(...)",
        )
    return _todo(label, f"assertion type {kind!r} has no check here")


def _line(label: str, code: str) -> MappedAssertion:
    return MappedAssertion(CheckLine(label, code))


def _texts(value: Any, where: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or any(v is None or isinstance(v, Mapping | list) for v in values):
        raise MigrationError(f"{where}.value: expected a text or a list of texts")
    return [str(v) for v in values]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise MigrationError(f"{where}: expected a number >= 0")
    return float(value)


def _json_check(source: Source, kind: str, value: Any, label: str, where: str) -> MappedAssertion:
    fenced = kind == "contains-json"
    note = (
        "promptfoo finds JSON anywhere in the output; here the whole output, or a ```json "
        "fence, must be it"
        if fenced
        else None
    )
    suffix = "fenced=True" if fenced else ""
    if value is None:
        return MappedAssertion(CheckLine(label, f"c.is_json({suffix})", note))
    schema = (
        read_structured(source, value, f"{where}.value")
        if isinstance(value, str) and value.startswith("file://")
        else value
    )
    if not isinstance(schema, Mapping):
        raise MigrationError(f"{where}.value: expected a JSON schema (a mapping or a file:// path)")
    args = py_literal(dict(schema)) + (f", {suffix}" if suffix else "")
    return MappedAssertion(CheckLine(label, f"c.json_schema({args})", note))


def _short(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:77] + "..."
