"""Small helpers shared across stages: summary statistics, the pass-rate format the checks
and the reports share, JSON paths, atomic writes, canonical JSON (config ids and recording
fingerprints) and endpoint identities (config ids and recordings). Kept apart so that writing a
report does not import every check, nor a check the reports, nor a config the recordings, and
each helper has one copy."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "canonical_json",
    "endpoint_identity",
    "exception_text",
    "interval_text",
    "json_path",
    "percent",
    "percentile",
    "rate_text",
    "shared_strings",
    "write_atomic",
]


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with ``percent``% of values at or below it.

    Example: ``percentile([0.1, 0.2, 0.9], 50) == 0.2``
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


# --- JSON paths and atomic writes (issue 14: one copy each) -------------------------------

# JSONPath's (RFC 9535) shorthand member names; without a root, the recordings' shorter form also
# reads dashed keys plainly (HTTP header names such as `content-type`).
_JSONPATH_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def json_path(parts: Sequence[str | int], *, root: str = "") -> str:
    """Join keys and indexes; keys that would read ambiguously are quoted (``["a.b"]``).

    Without ``root``: ``messages[0].content``, as recording, secret and diff messages write it.
    With ``root="$"``: JSONPath, ``$.items[0].price``, as the output checks write it.
    """
    plain = _JSONPATH_KEY if root else _PLAIN_KEY
    text = root
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif plain.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written.

    The temporary file, ``.<name>.tmp-<hex>`` in the same folder, is created exclusively with
    mode 0666 less the umask (what ``open(path, "w")`` would give, as pytest's JUnit XML does),
    fsynced, then renamed over ``path``; on any failure it is removed and ``path`` is untouched.
    Missing parent folders are created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(text.encode("utf-8"))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):  # never hide the failure that got us here
            os.unlink(temporary)
        raise


# --- formats: the checks and the reports show pass rates alike ------------------------------


def percent(passed: int, checked: int) -> str:
    """``passed`` of ``checked`` as a whole percentage, rounded half up, except that it never
    reads 100% unless all passed nor 0% unless none did (199 of 200 is 99%, not 100%)."""
    if checked <= 0:
        return "-"
    value = (200 * passed + checked) // (2 * checked)
    if passed < checked:
        value = min(value, 99)
    if passed > 0:
        value = max(value, 1)
    return f"{value}%"


def rate_text(value: float) -> str:
    """A rate as a whole percentage that, like ``percent``, never reads 100% unless it is 1
    nor 0% unless it is 0 (an interval's upper bound of 0.996 is 99%)."""
    shown = round(value * 100)
    if value < 1.0:
        shown = min(shown, 99)
    if value > 0.0:
        shown = max(shown, 1)
    return f"{shown}%"


def interval_text(low: float, high: float, confidence: float) -> str:
    """A pass rate's interval as the failures and the reports show it:
    ``95% interval [44%, 97%]``."""
    return f"{confidence * 100:g}% interval [{rate_text(low)}, {rate_text(high)}]"


# --- identities: what config ids and recording keys hash ------------------------------------

_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


# Keys and short values repeat in every answer of a run ("choices", "role", "assistant",
# "stop", the model's name): json.loads makes a new string of each for each answer, about a
# kilobyte per call that a big experiment keeps until its end. Bounded: unique ids fill it at
# most to its size, after the keys of the first answers are in.
_SHARED: dict[str, str] = {}
_SHARED_MAX: Final = 4096
_SHORT: Final = 32


def shared_strings(value: Any) -> Any:
    """Decoded JSON ``value`` with its keys and short strings replaced by one copy each,
    shared by every answer of the process (equal data, far fewer objects); ``value`` itself
    when it is nested too deeply to walk (json.loads took it: sharing is only a saving)."""
    try:
        return _sharing(value)
    except RecursionError:
        return value


def _sharing(value: Any) -> Any:
    if isinstance(value, dict):
        return {_shared(key): _sharing(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sharing(item) for item in value]
    if isinstance(value, str) and len(value) <= _SHORT:
        return _shared(value)
    return value


def _shared(text: str) -> str:
    found = _SHARED.get(text)
    if found is not None:
        return found
    if len(_SHARED) < _SHARED_MAX:
        _SHARED[text] = text
    return text


def canonical_json(value: Any) -> str:
    """``value`` as one canonical JSON text: sorted keys, no whitespace, unescaped unicode."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def endpoint_identity(base_url: str) -> str:
    """The part of a base URL that identifies the endpoint: scheme-less host and path.

    Local servers (llama.cpp, Ollama, the reference server) listen on whatever port is free, so
    for loopback hosts the port is dropped and the host normalised: the same local model on
    another port is the same endpoint.
    """
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK_HOSTS or host.startswith("127."):
        return "localhost" + parts.path.rstrip("/")
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return netloc + parts.path.rstrip("/")


# --- messages -------------------------------------------------------------------------------


def exception_text(exc: BaseException) -> str:
    """What ``exc`` says, for a message. One raised without a message (``MemoryError()``, a
    reset connection) says what its cause said, or else what its type means: never nothing."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = str(cause).strip()
        if text:
            return text
        # Followed even when raised "from None": httpcore's ReadError hides anyio's bare
        # BrokenResourceError that way, which in turn wraps the ConnectionResetError that says.
        cause = cause.__cause__ or cause.__context__
    doc = (type(exc).__doc__ or type(exc).__name__).strip().splitlines()[0].rstrip(".")
    return doc[:1].lower() + doc[1:]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a block builds many objects that form no
    cycles (a replayed experiment: parsed recordings, answers, result models). Each full
    collection walks every object alive, so with it on, replay's CPU per call grew with the
    experiment (``bench/bench_scale.py``). Re-enabled after, if it was on; nothing is lost,
    cycles made meanwhile are collected then."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
