"""promptfoo tests -> one record per test: its vars, its assertions (with where each came
from) and what it declares that has no equivalent. Inline tests, ``file://`` test files (CSV
with ``__expected`` columns, JSON, JSONL, YAML) and ``defaultTest`` are read; a var holding a
list expands into one test per value, as promptfoo does."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._records import MigrationError, Unmapped
from ._source import Source, file_path, read_data_file, read_text_file

__all__ = ["AssertionRecord", "Defaults", "TestRecord", "read_defaults", "read_tests"]

_TEST_KEYS = frozenset({"description", "vars", "assert", "threshold", "metadata", "options"})
# The prefixes an ``__expected`` cell may start with (promptfoo's CSV shorthand); a cell with
# none is an ``equals``.
_CELL = re.compile(
    r"(?P<not>not-)?(?P<type>contains-any|contains-all|icontains-any|icontains-all|contains-json"
    r"|contains|icontains|equals|regex|starts-with|is-json|javascript|fn|eval|python|grade"
    r"|llm-rubric|similar|levenshtein|cost|latency)(?:\((?P<threshold>[\d.]+)\))?(?::\s?|$)",
    re.DOTALL,
)
_LIST_TYPES = frozenset({"contains-any", "contains-all", "icontains-any", "icontains-all"})
_ALIASES = {"fn": "javascript", "eval": "javascript", "grade": "llm-rubric"}


@dataclass(frozen=True, slots=True)
class AssertionRecord:
    spec: Mapping[str, Any]  # promptfoo's assertion object: type, value, threshold, weight...
    where: str


@dataclass(frozen=True, slots=True)
class TestRecord:
    __test__ = False  # not a pytest test class

    description: str | None
    vars: Mapping[str, Any]
    asserts: tuple[AssertionRecord, ...]
    metadata: Mapping[str, Any]
    where: str
    unmapped: tuple[Unmapped, ...] = ()


@dataclass(frozen=True, slots=True)
class Defaults:
    vars: Mapping[str, Any] = field(default_factory=dict)
    asserts: tuple[AssertionRecord, ...] = ()
    grader: Any = None  # options.provider as written
    grader_where: str = ""
    unmapped: tuple[Unmapped, ...] = ()


def read_defaults(source: Source) -> Defaults:
    raw = source.data.get("defaultTest")
    if raw is None:
        return Defaults()
    if not isinstance(raw, Mapping):
        raise MigrationError(
            f"{source.where('defaultTest')}: expected a mapping (vars, assert, options)"
        )
    test = _test(source, raw, "defaultTest")
    options = raw.get("options") or {}
    unmapped = [u for u in test.unmapped if not u.where.endswith("defaultTest.options")]
    for key in options if isinstance(options, Mapping) else ():
        if key != "provider":
            unmapped.append(
                Unmapped(source.where(f"defaultTest.options.{key}"), "not carried over")
            )
    return Defaults(
        vars=test.vars,
        asserts=test.asserts,
        grader=options.get("provider") if isinstance(options, Mapping) else None,
        grader_where=source.where("defaultTest.options.provider"),
        unmapped=tuple(unmapped),
    )


def read_tests(source: Source, defaults: Defaults) -> list[TestRecord]:
    raw = source.data.get("tests")
    if raw is None:
        return [TestRecord(None, dict(defaults.vars), (), {}, source.where("tests"))]
    entries: list[tuple[Any, str]] = []
    for item, at in (
        [(raw, "tests")]
        if not isinstance(raw, list)
        else [(t, f"tests[{n}]") for n, t in enumerate(raw)]
    ):
        if isinstance(item, str) and item.startswith("file://"):
            rows = read_data_file(source, item, source.where(at))
            name = file_path(source, item, at).name
            entries.extend((row, f"{at} ({name} row {n + 1})") for n, row in enumerate(rows))
        elif isinstance(item, Mapping):
            entries.append((item, at))
        else:
            raise MigrationError(
                f"{source.where(at)}: expected a test (a mapping with vars and assert) or a "
                f"file:// path, got {type(item).__name__}"
            )
    tests: list[TestRecord] = []
    for item, at in entries:
        row = _from_csv(item) if _is_csv_row(item) else item
        if not isinstance(row, Mapping):
            raise MigrationError(f"{source.where(at)}: expected a test mapping")
        test = _test(source, row, at)
        merged = {**defaults.vars, **test.vars}
        for combination in _expand(merged):
            tests.append(
                TestRecord(
                    test.description,
                    combination,
                    test.asserts,
                    test.metadata,
                    test.where,
                    test.unmapped,
                )
            )
    return tests


def _test(source: Source, raw: Mapping[str, Any], at: str) -> TestRecord:
    where = source.where(at)
    unmapped = [
        Unmapped(f"{where}.{key}", "not carried over") for key in raw if key not in _TEST_KEYS
    ]
    variables = raw.get("vars") or {}
    if not isinstance(variables, Mapping):
        raise MigrationError(f"{where}.vars: expected a mapping of variables")
    loaded = {str(k): _var(source, v, f"{at}.vars.{k}") for k, v in variables.items()}
    asserts = raw.get("assert") or []
    if not isinstance(asserts, list):
        raise MigrationError(f"{where}.assert: expected a list of assertions")
    records = []
    for n, spec in enumerate(asserts):
        if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
            raise MigrationError(f"{where}.assert[{n}]: expected an assertion with a 'type'")
        records.append(AssertionRecord(spec, f"{at}.assert[{n}]"))
    if raw.get("threshold") is not None:
        unmapped.append(
            Unmapped(
                f"{where}.threshold",
                f"a weighted score threshold ({raw['threshold']}) has no equivalent: every "
                "check must pass here",
            )
        )
    options = raw.get("options")
    if options:
        unmapped.append(Unmapped(f"{where}.options", "not carried over"))
    metadata = raw.get("metadata") or {}
    description = raw.get("description")
    return TestRecord(
        str(description) if description is not None else None,
        loaded,
        tuple(records),
        dict(metadata) if isinstance(metadata, Mapping) else {"metadata": metadata},
        at,
        tuple(unmapped),
    )


def _var(source: Source, value: Any, at: str) -> Any:
    if isinstance(value, str) and value.startswith("file://"):
        return read_text_file(source, value, source.where(at))
    return value


def _expand(variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    lists = {k: v for k, v in variables.items() if isinstance(v, list)}
    if not lists:
        return [dict(variables)]
    combos = itertools.product(*lists.values())
    return [{**variables, **dict(zip(lists, combo, strict=True))} for combo in combos]


def _is_csv_row(item: Any) -> bool:
    return (
        isinstance(item, Mapping)
        and "vars" not in item
        and "assert" not in item
        and all(isinstance(v, str) for v in item.values())
    )


def _from_csv(row: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row: columns are vars, ``__expected`` (``__expected1``...) assertions,
    ``__description``, ``__threshold`` and ``__metadata:<key>``; other ``__`` columns stay keys
    (listed as not carried over)."""
    test: dict[str, Any] = {"vars": {}, "assert": []}
    for column, cell in row.items():
        if column.startswith("__expected"):
            if cell.strip():
                test["assert"].append(expected_cell(cell))
        elif column == "__description":
            test["description"] = cell
        elif column == "__threshold":
            test["threshold"] = cell.strip() or None  # listed as not carried over
        elif column.startswith("__metadata:"):
            test.setdefault("metadata", {})[column.removeprefix("__metadata:")] = cell
        elif column.startswith("__"):
            test[column] = cell
        else:
            test["vars"][column] = cell
    return test


def expected_cell(cell: str) -> dict[str, Any]:
    """One ``__expected`` cell as an assertion object (``icontains: paris`` -> icontains)."""
    match = _CELL.match(cell)
    if match is None:
        return {"type": "equals", "value": cell}
    kind = _ALIASES.get(match["type"], match["type"])
    spec: dict[str, Any] = {"type": ("not-" if match["not"] else "") + kind}
    value = cell[match.end() :]
    if value:
        spec["value"] = [v.strip() for v in value.split(",")] if kind in _LIST_TYPES else value
    if match["threshold"]:
        spec["threshold"] = float(match["threshold"])
    return spec
