"""Reading a promptfoo config and the files it names: the top-level shape, ``file://`` paths,
and prompts (strings, text files, chat JSON), each with where it came from."""

from __future__ import annotations

import csv
import glob
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._reading import FileTooLarge, YamlProblem, load_yaml, read_bounded
from .._records import MigrationError, TemplateMessage, Unmapped

__all__ = [
    "KNOWN_KEYS",
    "PromptRecord",
    "Source",
    "nunjucks_problems",
    "read_config",
    "read_data_file",
    "read_prompts",
]

# promptfoo's top-level keys: the ones mapped, and the ones listed as not carried over.
MAPPED_KEYS = frozenset(
    {"description", "prompts", "providers", "targets", "tests", "defaultTest", "evaluateOptions"}
)
KNOWN_KEYS = MAPPED_KEYS | frozenset(
    {
        "scenarios", "outputPath", "env", "sharing", "commandLineOptions", "extensions",
        "derivedMetrics", "nunjucksFilters", "tags", "metadata", "redteam", "writeLatestResults",
        "$schema",
    }
)  # fmt: skip
# ``{{ name }}`` is what the plugin renders; anything else in braces is Nunjucks it does not.
_PLAIN = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STATEMENT = re.compile(r"\{%-?\s*(\w+)|\{#")


@dataclass(frozen=True, slots=True)
class Source:
    """The config file read: its path (as named in messages), its folder, its data."""

    path: Path
    data: Mapping[str, Any]

    @property
    def folder(self) -> Path:
        return self.path.parent

    def where(self, field: str) -> str:
        return f"{self.path.name}: {field}"


@dataclass(frozen=True, slots=True)
class PromptRecord:
    label: str
    messages: tuple[TemplateMessage, ...]
    where: str


def _read_text(path: Path, where: str) -> str:
    try:
        return read_bounded(path).decode("utf-8").replace("\r\n", "\n")
    except FileNotFoundError:
        raise MigrationError(f"{where}: file {path} not found") from None
    except (OSError, UnicodeDecodeError, FileTooLarge) as exc:
        raise MigrationError(f"{where}: cannot read {path} ({exc})") from None


def _yaml(text: str, where: str) -> Any:
    try:
        return load_yaml(text)
    except YamlProblem as exc:
        line = f" (line {exc.line})" if exc.line is not None else ""
        raise MigrationError(f"{where}: invalid YAML{line}: {exc.problem}") from None


def read_config(path: Path) -> Source:
    """Read ``promptfooconfig.yaml``; a MigrationError naming the file for a wrong shape."""
    data = _yaml(_read_text(path, path.name), path.name)
    if not isinstance(data, Mapping):
        raise MigrationError(
            f"{path.name}: expected a promptfoo config (a mapping with prompts, providers and "
            f"tests), got a {type(data).__name__}"
        )
    source = Source(path, data)
    if "prompts" not in data:
        raise MigrationError(
            f"{source.where('prompts')}: missing; a promptfoo config lists its prompts"
        )
    if "providers" not in data and "targets" not in data:
        raise MigrationError(
            f"{source.where('providers')}: missing; a promptfoo config lists its providers"
        )
    return source


def unknown_keys(source: Source) -> list[Unmapped]:
    found: list[Unmapped] = []
    for key in source.data:
        if key in MAPPED_KEYS:
            continue
        what = (
            "not carried over" if key in KNOWN_KEYS else "not a promptfoo key this importer knows"
        )
        found.append(Unmapped(source.where(str(key)), what))
    return found


def file_path(source: Source, value: str, where: str) -> Path:
    return source.folder / value.removeprefix("file://")


def read_data_file(source: Source, value: str, where: str) -> list[Any]:
    """The rows of a ``file://`` tests file: CSV (a header row), JSON, JSONL or YAML lists."""
    path = file_path(source, value, where)
    text = _read_text(path, where)
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        for n, row in enumerate(rows, start=2):
            if None in row or None in row.values():
                raise MigrationError(
                    f"{where}: {path.name} line {n}: the row has a different number of columns "
                    "than the header (quote a cell holding a comma)"
                )
        return rows
    if path.suffix == ".jsonl":
        rows = []
        for lineno, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                rows.append(_json(line, f"{where} ({path.name}:{lineno})"))
        return rows
    data = _json(text, f"{where} ({path.name})") if path.suffix == ".json" else None
    if path.suffix in (".yaml", ".yml"):
        data = _yaml(text, f"{where} ({path.name})")
    if data is None and path.suffix not in (".json", ".yaml", ".yml"):
        raise MigrationError(
            f"{where}: {path.name}: tests from a '{path.suffix}' file are not supported "
            "(use .csv, .json, .jsonl or .yaml; test generators in code have no equivalent)"
        )
    if not isinstance(data, list):
        raise MigrationError(f"{where}: {path.name}: expected a list of tests")
    return data


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MigrationError(f"{where}: invalid JSON at line {exc.lineno}: {exc.msg}") from None


def nunjucks_problems(text: str, where: str) -> list[Unmapped]:
    """Nunjucks beyond ``{{var}}`` (filters, expressions, tags): each one, named."""
    problems: list[Unmapped] = []
    for match in _EXPRESSION.finditer(text):
        if not _PLAIN.fullmatch(match.group(0)):
            problems.append(
                Unmapped(
                    where,
                    f"Nunjucks expression {match.group(0)!r} is not supported (only {{{{var}}}} "
                    "is rendered; it is sent as written): rewrite it, or compute the value into "
                    "a dataset column",
                )
            )
    for match in _STATEMENT.finditer(text):
        kind = f"tag '{{% {match.group(1)} %}}'" if match.group(1) else "comment '{# ... #}'"
        problems.append(
            Unmapped(where, f"Nunjucks {kind} is not supported (sent as written): rewrite it")
        )
    return problems


