"""Recording files: the provider calls of one test, kept next to the test and replayed in CI.

One YAML file per test, ``<test dir>/__recordings__/<test module>/<test name>.yaml``, so a
prompt change shows up in a pull request as a readable diff of exactly the tests it affects:

    # pytest-chatexp recording. Re-record with: pytest --chatexp-record=new
    version: 1
    test: tests/test_support.py::test_refund[support-v2]
    interactions:
    - fingerprint: 5f0c1d...
      label: {config, input, sample}      (block style in the file)
      request: {body, endpoint, provider}
      response: {body, latency_s}

The output is canonical (sorted interactions and keys, multi-line strings as ``|`` blocks, no
timestamps, latency rounded to milliseconds) so re-recording unchanged calls rewrites nothing.

Writes are atomic and serialised by a lock (``_files``), because pytest-xdist workers may
record into the same file, and a killed run must never leave a half-written recording behind.
Every write is scanned for secrets first, since these files are committed. Reading goes through
the plugin's one safe YAML loader (``_reading``: no aliases, no repeated keys, bounded size).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from .._errors import CorruptRecordingError, RecordingError, SecretInRecordingError
from .._reading import FileTooLarge, YamlProblem, load_yaml, read_bounded
from .._util import json_path
from ._block_yaml import NotInSubset
from ._block_yaml import load as load_block_yaml
from ._files import check_writable, reason, write_if_changed, writing_locked
from ._fingerprint import fingerprint
from ._secrets import environment_secrets, scan_secrets

if TYPE_CHECKING:  # the C classes have the same interface; the stubs only type the pure ones
    _BaseDumper = yaml.SafeDumper
    _Loader = yaml.SafeLoader
else:
    _BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "Call",
    "CorruptRecordingError",
    "Interaction",
    "Label",
    "RecordedRequest",
    "RecordingError",
    "RecordingFile",
    "SecretInRecordingError",
    "check_writable",
    "recording_path",
    "update",
]

VERSION: Final = 1
HEADER: Final = "# pytest-chatexp recording. Re-record with: pytest --chatexp-record=new\n"
_FIX: Final = "Delete it and re-record with --chatexp-record=all."
_MAX_NAME: Final = 150
_UNSAFE_CHARS: Final = re.compile(r"[^A-Za-z0-9_.=\[\]-]")
_TOP_LEVEL_KEYS: Final = ("version", "test", "interactions")
_INTERACTION_KEYS: Final = ("fingerprint", "label", "request", "response")
_LABEL_KEYS: Final = ("config", "input", "sample")
_REQUEST_KEYS: Final = ("provider", "endpoint", "body")
# No line folding: a long line stays one line, so a one-word change is a one-line diff.
_WIDTH: Final = 1 << 30


@dataclass(frozen=True, slots=True)
class Label:
    """Which call of the experiment an interaction answers, for people and for miss reports."""

    config: str
    input: str
    sample: int


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """The credential-free request: provider kind, endpoint (host and path) and JSON body."""

    provider: str
    endpoint: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """A call the runner needs answered: look up ``fingerprint``, record it with a response."""

    label: Label
    request: RecordedRequest

    @property
    def fingerprint(self) -> str:
        return fingerprint(
            provider=self.request.provider,
            endpoint=self.request.endpoint,
            body=self.request.body,
            sample_index=self.label.sample,
        )


@dataclass(frozen=True, slots=True)
class Interaction:
    """One recorded call.

    ``response`` is free-form so streams can add ``chunks`` later; it always holds ``body`` (the
    decoded JSON answer) and ``latency_s`` (seconds, rounded to 3 decimals when saved).
    """

    fingerprint: str
    label: Label
    request: RecordedRequest
    response: Mapping[str, Any]

    @classmethod
    def record(cls, call: Call, *, body: Any, latency_s: float, **extra: Any) -> Interaction:
        """The interaction answering ``call``; ``extra`` adds response fields such as chunks.

        Latency is rounded as it will be saved, so the interaction equals its reloaded self.
        """
        response = {"body": body, "latency_s": round(latency_s, 3), **extra}
        return cls(call.fingerprint, call.label, call.request, response)


class RecordingFile:
    """The interactions of one test, keyed by fingerprint."""

    def __init__(self, test: str = "", interactions: Iterable[Interaction] = ()) -> None:
        self.test = test
        self._by_fingerprint: dict[str, Interaction] = {}
        for interaction in interactions:
            self.add(interaction)

    @classmethod
    def load(cls, path: Path) -> RecordingFile:
        """Read ``path``; a missing file is an empty recording. Raises CorruptRecordingError."""
        try:
            data = read_bounded(path)
        except FileNotFoundError:
            return cls()
        except FileTooLarge as exc:
            raise _corrupt(path, str(exc)) from None
        except OSError as exc:  # a folder at its path, no permission to read, an I/O error
            raise RecordingError(f"cannot read recording {path}: {reason(exc, path)}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _corrupt(path, f"it is not UTF-8 text (byte {exc.start})") from None
        return _parse(path, text)

    @property
    def interactions(self) -> list[Interaction]:
        """All interactions in file order: by config, input, sample, then fingerprint."""
        return sorted(self._by_fingerprint.values(), key=_order)

    def get(self, fingerprint: str) -> Interaction | None:
        return self._by_fingerprint.get(fingerprint)

    def add(self, interaction: Interaction) -> None:
        """Add ``interaction``, replacing any with the same fingerprint."""
        self._by_fingerprint[interaction.fingerprint] = interaction

    def __len__(self) -> int:
        return len(self._by_fingerprint)

    def render(self) -> str:
        """The file's canonical text; raises RecordingError for data YAML/JSON cannot hold."""
        document = {
            "version": VERSION,
            "test": self.test,
            "interactions": [_interaction_data(item) for item in self.interactions],
        }
        try:
            text = dump_yaml(document)
        except UnicodeEncodeError as exc:
            raise self._unstorable(exc.object[exc.start]) from None
        return HEADER + text

    def _unstorable(self, char: str) -> RecordingError:
        """The error naming the call and the field that hold ``char``, an unpaired surrogate."""
        problem = f"holds {char!r}, an unpaired surrogate that a UTF-8 file cannot store"
        for item in self.interactions:
            field = _field_holding(_interaction_data(item), char, [])
            if field is not None:
                return RecordingError(f"cannot record {_call_name(item.label)}: {field} {problem}")
        return RecordingError(f"cannot record test {self.test}: its name {problem}")

    def save(self, path: Path, *, known_secrets: Iterable[str] | None = None) -> None:
        """Write exactly this recording to ``path``, atomically, under the file's lock.

        ``known_secrets`` are values that must never be written (default: the values of
        credential-named environment variables). Raises SecretInRecordingError before anything
        is written when the text would contain one, or a well-known credential shape.
        """
        text = self.render()
        _refuse_secrets(path, text, known_secrets)
        with writing_locked(path):
            write_if_changed(path, text)


