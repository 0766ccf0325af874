"""The secret scanner: known values, their fragments and masked copies, credential shapes.

Pure functions of the text and the known values; which values are known is :mod:`._known`'s
business, and what is done with a hit (refusing a recording, redacting a message) the callers'.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "CREDENTIAL_PARAMETER",
    "MIN_KNOWN_LENGTH",
    "REDACTED",
    "SecretHit",
    "as_known",
    "find_secrets",
    "looks_random",
    "redact_known",
    "redact_object",
    "scan_secrets",
]

REDACTED: Final = "[REDACTED]"
# Shorter values would match ordinary words and numbers in prompts and outputs.
MIN_KNOWN_LENGTH: Final = 8
# A run this long of a known value's secret part is redacted wherever it appears...
FRAGMENT_LENGTH: Final = 8
# ...if that secret part is at least this long: in shorter ones, such runs are too likely words.
MIN_FRAGMENT_SECRET: Final = 16
# Fragments are found through pieces of this length taken every this many characters: any run
# of FRAGMENT_LENGTH characters holds one whole, since 2 * _ANCHOR - 1 <= FRAGMENT_LENGTH.
_ANCHOR: Final = 4
# A key's label, shared by every key of its kind: "sk-", "sk-proj-", "sk-ant-api03-", "hl_sk_".
_LABEL: Final = re.compile(r"(?:[a-z][a-z0-9]{0,7}[-_]){1,3}")
_MASK: Final = re.compile(r"[*\u2022]{3,}")
_URL_USERINFO: Final = re.compile(r"""(?i)\b[a-z][a-z0-9+.-]*://(?P<userinfo>[^\s/?#@"'<>\\]+)@""")
_URL_PARAMETER: Final = re.compile(r"""[?&;](?P<name>[A-Za-z0-9_.-]+)=(?P<value>[^&#\s"'<>\\]+)""")
CREDENTIAL_PARAMETER: Final = re.compile(
    r"(?i)(?:[a-z0-9]+[-_.])*"
    r"(?:api-?key|apikey|key|token|secret|sig|signature|password|passwd|pwd|pass|auth|code|"
    r"credentials?)"
)
_TOKEN: Final = r"[A-Za-z0-9_-]"
# Each pattern starts with its literal prefix, so the regex engine can skip ahead to candidates;
# the boundary check is a lookbehind placed after that prefix.
# Most specific first: an Anthropic key also matches the OpenAI shape and must be named as such.
_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("Anthropic API key", rf"sk-ant-(?<!{_TOKEN}sk-ant-){_TOKEN}{{20,}}"),
        ("Humanloop API key", rf"hl_sk[_-](?<!{_TOKEN}hl_sk[_-]){_TOKEN}{{20,}}"),
        ("Humanloop API key", rf"hlsk[_-](?<!{_TOKEN}hlsk[_-]){_TOKEN}{{20,}}"),
        ("OpenAI API key", rf"sk-(?<!{_TOKEN}sk-){_TOKEN}{{20,}}"),
        ("AWS access key id", r"A[KS]IA(?<![A-Z0-9]A[KS]IA)[0-9A-Z]{16}(?![A-Z0-9])"),
        ("GitHub token", r"gh[pousr]_(?<![A-Za-z0-9_]gh._)[A-Za-z0-9_]{30,}"),
        ("GitHub token", r"github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{30,}"),
        ("Google API key", rf"AIza(?<!{_TOKEN}AIza){_TOKEN}{{35}}"),
        ("bearer token", r"[Bb]earer(?<![A-Za-z0-9][Bb]earer)[ \t]+[A-Za-z0-9._~+/=-]{16,}"),
    )
)
# A credential-named key and its value, in YAML (`api_key: x`), JSON (`"api_key": "x"`, also
# escaped inside a YAML string) or code and URLs (`api_key=x`). The key may have a prefix
# (`OPENAI_API_KEY`, `x-api-key`): `_key_start` finds where it begins.
_FIELD: Final = re.compile(
    r"""(?ix)
    (?P<key>api[-_]?key|authorization|access[-_]?token|client[-_]?secret)
    (?![A-Za-z0-9_-])
    \\?["']?[ \t]*[:=][ \t]*
    (?P<value>[^\n]*)
    """
)
_KEY_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_QUOTES: Final = "\"'\\"
_BLOCK_INDICATOR: Final = re.compile(r"[|>][-+0-9]*")
_AUTH_SCHEME: Final = re.compile(r"(?i)(?:bearer|basic|token|bot)[ \t]+")
_VALUE_END: Final = re.compile(r"""\\?["']|[\s,;)}\]]""")
_CREDENTIAL_CHARS: Final = re.compile(r"[A-Za-z0-9._~+/=-]+")
# Token-shaped placeholders ("YOUR_API_KEY_1", "test-key-123"). Others ("<token>", "${KEY}", "***")
# never pass the token character checks in the first place.
_PLACEHOLDER: Final = re.compile(
    r"(?i).*redact.*|(?:your|my|the|some|dummy|fake|test|example|placeholder|changeme)(?:[-_.].*)?"
)


