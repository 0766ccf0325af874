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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from .._errors import CorruptRecordingError, RecordingError, SecretInRecordingError
from .._reading import FileTooLarge, YamlProblem, load_yaml, read_bounded
from ._block_yaml import NotInSubset
from ._block_yaml import load as load_block_yaml
from ._files import check_writable, reason, write_pieces_if_changed, writing_locked
from ._interaction import Call, Interaction, Label, RecordedRequest
from ._secrets import environment_secrets, scan_secrets
from ._text import (
    Invalid,
    dump_yaml,
    field_holding,
    json_data,
    json_kind,
    refuse_secrets,
    typed,
)

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
# How much text a recording is written in at a time (a million characters: about 1,300
# interactions of a small chat call), scanned for secrets and compared with the old file.
PIECE_CHARS: Final = 1 << 20


class RecordingFile:
    """The interactions of one test, keyed by fingerprint."""

    def __init__(self, test: str = "", interactions: Iterable[Interaction] = ()) -> None:
        self.test = test
        self._by_fingerprint: dict[str, Interaction] = {}
        self._in_order: list[Interaction] | None = None  # sorted once, until the next add
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
        if self._in_order is None:
            self._in_order = sorted(self._by_fingerprint.values(), key=_order)
        return list(self._in_order)

    def get(self, fingerprint: str) -> Interaction | None:
        return self._by_fingerprint.get(fingerprint)

    def add(self, interaction: Interaction) -> None:
        """Add ``interaction``, replacing any with the same fingerprint."""
        self._by_fingerprint[interaction.fingerprint] = interaction
        self._in_order = None

    def holds_exactly(self, interactions: Iterable[Interaction]) -> bool:
        """Whether this recording is exactly ``interactions`` (the last of a key winning)."""
        given = {item.fingerprint: item for item in interactions}
        held = self._by_fingerprint
        return given.keys() == held.keys() and all(held[k] == item for k, item in given.items())

    def __len__(self) -> int:
        return len(self._by_fingerprint)

    def render(self) -> str:
        """The file's canonical text; raises RecordingError for data YAML/JSON cannot hold."""
        return "".join(self.pieces())

    def pieces(self) -> Iterator[str]:
        """The file's canonical text in pieces of about ``PIECE_CHARS`` each, cut between
        interactions: a big recording is written without ever being one string (50k calls are
        40 MB of text, held three times over as text, its encoding and the file read back)."""
        batch: list[str] = []
        size = 0
        for text in self._item_texts():
            batch.append(text)
            size += len(text)
            if size >= PIECE_CHARS:
                yield "".join(batch)
                batch, size = [], 0
        if batch:
            yield "".join(batch)

    def _item_texts(self) -> Iterator[str]:
        """The header, then each interaction's text: byte for byte one dump of the whole
        document, whose node graph would be many times its text (~20 KB per interaction).

        A block list under a top-level key is not indented, so an item's text is the same; but
        an item's own document ends with ``...`` after a ``|+`` block (the end marker for text
        that keeps its last newlines), where the whole document has it after its last item only.
        """
        interactions = self.interactions
        try:
            head = dump_yaml({"version": VERSION, "test": self.test})
            if head.endswith("\n...\n"):  # a "|+" name ends its dump, and the document
                data = [_interaction_data(item) for item in interactions]
                whole = {"version": VERSION, "test": self.test, "interactions": data}
                yield HEADER + dump_yaml(whole)
                return
            if not interactions:
                yield f"{HEADER}{head}interactions: []\n"
                return
            yield f"{HEADER}{head}interactions:\n"
            previous: str | None = None
            for item in interactions:
                text = dump_yaml([_interaction_data(item)])
                if previous is not None:
                    yield previous[:-4] if previous.endswith("\n...\n") else previous
                previous = text
            assert previous is not None
            yield previous
        except UnicodeEncodeError as exc:
            raise self._unstorable(exc.object[exc.start]) from None

    def _unstorable(self, char: str) -> RecordingError:
        """The error naming the call and the field that hold ``char``, an unpaired surrogate."""
        problem = f"holds {char!r}, an unpaired surrogate that a UTF-8 file cannot store"
        for item in self.interactions:
            field = field_holding(_interaction_data(item), char, [])
            if field is not None:
                return RecordingError(f"cannot record {item.label.describe()}: {field} {problem}")
        return RecordingError(f"cannot record test {self.test}: its name {problem}")

    def save(self, path: Path, *, known_secrets: Iterable[str] | None = None) -> None:
        """Write exactly this recording to ``path``, atomically, under the file's lock.

        ``known_secrets`` are values that must never be written (default: the values of
        credential-named environment variables). Raises SecretInRecordingError before anything
        is written when the text would contain one, or a well-known credential shape.
        """
        with writing_locked(path):
            self.write_locked(path, known_secrets)

    def write_locked(self, path: Path, known_secrets: Iterable[str] | None) -> None:
        """Write exactly this recording to ``path`` (holding its lock), piece by piece, each
        piece scanned for secrets before it is written: a secret stops the write with the old
        file untouched, and the error is built from the whole text, naming line and field."""
        known = environment_secrets() if known_secrets is None else list(known_secrets)

        def scanned() -> Iterator[str]:
            for piece in self.pieces():
                if scan_secrets(piece, known):
                    refuse_secrets(path, self.render(), known)
                    raise SecretInRecordingError(f"refusing to write recording {path}")
                yield piece

        try:
            write_pieces_if_changed(path, scanned())
        except UnicodeEncodeError as exc:
            raise self._unstorable(exc.object[exc.start]) from None


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
        merged.write_locked(path, known_secrets)
    return merged


