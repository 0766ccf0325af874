"""The HTTP target: each request over its own connection, one attempt at a time, the answer
read within a bound (a server-sent-event stream as its list of events).

With aiohttp installed, one aiohttp transport per endpoint carries every request (``_pools``).
Otherwise each connection is its own single-connection ``httpx.AsyncHTTPTransport``, and the
target picks which one a request uses (``_Connections``): httpcore's pool rescans all of its
connections and queued requests whenever a request starts or ends, so one pool of 64 costs
more CPU per request than the request itself, while a pool of one does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from .._errors import ProviderError
from .._experiment._spec import PlannedCall
from .._providers import Provider, WireRequest
from .._providers._base import read_api_key, with_query
from .._redaction import display_url
from .._util import exception_text, shared_strings
from ._bounded import ACCEPT_ENCODING, AnswerTooLarge, UndecodableAnswer, read_body
from ._breaker import Breaker, EndpointDown, endpoint_name
from ._exchange import read_reply
from ._httpx import httpx
from ._metering import note_attempt
from ._pools import fail_fast_importing_sniffio, shared_transport
from ._retry import (
    RETRYABLE_STATUS,
    Endpoint,
    Transient,
    retry_after_seconds,
    retry_delay,
    timed_out,
)
from ._streams import CorruptStream, read_events
from ._streams import excerpt as _excerpt
from ._streams import redact_key as _redact
from ._target import CallOutcome, Target, TargetCall, start_next

__all__ = ["HttpTarget"]

_MAX_CONNECT_TIMEOUT = 10.0
_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)
_HTTPX_LOG = logging.getLogger("httpx")


class _Connections:
    """One endpoint's connections, each in its own single-connection ``AsyncHTTPTransport``.

    httpcore's pool rescans every connection (a readability syscall for each idle one) and every
    queued request whenever a request starts or ends: at 64 connections in one pool that is
    several milliseconds of CPU per request, which caps a live run far below the server's
    latency limit. Handing out whole single-connection transports here is O(1) per request.
    Transports are created on demand, so there are never more than the most calls this
    endpoint ever had in flight (the runner's concurrency bounds that).
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, shared: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._ssl_context = ssl_context
        # A transport that pools its own connections in O(1) (aiohttp's): every request's.
        self._shared = shared
        self._idle: list[httpx.AsyncBaseTransport] = []
        self._open: set[httpx.AsyncBaseTransport] = set()
        self._closing: set[asyncio.Task[None]] = set()

    def acquire(self) -> httpx.AsyncBaseTransport:
        if self._shared is not None:
            return self._shared
        if self._idle:
            # Last in, first out: the most recently used connection is the likeliest still open.
            return self._idle.pop()
        transport = httpx.AsyncHTTPTransport(
            verify=self._ssl_context, trust_env=False, limits=_ONE_CONNECTION
        )
        self._open.add(transport)
        return transport

    def release(self, transport: httpx.AsyncBaseTransport) -> None:
        if transport is not self._shared:
            self._idle.append(transport)

    def discard(self, transport: httpx.AsyncBaseTransport) -> None:
        """Close a transport whose request failed or was cancelled, rather than reuse it in
        whatever state the failure left its connection. Closed in a task of its own because
        the failing request may itself be being cancelled. (A shared transport closes the
        failed request's connection itself, when its response is closed.)"""
        if transport is self._shared:
            return
        self._open.discard(transport)
        task = asyncio.get_running_loop().create_task(_close_quietly(transport))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        transports, self._open, self._idle = list(self._open), set(), []
        if self._shared is not None:
            transports.append(self._shared)
        await asyncio.gather(
            *self._closing,
            *(transport.aclose() for transport in transports),
            return_exceptions=True,
        )


class _Route:
    """One request URL, worked out once: parsed, its endpoint's limiter and connections, and
    the headers every request to it sends."""

    __slots__ = ("_headers", "breaker", "connections", "endpoint", "url")

    def __init__(
        self, url: str, endpoint: Endpoint, connections: _Connections, breaker: Breaker
    ) -> None:
        self.url = httpx.URL(url)
        self.endpoint = endpoint
        self.connections = connections
        self.breaker = breaker
        self._headers: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}

    def prepare(
        self, provider: Provider, wire: WireRequest, api_key: str | None, timeout: float
    ) -> tuple[bytes, httpx.Headers, dict[str, Any]]:
        """What every attempt of one call sends, worked out once: the body encoded as
        httpx's ``json=`` encodes it, the headers an httpx client would send, and the
        timeouts. Sent as a ready stream with its Host and Content-Length, httpx builds the
        request without re-encoding or re-normalising anything."""
        content = json.dumps(
            wire.body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
        headers = self._headers_for(wire.headers).copy()
        headers["Content-Length"] = str(len(content))
        if api_key:
            headers.update(provider.auth_headers(api_key))
        timeouts = httpx.Timeout(timeout, connect=min(timeout, _MAX_CONNECT_TIMEOUT)).as_dict()
        return content, headers, {"timeout": timeouts}

    def _headers_for(self, wire_headers: Mapping[str, str]) -> httpx.Headers:
        key = tuple(wire_headers.items())
        headers = self._headers.get(key)
        if headers is None:
            # What an httpx client sends, then the wire format's headers (not the key: per call).
            headers = httpx.Headers({"Host": self.url.netloc.decode("ascii")})
            headers.update(_default_headers())
            headers["Content-Type"] = "application/json"
            headers["Accept-Encoding"] = ACCEPT_ENCODING  # only what is inflated within a bound
            headers.update(wire_headers)
            self._headers[key] = headers
        return headers


class HttpTarget(Target):
    """Model endpoints over HTTP: each endpoint's connections and adaptive concurrency, shared
    by every experiment of the session, and the retries of each call."""

    def __init__(
        self,
        *,
        concurrency: int,
        retries: int,
        backoff: float,
        deadline: float | None,
        max_response_bytes: int,
        breaker: int = 3,
    ) -> None:
        self.concurrency = concurrency
        self.breaker = breaker
        self.retries = retries
        self.backoff = backoff
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._endpoints: dict[str, Endpoint] = {}
        self._connections: dict[str, _Connections] = {}
        self._routes: dict[str, _Route] = {}
        self._breakers: dict[str, Breaker] = {}
        self._ssl_context: ssl.SSLContext | None = None

    @property
    def connected(self) -> bool:
        """Whether any connection pool was opened (and so needs closing, on the loop)."""
        return bool(self._connections)

    async def aclose(self) -> None:
        """Close every connection."""
        pools, self._connections, self._routes = list(self._connections.values()), {}, {}
        await asyncio.gather(*(pool.aclose() for pool in pools))

    async def handle(self, request: TargetCall) -> CallOutcome:
        """The call's request, sent through its exchange (recording and replay)."""

        async def send() -> CallOutcome:
            return await self._post(request)

        return await request.exchange(request.call, request.provider, request.wire, send)

    async def _post(self, target_call: TargetCall) -> CallOutcome:
        """One call, retried on what is worth retrying: 429 (honouring Retry-After), 5xx,
        timeouts, dropped connections, and answers that arrive unreadable. A 4xx other than
        408/409/429, a redirect, an answer too large or malformed fail at once: asking again
        would get the same answer."""
        call, provider, wire = target_call.call, target_call.provider, target_call.wire
        timeout, first_out = target_call.timeout, target_call.first_out
        api_key = read_api_key(call.config, provider)
        route = self._route_for(with_query(wire.url, call.config.query))  # only when sent
        endpoint, breaker = route.endpoint, route.breaker
        content, headers, extensions = route.prepare(provider, wire, api_key, timeout)
        headers.update(call.config.headers)  # like the query: never in the recorded wire
        stream = httpx.ByteStream(content)
        if first_out is not None and not first_out.done():
            # httpx's trace extension: told when the connection opens and the headers are out.
            extensions = {**extensions, "trace": _tracer(first_out)}
            if endpoint.saturated:
                start_next(first_out)  # it will wait for a slot: start the next worker
        attempts = self.retries + 1
        for attempt in range(attempts):
            sent = headers
            if api_key is None:  # signed per attempt (a signature expires) over the exact bytes
                sent = headers.copy()
                sent.update(provider.sign(call.config, str(route.url), headers, content))
            request = httpx.Request(
                "POST", route.url, stream=stream, headers=sent, extensions=extensions
            )
            try:
                async with endpoint as window:
                    breaker.admit(call.label, first=attempt == 0)
                    note_attempt()  # counted as data for the summary, retries included
                    # The whole attempt, not only each read: an answer trickling in counts too.
                    async with asyncio.timeout(timeout):
                        outcome = await self._attempt(
                            call, provider, wire, request, route.connections, timeout, api_key
                        )
            except TimeoutError:
                failure = timed_out(wire.url, timeout)  # connected or not: says nothing
            except Transient as transient:
                failure = transient
                if failure.unreachable:
                    breaker.unreachable(str(failure))
                else:
                    breaker.reached()
            except EndpointDown as down:
                if attempt == 0:
                    raise
                # Sent, and failed: its own failure is the news, and why it was not retried.
                raise ProviderError(
                    f"{call.label}: {failure} (gave up after {attempt} "
                    f"attempt{'s' if attempt != 1 else ''}: {down.endpoint} is down and its "
                    "circuit breaker stops further attempts)",
                    status_code=failure.status_code,
                ) from None
            except ProviderError:
                breaker.reached()  # an answer, if not a usable one
                raise
            else:
                breaker.reached()
                endpoint.succeeded()
                return replace(outcome, retries=attempt) if attempt else outcome
            if failure.throttled:
                endpoint.throttled(window)
            if attempt + 1 == attempts:
                gave_up = "" if attempts == 1 else f" (gave up after {attempts} attempts)"
                raise ProviderError(
                    f"{call.label}: {failure}{gave_up}", status_code=failure.status_code
                ) from None
            delay = retry_delay(
                call,
                attempt,
                failure,
                backoff=self.backoff,
                timeout=timeout,
                deadline=self.deadline,
                ends_at=target_call.ends_at,
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        call: PlannedCall,
        provider: Provider,
        wire: WireRequest,
        request: httpx.Request,
        connections: _Connections,
        timeout: float,
        api_key: str | None,
    ) -> CallOutcome:
        started = time.perf_counter()
        url = display_url(wire.url)  # as messages show it: no credentials
        first_event: float | None = None
        events: list[Any] = []
        transport = connections.acquire()
        try:
            try:
                # The transport, not a client: a client's per-request work (merging URLs and
                # headers, cookies, auth and redirect flows, hooks) is all unused here.
                response = await transport.handle_async_request(request)
                try:
                    if 300 <= response.status_code < 400:
                        content = b""  # not followed, so not read
                    elif wire.streams and response.status_code < 400:
                        events, first_event = await read_events(
                            response, started, self.max_response_bytes, provider
                        )
                        content = b""
                    else:
                        content = await read_body(response, self.max_response_bytes)
                finally:
                    await response.aclose()
            except BaseException:
                connections.discard(transport)
                raise
            connections.release(transport)
            if _HTTPX_LOG.isEnabledFor(logging.INFO):
                # What httpx's client logs for every request; kept for whoever relied on it.
                _HTTPX_LOG.info(
                    'HTTP Request: %s %s "%s %d %s"',
                    request.method,
                    display_url(str(request.url)),
                    response.http_version,
                    response.status_code,
                    response.reason_phrase,
                )
        except httpx.TimeoutException as exc:
            unreachable = isinstance(exc, httpx.ConnectTimeout)
            raise timed_out(wire.url, timeout, unreachable=unreachable) from None
        except (AnswerTooLarge, CorruptStream) as exc:  # the same answer would come again
            raise ProviderError(f"{call.label}: {url}: {exc}") from None
        except UndecodableAnswer as exc:
            problem = f"{url} answered a body that cannot be read: {exc}"
            if not exc.transient:
                raise ProviderError(f"{call.label}: {problem}") from None
            raise Transient(problem) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            reason = _redact(exception_text(exc), api_key)
            raise Transient(f"cannot reach {url}: {reason}", unreachable=True) from None
        except httpx.TransportError as exc:
            reason = _redact(exception_text(exc), api_key)
            raise Transient(f"the connection to {url} broke mid-answer: {reason}") from None
        latency = time.perf_counter() - started
        status = response.status_code
        if 300 <= status < 400:
            # Not transient (the next attempt gets the same redirect), and not an answer.
            target = response.headers.get("location")
            location = (
                display_url(urljoin(wire.url, target)) if target else "nowhere (no Location header)"
            )
            raise ProviderError(
                f"{call.label}: HTTP {status} from {url}: a redirect to {location}, which "
                "is not followed; point base_url (or the provider's base-URL variable) there",
                status_code=status,
            )
        if wire.streams and status < 400:
            if first_event is None or not provider.stream_finished(events):
                raise Transient(f"{url}: the stream ended before its final event")
            reply = read_reply(call, provider, wire, events)  # malformed: not recorded
            return CallOutcome(events, latency, first_token_s=first_event, reply=reply)
        body = _decode_json(content)
        if status >= 400:
            detail = provider.error_message(body) if body is not _NOT_JSON else None
            detail = (
                _redact(detail, api_key)
                if detail
                else _excerpt(content.decode("utf-8", "replace"), api_key)
            )
            message = f"HTTP {status} from {url}: {detail}"
            if status in RETRYABLE_STATUS or status >= 500:
                raise Transient(
                    message,
                    status_code=status,
                    retry_after=retry_after_seconds(response.headers.get("retry-after")),
                    throttled=status == 429,
                )
            raise ProviderError(f"{call.label}: {message}", status_code=status)
        if body is _NOT_JSON:
            excerpt = _excerpt(content.decode("utf-8", "replace"), api_key)
            raise Transient(
                f"{url} answered HTTP {status} with a body that is not JSON: {excerpt}",
                status_code=status,
            )
        reply = read_reply(call, provider, wire, body)  # malformed: not recorded
        return CallOutcome(body, latency, reply=reply)

    def _route_for(self, url: str) -> _Route:
        route = self._routes.get(url)
        if route is None:
            parts = urlsplit(url)
            key = f"{parts.scheme}://{parts.netloc}"
            if key not in self._endpoints:
                self._endpoints[key] = Endpoint(self.concurrency)
            if key not in self._connections:
                if self._ssl_context is None:
                    fail_fast_importing_sniffio()
                    # One context for every connection: loading the CA bundle takes milliseconds.
                    self._ssl_context = httpx.create_ssl_context(trust_env=False)
                self._connections[key] = _Connections(
                    self._ssl_context, shared_transport(self._ssl_context)
                )
            if key not in self._breakers:
                self._breakers[key] = Breaker(endpoint_name(url), self.breaker)
            route = self._routes[url] = _Route(
                url, self._endpoints[key], self._connections[key], self._breakers[key]
            )
        return route


# Trace events after which a request no longer needs the CPU until its answer arrives: its
# connection is being opened (network round trips), or its headers are out.
_ON_THE_WIRE = frozenset({"connection.connect_tcp.started", "http11.send_request_headers.complete"})


def _tracer(first_out: asyncio.Future[None]) -> Callable[[str, Any], Awaitable[None]]:
    async def trace(event: str, info: Any) -> None:
        if event in _ON_THE_WIRE:
            start_next(first_out)

    return trace


@functools.cache
def _default_headers() -> httpx.Headers:
    """The headers an ``httpx.AsyncClient`` adds to every request (Accept, Accept-Encoding,
    Connection, User-Agent), read from a client that never sends anything."""
    return httpx.AsyncClient(trust_env=False, transport=httpx.AsyncBaseTransport()).headers


async def _close_quietly(transport: httpx.AsyncBaseTransport) -> None:
    # Its request already failed and said why; a second error from closing adds nothing.
    with contextlib.suppress(Exception):
        await transport.aclose()


_NOT_JSON = object()


def _decode_json(content: bytes) -> Any:
    try:
        # One copy of each key and short value for the run: an experiment keeps its answers.
        return shared_strings(json.loads(content))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _NOT_JSON