@dataclass(frozen=True, slots=True)
class SecretHit:
    """Where a secret starts and ends in the scanned text, what kind it is, and its first chars."""

    kind: str
    start: int
    end: int
    preview: str

    @property
    def description(self) -> str:
        """``'sk-p… (OpenAI API key)'``: enough to find it, too little to use it."""
        return f"{self.preview}… ({self.kind})"


def find_secrets(text: str, known_values: Iterable[str]) -> list[str]:
    """Descriptions of the secrets in ``text``, in order of appearance; empty when clean."""
    return [hit.description for hit in scan_secrets(text, known_values)]


def scan_secrets(text: str, known_values: Iterable[str]) -> list[SecretHit]:
    """Every secret in ``text``: known values (8 chars or longer), their fragments and masked
    copies, credential shapes and URL credentials.

    A span is reported once, as its most specific kind.
    """
    hits: list[SecretHit] = []
    for kind, start, end in _spans(text, as_known(known_values)):
        _add(hits, kind, text, start, end)
    return sorted(hits, key=lambda hit: hit.start)


@dataclass(frozen=True, slots=True)
class _Value:
    """A known secret value, and where its secret part starts (after its label)."""

    text: str
    body: int


@functools.lru_cache(maxsize=16)
def _known_of(values: frozenset[str]) -> tuple[_Value, ...]:
    # Longest first, so a value containing another is reported whole.
    ordered = sorted(values, key=lambda value: (-len(value), value))
    return tuple(_Value(value, _label_length(value)) for value in ordered)


def as_known(values: Iterable[str]) -> tuple[_Value, ...]:
    return _known_of(frozenset(value for value in values if len(value) >= MIN_KNOWN_LENGTH))


def _label_length(value: str) -> int:
    label = _LABEL.match(value)
    return label.end() if label is not None else 0


def _spans(text: str, known: tuple[_Value, ...]) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of every secret in ``text``, most specific kinds first."""
    for value in known:
        start = text.find(value.text)
        while start != -1:
            yield "known secret value", start, start + len(value.text)
            start = text.find(value.text, start + 1)
    for value in known:
        for start, end in _fragments(text, value):
            yield "part of a known secret value", start, end
    if known:
        yield from _masked_copies(text, known)
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            secret = match.group()
            token = secret.split()[-1] if kind == "bearer token" else secret
            if looks_random(token):
                yield kind, match.start(), match.end()
    for match in _FIELD.finditer(text):
        span = _field_value(text, match)
        if span is not None:
            key = text[_key_start(text, match.start()) : match.end("key")]
            yield f"'{key}' field value", *span
    for match in _URL_USERINFO.finditer(text):
        user, colon, password = match.group("userinfo").partition(":")
        if looks_random(password) or (not colon and len(user) >= 8 and looks_random(user)):
            yield "URL credentials", match.start("userinfo"), match.end("userinfo")
    for match in _URL_PARAMETER.finditer(text):
        if CREDENTIAL_PARAMETER.fullmatch(match.group("name")) and looks_random(
            match.group("value")
        ):
            yield f"'{match.group('name')}' URL parameter", match.start("value"), match.end()


def _fragments(text: str, value: _Value) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` sharing a run of ``FRAGMENT_LENGTH`` or more characters with the
    value's secret part, each extended to everything it shares with the value.

    Every such run contains one of the 4-character pieces of the secret part taken at every 4th
    position, so ``str.find`` of those pieces (fast, in C) finds every candidate.
    """
    secret, body = value.text, value.body
    if len(secret) - body < MIN_FRAGMENT_SECRET:
        return
    for offset in range(body, len(secret) - _ANCHOR + 1, _ANCHOR):
        piece = secret[offset : offset + _ANCHOR]
        found = text.find(piece)
        while found != -1:
            start, first = found, offset
            while start > 0 and first > 0 and text[start - 1] == secret[first - 1]:
                start, first = start - 1, first - 1
            end, last = found + _ANCHOR, offset + _ANCHOR
            while end < len(text) and last < len(secret) and text[end] == secret[last]:
                end, last = end + 1, last + 1
            if last - max(first, body) >= FRAGMENT_LENGTH:
                yield start, end
            found = text.find(piece, found + 1)


