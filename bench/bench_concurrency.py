"""Benchmark: how close a live experiment gets to the physical limit of concurrent calls.

An experiment is N provider calls; with concurrency C against a server that takes L seconds per
reply, no client can finish before ceil(N / C) x L. This script runs a real experiment (200
inputs x 2 model configs, 1 sample: 400 calls) through ``ExperimentRunner`` against the
reference server, which runs in a subprocess (``python -m pytest_chatexp.testing --stats``) so
that this process's CPU time is the plugin's own. Side by side, in one run:

* latency rows (100 ms per reply): the plugin at concurrency 16 and 64, and a plain single
  default ``httpx.AsyncClient`` sending the same 400 POSTs at concurrency 64 (an
  ``asyncio.Semaphore``), the naive baseline. Each row shows wall time against the limit, the
  target, "meets"/"misses", the peak concurrency the server saw, and CPU per call on both
  sides (the server's tells whether the server, not the client, is the bottleneck);
* throughput rows (0 ms per reply): calls per second and the client's CPU time per call.

Rows are interleaved: each timed repeat runs every row once, after one warm-up run per row
(which opens the connections), so background load hits all rows alike. Best and median shown.

``--profile`` instead runs the plugin's 400 calls at concurrency 64 with the functions of each
phase wrapped, and prints the event-loop thread's CPU ms per call by phase (see ``PHASES``).
``--quick`` is a smoke run for CI: 40 calls, one repeat, no verdict worth reading.

Run: ``.venv/bin/python bench/bench_concurrency.py [--quick | --profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import importlib
import importlib.util
import inspect
import json
import math
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from pytest_chatexp._calls._runner import ExperimentRunner
from pytest_chatexp._experiment._config import ModelConfig
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._inputs import Input
from pytest_chatexp._experiment._spec import ExperimentSpec

try:
    from pytest_chatexp._calls._exchange import base_url_for, provider_for
except ImportError:  # a checkout from before the replay path left the runner, to compare with
    from pytest_chatexp._calls._runner import base_url_for, provider_for  # type: ignore[attr-defined,no-redef]

LATENCY_S = 0.1
CALL_TIMEOUT_S = 30.0
SERVER_START_TIMEOUT_S = 15.0
STATS_PATH = "/_stats"
_URL = re.compile(r"http://127\.0\.0\.1:\d+")

# Measured elsewhere, printed for comparison (same 400 calls, same reference server).
REFERENCES = (
    "promptfoo 0.123, the same 400 calls at concurrency 16: 6.9 s (2.75x its 2.5 s limit); "
    "at its default concurrency 4: 15.1 s (1.51x its 10 s limit)",
    "a single default httpx.AsyncClient at concurrency 64: about 7x the 0.7 s limit, "
    "CPU-bound in its connection pool (this run's own measurement is the httpx row)",
)


@dataclass(frozen=True)
class Sizes:
    inputs: int
    configs: int
    repeats: int

    @property
    def calls(self) -> int:
        return self.inputs * self.configs


FULL = Sizes(inputs=200, configs=2, repeats=5)
QUICK = Sizes(inputs=20, configs=2, repeats=1)


class ServerStartError(Exception):
    """The reference server subprocess did not report its URL."""


class ServerProcess:
    """A reference server in a subprocess, with its ``--stats`` route."""

    def __init__(self, url: str) -> None:
        self.url = url
        host, port = url.removeprefix("http://").split(":")
        # One kept-alive connection, so reading the stats adds no connection to them.
        self._stats = http.client.HTTPConnection(host, int(port), timeout=10)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        self._stats.request("POST" if reset else "GET", STATS_PATH)
        stats: dict[str, Any] = json.loads(self._stats.getresponse().read())
        return stats

    def close(self) -> None:
        self._stats.close()


@contextmanager
def server_process(latency: float) -> Iterator[ServerProcess]:
    """``python -m pytest_chatexp.testing --port 0 --latency L --stats``, stopped on exit."""
    command = [sys.executable, "-m", "pytest_chatexp.testing", "--port", "0"]
    command += ["--latency", str(latency), "--stats"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], SERVER_START_TIMEOUT_S)
        line = process.stdout.readline() if ready else ""
        match = _URL.search(line)
        if match is None:
            raise ServerStartError(f"no URL in the server's first line: {line!r}")
        server = ServerProcess(match.group(0))
        try:
            yield server
        finally:
            server.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def make_spec(base_url: str, sizes: Sizes) -> ExperimentSpec:
    """``sizes.configs`` configs (temperatures differ) x ``sizes.inputs`` inputs, 1 sample."""
    base = ModelConfig(
        name="bench",
        model="reference",
        base_url=base_url,
        chat_template=(ChatMessage(role="user", content="Count to {{n}}."),),
    )
    configs = tuple(
        base.variant(name=f"bench-{n}", temperature=n / 10) for n in range(sizes.configs)
    )
    inputs = tuple(Input(id=f"n{n}", inputs={"n": n}) for n in range(sizes.inputs))
    return ExperimentSpec(name="bench", model_configs=configs, inputs=inputs)


# --- the rows ---------------------------------------------------------------------------------


@dataclass
class Measurement:
    wall: float
    cpu: float
    server_cpu: float
    max_in_flight: int
    connections: int


@dataclass
class Row:
    """One client configuration, run ``repeats`` times; subclasses say how to run it once."""

    label: str
    concurrency: int
    calls: int
    latency: float
    target: float | None = None
    measurements: list[Measurement] = field(default_factory=list)

    def run_once(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def measure(self, server: ServerProcess) -> None:
        before = server.stats(reset=True)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        self.run_once()
        wall = time.perf_counter() - wall_start
        cpu = time.process_time() - cpu_start
        after = server.stats()
        if after["requests"] != self.calls:
            raise RuntimeError(f"{self.label}: the server saw {after['requests']} requests")
        self.measurements.append(
            Measurement(
                wall=wall,
                cpu=cpu,
                server_cpu=after["cpu_s"] - before["cpu_s"],
                max_in_flight=after["max_in_flight"],
                connections=after["connections_accepted"],
            )
        )

    @property
    def limit(self) -> float:
        return math.ceil(self.calls / self.concurrency) * self.latency

    @property
    def walls(self) -> list[float]:
        return [m.wall for m in self.measurements]

    def median_of(self, name: str) -> float:
        return statistics.median(getattr(m, name) for m in self.measurements)


class ChatexpRow(Row):
    """The plugin: ``ExperimentRunner.run`` of the whole experiment, as a test body does."""

    def __init__(self, server: ServerProcess, sizes: Sizes, concurrency: int, **kw: Any) -> None:
        super().__init__(f"chatexp @ {concurrency}", concurrency, sizes.calls, **kw)
        self.spec = make_spec(server.base_url, sizes)
        self.runner = ExperimentRunner(concurrency=concurrency, timeout=CALL_TIMEOUT_S)

    def run_once(self) -> None:
        result = self.runner.run(self.spec)
        if len(result.samples) != self.calls:
            raise RuntimeError(f"expected {self.calls} samples, got {len(result.samples)}")

    def close(self) -> None:
        self.runner.close()


class HttpxRow(Row):
    """The naive baseline: one default ``httpx.AsyncClient``, ``json=`` bodies, a semaphore."""

    def __init__(self, server: ServerProcess, sizes: Sizes, concurrency: int, **kw: Any) -> None:
        super().__init__(f"httpx @ {concurrency}", concurrency, sizes.calls, **kw)
        # The very bodies the plugin sends.
        self.requests = []
        for call in make_spec(server.base_url, sizes).plan():
            provider = provider_for(call)
            wire = provider.build_request(call, base_url=base_url_for(call, provider))
            self.requests.append((wire.url, wire.body))
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(_make_client())

    async def _all(self) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def post(url: str, body: dict[str, Any]) -> Any:
            async with limit:
                response = await self.client.post(url, json=body, timeout=CALL_TIMEOUT_S)
                response.raise_for_status()
                return response.json()

        replies = await asyncio.gather(*(post(url, body) for url, body in self.requests))
        if len(replies) != self.calls:
            raise RuntimeError(f"expected {self.calls} replies, got {len(replies)}")

    def run_once(self) -> None:
        self.loop.run_until_complete(self._all())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


async def _make_client() -> httpx.AsyncClient:
    return httpx.AsyncClient()


def run_rows(rows: Sequence[Row], server: ServerProcess, repeats: int) -> None:
    for row in rows:
        row.run_once()  # warm-up: opens the connections
    for _ in range(repeats):
        for row in rows:
            row.measure(server)


# --- output ------------------------------------------------------------------------------------


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min)"


def environment() -> str:
    """One line describing what the numbers were measured on."""
    # Without sniffio, httpcore retries a failing `import sniffio` for every lock it creates.
    sniffio = "present" if importlib.util.find_spec("sniffio") else "missing"
    return (
        f"Python {platform.python_version()} | {platform.platform()} | "
        f"{os.cpu_count()} CPUs | httpx {httpx.__version__} | httpcore {httpcore.__version__} "
        f"| sniffio {sniffio}"
    )


def verdict(row: Row) -> str:
    if row.target is None:
        return "(baseline)"
    median, best = row.median_of("wall") / row.limit, min(row.walls) / row.limit
    if median <= row.target:
        return "meets"
    return "misses (best meets)" if best <= row.target else "misses"


def print_latency_table(rows: Sequence[Row]) -> None:
    print(
        f"{'row':<13} {'calls':>5} {'limit s':>7} {'best s':>7} {'median s':>8} "
        f"{'best/limit':>10} {'median/limit':>12} {'target':>6} {'verdict':<19} "
        f"{'in flight':>9} {'new conns':>9} {'CPU ms/call':>11} {'server CPU':>10}"
    )
    for row in rows:
        walls = row.walls
        target = f"{row.target:.2f}" if row.target is not None else "-"
        print(
            f"{row.label:<13} {row.calls:>5} {row.limit:>7.3f} {min(walls):>7.3f} "
            f"{statistics.median(walls):>8.3f} {min(walls) / row.limit:>10.2f} "
            f"{statistics.median(walls) / row.limit:>12.2f} {target:>6} {verdict(row):<19} "
            f"{max(m.max_in_flight for m in row.measurements):>9} "
            f"{max(m.connections for m in row.measurements):>9} "
            f"{row.median_of('cpu') / row.calls * 1000:>11.2f} "
            f"{row.median_of('server_cpu') / row.calls * 1000:>10.2f}"
        )


def print_throughput_table(rows: Sequence[Row]) -> None:
    print(
        f"{'row':<13} {'calls':>5} {'best calls/s':>12} {'median calls/s':>14} "
        f"{'best CPU ms/call':>16} {'median CPU ms/call':>18} {'server CPU':>10}"
    )
    for row in rows:
        cpus = [m.cpu / row.calls * 1000 for m in row.measurements]
        print(
            f"{row.label:<13} {row.calls:>5} {row.calls / min(row.walls):>12.0f} "
            f"{row.calls / row.median_of('wall'):>14.0f} {min(cpus):>16.2f} "
            f"{statistics.median(cpus):>18.2f} "
            f"{row.median_of('server_cpu') / row.calls * 1000:>10.2f}"
        )


# --- profile -----------------------------------------------------------------------------------

# Phases, by the functions whose CPU makes them up. Time is charged exclusively to the innermost
# phase running (a stack), coroutines step by step, on the runner's event-loop thread only;
# whatever is charged to no phase is the runner's own bookkeeping and asyncio's scheduling.
# Both the current runner's functions and the ones it used before (an AsyncClient's) are listed,
# so the same breakdown can be taken of an older checkout.
PHASES: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "build the request (body, URL, headers, JSON)",
        (
            ("pytest_chatexp._calls._exchange", "", "provider_for"),
            ("pytest_chatexp._providers._base", "", "provider_for"),
            ("pytest_chatexp._providers._base", "", "base_url_for"),
            ("pytest_chatexp._providers._base", "", "read_api_key"),
            ("pytest_chatexp._calls._http", "", "read_api_key"),
            ("pytest_chatexp._calls._runner", "", "format_for"),
            ("pytest_chatexp._calls._runner", "", "target_for"),
            ("pytest_chatexp._calls._exchange", "", "base_url_for"),
            ("pytest_chatexp._calls._runner", "", "provider_for"),
            ("pytest_chatexp._calls._runner", "", "base_url_for"),
            ("pytest_chatexp._calls._runner", "", "_api_key"),
            ("pytest_chatexp._calls._http", "", "_api_key"),
            ("pytest_chatexp._calls._runner", "_Route", "prepare"),
            ("pytest_chatexp._calls._http", "_Route", "prepare"),
            ("pytest_chatexp._providers._openai", "OpenAIChatProvider", "build_request"),
            ("httpx", "AsyncClient", "build_request"),
            ("httpx", "Request", "__init__"),
        ),
    ),
    (
        "httpx/httpcore send and read",
        (
            ("httpx", "AsyncClient", "send"),
            ("httpx", "AsyncHTTPTransport", "handle_async_request"),
            ("httpx", "Response", "aread"),
            ("httpx", "Response", "aclose"),
            ("pytest_chatexp._calls._runner", "_Connections", "acquire"),
            ("pytest_chatexp._calls._http", "_Connections", "acquire"),
            ("pytest_chatexp._calls._runner", "_Connections", "release"),
            ("pytest_chatexp._calls._http", "_Connections", "release"),
            ("pytest_chatexp._calls._runner", "_ClientPool", "client"),
            ("pytest_chatexp._calls._http", "_ClientPool", "client"),
        ),
    ),
    (
        "event loop I/O (epoll, socket reads)",
        (
            ("selectors", "EpollSelector", "select"),
            ("asyncio.selector_events", "_SelectorSocketTransport", "_read_ready"),
        ),
    ),
    (
        "parse the response (json.loads, provider parse)",
        (
            ("pytest_chatexp._calls._runner", "", "_decode_json"),
            ("pytest_chatexp._calls._http", "", "_decode_json"),
            ("pytest_chatexp._providers._openai", "OpenAIChatProvider", "parse_response"),
        ),
    ),
    (
        "build result models (Sample, ChatDataResponse)",
        (
            ("pytest_chatexp._calls._exchange", "", "_sample"),
            ("pytest_chatexp._calls._exchange", "", "assemble"),
            ("pytest_chatexp._calls._runner", "", "assemble"),
            ("pytest_chatexp._calls._runner", "", "_sample"),
            ("pytest_chatexp._calls._runner", "", "_assemble"),
        ),
    ),
)
REST = "runner bookkeeping, asyncio scheduling (the rest)"


class PhaseClock:
    """Thread CPU time charged to the innermost active phase of one thread."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.totals: dict[str, float] = dict.fromkeys([label for label, _ in PHASES] + [REST], 0.0)
        self._stack = [REST]
        self._mark = 0.0

    def start(self) -> None:
        self.thread = threading.get_ident()
        self._mark = time.thread_time()

    def enter(self, phase: str) -> bool:
        if threading.get_ident() != self.thread:
            return False
        now = time.thread_time()
        self.totals[self._stack[-1]] += now - self._mark
        self._mark = now
        self._stack.append(phase)
        return True

    def leave(self) -> None:
        now = time.thread_time()
        self.totals[self._stack.pop()] += now - self._mark
        self._mark = now

    def wrap(self, function: Callable[..., Any], phase: str) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            def start_coroutine(*args: Any, **kwargs: Any) -> Any:
                return _TimedCoroutine(self, function(*args, **kwargs), phase)

            return start_coroutine

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.enter(phase):
                return function(*args, **kwargs)
            try:
                return function(*args, **kwargs)
            finally:
                self.leave()

        return timed


