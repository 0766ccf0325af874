"""One redaction path for everything the plugin writes or prints.

Known secrets: the values of credential-named environment variables (``*_API_KEY``,
``*_TOKEN``, ...) and the credentials in URLs they hold, plus what the session remembered of the
configs in use: each one's key (``api_key_env`` or the provider's default) and the credentials in
its ``base_url`` (userinfo; query values named or shaped like credentials).

``scan_secrets`` finds, in any text: a known value (8 characters or longer), whole; a fragment
of one, any run of 8 or more consecutive characters of its secret part, widened to all it shares
with the value (the secret part follows the key's label, the lowercase segments every key of its
kind starts with: ``sk-proj-``, ``sk-ant-api03-``; values whose secret part is under 16
characters are matched whole only, their runs being too likely words); a masked copy, 3 or more
``*`` or ``•`` after the label and 3 or more characters of a value, or before its last 4 or more
(``Incorrect API key provided: sk-abc1****wxyz``); well-known key shapes; credential-named
fields (``api_key: ...``); URL credentials (a userinfo password, a credential-named query value).

Recordings are committed, so a save with a hit is refused (``_recording._store``); every other
writer and message replaces each hit with ``[REDACTED]`` (``redact``). URLs the plugin shows on
purpose go through ``display_url``: no userinfo, no query values.

False positives would make recording unusable, so each shape must look like a credential, not
prose: a long run of token characters that contains a digit or mixes upper and lower case. That
lets "sk-learn", "sk-learn-is-a-great-library" and "Bearer YOUR_TOKEN_HERE" through. Hits are
described by their first few characters and their kind; the secret itself is never repeated.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "SecretHit",
    "display_url",
    "environment_secrets",
    "find_secrets",
    "known_secrets",
    "redact",
    "redact_data",
    "redact_report",
    "remember_secrets",
    "scan_secrets",
    "url_secrets",
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
_CREDENTIAL_PARAMETER: Final = re.compile(
    r"(?i)(?:[a-z0-9]+[-_.])*"
    r"(?:api-?key|apikey|key|token|secret|sig|signature|password|passwd|pwd|pass|auth|code|"
    r"credentials?)"
)
# Values the session read or found in its configs' URLs: see remember_secrets.
_REMEMBERED: Final[set[str]] = set()

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
    """Every secret in ``text``: known values (8 chars or longer), their fragments and masked
    copies, credential shapes and URL credentials.

    A span is reported once, as its most specific kind.
    """
    hits: list[SecretHit] = []
    for kind, start, end in _spans(text, _known(known_values)):
        _add(hits, kind, text, start, end)
    return sorted(hits, key=lambda hit: hit.start)


def redact(text: str, also: Iterable[str] = ()) -> str:
    """``text`` with every secret ``scan_secrets`` finds replaced by ``[REDACTED]``; the known
    values are the session's (``known_secrets``) and ``also``."""
    return _redact(text, _known([*known_secrets(), *also]))


