"""Batch record runs (``--chatexp-batch``): an experiment's live calls sent through the
providers' batch APIs (OpenAI's Batch API, Anthropic's Message Batches: half the price of
direct calls), each answered with the body the batch returned for it.

A ``BatchRound`` sits where the HTTP target would: each call still goes through the exchange
(recording, replay, the meter), so a call the recording answers never reaches a batch, and
one that goes out is recorded exactly as a direct call's would be (the same request body,
fingerprint and answer). Only ``send`` differs: it queues the call. The queue is sent once
every sample of the experiment still running is waiting on it, so a sample's calls go turn by
turn (a tool loop, a conversation: each later call depends on the answer before it), one batch
per turn and per endpoint. Calls that cannot be batched (streamed, an app target, a provider
without a batch API) go direct, as without the option.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._errors import DEFAULT_MAX_RESPONSE_BYTES, ProviderError
from .._providers import Provider
from .._providers._base import endpoint_url, read_api_key, with_query
from .._providers._batches import (
    BatchApi,
    BatchState,
    LineResult,
    anthropic_request,
    anthropic_results,
    anthropic_state,
    batch_api_of,
    openai_create,
    openai_jsonl,
    openai_results,
    openai_state,
)
from .._redaction import display_url
from ._bounded import ACCEPT_ENCODING, AnswerTooLarge, UndecodableAnswer, read_body
from ._exchange import base_url_for, read_reply
from ._httpx import httpx
from ._metering import note_attempt
from ._streams import excerpt, redact_key
from ._target import CallOutcome, TargetCall, start_next

__all__ = ["BatchOptions", "BatchRound", "batch_api_of"]

_LOG = logging.getLogger("pytest_chatexp.batch")
_HTTP_TIMEOUT = 120.0
_CANCEL_WAIT = 10.0  # seconds a cancellation may take while the run stops
_POLL_ATTEMPTS = 5  # status reads in a row that may fail before the batch's calls do
# The most requests one batch takes (OpenAI: 50,000 per file; Anthropic: 100,000): a bigger
# queue is sent as several batches.
_MOST_LINES: dict[BatchApi, int] = {"openai": 50_000, "anthropic": 100_000}


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """``--chatexp-batch-poll`` and ``--chatexp-batch-timeout``: seconds between polls, and
    how long a batch may take before it is cancelled and its calls fail;
    ``--chatexp-max-response-bytes``, the most an answer may hold: a batch's results file may
    hold that much per call in it, any other answer that much."""

    poll: float = 30.0
    timeout: float = 24 * 3600.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


@dataclass
class _Queued:
    request: TargetCall
    api: BatchApi
    endpoint: str  # what the batch line names: /v1/chat/completions, /v1/responses, ...
    answer: asyncio.Future[CallOutcome] = field(repr=False)


class BatchRound:
    """One experiment run's batches: its calls queued, and sent when every running sample
    waits on the queue (``free`` samples are neither finished nor waiting)."""

    def __init__(self, options: BatchOptions, samples: int) -> None:
        self.options = options
        self._free = samples
        self._queue: list[_Queued] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def takes(self, request: TargetCall) -> bool:
        return batch_api_of(request.call.config.provider, request.wire) is not None

    async def handle(self, request: TargetCall) -> CallOutcome:
        """The call through its exchange, which replays it or lets it join the queue."""

        async def send() -> CallOutcome:
            return await self._submit(request)

        return await request.exchange(request.call, request.provider, request.wire, send)

    async def aclose(self) -> None:
        """Stop the batches still running (the run was interrupted): each is cancelled at its
        provider, so that nothing goes on being processed, and billed, for no one."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def sample_ended(self) -> None:
        self._free -= 1
        self._flush_if_all_wait()

    async def _submit(self, request: TargetCall) -> CallOutcome:
        api, endpoint = batch_api_of(request.call.config.provider, request.wire) or ("openai", "")
        queued = _Queued(request, api, endpoint, asyncio.get_running_loop().create_future())
        note_attempt()  # a live call: counted (and metered) as one request
        self._queue.append(queued)
        self._free -= 1
        start_next(request.first_out)  # it waits for the batch: start the next sample
        self._flush_if_all_wait()
        try:
            return await queued.answer
        finally:
            self._free += 1

    def _flush_if_all_wait(self) -> None:
        if self._free > 0 or not self._queue:
            return
        queue, self._queue = self._queue, []
        groups: dict[tuple[Any, ...], list[_Queued]] = {}
        for queued in queue:
            groups.setdefault(_group_key(queued), []).append(queued)
        for group in groups.values():
            limit = _MOST_LINES[group[0].api]
            for start in range(0, len(group), limit):
                chunk = group[start : start + limit]
                task = asyncio.get_running_loop().create_task(self._send(chunk))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(self, group: list[_Queued]) -> None:
        try:
            results, state, latency = await _Batch(group, self.options).run()
        except ProviderError as exc:
            for queued in group:
                _fail(queued, ProviderError(f"{queued.request.call.label}: {exc}"))
            return
        except Exception as exc:  # not one of ours: each call says what it was
            for queued in group:
                _fail(queued, exc)
            return
        except BaseException:  # cancelled (``aclose``): no one waits for these answers now
            for queued in group:
                queued.answer.cancel()
            raise
        for index, queued in enumerate(group):
            call, provider, wire = queued.request.call, queued.request.provider, queued.request.wire
            line = results.get(_custom_id(index))
            where = f"{call.label}: batch {state.id}"
            if line is None:
                _fail(queued, ProviderError(f"{where} ({state.status}) has no result for it"))
            elif line.error is not None:
                error = ProviderError(f"{where}: {line.error}", status_code=line.status_code)
                _fail(queued, error)
            else:
                try:
                    reply = read_reply(call, provider, wire, line.body)
                except ProviderError as exc:
                    _fail(queued, exc)
                    continue
                if not queued.answer.done():
                    queued.answer.set_result(
                        CallOutcome(line.body, latency, reply=reply, batch=True)
                    )


