"""Fault injection: make the reference server fail the way real provider APIs do.

A :class:`Fault` is one way to misbehave; :class:`~._fault_plan.FaultPlan` (``server.faults``)
decides which request gets which. Faults that corrupt an answer (truncated or dropped bodies,
streams without their end, slow drips, stalls) first let the wire format render the normal
answer and then damage it, so they work for every wire format, streamed or not. Streamed bodies
are the HTTP layer's only way to misbehave after the status line: a body that raises closes the
connection mid-body, one that ends early ends the (chunked) body cleanly, one that waits keeps
the client waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from email.utils import formatdate
from http import HTTPStatus
from typing import Literal

from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response
from pytest_chatexp.testing._replies import Reply, ToolCallReply

__all__ = ["Fault", "FaultKind"]

FaultKind = Literal[
    "status",
    "latency",
    "drop_connection",
    "truncated_json",
    "not_json",
    "bad_tool_arguments",
    "stream_without_end",
    "slow_drip",
    "stall",
]

WireFormat = Callable[[RecordedRequest, ReplyEngine], Response]
"""Translates one model request into a response (as in ``_server``)."""

#: What ``Fault.bad_tool_arguments()`` sends as a tool call's arguments.
BAD_TOOL_ARGUMENTS = '{"query": "unterminated'

#: What ``Fault.not_json()`` sends: a proxy's error page, with a 200 status.
NOT_JSON_BODY = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>upstream closed the connection</p></body></html>"
)

_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class DroppedConnection(Exception):
    """Raised by a body stream to make the HTTP layer close the connection mid-body."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One way for the server to misbehave; build it with the class methods.

    Every fault answers one request; :meth:`FaultPlan.add` says how many requests get it.
    """

    kind: FaultKind
    code: int = 200
    seconds: float | None = None
    retry_after: str | None = None
    retry_after_in: float | None = None
    message: str | None = None
    piece: int = 16

    # --- constructors -----------------------------------------------------------------

    @classmethod
    def status(
        cls, code: int, *, retry_after: str | float | None = None, message: str | None = None
    ) -> Fault:
        """An error response with status ``code`` and the provider's error shape.

        ``retry_after`` (seconds) is sent as the ``Retry-After`` header. ``message`` is the
        error message; ``{api_key}`` in it is replaced by the key the client sent, as some
        providers echo it (the default 401 message does).
        """
        if not 400 <= code <= 599:
            raise ValueError(f"Fault.status needs an error status (400-599), got {code}")
        after = None if retry_after is None else _seconds_text(retry_after)
        return cls("status", code=code, retry_after=after, message=message)

    @classmethod
    def retry_after_date(
        cls, seconds: float = 2.0, *, code: int = 429, message: str | None = None
    ) -> Fault:
        """Status ``code`` with ``Retry-After`` as an HTTP-date ``seconds`` after the answer.

        HTTP-dates have whole seconds, so the client waits between ``seconds - 1`` and
        ``seconds``.
        """
        fault = cls.status(code, message=message)
        return replace(fault, retry_after_in=_non_negative("seconds", seconds))

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """The normal answer, after ``seconds`` (without blocking the server)."""
        return cls("latency", seconds=_non_negative("seconds", seconds))

    @classmethod
    def drop_connection(cls) -> Fault:
        """Status line, headers and part of the body (half of it, or of a stream's events),
        then the connection is closed."""
        return cls("drop_connection")

    @classmethod
    def truncated_json(cls) -> Fault:
        """Status 200 and the first half of the normal body, complete as far as HTTP goes."""
        return cls("truncated_json")

    @classmethod
    def not_json(cls) -> Fault:
        """Status 200 with an HTML error page, as a misconfigured proxy answers."""
        return cls("not_json")

    @classmethod
    def bad_tool_arguments(cls) -> Fault:
        """A normal answer calling the request's first tool (or ``lookup``) with arguments
        that are not valid JSON (:data:`BAD_TOOL_ARGUMENTS`)."""
        return cls("bad_tool_arguments")

    @classmethod
    def stream_without_end(cls) -> Fault:
        """The first half of a stream's events, then a clean end of the body: no finish event
        and no ``[DONE]``. A body that is not streamed is cut in half the same way."""
        return cls("stream_without_end")

    @classmethod
    def slow_drip(cls, delay: float, *, piece: int = 16) -> Fault:
        """The normal answer in pieces of ``piece`` bytes, each after ``delay`` seconds."""
        if piece < 1:
            raise ValueError(f"Fault.slow_drip needs piece >= 1, got {piece}")
        return cls("slow_drip", seconds=_non_negative("delay", delay), piece=piece)

    @classmethod
    def stall(cls, seconds: float | None = None) -> Fault:
        """Status line and headers, then nothing for ``seconds`` (by default until the server
        stops; stopping is not delayed), then the normal body."""
        return cls("stall", seconds=None if seconds is None else _non_negative("seconds", seconds))

    # --- answering --------------------------------------------------------------------

    def __str__(self) -> str:
        if self.kind == "status":
            if self.retry_after_in is not None:
                return f"HTTP {self.code} (Retry-After: a date {self.retry_after_in:g} s ahead)"
            after = f" (Retry-After: {self.retry_after})" if self.retry_after else ""
            return f"HTTP {self.code}{after}"
        if self.kind in ("latency", "slow_drip", "stall") and self.seconds is not None:
            return f"{self.kind} {self.seconds:g} s"
        return self.kind

    async def respond(
        self, request: RecordedRequest, wire_format: WireFormat, engine: ReplyEngine
    ) -> Response:
        """Answer ``request`` with this fault instead of (or by damaging) the normal answer."""
        if self.kind == "status":
            return self._error_response(request)
        if self.kind == "not_json":
            return Response(200, NOT_JSON_BODY, "text/html; charset=utf-8")
        if self.kind == "latency":
            await asyncio.sleep(self.seconds or 0.0)
            return wire_format(request, engine)
        if self.kind == "bad_tool_arguments":
            return wire_format(request, _bad_arguments_engine(request.json))
        normal = wire_format(request, engine)
        if normal.status >= 400:
            return normal  # e.g. an invalid request: nothing worth damaging
        chunks = await _collect(normal.body)
        if self.kind == "truncated_json":
            whole = b"".join(chunks)
            return replace(normal, body=whole[: len(whole) // 2])
        if self.kind == "drop_connection":
            return replace(normal, body=_send(_first_half(chunks), then_drop=True))
        if self.kind == "stream_without_end":
            return replace(normal, body=_send(_first_half(chunks)))
        if self.kind == "slow_drip":
            return replace(normal, body=_drip(chunks, self.seconds or 0.0, self.piece))
        return replace(normal, body=_stall(chunks, self.seconds))

    def _error_response(self, request: RecordedRequest) -> Response:
        message = self.message or _default_message(self.code)
        message = message.replace("{api_key}", _api_key(request.headers) or "<none>")
        error_type = _ERROR_TYPES.get(
            self.code, "server_error" if self.code >= 500 else "invalid_request_error"
        )
        # One body every provider reads: OpenAI's and Anthropic's "error", Humanloop's "detail".
        error = {"type": error_type, "message": message, "param": None, "code": None}
        response = json_response({"type": "error", "error": error, "detail": message}, self.code)
        after = self.retry_after
        if self.retry_after_in is not None:
            after = formatdate(time.time() + self.retry_after_in, usegmt=True)
        return response if after is None else replace(response, headers={"Retry-After": after})


# --- helpers ----------------------------------------------------------------------------


def _non_negative(name: str, value: float) -> float:
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


def _seconds_text(value: str | float) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def _default_message(code: int) -> str:
    if code == 401:
        return "Incorrect API key provided: {api_key}."
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Error"
    return f"{phrase} (fault injected by the reference server)"


def _api_key(headers: dict[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key")


def _bad_arguments_engine(body: object) -> ReplyEngine:
    engine = ReplyEngine()
    name = _first_tool_name(body) or "lookup"
    engine.add_rule(Reply(tool_calls=[ToolCallReply(name, BAD_TOOL_ARGUMENTS)]))
    return engine


def _first_tool_name(body: object) -> str | None:
    tools = body.get("tools") if isinstance(body, dict) else None
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")  # OpenAI nests it; Anthropic does not
        name = function.get("name") if isinstance(function, dict) else tool.get("name")
        if isinstance(name, str) and name:
            return name
    return None


async def _collect(body: bytes | AsyncIterable[bytes]) -> list[bytes]:
    """A body's chunks: a byte string is one chunk, a stream is read to its end."""
    if isinstance(body, bytes):
        return [body]
    chunks = [chunk async for chunk in body if chunk]
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()
    return chunks


def _first_half(chunks: Sequence[bytes]) -> list[bytes]:
    """Half of a stream's chunks (at least one), or half of a single body."""
    if len(chunks) == 1:
        return [chunks[0][: len(chunks[0]) // 2]]
    return list(chunks[: max(1, len(chunks) // 2)])


async def _send(chunks: Sequence[bytes], *, then_drop: bool = False) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    if then_drop:
        raise DroppedConnection("fault: connection dropped mid-body")


async def _drip(chunks: Sequence[bytes], delay: float, piece: int) -> AsyncIterator[bytes]:
    for chunk in chunks:
        for start in range(0, len(chunk), piece):
            await asyncio.sleep(delay)
            yield chunk[start : start + piece]


async def _stall(chunks: Sequence[bytes], seconds: float | None) -> AsyncIterator[bytes]:
    if seconds is None:
        await asyncio.Event().wait()  # until the server's shutdown cancels the connection
    else:
        await asyncio.sleep(seconds)
    for chunk in chunks:
        yield chunk
