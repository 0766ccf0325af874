"""The runner: every planned call of an experiment, concurrently, on session-wide HTTP clients.

Test bodies are synchronous, yet HTTP clients must outlive a test to reuse connections, and an
asyncio client is bound to the loop it was created on. So the runner owns one event loop on a
background thread for the whole session; tests submit experiments to it and wait. That also lets
async tests await the same runner from their own loop (``arun``).

One ``httpx.AsyncClient`` degrades past about 32 concurrent connections (its pool is a single
lock-protected list), so each endpoint gets a small pool of clients with 16 connections each.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import email.utils
import itertools
import json
import math
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from ._errors import ChatexpError, InvalidExperimentError, ProviderError
from ._experiment import Case, ExperimentResult, ExperimentSpec, PlannedCall, Sample, sample_id
from ._models import ChatDataResponse
from ._providers import Provider, ProviderReply, WireRequest, get_provider, provider_names
from ._providers._app import AppProvider

__all__ = [
    "CallOutcome",
    "Exchange",
    "ExperimentRunner",
    "base_url_for",
    "provider_for",
    "send_directly",
]

_T = TypeVar("_T")
_CONNECTIONS_PER_CLIENT = 16
_MAX_FAILURES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """The answer to one call: the decoded body (for a stream, its list of event objects), how
    long the provider took, and for a stream how long until its first event."""

    body: Any
    latency_s: float
    replayed: bool = False
    first_token_s: float | None = None
    retries: int = 0


# The seam recording plugs into: (call, provider, wire request, send) -> outcome.
Exchange = Callable[
    [PlannedCall, Provider, WireRequest, Callable[[], Awaitable[CallOutcome]]],
    Awaitable[CallOutcome],
]


# The synchronous seam: (call, provider, wire request) -> a recorded outcome, or None.
Replay = Callable[[PlannedCall, Provider, WireRequest], CallOutcome | None]


async def send_directly(
    call: PlannedCall,
    provider: Provider,
    wire: WireRequest,
    send: Callable[[], Awaitable[CallOutcome]],
) -> CallOutcome:
    return await send()


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


class _ClientPool:
    """A few AsyncClients for one endpoint, handed out round-robin."""

    def __init__(self, size: int) -> None:
        limits = httpx.Limits(
            max_connections=_CONNECTIONS_PER_CLIENT,
            max_keepalive_connections=_CONNECTIONS_PER_CLIENT,
        )
        self._clients = [httpx.AsyncClient(limits=limits, trust_env=False) for _ in range(size)]
        self._next = itertools.cycle(self._clients)

    def client(self) -> httpx.AsyncClient:
        return next(self._next)

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))


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
    ) -> None:
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.deadline = deadline
        self._endpoints: dict[str, _Endpoint] = {}
        self._loop_thread = _LoopThread()
        self._pools: dict[str, _ClientPool] = {}
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
        """Close every HTTP client and stop the loop thread."""
        if self._pools:
            pools, self._pools = list(self._pools.values()), {}
            self._loop_thread.run(_close_all(pools))
        self._loop_thread.stop()

    async def _run(self, spec: ExperimentSpec, exchange: Exchange) -> ExperimentResult:
        calls = spec.calls
        started = time.perf_counter()
        limit = asyncio.Semaphore(min(spec.concurrency or self.concurrency, self.concurrency))
        timeout = spec.timeout or self.timeout
        gathered = asyncio.gather(
            *(self._guarded(call, limit, timeout, exchange) for call in calls),
            return_exceptions=True,
        )
        try:
            results = await asyncio.wait_for(gathered, self.deadline)
        except TimeoutError:
            raise ProviderError(
                f"the experiment did not finish within {self.deadline:g} s "
                f"(--chatexp-deadline); {len(calls)} call{'s' if len(calls) != 1 else ''} "
                "were planned, and retries wait for Retry-After and backoff"
            ) from None
        wall_time = time.perf_counter() - started
        failures = [
            (call, exc)
            for call, exc in zip(calls, results, strict=True)
            if isinstance(exc, BaseException)
        ]
        if failures:
            for _, exc in failures:
                if not isinstance(exc, Exception):
                    raise exc  # cancellation and interrupts are not call failures
            raise _failure_summary(failures, total=len(calls))
        samples = [result for result in results if isinstance(result, Sample)]
        return _assemble(spec, samples, wall_time)

    async def _guarded(
        self, call: PlannedCall, limit: asyncio.Semaphore, timeout: float, exchange: Exchange
    ) -> Sample:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        async with limit, self._semaphore:
            return await self._call(call, timeout, exchange)

    async def _call(self, call: PlannedCall, timeout: float, exchange: Exchange) -> Sample:
        provider = provider_for(call)
        base_url = base_url_for(call, provider)
        wire = provider.build_request(call, base_url=base_url)

        if isinstance(provider, AppProvider):
            # The app runs every time (its code is under test); its own HTTP calls go through
            # the exchange, inside it. Not recorded itself, it is not replayed either.
            outcome = await asyncio.wait_for(provider.invoke(call, exchange), timeout)
            return sample_from(call, provider, wire, outcome)

        async def send() -> CallOutcome:
            return await self._post(call, provider, wire, timeout)

        outcome = await exchange(call, provider, wire, send)
        return sample_from(call, provider, wire, outcome)

    def replay(self, spec: ExperimentSpec, lookup: Replay) -> ExperimentResult | None:
        """The experiment answered from recordings alone, synchronously, or None as soon as
        one call has no recording. Replaying needs no event loop, thread or client: this is
        the path CI takes for every test whose prompts did not change."""
        started = time.perf_counter()
        samples: list[Sample] = []
        for call in spec.calls:
            provider = provider_for(call)
            wire = provider.build_request(call, base_url=base_url_for(call, provider))
            outcome = lookup(call, provider, wire)
            if outcome is None:
                return None
            samples.append(sample_from(call, provider, wire, outcome))
        return _assemble(spec, samples, time.perf_counter() - started)

    async def _post(
        self, call: PlannedCall, provider: Provider, wire: WireRequest, timeout: float
    ) -> CallOutcome:
        """One call, retried on what is worth retrying: 429 (honouring Retry-After), 5xx,
        timeouts, dropped connections, and answers that arrive unreadable. A 4xx other than
        408/409/429 fails at once: asking again would get the same answer."""
        api_key = _api_key(call, provider)
        endpoint = self._endpoint_for(wire.url)
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                async with endpoint:
                    # The whole attempt, not only each read: an answer trickling in counts too.
                    outcome = await asyncio.wait_for(
                        self._attempt(call, provider, wire, timeout, api_key), timeout
                    )
            except TimeoutError:
                failure = _timed_out(wire.url, timeout)
            except _Transient as transient:
                failure = transient
            else:
                endpoint.succeeded()
                return replace(outcome, retries=attempt)
            if failure.throttled:
                endpoint.throttled()
            if attempt + 1 == attempts:
                gave_up = "" if attempts == 1 else f" (gave up after {attempts} attempts)"
                raise ProviderError(
                    f"{call.label}: {failure}{gave_up}", status_code=failure.status_code
                ) from None
            await asyncio.sleep(self._delay(attempt, failure.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter, or the server's Retry-After, capped."""
        if retry_after is not None:
            return min(retry_after, _MAX_RETRY_AFTER)
        return random.uniform(0, min(self.backoff * 2**attempt, _MAX_BACKOFF))

    async def _attempt(
        self,
        call: PlannedCall,
        provider: Provider,
        wire: WireRequest,
        timeout: float,
        api_key: str | None,
    ) -> CallOutcome:
        headers = {**wire.headers, **(provider.auth_headers(api_key) if api_key else {})}
        client = self._pool_for(wire.url).client()
        started = time.perf_counter()
        first_event: float | None = None
        events: list[Any] = []
        try:
            request = client.build_request(
                "POST",
                wire.url,
                json=wire.body,
                headers=headers,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            )
            response = await client.send(request, stream=True)
            try:
                if wire.streams and response.status_code < 400:
                    events, first_event = await _read_events(response, started)
                    content = b""
                else:
                    content = await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise _timed_out(wire.url, timeout) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Transient(f"cannot reach {wire.url}: {_redact(str(exc), api_key)}") from None
        except httpx.TransportError as exc:
            raise _Transient(
                f"the connection to {wire.url} broke mid-answer: {_redact(str(exc), api_key)}"
            ) from None
        latency = time.perf_counter() - started
        status = response.status_code
        if wire.streams and status < 400:
            if first_event is None or not provider.stream_finished(events):
                raise _Transient(f"{wire.url}: the stream ended before its final event")
            return CallOutcome(body=events, latency_s=latency, first_token_s=first_event)
        body = _decode_json(content)
        if status >= 400:
            detail = provider.error_message(body) if body is not _NOT_JSON else None
            detail = _redact(detail or _excerpt(content.decode("utf-8", "replace")), api_key)
            message = f"HTTP {status} from {wire.url}: {detail}"
            if status in _RETRYABLE_STATUS or status >= 500:
                raise _Transient(
                    message,
                    status_code=status,
                    retry_after=_retry_after(response.headers.get("retry-after")),
                    throttled=status == 429,
                )
            raise ProviderError(f"{call.label}: {message}", status_code=status)
        if body is _NOT_JSON:
            excerpt = _redact(_excerpt(content.decode("utf-8", "replace")), api_key)
            raise _Transient(
                f"{wire.url} answered HTTP {status} with a body that is not JSON: {excerpt}",
                status_code=status,
            )
        return CallOutcome(body=body, latency_s=latency)

    def _endpoint_for(self, url: str) -> _Endpoint:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._endpoints:
            self._endpoints[key] = _Endpoint(self.concurrency)
        return self._endpoints[key]

    def _pool_for(self, url: str) -> _ClientPool:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _ClientPool(
                max(1, math.ceil(self.concurrency / _CONNECTIONS_PER_CLIENT))
            )
        return pool


