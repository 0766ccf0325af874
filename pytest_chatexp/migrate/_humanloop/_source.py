"""Reading Humanloop exports and telling their shape: a model config or prompt version, a
``.prompt`` file, a dataset (datapoints), evaluators, or logs. A file of no known shape is
refused with its name and what was found."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._reading import FileTooLarge, read_bounded
from .._records import MigrationError, Unmapped
from ._configs import ConfigSource, config_record, parse_prompt_file
from ._data import (
    DatapointRecord,
    EvaluatorRecord,
    LogRecord,
    read_datapoints,
    read_evaluator,
    read_log,
)

__all__ = ["Exports", "read_exports"]

_SHAPES = (
    "a v4 model config or v5 prompt version (model, provider, chat_template or template), "
    "a .prompt file, datapoints (inputs, messages, target), evaluators (spec or code), or "
    "logs (inputs, output or output_message)"
)


@dataclass(slots=True)
class Exports:
    """Everything read from the paths given, in order."""

    configs: list[ConfigSource] = field(default_factory=list)
    datapoints: list[DatapointRecord] = field(default_factory=list)
    evaluators: list[EvaluatorRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)


def read_exports(paths: list[Path]) -> Exports:
    exports = Exports()
    for path in paths:
        name = path.name
        try:
            text = read_bounded(path).decode("utf-8-sig")
        except FileNotFoundError:
            raise MigrationError(f"{path}: file not found") from None
        except (OSError, FileTooLarge, UnicodeDecodeError) as exc:
            raise MigrationError(f"{path}: cannot read it: {exc}") from None
        if path.suffix == ".prompt":
            _add_config(exports, parse_prompt_file(text, where=name), name, path.stem)
        elif path.suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            if not rows:
                raise MigrationError(f"{name}: expected a header row and datapoints")
            exports.datapoints += read_datapoints([_csv_row(r) for r in rows], name, "row ")
        elif path.suffix in (".json", ".jsonl"):
            _read_json(exports, _json(text, name, path.suffix == ".jsonl"), name, path.stem)
        else:
            raise MigrationError(f"{name}: not a Humanloop export (.json, .jsonl, .csv, .prompt)")
    return exports


def _json(text: str, name: str, lines: bool) -> Any:
    try:
        if lines:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MigrationError(f"{name}: invalid JSON (line {exc.lineno}): {exc.msg}") from None


def _csv_row(row: Mapping[str, str]) -> dict[str, Any]:
    """Humanloop's dataset CSV: a column per input; ``messages`` and ``target`` as JSON."""
    data: dict[str, Any] = {"inputs": {}}
    for key, value in row.items():
        if key in ("messages", "target"):
            try:
                data[key] = json.loads(value) if value else None
            except json.JSONDecodeError:
                data[key] = {"output": value} if key == "target" else value
        elif key == "id":
            data["id"] = value
        elif key is not None:
            data["inputs"][key] = value
    return data


def _read_json(exports: Exports, data: Any, name: str, stem: str) -> None:
    # Paged API answers and exports wrap the list: {"records": [...]} / {"datapoints": [...]}.
    if isinstance(data, Mapping):
        for key in ("datapoints", "records", "logs", "data", "evaluators"):
            if isinstance(data.get(key), list):
                kind = _kind(data[key][0]) if data[key] else key
                if key == "datapoints" or kind == "datapoint":
                    exports.datapoints += read_datapoints(data[key], name, f"{key}[")
                    return
                _read_items(exports, data[key], name, stem, f"{key}[")
                return
        _read_items(exports, [data], name, stem, "")
    elif isinstance(data, list) and data:
        kinds = {_kind(item) for item in data}
        if kinds == {"datapoint"}:
            exports.datapoints += read_datapoints(data, name, "[")
        else:
            _read_items(exports, data, name, stem, "[")
    else:
        raise MigrationError(f"{name}: expected {_SHAPES}; got {_describe(data)}")


def _read_items(exports: Exports, items: list[Any], name: str, stem: str, prefix: str) -> None:
    for n, item in enumerate(items):
        field_name = f"{prefix}{n}]" if prefix else ""
        where = f"{name}: {field_name}" if field_name else name
        kind = _kind(item)
        if kind == "config":
            _add_config(exports, item, where, stem if not field_name else f"{stem}-{n + 1}")
        elif kind == "log":
            log, more = read_log(item, where)
            exports.logs.append(log)
            exports.unmapped += more
        elif kind == "evaluator":
            exports.evaluators.append(read_evaluator(item, where))
        elif kind == "datapoint":
            exports.datapoints += read_datapoints([item], name, f"{prefix}{n}" if prefix else "")
        else:
            raise MigrationError(f"{where}: expected {_SHAPES}; got {_describe(item)}")


def _add_config(exports: Exports, data: Mapping[str, Any], where: str, stem: str) -> None:
    source, unmapped = config_record(data, where=where, default_name=stem)
    exports.configs.append(source)
    exports.unmapped += unmapped


def _kind(item: Any) -> str | None:
    if not isinstance(item, Mapping):
        return None
    if (
        item.get("type") == "evaluator"
        or "spec" in item
        or ("code" in item and "arguments_type" in item)
    ):
        return "evaluator"
    if "output" in item or "output_message" in item:
        return "log"
    if "model" in item and any(k in item for k in ("chat_template", "template", "prompt_template")):
        return "config"
    if "inputs" in item or "target" in item or ("messages" in item and "model" not in item):
        return "datapoint"
    return None


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(list(map(str, value))[:6]) or "no fields"
        return f"an object with {keys}"
    if isinstance(value, list):
        return "an empty list" if not value else f"a list of {type(value[0]).__name__}"
    return type(value).__name__
