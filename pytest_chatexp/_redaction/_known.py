"""Which values are secrets: credential-named environment variables, the credentials in URLs,
and what the session remembered of its configs (keys it read, credentials in ``base_url``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote_plus, urlsplit

from ._scan import CREDENTIAL_PARAMETER, MIN_KNOWN_LENGTH, looks_random

__all__ = ["environment_secrets", "known_secrets", "remember_secrets", "url_secrets"]

# Values the session read or found in its configs' URLs: see remember_secrets.
_REMEMBERED: Final[set[str]] = set()

# Environment variables whose name ends in one of these hold credentials (OPENAI_API_KEY,
# HF_TOKEN, CLIENT_SECRET); their values are looked for verbatim.
_SECRET_NAME_ENDINGS: Final = frozenset(
    {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIALS"}
)


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
    if environ is not None:
        return _scan_environment(environ)
    # Every writer and message asks, so once per test at least. Decoding all of os.environ
    # costs about 0.1 ms; comparing its encoded entries with the last ones read costs a few
    # microseconds, and any change (a test's monkeypatch.setenv) is seen at the next call.
    encoded = getattr(os.environ, "_data", None)  # CPython's encoded store; else read afresh
    if not isinstance(encoded, dict):
        return _scan_environment(os.environ)
    if _LAST_READ.encoded != encoded:
        _LAST_READ.encoded, _LAST_READ.secrets = dict(encoded), _scan_environment(os.environ)
    return list(_LAST_READ.secrets)


@dataclass
class _Read:
    """The environment's encoded entries when last read, and the secrets found in them then."""

    encoded: object = None
    secrets: list[str] = field(default_factory=list)


_LAST_READ: Final = _Read()


def _scan_environment(environ: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    for name, value in environ.items():
        if len(value) >= MIN_KNOWN_LENGTH and (
            name.upper().replace("-", "_").rsplit("_", 1)[-1] in _SECRET_NAME_ENDINGS
        ):
            found.append(value)
        if "://" in value:
            found += url_secrets(value)
    return found


def url_secrets(url: str) -> list[str]:
    """The credentials a URL holds: its userinfo password, a token-shaped user name, and
    query values named like credentials or shaped like them (raw and decoded)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL after all: any secret in it is found by the scan's shapes
        return []
    found = [parts.password or ""]
    if parts.username and looks_random(parts.username):
        found.append(parts.username)
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if CREDENTIAL_PARAMETER.fullmatch(name) or (len(value) >= 16 and looks_random(value)):
            found += [value, unquote_plus(value)]
    return [value for value in found if value]