async def _close_all(pools: list[_ClientPool]) -> None:
    await asyncio.gather(*(pool.aclose() for pool in pools))


_NOT_JSON = object()
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_MAX_BACKOFF = 20.0
_MAX_RETRY_AFTER = 60.0


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
        f"no answer from {url} within {timeout:g} s "
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
    by one for every ``limit`` successes, up to the session's limit. A rate-limited run slows
    down instead of failing."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self._in_flight = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < max(1, int(self.limit)))
            self._in_flight += 1

    async def __aexit__(self, *exc_info: object) -> None:
        async with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def throttled(self) -> None:
        self.limit = max(1.0, self.limit / 2)

    def succeeded(self) -> None:
        self.limit = min(float(self.maximum), self.limit + 1 / self.limit)


async def _read_events(response: httpx.Response, started: float) -> tuple[list[Any], float | None]:
    """The ``data:`` events of a server-sent-event stream, decoded, and the time to the first.

    ``[DONE]`` (OpenAI's terminator) ends the list; an event that is not JSON is a provider
    error naming it. ``event:``/``id:`` fields and comments are not needed by any provider.
    """
    events: list[Any] = []
    first: float | None = None
    async for line in response.aiter_lines():
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


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "[REDACTED]") if secret else text


def provider_for(call: PlannedCall) -> Provider:
    provider = get_provider(call.config.provider)
    if provider is None:
        raise InvalidExperimentError(
            f"model config '{call.config.display_name}': provider '{call.config.provider}' is not "
            f"supported (supported: {', '.join(provider_names())})"
        )
    return provider