def _masked_copies(text: str, known: tuple[_Value, ...]) -> Iterator[tuple[str, int, int]]:
    for mask in _MASK.finditer(text):
        start, end = mask.span()
        while start > 0 and text[start - 1] in _KEY_CHARS:
            start -= 1
        while end < len(text) and text[end] in _KEY_CHARS:
            end += 1
        before, after = text[start : mask.start()], text[mask.end() : end]
        if any(
            (len(before) >= value.body + 3 and value.text.startswith(before))
            or (len(after) >= 4 and value.text.endswith(after))
            for value in known
        ):
            yield "masked copy of a known secret value", start, end


def redact_known(text: str, known: tuple[_Value, ...]) -> str:
    merged: list[list[int]] = []  # overlapping and touching spans, joined
    for start, end in sorted((start, end) for _, start, end in _spans(text, known)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return text
    pieces: list[str] = []
    position = 0
    for start, end in merged:
        pieces += [text[position:start], REDACTED]
        position = end
    return "".join(pieces) + text[position:]


def redact_object(item: Any, known: tuple[_Value, ...]) -> Any:
    """Strings redacted inside lists, tuples, dicts and dataclass instances such as pytest's
    failure representations (changed in place, since other objects hold them)."""
    if isinstance(item, str):
        return redact_known(item, known)
    if isinstance(item, list):
        item[:] = [redact_object(inner, known) for inner in item]
    elif isinstance(item, tuple):
        return tuple(redact_object(inner, known) for inner in item)
    elif isinstance(item, dict):
        for key, inner in item.items():
            item[key] = redact_object(inner, known)
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        for field in dataclasses.fields(item):
            object.__setattr__(item, field.name, redact_object(getattr(item, field.name), known))
    return item


def _add(hits: list[SecretHit], kind: str, text: str, start: int, end: int) -> None:
    if any(hit.start < end and start < hit.end for hit in hits):
        return
    shown = min(4, (end - start) // 4)
    hits.append(SecretHit(kind=kind, start=start, end=end, preview=text[start : start + shown]))


def looks_random(token: str) -> bool:
    """Generated credentials mix digits or letter cases; words and placeholders rarely do."""
    has_digit = any(c.isdigit() for c in token)
    mixed_case = any(c.islower() for c in token) and any(c.isupper() for c in token)
    return (has_digit or mixed_case) and not _PLACEHOLDER.fullmatch(token)


def _key_start(text: str, start: int) -> int:
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    return start


def _field_value(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    """The span of the credential held by a ``key: value`` match, or None if it holds none.

    The value is the first token after the separator (and after an auth scheme such as
    ``Bearer``); it must look like a credential. That skips prose ("authorization: the process
    of"), code (``api_key=os.environ["KEY"]``, ``api_key=api_key``) and placeholders.
    """
    start, raw = match.start("value"), match.group("value")
    if _BLOCK_INDICATOR.fullmatch(raw.strip()):  # YAML block scalar: the value is on the next line
        line_end = match.end("value")
        next_end = text.find("\n", line_end + 1)
        start, raw = line_end + 1, text[line_end + 1 : None if next_end == -1 else next_end]
    stripped = raw.lstrip(" \t" + _QUOTES)
    start += len(raw) - len(stripped)
    scheme = _AUTH_SCHEME.match(stripped)
    if scheme is not None:
        start, stripped = start + scheme.end(), stripped[scheme.end() :]
    value = _VALUE_END.split(stripped, maxsplit=1)[0]
    if (
        len(value) < MIN_KNOWN_LENGTH
        or not _CREDENTIAL_CHARS.fullmatch(value)
        or not looks_random(value)
    ):
        return None
    return start, start + len(value)