class _TimedCoroutine:
    """Awaits a coroutine, charging each of its steps (not its waits) to a phase."""

    def __init__(self, clock: PhaseClock, coroutine: Any, phase: str) -> None:
        self.clock, self.coroutine, self.phase = clock, coroutine, phase

    def __await__(self) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            timed = self.clock.enter(self.phase)
            try:
                if error is None:
                    yielded = self.coroutine.send(value)
                else:
                    yielded = self.coroutine.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                if timed:
                    self.clock.leave()
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # thrown in by the task (cancellation): pass it on
                value, error = None, exc


def instrument(clock: PhaseClock) -> None:
    """Wrap every phase function that exists in this checkout (before any connection opens)."""
    for label, functions in PHASES:
        for module_name, class_name, name in functions:
            try:
                owner: Any = importlib.import_module(module_name)
            except ModuleNotFoundError:  # an older checkout
                continue
            if class_name:
                owner = getattr(owner, class_name, None)
            original = getattr(owner, name, None) if owner is not None else None
            if original is not None:
                setattr(owner, name, clock.wrap(original, label))


def profile(server: ServerProcess, sizes: Sizes) -> None:
    """CPU per call by phase for the plugin at concurrency 64, on its event-loop thread."""
    clock = PhaseClock()
    instrument(clock)  # before the runner's connections exist: asyncio binds _read_ready early
    row = ChatexpRow(server, sizes, 64, latency=LATENCY_S)
    loop = row.runner._loop_thread.loop
    runs = max(1, sizes.repeats)

    def on_loop(function: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), loop).result()

    row.run_once()  # warm-up: opens the connections, renders the calls
    on_loop(clock.start)
    loop_cpus, process_cpus = [], []
    for _ in range(runs):
        loop_start, process_start = on_loop(time.thread_time), time.process_time()
        row.run_once()
        loop_cpus.append(on_loop(time.thread_time) - loop_start)
        process_cpus.append(time.process_time() - process_start)
    row.close()
    calls = row.calls * runs
    print(
        f"\n{runs} runs of {row.calls} calls at concurrency 64, {LATENCY_S * 1000:.0f} ms latency,"
        f" measured with every phase function wrapped (the wrappers cost a little CPU too):\n"
        f"  loop thread {sum(loop_cpus) / calls * 1000:.3f} CPU ms/call, whole process "
        f"{sum(process_cpus) / calls * 1000:.3f}"
    )
    total = sum(clock.totals.values())
    print(f"{'phase':<52} {'ms/call':>7} {'share':>6}")
    for label, seconds in clock.totals.items():
        print(f"{label:<52} {seconds / calls * 1000:>7.3f} {seconds / total:>6.0%}")
    print(f"{'total charged':<52} {total / calls * 1000:>7.3f}")


