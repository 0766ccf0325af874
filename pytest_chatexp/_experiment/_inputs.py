"""Inputs: the cases an experiment runs, inline or from dataset files (JSONL, JSON, CSV).

A row is either *flat* -- every key is a template variable -- or *structured* -- the keys are
among ``id``, ``inputs``, ``messages`` and ``metadata``. A flat row's ``id`` key, if any, is both
a variable and the case id, so ``{{id}}`` keeps working in templates.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._errors import DatasetError, InvalidExperimentError
from .._validation import describe_validation_error
from ._config import TemplateMessage, read_structured_file, read_text

__all__ = ["Input", "load_dataset", "resolve_inputs"]

_STRUCTURED_KEYS = frozenset({"id", "inputs", "messages", "metadata"})


class Input(BaseModel):
    """One case: template variables, extra messages sent after the chat template, and an id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    messages: tuple[TemplateMessage, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)


def input_from_row(row: Any, *, where: str) -> Input:
    """Validate one row (an Input, a flat mapping of variables, or a structured mapping)."""
    if isinstance(row, Input):
        return row
    if not isinstance(row, Mapping):
        raise InvalidExperimentError(
            f"{where}: expected a mapping of template variables, got {type(row).__name__}"
        )
    is_structured = ("inputs" in row or "messages" in row) and set(row) <= _STRUCTURED_KEYS
    data: dict[str, Any] = dict(row) if is_structured else {"inputs": dict(row)}
    if not is_structured and "id" in row:
        data["id"] = row["id"]
    if data.get("id") is not None and not isinstance(data["id"], str):
        data["id"] = str(data["id"])
    try:
        return Input.model_validate(data)
    except ValidationError as exc:
        problems = describe_validation_error(exc, known_fields=Input.model_fields)
        raise InvalidExperimentError(f"{where}: {problems}") from None


def load_dataset(path: str | Path) -> list[Input]:
    """Read a dataset file: ``.jsonl`` (a row per line), ``.json`` (a list), ``.csv`` (a header
    row naming the variables), or ``.yaml``/``.yml`` (a list)."""
    return [row for _, row in _dataset_rows(Path(path))]


def _dataset_rows(path: Path) -> list[tuple[str, Input]]:
    """The rows of a dataset file, each with where it is (file and line, or row number)."""
    if path.suffix == ".jsonl":
        rows = list(_read_jsonl(path))
    elif path.suffix == ".csv":
        rows = list(_read_csv(path))
    elif path.suffix in (".json", ".yaml", ".yml"):
        data = read_structured_file(path)
        if isinstance(data, Mapping) and "inputs" in data and isinstance(data["inputs"], list):
            data = data["inputs"]
        if not isinstance(data, list):
            raise DatasetError(f"{path}: expected a list of rows, got {type(data).__name__}")
        rows = [(f"{path}: row {n}", row) for n, row in enumerate(data)]
    else:
        raise DatasetError(
            f"{path}: unsupported dataset type '{path.suffix}' (use .jsonl, .json, .csv or .yaml)"
        )
    if not rows:
        raise DatasetError(f"{path}: the dataset has no rows")
    inputs: list[tuple[str, Input]] = []
    for where, row in rows:
        try:
            inputs.append((where, input_from_row(row, where=where)))
        except InvalidExperimentError as exc:
            raise DatasetError(str(exc)) from None
    return inputs


def _read_jsonl(path: Path) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"{path}:{lineno}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
    return rows


def _read_csv(path: Path) -> list[tuple[str, Any]]:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    if not reader.fieldnames:
        raise DatasetError(f"{path}: the CSV file has no header row")
    rows: list[tuple[str, Any]] = []
    for row in reader:
        lineno = reader.line_num
        if None in row or any(value is None for value in row.values()):
            raise DatasetError(
                f"{path}:{lineno}: the row has a different number of columns than the header"
            )
        rows.append((f"{path}:{lineno}", row))
    return rows


def resolve_inputs(
    value: Sequence[Any] | Mapping[str, Any] | str | Path | None, *, base_dir: Path, where: str
) -> list[Input]:
    """Turn a marker's ``inputs`` value into Inputs, giving each a unique id.

    ``None`` means a single case with no variables (a template without placeholders).
    Relative dataset paths are read from ``base_dir`` (the test file's folder).
    """
    if value is None:
        items: list[tuple[str, Input]] = [(where, Input())]
    elif isinstance(value, str | Path):
        items = _dataset_rows(base_dir / value)
    elif isinstance(value, Mapping | Input):
        items = [(f"{where}[0]", input_from_row(value, where=f"{where}[0]"))]
    else:
        items = []
        for position, row in enumerate(value):
            if isinstance(row, str | Path):
                items.extend(_dataset_rows(base_dir / row))
            else:
                at = f"{where}[{position}]"
                items.append((at, input_from_row(row, where=at)))
    return _with_ids(items, where=where)


def _with_ids(items: list[tuple[str, Input]], *, where: str) -> list[Input]:
    seen: dict[str, str] = {}
    result: list[Input] = []
    for position, (origin, item) in enumerate(items):
        case_id = item.id if item.id is not None else f"input-{position}"
        if case_id in seen:
            raise InvalidExperimentError(
                f"{where}: two inputs share the id '{case_id}'; input ids must be unique "
                f"({seen[case_id]} and {origin})"
            )
        seen[case_id] = origin
        result.append(item if item.id == case_id else item.model_copy(update={"id": case_id}))
    return result
