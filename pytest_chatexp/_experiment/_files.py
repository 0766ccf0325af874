"""Prompt and dataset files: reading model configs (YAML or JSON prompt files) and inputs
(JSONL, JSON, CSV or YAML datasets), and resolving a marker's ``model_configs`` and ``inputs``
values, which may name such files, relative to the test file's folder.

The data models (``_config``, ``_inputs``) validate what is read here and read no file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import DatasetError, InvalidExperimentError
from .._reading import FileTooLarge, YamlProblem, load_yaml, read_bounded
from ._config import ModelConfig, model_config_from_data
from ._inputs import Input, input_from_row

__all__ = [
    "load_dataset",
    "load_model_configs",
    "read_structured_file",
    "read_text",
    "resolve_inputs",
    "resolve_model_configs",
]


def load_model_configs(path: str | Path) -> list[ModelConfig]:
    """Read the model configs of a prompt file (YAML or JSON).

    The file holds one config, a list of configs, or a mapping with a ``model_configs`` list.
    A config may name another of the same file in ``extends`` to reuse all its fields::

        - name: support-v1
          model: gpt-4o-mini
          chat_template:
            - {role: system, content: "You are a support agent for {{company}}."}
        - name: support-v1-hot
          extends: support-v1
          temperature: 0.9
    """
    path = Path(path)
    entries = _read_config_entries(path)
    by_name: dict[str, dict[str, Any]] = {}
    configs: list[ModelConfig] = []
    for position, entry in enumerate(entries):
        where = f"{path}: model_configs[{position}]"
        if not isinstance(entry, Mapping):
            raise DatasetError(
                f"{where}: expected a mapping of config fields, got {type(entry).__name__}"
            )
        fields = dict(entry)
        base_name = fields.pop("extends", None)
        if base_name is not None and not isinstance(base_name, str):
            raise DatasetError(
                f"{where}.extends: expected the name of a config defined above it, "
                f"got {type(base_name).__name__}"
            )
        if base_name is not None:
            if base_name not in by_name:
                known = ", ".join(by_name) or "none defined above it"
                raise DatasetError(
                    f"{where}: extends '{base_name}', which is not a config defined above it "
                    f"in this file (known: {known})"
                )
            fields = {**by_name[base_name], **fields}
        config = model_config_from_data(fields, where=where)
        by_name[config.display_name] = fields
        configs.append(config)
    if not configs:
        raise DatasetError(f"{path}: the prompt file declares no model configs")
    return configs


def _read_config_entries(path: Path) -> list[Any]:
    data = read_structured_file(path)
    if isinstance(data, Mapping) and "model_configs" in data:
        data = data["model_configs"]
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, list):
        return data
    raise DatasetError(f"{path}: expected a config mapping or a list of configs")


def read_text(path: Path) -> str:
    """The UTF-8 text of a prompt or dataset file; a DatasetError naming the file if unreadable."""
    try:
        text = read_bounded(path).decode("utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, FileTooLarge) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode


def read_structured_file(path: Path) -> Any:
    """Parse a JSON or YAML file, turning every failure into a DatasetError naming the file."""
    text = read_text(path)
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            return load_yaml(text)
        except YamlProblem as exc:
            line = f":{exc.line}" if exc.line is not None else ""
            raise DatasetError(f"{path}{line}: invalid YAML: {exc.problem}") from None
    raise DatasetError(f"{path}: unsupported file type '{path.suffix}' (use .yaml, .yml or .json)")


def resolve_model_configs(
    value: ModelConfig | Mapping[str, Any] | str | Path | Sequence[Any],
    *,
    base_dir: Path,
    where: str,
) -> list[ModelConfig]:
    """Turn a marker's ``model_configs`` value into configs: objects, mappings and file paths.

    Relative paths are read from ``base_dir`` (the test file's folder).
    """
    items: Sequence[Any] = (
        [value] if isinstance(value, ModelConfig | Mapping | str | Path) else value
    )
    configs: list[ModelConfig] = []
    for position, item in enumerate(items):
        if isinstance(item, str | Path):
            configs.extend(load_model_configs(base_dir / item))
        else:
            configs.append(model_config_from_data(item, where=f"{where}[{position}]"))
    return configs


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
