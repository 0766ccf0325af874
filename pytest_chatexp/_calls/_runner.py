"""The runner: every planned call of an experiment, concurrently, each by its target.

Test bodies are synchronous, yet HTTP clients must outlive a test to reuse connections, and an
asyncio client is bound to the loop it was created on. So the runner owns one event loop on a
background thread for the whole session; tests submit experiments to it and wait. That also lets
async tests await the same runner from their own loop (``arun``).

What answers a call is a ``Target`` (``_target``): the session's HTTP target (``_http``), which
owns the connections, or your own app (``_app``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .._errors import DEFAULT_MAX_RESPONSE_BYTES, ChatexpError, ProviderError
from .._experiment._result import ExperimentResult
from .._experiment._spec import ExperimentSpec, PlannedCall
from .._util import exception_text
from ._batch import BatchOptions, BatchRound
from ._breaker import EndpointDown
from ._exchange import assemble_runs, base_url_for, format_for, reply_of, target_for
from ._http import HttpTarget
from ._loop import SampleRun
from ._target import Exchange, TargetCall, send_directly, start_next

__all__ = ["ExperimentRunner"]

_T = TypeVar("_T")
_MAX_FAILURES_SHOWN = 5


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
        # Generators suspended mid-stream (a stream given up on) are closed while the loop
        # still runs; left to close(), their finalizers would warn that aclose was never awaited.
        with contextlib.suppress(Exception):  # a stop must not fail; close() below still runs
            asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


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
        breaker: int = 3,
        batch: BatchOptions | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._loop_thread = _LoopThread()
        self._http = HttpTarget(
            concurrency=concurrency,
            retries=retries,
            backoff=backoff,
            deadline=deadline,
            max_response_bytes=max_response_bytes,
            breaker=breaker,
        )
        self._semaphore: asyncio.Semaphore | None = None
        # --chatexp-batch: live calls that a batch API can carry go through one (``_batch``).
        self.batch = batch

    def run(
        self,
        spec: ExperimentSpec,
        *,
        exchange: Exchange | None = None,
        runs: list[SampleRun] | None = None,
    ) -> ExperimentResult:
        """Run ``spec`` and wait for its result (for synchronous test bodies).

        ``exchange`` sits between each built request and the HTTP call: recording and replay
        plug in there. ``runs`` are its samples as far as a replay took them (``replay``): the
        runner carries on from there.
        """
        return self._loop_thread.run(self._run(spec, exchange or send_directly, runs))

    async def arun(
        self,
        spec: ExperimentSpec,
        *,
        exchange: Exchange | None = None,
        runs: list[SampleRun] | None = None,
    ) -> ExperimentResult:
        """Run ``spec`` from a coroutine on any event loop."""
        coro = self._run(spec, exchange or send_directly, runs)
        return await asyncio.wrap_future(self._loop_thread.submit(coro))

    def close(self) -> None:
        """Close every connection and stop the loop thread."""
        if self._http.connected:
            self._loop_thread.run(self._http.aclose())
        self._loop_thread.stop()

    async def _run(
        self, spec: ExperimentSpec, exchange: Exchange, runs: list[SampleRun] | None
    ) -> ExperimentResult:
        all_runs = runs if runs is not None else [SampleRun(call) for call in spec.calls]
        todo = [run for run in all_runs if not run.done]
        started = time.perf_counter()
        timeout = spec.timeout or self.timeout
        ends_at = None if self.deadline is None else started + self.deadline
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        session = self._semaphore
        failures: list[tuple[int, PlannedCall, BaseException]] = []
        planned = iter(enumerate(todo))
        batch = None if self.batch is None else BatchRound(self.batch, len(todo))

        async def worker(first_out: asyncio.Future[None] | None) -> None:
            try:
                # Workers share one iterator, so samples start in plan order, each exactly once.
                for index, run in planned:
                    try:
                        await self._drive(
                            run, session, timeout, ends_at, exchange, first_out, batch
                        )
                    except Exception as exc:  # the call in flight, or the sample's first
                        failures.append((index, run.next or run.first, exc))
                    if batch is not None:
                        batch.sample_ended()
                    if first_out is not None:
                        start_next(first_out)
                        first_out = None
            finally:
                if first_out is not None:  # no sample was left for it, or it was interrupted
                    start_next(first_out)

        # As many workers as the experiment may have calls in flight, rather than a task per
        # call all queueing on a semaphore: hundreds of waiting tasks cost CPU to wake.
        count = min(spec.concurrency or self.concurrency, self.concurrency, len(todo))
        if batch is not None:
            # Every sample at once: a batched call holds no connection, only a place in the
            # queue, and the queue is sent when every running sample waits on it.
            count = len(todo)
        try:
            stopped = await asyncio.wait_for(_start_one_by_one(worker, count), self.deadline)
        except TimeoutError:
            calls = len(spec.calls)
            raise ProviderError(
                f"the experiment did not finish within {self.deadline:g} s "
                f"(--chatexp-deadline); {calls} "
                f"{'call was' if calls == 1 else 'calls were'} planned, and retries wait for "
                "Retry-After and backoff"
            ) from None
        finally:
            if batch is not None:
                await batch.aclose()  # batches still running (a deadline, Ctrl-C) are cancelled
        wall_time = time.perf_counter() - started
        for interrupted in stopped:
            if interrupted is not None:
                raise interrupted  # cancellation and interrupts are not call failures
        if failures:
            failures.sort(key=lambda failure: failure[0])
            shown = [(call, exc) for _, call, exc in failures]
            raise _failure_summary(shown, total=sum(run.calls for run in all_runs))
        return assemble_runs(spec, all_runs, wall_time)

    async def _drive(
        self,
        run: SampleRun,
        session: asyncio.Semaphore,
        timeout: float,
        ends_at: float | None,
        exchange: Exchange,
        first_out: asyncio.Future[None] | None = None,
        batch: BatchRound | None = None,
    ) -> None:
        """A sample's calls, each by whichever target serves its config, and the tools run
        between them. ``first_out``, for a worker's first call, is resolved once its request is
        on the wire or it has to wait for anything else (see ``_start_one_by_one``)."""
        while not run.done:
            if run.pending:
                run.ran([await tool.arun(run.where) for tool in run.pending])
                continue
            call = run.next
            assert call is not None
            provider = format_for(call.config)
            wire = provider.build_request(call, base_url=base_url_for(call, provider))
            request = TargetCall(
                call=call,
                provider=provider,
                wire=wire,
                exchange=exchange,
                timeout=timeout,
                max_response_bytes=self.max_response_bytes,
                ends_at=ends_at,
                first_out=first_out,
            )
            if (
                batch is not None
                and target_for(call.config, self._http) is self._http
                and (batch.takes(request))
            ):
                outcome = await batch.handle(request)  # no slot: it holds no connection
            else:
                if first_out is not None and session.locked():
                    start_next(first_out)  # it will wait for a slot: start the next one
                async with session:  # shared with the session's other experiments
                    outcome = await target_for(call.config, self._http).handle(request)
            first_out = None
            run.take(call, wire, reply_of(call, provider, wire, outcome), outcome)


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
    down = [exc for exc in errors if isinstance(exc, EndpointDown)]
    if down:
        return _with_endpoints_down(failures, down, total=total)
    messages = [_describe_failure(call, exc) for call, exc in failures]
    if len(failures) == 1:
        return ProviderError(messages[0])
    lines = [f"{len(failures)} of {total} provider calls failed:"]
    lines += [f"  {message}" for message in messages[:_MAX_FAILURES_SHOWN]]
    if len(failures) > _MAX_FAILURES_SHOWN:
        lines.append(f"  ... and {len(failures) - _MAX_FAILURES_SHOWN} more")
    return ProviderError("\n".join(lines))


def _with_endpoints_down(
    failures: list[tuple[PlannedCall, BaseException]], down: list[EndpointDown], *, total: int
) -> ProviderError:
    """One line per endpoint that is down for the calls its breaker did not send (not one per
    call: they all say the same), then the calls that went out and failed."""
    by_endpoint: dict[str, list[EndpointDown]] = {}
    for exc in down:
        by_endpoint.setdefault(exc.endpoint, []).append(exc)
    sent = [(call, exc) for call, exc in failures if not isinstance(exc, EndpointDown)]
    lines = [f"{len(failures)} of {total} provider calls failed:"] if len(failures) > 1 else []
    for skipped in by_endpoint.values():
        count = len(skipped)
        lines.append(f"{count} {'call' if count == 1 else 'calls'} not sent: {skipped[-1].why}")
    lines += [_describe_failure(call, exc) for call, exc in sent[:_MAX_FAILURES_SHOWN]]
    if len(sent) > _MAX_FAILURES_SHOWN:
        lines.append(f"... and {len(sent) - _MAX_FAILURES_SHOWN} more")
    if len(lines) == 1:
        return ProviderError(lines[0])
    return ProviderError("\n".join(lines[:1] + [f"  {line}" for line in lines[1:]]))