def update(
    path: Path,
    interactions: Iterable[Interaction],
    *,
    replace_test: bool,
    test: str,
    known_secrets: Iterable[str] | None = None,
) -> RecordingFile:
    """Merge ``interactions`` into the recording at ``path`` and return what was written.

    Under the file's lock, the current file is re-read so that concurrent writers (xdist
    workers) never lose each other's entries. With ``replace_test`` the recording becomes
    exactly ``interactions`` (a test that re-recorded every call drops its stale entries, and
    a corrupt file is simply replaced); otherwise it is the union, the given ones winning.
    Secrets are refused as in ``RecordingFile.save``; nothing is written then.
    """
    given = list(interactions)
    with writing_locked(path):
        merged = RecordingFile(test) if replace_test else RecordingFile.load(path)
        merged.test = test
        for interaction in given:
            merged.add(interaction)
        text = merged.render()
        _refuse_secrets(path, text, known_secrets)
        write_if_changed(path, text)
    return merged


def recording_path(test_file: Path, test_name: str) -> Path:
    """Where the recording of ``test_name`` (the item name with parameters) lives.

    Methods of test classes should pass ``Class::method[params]`` so that two classes' methods
    of the same name do not share a file.
    """
    return _recordings_folder(test_file) / f"{_safe_name(test_name)}.yaml"


