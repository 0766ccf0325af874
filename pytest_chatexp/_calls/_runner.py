"""The runner: every planned call of an experiment, concurrently, on session-wide HTTP clients.

Test bodies are synchronous, yet HTTP clients must outlive a test to reuse connections, and an
asyncio client is bound to the loop it was created on. So the runner owns one event loop on a
background thread for the whole session; tests submit experiments to it and wait. That also lets
async tests await the same runner from their own loop (``arun``).

Each connection is its own single-connection ``httpx.AsyncHTTPTransport``, and the runner picks
which one a request uses (see ``_Connections``): httpcore's pool rescans all of its connections
and queued requests whenever a request starts or ends, so one pool of 64 connections costs more
CPU per request than the request itself, while a pool of one does not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import email.utils
import functools
import importlib.util
import json
import logging
import os
import random
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urljoin, urlsplit

import httpx

from ._bounded import (
    ACCEPT_ENCODING,
    AnswerTooLarge,
    UndecodableAnswer,
    read_body,
    read_lines,
)
from .._errors import ChatexpError, ProviderError
from .._experiment._spec import ExperimentResult, ExperimentSpec, PlannedCall, Sample
from ._metering import note_attempt
from .._providers import Provider, WireRequest
from .._redaction import display_url, redact
from ._exchange import (
    CallOutcome,
    Exchange,
    api_key_env,
    assemble,
    base_url_for,
    exception_text,
    provider_for,
    read_reply,
    sample_from,
    send_directly,
)
from .._session._settings import DEFAULT_MAX_RESPONSE_BYTES

if TYPE_CHECKING:
    from ._app import AppProvider

__all__ = ["ExperimentRunner"]

_T = TypeVar("_T")
_MAX_FAILURES_SHOWN = 5
_MAX_CONNECT_TIMEOUT = 10.0
_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)
_HTTPX_LOG = logging.getLogger("httpx")
_LOG = logging.getLogger("pytest_chatexp")


class _LoopThread:
    """An event loop running on a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="pytest-chatexp-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait; Ctrl-C cancels it instead of orphaning it."""
        future = self.submit(coro)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def stop(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


class _Connections:
    """One endpoint's connections, each in its own single-connection ``AsyncHTTPTransport``.

    httpcore's pool rescans every connection (a readability syscall for each idle one) and every
    queued request whenever a request starts or ends: at 64 connections in one pool that is
    several milliseconds of CPU per request, which caps a live run far below the server's
    latency limit. Handing out whole single-connection transports here is O(1) per request.
    Transports are created on demand, so there are never more than the most calls this
    endpoint ever had in flight (the runner's concurrency bounds that).
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._idle: list[httpx.AsyncHTTPTransport] = []
        self._open: set[httpx.AsyncHTTPTransport] = set()
        self._closing: set[asyncio.Task[None]] = set()

    def acquire(self) -> httpx.AsyncHTTPTransport:
        if self._idle:
            # Last in, first out: the most recently used connection is the likeliest still open.
            return self._idle.pop()
        transport = httpx.AsyncHTTPTransport(
            verify=self._ssl_context, trust_env=False, limits=_ONE_CONNECTION
        )
        self._open.add(transport)
        return transport

    def release(self, transport: httpx.AsyncHTTPTransport) -> None:
        self._idle.append(transport)

    def discard(self, transport: httpx.AsyncHTTPTransport) -> None:
        """Close a transport whose request failed or was cancelled, rather than reuse it in
        whatever state the failure left its connection. Closed in a task of its own because
        the failing request may itself be being cancelled."""
        self._open.discard(transport)
        task = asyncio.get_running_loop().create_task(_close_quietly(transport))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        transports, self._open, self._idle = list(self._open), set(), []
        await asyncio.gather(
            *self._closing,
            *(transport.aclose() for transport in transports),
            return_exceptions=True,
        )


class _Route:
    """One request URL, worked out once: parsed, its endpoint's limiter and connections, and
    the headers every request to it sends."""

    __slots__ = ("_headers", "connections", "endpoint", "url")

    def __init__(self, url: str, endpoint: _Endpoint, connections: _Connections) -> None:
        self.url = httpx.URL(url)
        self.endpoint = endpoint
        self.connections = connections
        self._headers: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}

    def prepare(
        self, provider: Provider, wire: WireRequest, api_key: str | None, timeout: float
    ) -> tuple[httpx.ByteStream, httpx.Headers, dict[str, Any]]:
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
        return httpx.ByteStream(content), headers, {"timeout": timeouts}

    def _headers_for(self, wire_headers: Mapping[str, str]) -> httpx.Headers:
        key = tuple(wire_headers.items())
        headers = self._headers.get(key)
        if headers is None:
            # What an httpx client sends: Host, its defaults, the JSON content type, then the
            # wire format's own headers (the key is added per call and never kept here).
            headers = httpx.Headers({"Host": self.url.netloc.decode("ascii")})
            headers.update(_default_headers())
            headers["Content-Type"] = "application/json"
            headers["Accept-Encoding"] = ACCEPT_ENCODING  # only what is inflated within a bound
            headers.update(wire_headers)
            self._headers[key] = headers
        return headers


class ExperimentRunner:
    """Runs experiments under a session-wide concurrency limit and per-call timeout."""

    def __init__(
        self,
        *,
        concurrency: int = 16,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._loop_thread = _LoopThread()
        self._endpoints: dict[str, _Endpoint] = {}
        self._connections: dict[str, _Connections] = {}
        self._routes: dict[str, _Route] = {}
        self._ssl_context: ssl.SSLContext | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def run(self, spec: ExperimentSpec, *, exchange: Exchange | None = None) -> ExperimentResult:
        """Run ``spec`` and wait for its result (for synchronous test bodies).

        ``exchange`` sits between each built request and the HTTP call: recording and replay
        plug in there.
        """
        return self._loop_thread.run(self._run(spec, exchange or send_directly))

    async def arun(
        self, spec: ExperimentSpec, *, exchange: Exchange | None = None
    ) -> ExperimentResult:
        """Run ``spec`` from a coroutine on any event loop."""
        coro = self._run(spec, exchange or send_directly)
        return await asyncio.wrap_future(self._loop_thread.submit(coro))

    def close(self) -> None:
        """Close every connection and stop the loop thread."""
        if self._connections:
            pools, self._connections, self._routes = list(self._connections.values()), {}, {}
            self._loop_thread.run(_close_all(pools))
        self._loop_thread.stop()

    async def _run(self, spec: ExperimentSpec, exchange: Exchange) -> ExperimentResult:
        calls = spec.calls
        started = time.perf_counter()
        timeout = spec.timeout or self.timeout
        ends_at = None if self.deadline is None else started + self.deadline
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        session = self._semaphore
        results: list[Sample | BaseException | None] = [None] * len(calls)
        planned = iter(enumerate(calls))

        async def worker(first_out: asyncio.Future[None] | None) -> None:
            try:
                # Workers share one iterator, so calls start in plan order, each exactly once.
                for index, call in planned:
                    try:
                        if first_out is not None and session.locked():
                            _resolve(first_out)  # it will wait for a slot: start the next one
                        async with session:  # shared with the session's other experiments
                            results[index] = await self._call(
                                call, timeout, ends_at, exchange, first_out
                            )
                    except Exception as exc:
                        results[index] = exc
                    if first_out is not None:
                        _resolve(first_out)
                        first_out = None
            finally:
                if first_out is not None:  # no call was left for it, or it was interrupted
                    _resolve(first_out)

        # As many workers as the experiment may have calls in flight, rather than a task per
        # call all queueing on a semaphore: hundreds of waiting tasks cost CPU to wake.
        count = min(spec.concurrency or self.concurrency, self.concurrency, len(calls))
        try:
            stopped = await asyncio.wait_for(_start_one_by_one(worker, count), self.deadline)
        except TimeoutError:
            raise ProviderError(
                f"the experiment did not finish within {self.deadline:g} s "
                f"(--chatexp-deadline); {len(calls)} "
                f"{'call was' if len(calls) == 1 else 'calls were'} planned, and retries wait for "
                "Retry-After and backoff"
            ) from None
        wall_time = time.perf_counter() - started
        for interrupted in stopped:
            if interrupted is not None:
                raise interrupted  # cancellation and interrupts are not call failures
        failures = [
            (call, exc)
            for call, exc in zip(calls, results, strict=True)
            if isinstance(exc, BaseException)
        ]
        if failures:
            raise _failure_summary(failures, total=len(calls))
        samples = [result for result in results if isinstance(result, Sample)]
        return assemble(spec, samples, wall_time)

    async def _call(
        self,
        call: PlannedCall,
        timeout: float,
        ends_at: float | None,
        exchange: Exchange,
        first_out: asyncio.Future[None] | None = None,
    ) -> Sample:
        """One call; ``first_out``, for a worker's first call, is resolved once its request is
        on the wire or it has to wait for anything else (see ``_start_one_by_one``)."""
        provider = provider_for(call)
        base_url = base_url_for(call, provider)
        wire = provider.build_request(call, base_url=base_url)

        if provider.kind == "python":
            if first_out is not None:
                _resolve(first_out)  # an app makes its own calls, in its own time
            # Known by its kind, not imported for an isinstance: a suite that never targets an
            # app does not load the app provider's module.
            app = cast("AppProvider", provider)
            # The app runs every time (its code is under test); its own HTTP calls go through
            # the exchange, inside it. Not recorded itself, it counts as replayed when every one
            # of its calls was.
            invocation = app.invoke(call, exchange, max_response_bytes=self.max_response_bytes)
            outcome = await asyncio.wait_for(invocation, timeout)
            return sample_from(call, provider, wire, outcome)

        async def send() -> CallOutcome:
            return await self._post(call, provider, wire, timeout, ends_at, first_out)

        outcome = await exchange(call, provider, wire, send)
        return sample_from(call, provider, wire, outcome)

    async def _post(
        self,
        call: PlannedCall,
        provider: Provider,
        wire: WireRequest,
        timeout: float,
        ends_at: float | None,
        first_out: asyncio.Future[None] | None = None,
    ) -> CallOutcome:
        """One call, retried on what is worth retrying: 429 (honouring Retry-After), 5xx,
        timeouts, dropped connections, and answers that arrive unreadable. A 4xx other than
        408/409/429, a redirect, an answer too large or malformed fail at once: asking again
        would get the same answer."""
        api_key = _api_key(call, provider)
        route = self._route_for(wire.url)
        endpoint = route.endpoint
        stream, headers, extensions = route.prepare(provider, wire, api_key, timeout)
        if first_out is not None and not first_out.done():
            # httpx's trace extension: told when the connection opens and the headers are out.
            extensions = {**extensions, "trace": _tracer(first_out)}
            if endpoint.saturated:
                _resolve(first_out)  # it will wait for a slot: start the next worker
        attempts = self.retries + 1
        for attempt in range(attempts):
            request = httpx.Request(
                "POST", route.url, stream=stream, headers=headers, extensions=extensions
            )
            try:
                async with endpoint as window:
                    note_attempt()  # counted as data for the summary, retries included
                    # The whole attempt, not only each read: an answer trickling in counts too.
                    async with asyncio.timeout(timeout):
                        outcome = await self._attempt(
                            call, provider, wire, request, route.connections, timeout, api_key
                        )
            except TimeoutError:
                failure = _timed_out(wire.url, timeout)
            except _Transient as transient:
                failure = transient
            else:
                endpoint.succeeded()
                return replace(outcome, retries=attempt) if attempt else outcome
            if failure.throttled:
                endpoint.throttled(window)
            if attempt + 1 == attempts:
                gave_up = "" if attempts == 1 else f" (gave up after {attempts} attempts)"
                raise ProviderError(
                    f"{call.label}: {failure}{gave_up}", status_code=failure.status_code
                ) from None
            await asyncio.sleep(self._delay(call, attempt, failure, timeout, ends_at))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(
        self,
        call: PlannedCall,
        attempt: int,
        failure: _Transient,
        timeout: float,
        ends_at: float | None,
    ) -> float:
        """Exponential backoff with full jitter, or the server's Retry-After. A Retry-After
        longer than the call's timeout or the experiment's time left fails the call at once
        (waiting out a day's Retry-After helps nobody), and a long one is logged, not waited
        out in silence."""
        retry_after = failure.retry_after
        if retry_after is None:
            return random.uniform(0, min(self.backoff * 2**attempt, _MAX_BACKOFF))
        left = None if ends_at is None else ends_at - time.perf_counter()
        if retry_after > timeout or (left is not None and retry_after > left):
            limit = (
                f"the per-call timeout of {timeout:g} s "
                "(--chatexp-timeout or the marker's timeout=)"
                if retry_after > timeout
                else f"the {max(left or 0.0, 0.0):.1f} s left before the experiment deadline "
                f"of {self.deadline:g} s (--chatexp-deadline)"
            )
            raise ProviderError(
                f"{call.label}: {failure}; the server asks to retry after {retry_after:g} s "
                f"(Retry-After), longer than {limit}: not waiting",
                status_code=failure.status_code,
            )
        if retry_after >= _NOTED_WAIT:
            _LOG.warning(
                "chatexp: %s: waiting %g s before retrying, as the server's Retry-After asks (%s)",
                call.label,
                retry_after,
                failure,
            )
        return retry_after

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
                        events, first_event = await _read_events(
                            response, started, self.max_response_bytes
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
        except httpx.TimeoutException:
            raise _timed_out(wire.url, timeout) from None
        except AnswerTooLarge as exc:  # not transient: the same answer would come again
            raise ProviderError(f"{call.label}: {url}: {exc}") from None
        except UndecodableAnswer as exc:
            problem = f"{url} answered a body that cannot be read: {exc}"
            if not exc.transient:
                raise ProviderError(f"{call.label}: {problem}") from None
            raise _Transient(problem) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            reason = _redact(exception_text(exc), api_key)
            raise _Transient(f"cannot reach {url}: {reason}") from None
        except httpx.TransportError as exc:
            reason = _redact(exception_text(exc), api_key)
            raise _Transient(f"the connection to {url} broke mid-answer: {reason}") from None
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
                raise _Transient(f"{url}: the stream ended before its final event")
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
            if status in _RETRYABLE_STATUS or status >= 500:
                raise _Transient(
                    message,
                    status_code=status,
                    retry_after=_retry_after(response.headers.get("retry-after")),
                    throttled=status == 429,
                )
            raise ProviderError(f"{call.label}: {message}", status_code=status)
        if body is _NOT_JSON:
            excerpt = _excerpt(content.decode("utf-8", "replace"), api_key)
            raise _Transient(
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
                self._endpoints[key] = _Endpoint(self.concurrency)
            if key not in self._connections:
                if self._ssl_context is None:
                    _fail_fast_importing_sniffio()
                    # One context for every connection: loading the CA bundle takes milliseconds.
                    self._ssl_context = httpx.create_ssl_context(trust_env=False)
                self._connections[key] = _Connections(self._ssl_context)
            route = self._routes[url] = _Route(url, self._endpoints[key], self._connections[key])
        return route


async def _start_one_by_one(
    worker: Callable[[asyncio.Future[None] | None], Coroutine[Any, Any, None]], count: int
) -> list[BaseException | None]:
    """Start ``count`` workers, each once the one before has its first request on the wire (or
    is waiting for a connection, a slot, or has finished its first call), then wait for all.

    Started together, workers interleave at every await inside httpx, so the first requests
    all go out together once every one is ready, their answers come back together, and the
    whole run stays in lockstep: each call then waits for every other call of its wave to be
    processed. One by one, each request goes out as soon as it is ready, and the calls stay
    spread out. Returns what stopped each worker: None, or an exception that is not a call's.
    """
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    try:
        for _ in range(count):
            first_out: asyncio.Future[None] = loop.create_future()
            tasks.append(loop.create_task(worker(first_out)))
            await first_out
        return await asyncio.gather(*tasks, return_exceptions=True)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# Trace events after which a request no longer needs the CPU until its answer arrives: its
# connection is being opened (network round trips), or its headers are out.
_ON_THE_WIRE = frozenset({"connection.connect_tcp.started", "http11.send_request_headers.complete"})


def _tracer(first_out: asyncio.Future[None]) -> Callable[[str, Any], Awaitable[None]]:
    async def trace(event: str, info: Any) -> None:
        if event in _ON_THE_WIRE:
            _resolve(first_out)

    return trace


async def _close_all(pools: list[_Connections]) -> None:
    await asyncio.gather(*(pool.aclose() for pool in pools))


@functools.cache
def _default_headers() -> httpx.Headers:
    """The headers an ``httpx.AsyncClient`` adds to every request (Accept, Accept-Encoding,
    Connection, User-Agent), read from a client that never sends anything."""
    return httpx.AsyncClient(trust_env=False, transport=httpx.AsyncBaseTransport()).headers


async def _close_quietly(transport: httpx.AsyncHTTPTransport) -> None:
    # Its request already failed and said why; a second error from closing adds nothing.
    with contextlib.suppress(Exception):
        await transport.aclose()


def _fail_fast_importing_sniffio() -> None:
    """httpcore runs ``import sniffio`` whenever it creates an event, lock or cancel shield,
    several times per request. When sniffio is not installed (anyio>=4.5 no longer requires
    it), each of those failing imports searches all of ``sys.path`` again: about 80 us each,
    a third of a request's CPU. ``None`` in ``sys.modules`` is Python's documented way to make
    an import fail at once, with the same ModuleNotFoundError."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_NOT_JSON = object()
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_MAX_BACKOFF = 20.0
_NOTED_WAIT = 2.0  # a Retry-After wait at least this long is logged


class _Transient(Exception):
    """A failure worth another attempt; becomes a ProviderError when the attempts run out."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
        self.throttled = throttled


def _timed_out(url: str, timeout: float) -> _Transient:
    return _Transient(
        f"no answer from {display_url(url)} within {timeout:g} s "
        "(raise the timeout with --chatexp-timeout or the marker's timeout=)"
    )


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number, or an HTTP-date from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class _Endpoint:
    """Concurrency for one endpoint that adapts like TCP (AIMD): halved on a 429, then grown
    back additively, up to the session's limit. A rate-limited run slows down instead of
    failing.

    Halved once per window, as TCP does once per round trip: entering returns the window the
    attempt started in, and a 429 from an attempt that started before the last decrease says
    nothing new (it was sent at the old, higher limit). Halving on every 429 took the limit
    from 64 to 1 on one burst of rejected calls that were all in flight together.

    Grown by one per success back up to the limit it had before the last decrease, then by one
    per ``limit`` successes (as CUBIC returns quickly to where it last saw loss, then probes
    slowly). Growing slowly all the way, a 429 from every round trip's calls, as 30% random
    429s give, halved the limit faster than it grew: it settled near 2 of 64.

    No lock: the loop runs one task at a time and nothing awaits between checking and counting,
    so entering under the limit costs no suspension (it is entered per attempt). Waiters are
    served first in, first out, each handed its slot on waking so nobody can take it first.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.window = 0  # how many times the limit was decreased
        self._before_decrease = self.limit

    async def __aenter__(self) -> int:
        if not self._waiters and self._in_flight < max(1, int(self.limit)):
            self._in_flight += 1
            return self.window
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._in_flight -= 1  # handed a slot, then cancelled: pass it on
                self._wake()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return self.window

    async def __aexit__(self, *exc_info: object) -> None:
        self._in_flight -= 1
        self._wake()

    @property
    def saturated(self) -> bool:
        """Whether entering now would wait."""
        return bool(self._waiters) or self._in_flight >= max(1, int(self.limit))

    def _wake(self) -> None:
        while self._waiters and self._in_flight < max(1, int(self.limit)):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)

    def throttled(self, window: int) -> None:
        """A 429 to an attempt that entered in ``window``."""
        if window == self.window:
            self._before_decrease = self.limit
            self.limit = max(1.0, self.limit / 2)
            self.window += 1

    def succeeded(self) -> None:
        step = 1.0 if self.limit < self._before_decrease else 1 / self.limit
        self.limit = min(float(self.maximum), self.limit + step)


async def _read_events(
    response: httpx.Response, started: float, limit: int
) -> tuple[list[Any], float | None]:
    """The ``data:`` events of a server-sent-event stream, decoded, and the time to the first.

    ``[DONE]`` (OpenAI's terminator) ends the list; an event that is not JSON is a provider
    error naming it. ``event:``/``id:`` fields and comments are not needed by any provider.
    The whole stream is bounded by ``limit`` decoded bytes, and with it every line.
    """
    events: list[Any] = []
    first: float | None = None
    async for line in read_lines(response, limit):
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if first is None:
            first = time.perf_counter() - started
        if data == "[DONE]":
            break
        try:
            events.append(json.loads(data))
        except json.JSONDecodeError:
            raise _Transient(f"a stream event is not JSON: {_excerpt(data)}") from None
    return events, first


def _decode_json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _NOT_JSON


def _excerpt(text: str, secret: str | None = None, limit: int = 200) -> str:
    # Redacted before the cut, which could leave a piece of a key too short to recognise.
    text = _redact(" ".join(text.split())[: 2 * limit], secret)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _redact(text: str, secret: str | None) -> str:
    """Provider error text without the call's key, its fragments or any other known secret."""
    return redact(text, also=[secret] if secret else [])


def _api_key(call: PlannedCall, provider: Provider) -> str | None:
    name = api_key_env(call.config, provider)
    key = os.environ.get(name) if name else None
    if call.config.api_key_env and not key:
        raise ProviderError(
            f"model config '{call.config.display_name}': the environment variable "
            f"{call.config.api_key_env} (api_key_env) is not set"
        )
    return key


def _describe_failure(call: PlannedCall, exc: BaseException) -> str:
    if isinstance(exc, ChatexpError):
        return str(exc)
    # Not one of ours: a bug or an unexpected library error. Say what it was, briefly.
    return f"{call.label}: unexpected {type(exc).__name__}: {exception_text(exc)}"


def _failure_summary(failures: list[tuple[PlannedCall, BaseException]], *, total: int) -> Exception:
    errors = [exc for _, exc in failures]
    for exc in errors:
        if getattr(exc, "takes_precedence", False):
            # e.g. the session budget ran out: that, not each call it stopped, is the news.
            return exc  # type: ignore[return-value]
    kind = type(errors[0])
    combine = getattr(kind, "combine", None)
    if combine is not None and all(type(exc) is kind for exc in errors):
        # An error type that knows how to describe many of itself at once (a recording miss).
        combined: Exception = combine(errors, total=total)
        return combined
    messages = [_describe_failure(call, exc) for call, exc in failures]
    if len(failures) == 1:
        return ProviderError(messages[0])
    lines = [f"{len(failures)} of {total} provider calls failed:"]
    lines += [f"  {message}" for message in messages[:_MAX_FAILURES_SHOWN]]
    if len(failures) > _MAX_FAILURES_SHOWN:
        lines.append(f"  ... and {len(failures) - _MAX_FAILURES_SHOWN} more")
    return ProviderError("\n".join(lines))
