"""A minimal HTTP/1.1 server layer on asyncio streams.

Why hand-rolled: the reference server must hold hundreds of concurrent, deliberately
slow (latency-injected) connections without a thread each, and it must not add
dependencies. So this implements only the subset of HTTP/1.1 that API clients use:
a request line, headers, ``Content-Length`` bodies, persistent connections (with
``Connection: close`` honoured), ``Expect: 100-continue``, and responses that are
either a byte string or an async stream sent with ``Transfer-Encoding: chunked``.

This module knows nothing about any LLM wire format: it turns bytes into a
:class:`RecordedRequest`, hands it to a dispatch coroutine, and writes back the
:class:`Response` it gets.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import urlsplit

#: Request heads larger than this are rejected (431); it is also the stream buffer limit.
MAX_HEAD_BYTES = 64 * 1024
#: Request bodies larger than this are rejected (413) instead of being buffered.
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Listen backlog: bursts of hundreds of connects must not hit SYN retransmits.
LISTEN_BACKLOG = 1024


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request exactly as the server received it.

    ``headers`` has lower-cased names (repeated headers are joined with ``", "``), so
    lookups do not depend on the client's spelling. ``json`` is the parsed body, or
    ``None`` when the body is empty or is not valid JSON; ``body`` keeps the raw bytes
    so tests can assert on what went over the wire.
    """

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes
    query: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    """What a route handler answers.

    A ``bytes`` body is sent with ``Content-Length``; an async iterable body is
    streamed chunk by chunk with ``Transfer-Encoding: chunked`` (server-sent events
    and other streaming formats are built on this).
    """

    status: int = 200
    body: bytes | AsyncIterable[bytes] = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[RecordedRequest], Awaitable[Response]]
"""A route handler: an async function from a request to a response."""

ErrorFactory = Callable[[int, str], Response]
"""Builds the error body for protocol errors and crashed handlers (status, message)."""


def json_response(payload: object, status: int = 200) -> Response:
    """Serialise ``payload`` compactly: bodies are for machines, smaller is faster."""
    return Response(status, json.dumps(payload, separators=(",", ":")).encode())


def sse_event(payload: object, *, event: str | None = None) -> bytes:
    """One server-sent event whose data is ``payload`` as compact JSON, after an ``event:``
    line when it is named."""
    data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    return data if event is None else f"event: {event}\n".encode() + data


