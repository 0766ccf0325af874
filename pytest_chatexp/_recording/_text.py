"""Recording text: the canonical YAML dumper, JSON-value checks and the secret scan's refusal.

What a recording file may hold is decided here, on plain data, before the store writes it (and,
for JSON values, after it reads a file another YAML writer made): JSON types only, string keys,
and no secret. Messages name the offending field by its JSON path (``request.body.messages[0]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from .._errors import SecretInRecordingError
from .._util import json_path
from ._secrets import environment_secrets, scan_secrets

if TYPE_CHECKING:  # the C classes have the same interface; the stubs only type the pure ones
    _BaseDumper = yaml.SafeDumper
    _Loader = yaml.SafeLoader
else:
    _BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "Invalid",
    "dump_yaml",
    "field_holding",
    "json_data",
    "json_kind",
    "refuse_secrets",
    "typed",
]

_WIDTH: Final = 1 << 30


class Invalid(Exception):
    """A problem in a recording's content, turned into a CorruptRecordingError naming the file."""


class _Dumper(_BaseDumper):
    """Safe YAML with multi-line strings as literal blocks and no anchors or aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a reviewer must see every value in place, never a *id001 reference


def dump_yaml(data: Any) -> str:
    """``data`` as recording YAML: block style, keys in the given order, no line folding."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,  # _interaction_data already orders every mapping
        allow_unicode=True,
        width=_WIDTH,
        indent=2,
        default_flow_style=False,
    )


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # The emitter falls back to a quoted style when a block cannot hold the text exactly
    # (trailing spaces, tabs, control characters), so this never changes the content.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def field_holding(value: Any, char: str, parts: list[str | int]) -> str | None:
    """The path of the first string in ``value`` (a key or a value) holding ``char``."""
    if isinstance(value, str):
        return json_path(parts) if char in value else None
    if not isinstance(value, dict | list):
        return None
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        if isinstance(key, str) and char in key:
            return f"a key of {json_path(parts)}"
        found = field_holding(item, char, [*parts, key])
        if found is not None:
            return found
    return None


def json_data(value: Any, parts: list[str | int]) -> Any:
    """A copy of JSON ``value`` with every mapping's keys sorted; Invalid for non-JSON data."""
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise Invalid(f"{json_path(parts)} has the key {key!r}, which is not a string")
        return {key: json_data(value[key], [*parts, key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [json_data(item, [*parts, index]) for index, item in enumerate(value)]
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    raise Invalid(f"{json_path(parts)} is {json_kind(value)}, which is not a JSON value")


def refuse_secrets(path: Path, text: str, known_secrets: Iterable[str] | None) -> None:
    known = environment_secrets() if known_secrets is None else known_secrets
    hits = scan_secrets(text, known)
    if not hits:
        return
    locate = _field_locator(text)
    found = []
    for hit in hits:
        line = text.count("\n", 0, hit.start) + 1
        field = locate(line - 1)
        found.append(f"  line {line}{f', {field}' if field else ''}: {hit.description}")
    raise SecretInRecordingError(
        f"refusing to write recording {path}: it would contain "
        f"{'a secret' if len(hits) == 1 else f'{len(hits)} secrets'}.\n"
        + "\n".join(found)
        + "\nNothing was written. Remove the credential from the prompt, input or config that "
        "sent it (test values must not look like real keys), then record again."
    )


def _field_locator(text: str) -> Callable[[int], str]:
    """A function from a 0-based line of ``text`` to the path of the value on it (or "")."""
    spans: list[tuple[int, int, str]] = []

    def walk(node: yaml.Node, parts: list[str | int]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = [*parts, str(key.value)]
                spans.append((key.start_mark.line, key.end_mark.line, json_path(child)))
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, [*parts, index])
        else:
            spans.append((node.start_mark.line, node.end_mark.line, json_path(parts)))

    root = yaml.compose(text, Loader=_Loader)
    if root is not None:
        walk(root, [])

    def locate(line: int) -> str:
        # The innermost scalar on the line: a literal block spans its lines, a key just one.
        containing = [
            (end - start, -start, path) for start, end, path in spans if start <= line <= end
        ]
        return min(containing)[2] if containing else ""

    return locate


_KIND_NAMES: Final[dict[type[Any], str]] = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
}


def typed(value: Any, kind: type[Any], where: str) -> Any:
    if not isinstance(value, kind):
        raise Invalid(f"{where} must be {_KIND_NAMES[kind]}, not {json_kind(value)}")
    return value


def json_kind(value: Any) -> str:
    kind = type(value)
    return "null" if value is None else _KIND_NAMES.get(kind, f"a {kind.__name__}")
