"""Redaction for every writer and message but the recording store (which refuses instead):
text, JSON-like data, pytest reports, log records, and URLs shown on purpose."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._known import known_secrets
from ._scan import REDACTED, as_known, redact_known, redact_object

__all__ = ["RedactingFilter", "display_url", "redact", "redact_data", "redact_report"]


def redact(text: str, also: Iterable[str] = ()) -> str:
    """``text`` with every secret ``scan_secrets`` finds replaced by ``[REDACTED]``; the known
    values are the session's (``known_secrets``) and ``also``."""
    return redact_known(text, as_known([*known_secrets(), *also]))


def redact_data(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, tuples, strings) with every string redacted."""
    known = as_known(known_secrets())

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redact_known(item, known)
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
    known = as_known(known_secrets())
    if longrepr is not None:
        text = str(longrepr)
        if redact_known(text, known) != text:
            longrepr = report.longrepr = redact_object(longrepr, known)
            text = str(longrepr)
            if redact_known(text, known) != text:
                report.longrepr = redact_known(text, known)
    for name in lists:
        setattr(report, name, [redact_object(item, known) for item in getattr(report, name)])
    for name in chatexp:
        setattr(report, name, redact_object(getattr(report, name), known))


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