def redact_data(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, tuples, strings) with every string redacted."""
    known = _known(known_secrets())

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return _redact(item, known)
        if isinstance(item, dict):
            return {walk(key): walk(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return type(item)(walk(inner) for inner in item)
        return item

    return walk(value)


def redact_report(report: Any) -> None:
    """Redact, in place, what a pytest report carries to the terminal, JUnit XML and the
    controller of an xdist run: its failure (``longrepr``), captured output and logs
    (``sections``), user properties and chatexp's own attributes.

    A failure's structured form is kept, for pytest's formatting, unless a secret straddles its
    parts; then it becomes its redacted text.
    """
    longrepr = getattr(report, "longrepr", None)
    chatexp = [name for name in vars(report) if name.startswith("chatexp_")]
    lists = [name for name in ("sections", "user_properties") if getattr(report, name, None)]
    if longrepr is None and not lists and not chatexp:
        return  # a passing test with no output: no need to read the environment's secrets
    known = _known(known_secrets())
    if longrepr is not None:
        text = str(longrepr)
        if _redact(text, known) != text:
            longrepr = report.longrepr = _redact_object(longrepr, known)
            text = str(longrepr)
            if _redact(text, known) != text:
                report.longrepr = _redact(text, known)
    for name in lists:
        setattr(report, name, [_redact_object(item, known) for item in getattr(report, name)])
    for name in chatexp:
        setattr(report, name, _redact_object(getattr(report, name), known))


class RedactingFilter(logging.Filter):
    """For log handlers that write as records arrive (pytest's live and file logs), not
    through a report: a response header or body that a library logs is redacted too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def display_url(url: str) -> str:
    """A URL as messages show it: without userinfo, and with every query value hidden (a
    query string is where some providers take their key, and nothing tells a key from a
    version number). One that cannot be parsed is shown redacted like any text."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return redact(url)
    if not parts.netloc:
        return url
    query = "&".join(
        name + (f"={REDACTED}" if equals else "")
        for name, equals, _ in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The credentials a URL holds: its userinfo password, a token-shaped user name, and
    query values named like credentials or shaped like them (raw and decoded)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL after all: any secret in it is found by the scan's shapes
        return []
    found = [parts.password or ""]
    if parts.username and _looks_random(parts.username):
        found.append(parts.username)
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if _CREDENTIAL_PARAMETER.fullmatch(name) or (len(value) >= 16 and _looks_random(value)):
            found += [value, unquote_plus(value)]
    return [value for value in found if value]


def remember_secrets(values: Iterable[str | None]) -> None:
    """Add values (keys the session reads, credentials in its URLs) to the session's known
    secrets, so that no writer and no message shows them."""
    _REMEMBERED.update(value for value in values if value)


def known_secrets() -> list[str]:
    """The secrets of this process: credential-named environment variables, credentials in
    URLs held by environment variables, and what the session remembered."""
    return [*environment_secrets(), *_REMEMBERED]


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of credential-named environment variables (``*_API_KEY``, ``*_TOKEN``, ...), and
    the credentials in URLs held by any variable (``OPENAI_BASE_URL=https://host/v1?key=...``).

    These are the keys a test run actually holds, so they are the ones most likely to leak.
    """
    found: list[str] = []
    for name, value in (os.environ if environ is None else environ).items():  # read once: slow
        if len(value) >= MIN_KNOWN_LENGTH and (
            name.upper().replace("-", "_").rsplit("_", 1)[-1] in _SECRET_NAME_ENDINGS
        ):
            found.append(value)
        if "://" in value:
            found += url_secrets(value)
    return found


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


def _known(values: Iterable[str]) -> tuple[_Value, ...]:
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
            if _looks_random(token):
                yield kind, match.start(), match.end()
    for match in _FIELD.finditer(text):
        span = _field_value(text, match)
        if span is not None:
            key = text[_key_start(text, match.start()) : match.end("key")]
            yield f"'{key}' field value", *span
    for match in _URL_USERINFO.finditer(text):
        user, colon, password = match.group("userinfo").partition(":")
        if _looks_random(password) or (not colon and len(user) >= 8 and _looks_random(user)):
            yield "URL credentials", match.start("userinfo"), match.end("userinfo")
    for match in _URL_PARAMETER.finditer(text):
        if _CREDENTIAL_PARAMETER.fullmatch(match.group("name")) and _looks_random(
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


def _redact(text: str, known: tuple[_Value, ...]) -> str:
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


def _redact_object(item: Any, known: tuple[_Value, ...]) -> Any:
    """Strings redacted inside lists, tuples, dicts and dataclass instances such as pytest's
    failure representations (changed in place, since other objects hold them)."""
    if isinstance(item, str):
        return _redact(item, known)
    if isinstance(item, list):
        item[:] = [_redact_object(inner, known) for inner in item]
    elif isinstance(item, tuple):
        return tuple(_redact_object(inner, known) for inner in item)
    elif isinstance(item, dict):
        for key, inner in item.items():
            item[key] = _redact_object(inner, known)
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        for field in dataclasses.fields(item):
            object.__setattr__(item, field.name, _redact_object(getattr(item, field.name), known))
    return item


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