@functools.lru_cache(maxsize=256)
def _recordings_folder(test_file: Path) -> Path:
    return test_file.parent / "__recordings__" / test_file.stem


def _safe_name(name: str) -> str:
    """``name`` as a portable file name: unsafe characters become ``_``; long names are cut
    and get a hash of the full name, so distinct long names stay distinct."""
    safe = _UNSAFE_CHARS.sub("_", name)
    if safe.startswith("."):  # would be hidden, and could collide with our lock and temp files
        safe = "_" + safe
    if len(safe) >= _MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        safe = f"{safe[: _MAX_NAME - len(digest) - 2]}-{digest}"
    return safe


def _order(interaction: Interaction) -> tuple[str, str, int, str]:
    label = interaction.label
    return (label.config, label.input, label.sample, interaction.fingerprint)


# --- writing ------------------------------------------------------------------------------------


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


def _interaction_data(interaction: Interaction) -> dict[str, Any]:
    """The interaction as plain, ordered YAML data: fixed top-level order, sorted below it."""
    label, request = interaction.label, interaction.request
    response = dict(interaction.response)
    response["latency_s"] = round(float(response["latency_s"]), 3)
    request_data = {
        "provider": request.provider,
        "endpoint": request.endpoint,
        "body": request.body,
    }
    try:
        return {
            "fingerprint": interaction.fingerprint,
            "label": {"config": label.config, "input": label.input, "sample": label.sample},
            "request": _json_data(request_data, ["request"]),
            "response": _json_data(response, ["response"]),
        }
    except _Invalid as exc:
        raise RecordingError(f"cannot record {_call_name(label)}: {exc}") from None


def _call_name(label: Label) -> str:
    return f"model config '{label.config}', input '{label.input}', sample {label.sample}"


def _field_holding(value: Any, char: str, parts: list[str | int]) -> str | None:
    """The path of the first string in ``value`` (a key or a value) holding ``char``."""
    if isinstance(value, str):
        return json_path(parts) if char in value else None
    if not isinstance(value, dict | list):
        return None
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        if isinstance(key, str) and char in key:
            return f"a key of {json_path(parts)}"
        found = _field_holding(item, char, [*parts, key])
        if found is not None:
            return found
    return None