def read_prompts(source: Source) -> tuple[list[PromptRecord], list[Unmapped]]:
    raw = source.data["prompts"]
    entries: list[tuple[Any, str | None, str]] = []  # (value, label, field)
    if isinstance(raw, str):
        entries.append((raw, None, "prompts"))
    elif isinstance(raw, Mapping):  # the legacy form: {file://path: label}
        entries.extend((key, str(label), f"prompts[{key!r}]") for key, label in raw.items())
    elif isinstance(raw, list):
        for n, item in enumerate(raw):
            field = f"prompts[{n}]"
            if isinstance(item, Mapping):
                value = item.get("raw", item.get("id"))
                if not isinstance(value, str):
                    raise MigrationError(
                        f"{source.where(field)}: a prompt object needs 'raw' or 'id' text"
                    )
                label = item.get("label")
                entries.append((value, str(label) if label is not None else None, field))
            elif isinstance(item, str):
                entries.append((item, None, field))
            else:
                raise MigrationError(
                    f"{source.where(field)}: expected a prompt string or object, "
                    f"got {type(item).__name__}"
                )
    else:
        raise MigrationError(f"{source.where('prompts')}: expected a list of prompts")
    prompts: list[PromptRecord] = []
    unmapped: list[Unmapped] = []
    for value, label, field in entries:
        where = source.where(field)
        if value.startswith("file://"):
            found, skipped = _file_prompts(source, value, label, where)
            prompts += found
            unmapped += skipped
        else:
            messages = _messages(value, where)
            prompts.append(PromptRecord(label or _label(messages[0].content), messages, where))
    if not prompts:
        raise MigrationError(f"{source.where('prompts')}: no prompt could be imported")
    for prompt in prompts:
        for message in prompt.messages:
            unmapped += nunjucks_problems(message.content, prompt.where)
    return prompts, unmapped


def _file_prompts(
    source: Source, value: str, label: str | None, where: str
) -> tuple[list[PromptRecord], list[Unmapped]]:
    spec = value.removeprefix("file://")
    if re.search(r"\.(py|js|ts|mjs|cjs)(:\w+)?$", spec):
        return [], [
            Unmapped(
                where, f"prompt function {value} has no equivalent: write its template as a prompt"
            )
        ]
    paths = sorted(source.folder.glob(spec)) if glob.has_magic(spec) else [source.folder / spec]
    if not paths:
        raise MigrationError(f"{where}: {value} matches no file")
    prompts: list[PromptRecord] = []
    for path in paths:
        at = f"{where} ({path.name})"
        text = _read_text(path, where)
        if path.suffix == ".json":
            chats = [_chat(_json(text, at), at)]
        elif path.suffix == ".jsonl":
            chats = [_chat(_json(line, at), at) for line in text.split("\n") if line.strip()]
        elif path.suffix in (".yaml", ".yml"):
            chats = [_chat(_yaml(text, at), at)]
        else:  # text or Markdown; a line of --- separates prompts
            chats = [_messages(part.strip("\n"), at) for part in re.split(r"\n-{3,}\n", text)]
        for n, messages in enumerate(chats):
            base = label or path.stem
            name = base if len(chats) == 1 else f"{base}-{n + 1}"
            prompts.append(PromptRecord(name, messages, at))
    return prompts, []


def _messages(text: str, where: str) -> tuple[TemplateMessage, ...]:
    """A prompt string: chat JSON (a list of messages) when it parses as one, else one user
    message, as promptfoo sends a plain prompt."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            return _chat(data, where)
    if not stripped:
        raise MigrationError(f"{where}: the prompt is empty")
    return (TemplateMessage("user", text),)


def _chat(data: Any, where: str) -> tuple[TemplateMessage, ...]:
    if not isinstance(data, list) or not data:
        raise MigrationError(f"{where}: a chat prompt is a list of {{role, content}} messages")
    messages = []
    for n, item in enumerate(data):
        if not (
            isinstance(item, Mapping)
            and item.get("role") in ("system", "user", "assistant", "developer")
            and isinstance(item.get("content"), str)
        ):
            raise MigrationError(
                f"{where}: message {n}: expected {{role: system/user/assistant, content: text}}"
            )
        role = "system" if item["role"] == "developer" else item["role"]
        messages.append(TemplateMessage(role, item["content"]))
    return tuple(messages)


def _label(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", re.sub(r"\{\{.*?\}\}", " ", text))[:4]
    return "-".join(words).lower() or "prompt"


def read_text_file(source: Source, value: str, where: str) -> str:
    """A ``file://`` var or schema: the file's text."""
    return _read_text(file_path(source, value, where), where)


def read_structured(source: Source, value: str, where: str) -> Any:
    """A ``file://`` JSON or YAML value (a JSON schema)."""
    path = file_path(source, value, where)
    text = _read_text(path, where)
    return (
        _json(text, f"{where} ({path.name})")
        if path.suffix == ".json"
        else _yaml(text, f"{where} ({path.name})")
    )