def base_url_for(call: PlannedCall, provider: Provider) -> str:
    if call.config.base_url:
        return call.config.base_url
    from_env = os.environ.get(provider.base_url_env) if provider.base_url_env else None
    return (from_env or provider.default_base_url).rstrip("/")


def _api_key(call: PlannedCall, provider: Provider) -> str | None:
    name = call.config.api_key_env or provider.default_api_key_env
    key = os.environ.get(name) if name else None
    if call.config.api_key_env and not key:
        raise ProviderError(
            f"model config '{call.config.display_name}': the environment variable "
            f"{call.config.api_key_env} (api_key_env) is not set"
        )
    return key


def sample_from(
    call: PlannedCall, provider: Provider, wire: WireRequest, outcome: CallOutcome
) -> Sample:
    """The sample for a call's answer, however it was obtained (live or replayed)."""
    try:
        reply = provider.parse_response(outcome.body)
    except ProviderError as exc:
        raise ProviderError(f"{call.label}: {exc}") from None
    return _sample(call, wire, reply, outcome)


def _sample(
    call: PlannedCall, wire: WireRequest, reply: ProviderReply, outcome: CallOutcome
) -> Sample:
    data = ChatDataResponse(
        id=reply.log_id or sample_id(call),
        index=call.sample_index,
        output=reply.output if reply.output is not None else reply.raw_output.strip(),
        raw_output=reply.raw_output,
        model_config_id=reply.model_config_id or call.config.model_config_id,
        output_message=reply.message,
        inputs=call.input.inputs,
        finish_reason=reply.finish_reason,
        tool_results=reply.tool_results or [],
        messages=list(call.messages),
        tool_calls=reply.message.tool_calls,
        tool_call=reply.message.tool_calls[0].function if reply.message.tool_calls else None,
    )
    return Sample(
        data=data,
        usage=reply.usage,
        config=call.config,
        input=call.input,
        provider_request=wire.body,
        provider_response=outcome.body,
        latency_s=outcome.latency_s,
        first_token_s=outcome.first_token_s,
        retries=outcome.retries,
        replayed=outcome.replayed,
    )


def _assemble(spec: ExperimentSpec, samples: list[Sample], wall_time: float) -> ExperimentResult:
    per_case = spec.num_samples
    cases = tuple(
        Case(config=group[0].config, input=group[0].input, samples=tuple(group))
        for group in (samples[i : i + per_case] for i in range(0, len(samples), per_case))
    )
    return ExperimentResult(
        name=spec.name,
        cases=cases,
        wall_time_s=wall_time,
        model_configs=spec.model_configs,
        inputs=spec.inputs,
    )


def _describe_failure(call: PlannedCall, exc: BaseException) -> str:
    if isinstance(exc, ChatexpError):
        return str(exc)
    # Not one of ours: a bug or an unexpected library error. Say what it was, briefly.
    return f"{call.label}: unexpected {type(exc).__name__}: {exc}"


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