def _json_data(value: Any, parts: list[str | int]) -> Any:
    """A copy of JSON ``value`` with every mapping's keys sorted; _Invalid for non-JSON data."""
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise _Invalid(f"{json_path(parts)} has the key {key!r}, which is not a string")
        return {key: _json_data(value[key], [*parts, key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_json_data(item, [*parts, index]) for index, item in enumerate(value)]
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    raise _Invalid(f"{json_path(parts)} is {_kind(value)}, which is not a JSON value")


def _refuse_secrets(path: Path, text: str, known_secrets: Iterable[str] | None) -> None:
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


# --- reading ------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A problem in a recording's content, turned into a CorruptRecordingError naming the file."""


def _corrupt(path: Path, problem: str) -> CorruptRecordingError:
    return CorruptRecordingError(f"recording {path} is corrupt: {problem}. {_FIX}")


def _parse(path: Path, text: str) -> RecordingFile:
    try:
        data, json_only = load_block_yaml(text), True
    except (NotInSubset, RecursionError):  # not the subset our dumper writes: PyYAML reads it
        try:
            data, json_only = load_yaml(text), False
        except YamlProblem as exc:
            raise _corrupt(path, f"invalid YAML{exc.where}: {exc.problem}") from None
    try:
        return _recording_from_data(data, json_only=json_only)
    except _Invalid as exc:
        raise _corrupt(path, str(exc)) from None


def _recording_from_data(data: Any, *, json_only: bool) -> RecordingFile:
    """The recording in ``data``; ``json_only`` says it holds JSON types only (the block reader
    builds nothing else), which spares walking every body to check."""
    if data is None:
        raise _Invalid("the file is empty")
    top = _mapping(data, "the file", required=_TOP_LEVEL_KEYS, closed=True)
    version = top["version"]
    if type(version) is not int or version != VERSION:
        raise _Invalid(
            f"version {version!r} is not supported (this pytest-chatexp reads version {VERSION})"
        )
    test = _typed(top["test"], str, "test")
    items = _typed(top["interactions"], list, "interactions")
    recording = RecordingFile(test)
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        interaction = _interaction_from_data(item, index, json_only=json_only)
        if interaction.fingerprint in seen:
            raise _Invalid(
                f"interactions[{index}] repeats the fingerprint of "
                f"interactions[{seen[interaction.fingerprint]}]"
            )
        seen[interaction.fingerprint] = index
        recording.add(interaction)
    return recording


def _interaction_from_data(item: Any, index: int, *, json_only: bool) -> Interaction:
    where = f"interactions[{index}]"
    fields = _mapping(item, where, required=_INTERACTION_KEYS, closed=True)
    label_data = _mapping(fields["label"], f"{where}.label", required=_LABEL_KEYS, closed=True)
    request_data = _mapping(
        fields["request"], f"{where}.request", required=_REQUEST_KEYS, closed=True
    )
    response = _mapping(fields["response"], f"{where}.response", required=("body", "latency_s"))
    sample = label_data["sample"]
    if type(sample) is not int:
        raise _Invalid(f"{where}.label.sample must be an integer, not {_kind(sample)}")
    for name in ("latency_s", "first_token_s"):
        if name in response:
            _seconds(response[name], f"{where}.response.{name}")
    body = _typed(request_data["body"], dict, f"{where}.request.body")
    if not json_only:
        _json_data(request_data, ["interactions", index, "request"])
        _json_data(response, ["interactions", index, "response"])
    interaction = Interaction(
        fingerprint=_typed(fields["fingerprint"], str, f"{where}.fingerprint"),
        label=Label(
            config=_typed(label_data["config"], str, f"{where}.label.config"),
            input=_typed(label_data["input"], str, f"{where}.label.input"),
            sample=sample,
        ),
        request=RecordedRequest(
            provider=_typed(request_data["provider"], str, f"{where}.request.provider"),
            endpoint=_typed(request_data["endpoint"], str, f"{where}.request.endpoint"),
            body=body,
        ),
        response=response,
    )
    if Call(interaction.label, interaction.request).fingerprint != interaction.fingerprint:
        raise _Invalid(
            f"{where}.fingerprint does not match its request and sample "
            "(the request was edited by hand, or the file was merged badly)"
        )
    return interaction


def _seconds(value: Any, where: str) -> None:
    if type(value) not in (int, float):
        raise _Invalid(f"{where} must be a number, not {_kind(value)}")
    if not math.isfinite(value) or value < 0:
        raise _Invalid(f"{where} must be a duration in seconds (finite, not negative), not {value}")


def _mapping(
    value: Any, where: str, *, required: Sequence[str], closed: bool = False
) -> dict[str, Any]:
    mapping: dict[str, Any] = _typed(value, dict, where)
    for key in required:
        if key not in mapping:
            raise _Invalid(f"{where} is missing the field '{key}'")
    if closed:
        for key in mapping:
            if key not in required:
                raise _Invalid(f"{where} has an unknown field {key!r}")
    return mapping


_KIND_NAMES: Final[dict[type[Any], str]] = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
}


def _typed(value: Any, kind: type[Any], where: str) -> Any:
    if not isinstance(value, kind):
        raise _Invalid(f"{where} must be {_KIND_NAMES[kind]}, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    kind = type(value)
    return "null" if value is None else _KIND_NAMES.get(kind, f"a {kind.__name__}")
