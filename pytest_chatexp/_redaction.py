"""Secret detection for recording files, which are committed to the repository.

Requests are recorded without headers, so a key can only reach a recording through content: a
key pasted into a prompt or an input, a provider echoing it, a tool call quoting it. Every save
scans the exact text about to be written for the values of the keys in use and for well-known key
shapes, and refuses to write on a hit.

False positives would make recording unusable, so each shape must look like a credential, not
prose: a long run of token characters that contains a digit or mixes upper and lower case. That
lets "sk-learn", "sk-learn-is-a-great-library" and "Bearer YOUR_TOKEN_HERE" through. Hits are
described by their first few characters and their kind; the secret itself is never repeated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["SecretHit", "environment_secrets", "find_secrets", "scan_secrets"]

# Shorter values would match ordinary words and numbers in prompts and outputs.
MIN_KNOWN_LENGTH: Final = 8

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
# Environment variables whose name ends in one of these hold credentials (OPENAI_API_KEY,
# HF_TOKEN, CLIENT_SECRET); their values are looked for verbatim.
_SECRET_NAME_ENDINGS: Final = frozenset(
    {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIALS"}
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
    """Every secret in ``text``: known values (8 chars or longer) and credential shapes.

    A span is reported once, as its most specific kind.
    """
    hits: list[SecretHit] = []
    # Longest first, so a value containing another is reported whole.
    wanted = {value for value in known_values if len(value) >= MIN_KNOWN_LENGTH}
    for value in sorted(wanted, key=lambda value: (-len(value), value)):
        start = text.find(value)
        while start != -1:
            _add(hits, "known secret value", text, start, start + len(value))
            start = text.find(value, start + 1)
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            secret = match.group()
            token = secret.split()[-1] if kind == "bearer token" else secret
            if _looks_random(token):
                _add(hits, kind, text, match.start(), match.end())
    for match in _FIELD.finditer(text):
        span = _field_value(text, match)
        if span is not None:
            key = text[_key_start(text, match.start()) : match.end("key")]
            _add(hits, f"'{key}' field value", text, *span)
    return sorted(hits, key=lambda hit: hit.start)


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of credential-named environment variables (``*_API_KEY``, ``*_TOKEN``, ...).

    These are the keys a test run actually holds, so they are the ones most likely to leak.
    """
    source = os.environ if environ is None else environ
    return [
        value
        for name, value in source.items()
        if name.upper().replace("-", "_").rsplit("_", 1)[-1] in _SECRET_NAME_ENDINGS
        and len(value) >= MIN_KNOWN_LENGTH
    ]


def _add(hits: list[SecretHit], kind: str, text: str, start: int, end: int) -> None:
    if any(hit.start < end and start < hit.end for hit in hits):
        return
    shown = min(4, (end - start) // 4)
    hits.append(SecretHit(kind=kind, start=start, end=end, preview=text[start : start + shown]))


def _looks_random(token: str) -> bool:
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
        or not _looks_random(value)
    ):
        return None
    return start, start + len(value)