class ProtocolError(Exception):
    """The client sent something this server will not parse; answered, then closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Incoming(NamedTuple):
    """A parsed request plus the connection-level facts needed to answer it."""

    request: RecordedRequest
    keep_alive: bool
    http11: bool


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> _Incoming | None:
    """Read one request; ``None`` means the client closed the connection.

    ``writer`` is needed only for ``Expect: 100-continue``, where the client waits
    for an interim response before it sends the body (curl does this above 1 KiB).
    """
    head = await _read_head(reader)
    if head is None:
        return None
    method, target, version, headers = _parse_head(head)
    length = _content_length(headers)
    http11 = version == "HTTP/1.1"
    if length and http11 and headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await reader.readexactly(length) if length else b""
    path, query = _split_target(target)
    request = RecordedRequest(method, path, headers, _parse_json(body), body, query)
    return _Incoming(request, _keep_alive(http11, headers), http11)


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise ProtocolError(431, "request head too large") from None


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    # RFC 9112 §2.2: a server SHOULD ignore empty lines received before the request line.
    request_line, *header_lines = head[:-4].decode("latin-1").lstrip("\r\n").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ProtocolError(400, f"malformed request line: {request_line!r}")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise ProtocolError(505 if version.startswith("HTTP/") else 400, "unsupported version")
    return method, target, version, _parse_headers(header_lines)


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        # Whitespace around the name means obsolete line folding or request smuggling.
        if not sep or not name or name != name.strip():
            raise ProtocolError(400, f"malformed header line: {line!r}")
        key, value = name.lower(), value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _content_length(headers: Mapping[str, str]) -> int:
    if "transfer-encoding" in headers:
        raise ProtocolError(501, "chunked request bodies are not supported; send Content-Length")
    raw = headers.get("content-length")
    if raw is None:
        return 0
    values = {value.strip() for value in raw.split(",")}
    text = values.pop()
    if values or not (text.isascii() and text.isdigit()):
        raise ProtocolError(400, f"invalid Content-Length: {raw!r}")
    if int(text) > MAX_BODY_BYTES:
        raise ProtocolError(413, "request body too large")
    return int(text)


def _split_target(target: str) -> tuple[str, str]:
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    parts = urlsplit(target)  # absolute-form, as sent to proxies
    return parts.path or "/", parts.query


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _keep_alive(http11: bool, headers: Mapping[str, str]) -> bool:
    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    return "close" not in tokens if http11 else "keep-alive" in tokens


class _HttpDate:
    """RFC 9110 asks for a ``Date`` header; formatting it once per second keeps it cheap."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True)
        return self._value


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _response_head(
    response: Response, framing: tuple[str, ...], keep_alive: bool, date: str
) -> bytes:
    lines = [
        f"HTTP/1.1 {response.status} {_reason(response.status)}",
        f"Date: {date}",
        "Server: pytest-chatexp-reference",
        f"Content-Type: {response.content_type}",
        *framing,
        "Connection: keep-alive" if keep_alive else "Connection: close",
        *(f"{name}: {value}" for name, value in response.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _close_stream(body: AsyncIterable[bytes]) -> None:
    """Finalise an async generator body even when the client vanished mid-stream."""
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


class HttpConnections:
    """Serves HTTP/1.1 connections, routing every request through one dispatch coroutine.

    It tracks its connection tasks so that :meth:`close_connections` can end idle
    keep-alive connections on shutdown (``asyncio.Server.close`` does not, before 3.12).
    """

    def __init__(self, dispatch: Handler, error_response: ErrorFactory) -> None:
        self._dispatch = dispatch
        self._error_response = error_response
        self._tasks: set[asyncio.Task[Any]] = set()
        self._date = _HttpDate()
        self.connections_accepted = 0

    async def listen(self, host: str, port: int) -> asyncio.Server:
        """Start accepting connections on ``host:port`` (port 0 picks a free one)."""
        return await asyncio.start_server(
            self._serve_connection, host, port, limit=MAX_HEAD_BYTES, backlog=LISTEN_BACKLOG
        )

    async def close_connections(self) -> None:
        """Cancel every open connection and wait until their sockets are closed."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections_accepted += 1
        task = asyncio.current_task()
        assert task is not None  # start_server always runs the callback in a task
        self._tasks.add(task)
        try:
            await self._serve_requests(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; there is nobody left to answer
        except asyncio.CancelledError:
            # Only close_connections() cancels these top-level tasks. Ending normally matters:
            # Python 3.11's start_server callback calls task.exception() on a cancelled task.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def _serve_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        keep_alive = True
        while keep_alive:
            try:
                incoming = await read_request(reader, writer)
            except ProtocolError as exc:
                response = self._error_response(exc.status, str(exc))
                await self._write(writer, response, keep_alive=False, http11=True, head_only=False)
                return
            if incoming is None:
                return
            response = await self._respond(incoming.request)
            keep_alive = await self._write(
                writer,
                response,
                keep_alive=incoming.keep_alive,
                http11=incoming.http11,
                head_only=incoming.request.method == "HEAD",
            )

    async def _respond(self, request: RecordedRequest) -> Response:
        try:
            return await self._dispatch(request)
        except Exception as exc:  # a broken handler must answer 500, not kill the server
            return self._error_response(500, f"handler failed: {type(exc).__name__}: {exc}")

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        response: Response,
        *,
        keep_alive: bool,
        http11: bool,
        head_only: bool,
    ) -> bool:
        """Send ``response``; return whether the connection may serve another request."""
        body = response.body
        if isinstance(body, bytes):
            head = _response_head(
                response, (f"Content-Length: {len(body)}",), keep_alive, self._date.now()
            )
            writer.write(head if head_only else head + body)
            await writer.drain()
            return keep_alive
        # HTTP/1.0 has no chunked coding: the end of the body is the end of the connection.
        keep_alive = keep_alive and http11
        framing = ("Transfer-Encoding: chunked",) if http11 else ()
        writer.write(_response_head(response, framing, keep_alive, self._date.now()))
        try:
            await _write_stream(writer, body, chunked=http11, head_only=head_only)
        except Exception:
            # The status line is already out: the only honest signal left is to cut the
            # body short by closing the connection, which clients report as truncated.
            return False
        return keep_alive


async def _write_stream(
    writer: asyncio.StreamWriter, body: AsyncIterable[bytes], *, chunked: bool, head_only: bool
) -> None:
    try:
        if not head_only:
            async for chunk in body:
                if chunk:  # an empty chunk would terminate a chunked body early
                    writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                    await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
        await writer.drain()
    finally:
        await _close_stream(body)