# --- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (CI smoke)")
    parser.add_argument("--profile", action="store_true", help="CPU per call by phase at 64")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    print(environment())
    print(f"load average at start: {load_average()}")
    if args.profile:
        with server_process(LATENCY_S) as server:
            profile(server, sizes)
        print(f"load average at end: {load_average()}")
        return 0

    print(
        f"\nlatency {LATENCY_S * 1000:.0f} ms, {sizes.calls} calls ({sizes.inputs} inputs x "
        f"{sizes.configs} configs x 1 sample), server in a subprocess; best and median of "
        f"{sizes.repeats} interleaved runs after one warm-up; limit = ceil(calls/conc) x latency;"
        "\nverdict on the median; CPU ms/call: this process (the client), server CPU: the "
        "server process"
    )
    with ExitStack() as stack:
        server = stack.enter_context(server_process(LATENCY_S))
        rows: list[Row] = [
            ChatexpRow(server, sizes, 16, latency=LATENCY_S, target=1.10),
            ChatexpRow(server, sizes, 64, latency=LATENCY_S, target=1.25),
            HttpxRow(server, sizes, 64, latency=LATENCY_S),
        ]
        for row in rows:
            stack.callback(row.close)
        run_rows(rows, server, sizes.repeats)
    print_latency_table(rows)

    print(f"\nthroughput: latency 0 ms, {sizes.calls} calls, server in a subprocess")
    with ExitStack() as stack:
        server = stack.enter_context(server_process(0.0))
        rows = [
            ChatexpRow(server, sizes, 16, latency=0.0),
            ChatexpRow(server, sizes, 64, latency=0.0),
            HttpxRow(server, sizes, 64, latency=0.0),
        ]
        for row in rows:
            stack.callback(row.close)
        run_rows(rows, server, sizes.repeats)
    print_throughput_table(rows)

    print("\nreference (measured elsewhere, not in this run):")
    for line in REFERENCES:
        print(f"  {line}")
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
