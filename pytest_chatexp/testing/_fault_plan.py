"""Which model request gets which fault: queued faults and ``[[fault: ...]]`` directives.

A :class:`FaultPlan` (``server.faults``) holds queued faults; the model-route wrapper asks it
for a fault before answering each model request and, when there is one, lets the
:class:`~._faults.Fault` answer instead::

    server.faults.add(Fault.status(429, retry_after="1"), times=2)  # then normal answers
    server.faults.add(Fault.drop_connection(), when="flaky")  # only prompts containing "flaky"
    assert [applied.fault.kind for applied in server.faults.applied] == [...]

Tests in another process (which cannot reach ``server.faults``) put a directive in the last
user message instead: ``[[fault: 429 retry-after=1 x2]]`` answers the first two requests
with that exact body 429, then lets them through; without ``xN`` the fault applies every time.
Directives: ``[[fault: CODE]]`` with ``retry-after=SECONDS`` or ``retry-after-date=SECONDS``,
and ``latency=SECONDS``, ``drop-connection``, ``truncated-json``, ``not-json``,
``bad-tool-arguments``, ``stream-without-end``, ``slow-drip=SECONDS`` and ``stall`` (or
``stall=SECONDS``). A directive the server cannot parse is answered 400, saying why.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pytest_chatexp.testing._faults import Fault
from pytest_chatexp.testing._http import RecordedRequest
from pytest_chatexp.testing._replies import Condition, last_user_text

__all__ = ["AppliedFault", "FaultPlan", "parse_directive"]


@dataclass(frozen=True, slots=True)
class AppliedFault:
    """A fault the server answered a request with: what, to which request, and when
    (``time.monotonic()`` on the server, so gaps between entries are retry delays)."""

    fault: Fault
    request: RecordedRequest
    at: float
    source: Literal["plan", "directive"]


@dataclass(slots=True)
class _Entry:
    fault: Fault
    remaining: int | None
    when: Condition


class FaultPlan:
    """The faults waiting for model requests, and those applied; safe to use from any thread.

    Entries are tried in the order they were added; the first that matches a request (and
    has requests left) answers it. Requests no entry matches may still carry a
    ``[[fault: ...]]`` directive; the rest are answered normally.
    """

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._applied: list[AppliedFault] = []
        self._directive_counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, fault: Fault, *, times: int | None = 1, when: Condition = None) -> None:
        """Answer the next ``times`` matching model requests (``None``: all of them) with
        ``fault``. ``when`` is ``None`` (every request), a substring of the last user message,
        or a predicate on the request JSON, as for rules."""
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times}")
        with self._lock:
            self._entries.append(_Entry(fault, times, when))

    def clear(self) -> None:
        """Forget queued faults, applied faults and the counts of ``xN`` directives."""
        with self._lock:
            self._entries.clear()
            self._applied.clear()
            self._directive_counts.clear()

    @property
    def applied(self) -> list[AppliedFault]:
        """The faults applied so far, oldest first (a copy)."""
        with self._lock:
            return list(self._applied)

    @property
    def pending(self) -> int | None:
        """How many more requests the queued faults will answer (``None``: without end)."""
        with self._lock:
            if any(entry.remaining is None for entry in self._entries):
                return None
            return sum(entry.remaining or 0 for entry in self._entries)

    def take(self, request: RecordedRequest) -> Fault | None:
        """The fault to answer ``request`` with, if any, recorded as applied (the server's
        model routes call this once per request)."""
        body = request.json if isinstance(request.json, dict) else None
        messages = body.get("messages") if body is not None else None
        user_text = last_user_text(messages) if isinstance(messages, list) else ""
        with self._lock:
            fault = self._from_entries(body, user_text)
            source: Literal["plan", "directive"] = "plan"
            if fault is None:
                fault, source = self._from_directive(request.body, user_text), "directive"
            if fault is not None:
                self._applied.append(AppliedFault(fault, request, time.monotonic(), source))
            return fault

    def _from_entries(self, body: dict[str, Any] | None, user_text: str) -> Fault | None:
        for entry in self._entries:
            if not _matches(entry.when, body, user_text):
                continue
            if entry.remaining is not None:
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._entries.remove(entry)
            return entry.fault
        return None

    def _from_directive(self, raw_body: bytes, user_text: str) -> Fault | None:
        match = _DIRECTIVE.search(user_text) if "[[fault" in user_text else None
        if match is None:
            return None
        spec = match.group(1)
        try:
            fault, times = parse_directive(spec)
        except ValueError as exc:
            return Fault.status(400, message=f"[[fault: {spec}]]: {exc}")
        if times is None:
            return fault
        key = spec + "\0" + hashlib.sha256(raw_body).hexdigest()
        seen = self._directive_counts.get(key, 0)
        if seen >= times:
            return None
        self._directive_counts[key] = seen + 1
        return fault

    def __repr__(self) -> str:
        with self._lock:
            queued = ", ".join(
                f"{entry.fault} x{entry.remaining or 'all'}" for entry in self._entries
            )
            return f"FaultPlan([{queued}], {len(self._applied)} applied)"


# --- directives -------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"\[\[fault:\s*(.*?)\s*\]\]", re.DOTALL)
_TIMES = re.compile(r"x(\d+)")
_SIMPLE: dict[str, Callable[[], Fault]] = {
    "drop-connection": Fault.drop_connection,
    "truncated-json": Fault.truncated_json,
    "not-json": Fault.not_json,
    "bad-tool-arguments": Fault.bad_tool_arguments,
    "stream-without-end": Fault.stream_without_end,
    "stall": Fault.stall,
}
_TIMED: dict[str, Callable[[float], Fault]] = {
    "latency": Fault.latency,
    "slow-drip": Fault.slow_drip,
    "stall": Fault.stall,
}


def parse_directive(spec: str) -> tuple[Fault, int | None]:
    """The fault and the ``xN`` count of a directive's text, e.g. ``"503 x2"``.

    Raises ``ValueError`` saying what is wrong.
    """
    tokens = spec.replace("_", "-").lower().split()
    times: int | None = None
    options: dict[str, str] = {}
    for token in tokens[1:]:
        count = _TIMES.fullmatch(token)
        if count is not None and int(count.group(1)) >= 1:
            times = int(count.group(1))
            continue
        name, sep, value = token.partition("=")
        if not sep or name not in ("retry-after", "retry-after-date"):
            raise ValueError(
                f"unexpected {token!r} (expected xN, retry-after= or retry-after-date=)"
            )
        options[name] = value
    if not tokens:
        raise ValueError("no fault given")
    head, sep, value = tokens[0].partition("=")
    if head.isdigit():
        if sep:
            raise ValueError(f"unexpected {tokens[0]!r}")
        code = int(head)
        if "retry-after-date" in options:
            return Fault.retry_after_date(_number(options["retry-after-date"]), code=code), times
        return Fault.status(code, retry_after=options.get("retry-after")), times
    if options:
        raise ValueError("retry-after only goes with a status code")
    if sep and head in _TIMED:
        return _TIMED[head](_number(value)), times
    if not sep and head in _SIMPLE:
        return _SIMPLE[head](), times
    known = ", ".join([*(f"{name}=SECONDS" for name in _TIMED), *_SIMPLE])
    raise ValueError(f"unknown fault {tokens[0]!r} (known: a status code, {known})")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None


def _matches(when: Condition, body: dict[str, Any] | None, user_text: str) -> bool:
    if when is None:
        return True
    if isinstance(when, str):
        return when in user_text
    return body is not None and bool(when(body))