def _fail(queued: _Queued, exc: BaseException) -> None:
    if not queued.answer.done():
        queued.answer.set_exception(exc)


def _custom_id(index: int) -> str:
    # Anthropic allows 1-64 of [a-zA-Z0-9_-]; OpenAI any unique string.
    return f"chatexp-{index}"


def _group_key(queued: _Queued) -> tuple[Any, ...]:
    """Calls that can share one batch: the same API, endpoint, key and headers."""
    request = queued.request
    config = request.call.config
    return (
        queued.api,
        queued.endpoint,
        base_url_for(request.call, request.provider),
        read_api_key(config, request.provider),
        tuple(sorted(request.wire.headers.items())),
        tuple(sorted(config.headers.items())),
        tuple(sorted(config.query.items())),
    )


class _Batch:
    """One batch's life: created, polled until it ends (or cancelled at the timeout), and its
    results read. Keys go in headers only, and are redacted from every message."""

    def __init__(self, group: list[_Queued], options: BatchOptions) -> None:
        first = group[0].request
        self.group = group
        self.options = options
        self.api = group[0].api
        self.provider: Provider = first.provider
        self.config = first.call.config
        self.key = read_api_key(self.config, self.provider)
        self.base = base_url_for(first.call, self.provider)
        # Read raw and inflated within the bound (``_bounded``): only encodings it can inflate.
        headers = {**first.wire.headers, **self.config.headers, "Accept-Encoding": ACCEPT_ENCODING}
        if self.key:
            headers.update(self.provider.auth_headers(self.key))
        self.headers = headers
        # A results file holds every call's answer; a status or an upload's answer is small.
        self.limit = options.max_response_bytes * len(group)

    def url(self, path: str) -> str:
        if self.api == "anthropic":
            path = f"v1/messages/batches{path}"
        return with_query(endpoint_url(self.base, path), self.config.query)

    async def run(self) -> tuple[dict[str, LineResult], BatchState, float]:
        started = time.perf_counter()
        timeout = httpx.Timeout(_HTTP_TIMEOUT, connect=10.0)
        async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
            try:
                state = await self._create(client)
            except ProviderError as exc:
                if exc.status_code in (404, 405):
                    raise ProviderError(
                        f"{exc} (the endpoint has no batch API: run without --chatexp-batch)",
                        status_code=exc.status_code,
                    ) from None
                raise
            _LOG.info(self._progress(state))
            try:
                state = await self._wait(client, state, started + self.options.timeout)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):  # a best effort: the run is stopping
                    await asyncio.wait_for(self._cancel(client, state), _CANCEL_WAIT)
                raise
            if state.failure is not None:
                raise ProviderError(f"batch {state.id} failed: {state.failure}")
            results = await self._results(client, state)
        return results, state, time.perf_counter() - started

    async def _wait(
        self, client: httpx.AsyncClient, state: BatchState, ends_at: float
    ) -> BatchState:
        """Poll until the batch ends; past ``ends_at``, cancel it and fail."""
        while not state.ended:
            if time.perf_counter() + self.options.poll > ends_at:
                await self._cancel(client, state)
                raise ProviderError(
                    f"batch {state.id} did not finish within {self.options.timeout:g} s "
                    f"(--chatexp-batch-timeout; {state.done} of {state.total} answered); "
                    "it was cancelled"
                )
            await asyncio.sleep(self.options.poll)
            seen = state
            state = self._state(await self._poll(client, self._status_url(state)))
            if (state.done, state.status) != (seen.done, seen.status):
                _LOG.info(self._progress(state))
        return state

    def _progress(self, state: BatchState) -> str:
        where = display_url(self.base)
        return f"batch {state.id} ({where}): {state.status}, {state.done}/{state.total} answered"

    def _state(self, body: Any) -> BatchState:
        try:
            return openai_state(body) if self.api == "openai" else anthropic_state(body)
        except (ValueError, TypeError) as exc:
            raise ProviderError(f"unreadable batch status: {exc}") from None

    def _status_url(self, state: BatchState, action: str = "") -> str:
        if self.api == "anthropic":
            return self.url(f"/{state.id}{action}")
        return self.url(f"batches/{state.id}{action}")

    async def _create(self, client: httpx.AsyncClient) -> BatchState:
        if self.api == "anthropic":
            lines = [(_custom_id(i), q.request.wire.body) for i, q in enumerate(self.group)]
            body = await self._call(client, "POST", self.url(""), json=anthropic_request(lines))
            return self._state(body)
        jsonl = openai_jsonl(
            [(_custom_id(i), q.endpoint, q.request.wire.body) for i, q in enumerate(self.group)]
        )
        files = {"file": ("chatexp-batch.jsonl", jsonl, "application/jsonl")}
        uploaded = await self._call(
            client, "POST", self.url("files"), data={"purpose": "batch"}, files=files
        )
        file_id = uploaded.get("id") if isinstance(uploaded, dict) else None
        if not isinstance(file_id, str):
            raise ProviderError(f"the batch file upload answered no file id: {uploaded!r:.120}")
        create = openai_create(file_id, self.group[0].endpoint)
        return self._state(await self._call(client, "POST", self.url("batches"), json=create))

    async def _cancel(self, client: httpx.AsyncClient, state: BatchState) -> None:
        url = self._status_url(state, "/cancel")
        with contextlib.suppress(ProviderError, httpx.HTTPError):
            await self._call(client, "POST", url)

    async def _results(self, client: httpx.AsyncClient, state: BatchState) -> dict[str, LineResult]:
        results: dict[str, LineResult] = {}
        if self.api == "anthropic":
            for url in state.results:
                text = await self._text(client, url)
                results.update(_read_lines(lambda t: anthropic_results(t, self.provider), text))
            return results
        providers = {_custom_id(i): q.request.provider for i, q in enumerate(self.group)}
        for file_id in state.results:
            text = await self._text(client, self.url(f"files/{file_id}/content"))
            results.update(_read_lines(lambda t: openai_results(t, providers), text))
        return results

    async def _poll(self, client: httpx.AsyncClient, url: str) -> Any:
        """A status read; one that fails for a passing reason (a dropped connection, a 429 or
        5xx) is tried again at the next poll, a few times: a day-long batch outlives blips."""
        for attempt in range(_POLL_ATTEMPTS):
            try:
                return await self._call(client, "GET", url)
            except ProviderError as exc:
                status = exc.status_code
                passing = status is None or status in (408, 409, 429) or status >= 500
                if attempt + 1 == _POLL_ATTEMPTS or not passing:
                    raise
                _LOG.info(f"{exc}; polled again in {self.options.poll:g} s")
                await asyncio.sleep(self.options.poll)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _text(self, client: httpx.AsyncClient, url: str) -> str:
        return (await self._request(client, "GET", url)).decode("utf-8", "replace")

    async def _call(self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
        content = await self._request(client, method, url, **kwargs)
        try:
            return json.loads(content)
        except ValueError:
            raise ProviderError(
                f"{display_url(url)} answered a body that is not JSON: "
                f"{excerpt(content.decode('utf-8', 'replace'), self.key)}"
            ) from None

    async def _request(
        self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
    ) -> bytes:
        """The answer's body, read within ``limit`` bytes decoded; an error status raised."""
        shown = display_url(url)
        try:
            async with client.stream(method, url, headers=self.headers, **kwargs) as response:
                content = await read_body(response, self.limit)
        except httpx.HTTPError as exc:
            reason = redact_key(str(exc) or type(exc).__name__, self.key)
            raise ProviderError(f"cannot reach {shown}: {reason}") from None
        except (AnswerTooLarge, UndecodableAnswer) as exc:
            raise ProviderError(f"{shown}: {exc}") from None
        if response.status_code >= 400:
            text = content.decode("utf-8", "replace")
            try:
                detail = self.provider.error_message(json.loads(content))
            except ValueError:
                detail = None
            detail = redact_key(detail, self.key) if detail else excerpt(text, self.key)
            raise ProviderError(
                f"HTTP {response.status_code} from {shown}: {detail}",
                status_code=response.status_code,
            )
        return content


def _read_lines(read: Callable[[str], dict[str, LineResult]], text: str) -> dict[str, LineResult]:
    try:
        return read(text)
    except (ValueError, TypeError) as exc:
        raise ProviderError(f"unreadable batch results: {exc}") from None