def recording_path(test_file: Path, test_name: str) -> Path:
    """Where the recording of ``test_name`` (the item name with parameters) lives.

    Methods of test classes should pass ``Class::method[params]`` so that two classes' methods
    of the same name do not share a file.
    """
    return _recordings_folder(test_file) / f"{_safe_name(test_name)}.yaml"


@functools.lru_cache(maxsize=256)
def _recordings_folder(test_file: Path) -> Path:
    # pytest does not walk this folder: plugin.py's pytest_ignore_collect names it too.
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


def _order(interaction: Interaction) -> tuple[str, str, int, int, str]:
    label = interaction.label
    return (label.config, label.input, label.sample, label.turn, interaction.fingerprint)


# --- writing ------------------------------------------------------------------------------------


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
            "label": label.to_data(),
            "request": json_data(request_data, ["request"]),
            "response": json_data(response, ["response"]),
        }
    except Invalid as exc:
        raise RecordingError(f"cannot record {label.describe()}: {exc}") from None


# --- reading ------------------------------------------------------------------------------------


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
    except Invalid as exc:
        raise _corrupt(path, str(exc)) from None


def _recording_from_data(data: Any, *, json_only: bool) -> RecordingFile:
    """The recording in ``data``; ``json_only`` says it holds JSON types only (the block reader
    builds nothing else), which spares walking every body to check."""
    if data is None:
        raise Invalid("the file is empty")
    top = _mapping(data, "the file", required=_TOP_LEVEL_KEYS, closed=True)
    version = top["version"]
    if type(version) is not int or version != VERSION:
        raise Invalid(
            f"version {version!r} is not supported (this pytest-chatexp reads version {VERSION})"
        )
    test = typed(top["test"], str, "test")
    items = typed(top["interactions"], list, "interactions")
    recording = RecordingFile(test)
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        interaction = _interaction_from_data(item, index, json_only=json_only)
        if interaction.fingerprint in seen:
            raise Invalid(
                f"interactions[{index}] repeats the fingerprint of "
                f"interactions[{seen[interaction.fingerprint]}]"
            )
        seen[interaction.fingerprint] = index
        recording.add(interaction)
    return recording


def _interaction_from_data(item: Any, index: int, *, json_only: bool) -> Interaction:
    where = f"interactions[{index}]"
    fields = _mapping(item, where, required=_INTERACTION_KEYS, closed=True)
    label_data = _mapping(
        fields["label"],
        f"{where}.label",
        required=_LABEL_KEYS,
        closed=True,
        optional=("turn", "simulated_user"),
    )
    request_data = _mapping(
        fields["request"], f"{where}.request", required=_REQUEST_KEYS, closed=True
    )
    response = _mapping(fields["response"], f"{where}.response", required=("body", "latency_s"))
    sample, turn = label_data["sample"], label_data.get("turn", 0)
    for name, number in (("sample", sample), ("turn", turn)):
        if type(number) is not int or number < 0:
            raise Invalid(
                f"{where}.label.{name} must be an integer of at least 0, not {json_kind(number)}"
            )
    for name in ("latency_s", "first_token_s"):
        if name in response:
            _seconds(response[name], f"{where}.response.{name}")
    body = typed(request_data["body"], dict, f"{where}.request.body")
    if not json_only:
        json_data(request_data, ["interactions", index, "request"])
        json_data(response, ["interactions", index, "response"])
    interaction = Interaction(
        fingerprint=typed(fields["fingerprint"], str, f"{where}.fingerprint"),
        label=Label(
            config=typed(label_data["config"], str, f"{where}.label.config"),
            input=typed(label_data["input"], str, f"{where}.label.input"),
            sample=sample,
            turn=turn,
            simulated_user=label_data.get("simulated_user") is True,
        ),
        request=RecordedRequest(
            provider=typed(request_data["provider"], str, f"{where}.request.provider"),
            endpoint=typed(request_data["endpoint"], str, f"{where}.request.endpoint"),
            body=body,
        ),
        response=response,
    )
    if Call(interaction.label, interaction.request).fingerprint != interaction.fingerprint:
        raise Invalid(
            f"{where}.fingerprint does not match its request and sample "
            "(the request was edited by hand, or the file was merged badly)"
        )
    return interaction


def _seconds(value: Any, where: str) -> None:
    if type(value) not in (int, float):
        raise Invalid(f"{where} must be a number, not {json_kind(value)}")
    if not math.isfinite(value) or value < 0:
        raise Invalid(f"{where} must be a duration in seconds (finite, not negative), not {value}")


def _mapping(
    value: Any,
    where: str,
    *,
    required: Sequence[str],
    closed: bool = False,
    optional: Sequence[str] = (),
) -> dict[str, Any]:
    mapping: dict[str, Any] = typed(value, dict, where)
    for key in required:
        if key not in mapping:
            raise Invalid(f"{where} is missing the field '{key}'")
    if closed:
        for key in mapping:
            if key not in required and key not in optional:
                raise Invalid(f"{where} has an unknown field {key!r}")
    return mapping
