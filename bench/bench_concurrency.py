"""Benchmark: how close a live experiment gets to the physical limit of concurrent calls.

An experiment is N provider calls; with concurrency C against a server that takes L seconds per
reply, no client can finish before ceil(N / C) x L. The experiment here is 200 inputs x 2 model
configs, 1 sample: 400 calls, against the reference server in its own process (``python -m
pytest_chatexp.testing --stats``, which reports requests, peak concurrency and its own CPU).
Side by side, in one run, at 100 ms per reply:

* ``chatexp @ 16`` and ``@ 64``: what a user runs, a whole pytest process (``python -m pytest -q
  ... --chatexp-record=off --chatexp-concurrency=C``) on a generated suite of one marked test,
  next to an empty session (one plain test, the same command line) and a 2-call session of the
  same shape. The ratio is (median wall - the empty session's) / limit: the imports of httpx and
  pydantic, collection, the spec and the report count against the plugin, pytest's own start
  does not. Client CPU per call is the session's CPU above the 2-call session's, per call (both
  from ``os.wait4`` of that child). Issue 19's targets, at 64: at most 1.10x and 0.30 ms;
* ``runner @ 16`` and ``@ 64``: ``ExperimentRunner.run`` in this process, no pytest: the runner
  alone, to tell its share from the session's;
* ``httpx @ 64``: a plain default ``httpx.AsyncClient`` sending the same 400 POSTs under an
  ``asyncio.Semaphore(64)`` in this process, the naive baseline.

Then the same rows at 0 ms per reply: calls per second and client CPU per call. Rows are
interleaved: each timed repeat runs every row once, after one warm-up run per row (connections,
bytecode cache), so background load hits all rows alike. Best and median shown.

``--profile`` instead runs the runner's 400 calls at concurrency 64 with the functions of each
phase wrapped, and prints the event-loop thread's CPU ms per call by phase (see ``PHASES``).
``--quick`` is a smoke run for CI: 40 calls, one repeat, no whole process at 0 ms, no verdict
worth reading.

Run: ``.venv/bin/python bench/bench_concurrency.py [--quick | --profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import httpx
from _shared import (
    ServerProcess,
    Session,
    expect,
    print_load,
    run_session,
    server_process,
    session_env,
    write_suite,
)

from pytest_chatexp._calls._runner import ExperimentRunner
from pytest_chatexp._experiment._config import ModelConfig
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._inputs import Input
from pytest_chatexp._experiment._spec import ExperimentSpec

try:
    from pytest_chatexp._calls._exchange import base_url_for, provider_for
except ImportError:  # a checkout from before the replay path left the runner, to compare with
    from pytest_chatexp._calls._runner import base_url_for, provider_for  # type: ignore[attr-defined,no-redef]

# Which transport the plugin's HTTP target uses: aiohttp's when installed, unless this says httpx.
TRANSPORT_VARIABLE = "CHATEXP_HTTP_TRANSPORT"  # as pytest_chatexp._calls._pools names it
LATENCY_S = 0.1
CALL_TIMEOUT_S = 30.0
TARGET_RATIO = 1.10  # whole pytest process, wall minus an empty session's, over the limit
TARGET_CPU_MS = 0.30  # client CPU per call, above a 2-call session of the same shape

# Measured elsewhere, printed for comparison (same 400 calls, same reference server).
REFERENCES = (
    "promptfoo 0.123, the same 400 calls at concurrency 16: 6.9 s (2.75x its 2.5 s limit); "
    "at its default concurrency 4: 15.1 s (1.51x its 10 s limit)",
    "(promptfoo's figures are its whole process, node start included: compare them with the "
    "chatexp @ 16 row's median wall, not its ratio)",
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

    def run_once(self) -> Session | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def measure(self, server: ServerProcess) -> None:
        before = server.stats(reset=True)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        session = self.run_once()
        wall = time.perf_counter() - wall_start
        cpu = time.process_time() - cpu_start
        if session is not None:  # a whole pytest process: its own wall and CPU
            wall, cpu = session.wall_s, session.cpu_s
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


class RunnerRow(Row):
    """The plugin's runner alone, in this process: ``ExperimentRunner.run`` of the experiment,
    as the ``chatexp`` fixture does; no pytest, no imports, no spec building, no report."""

    def __init__(
        self, server: ServerProcess, sizes: Sizes, concurrency: int, transport: str = "", **kw: Any
    ) -> None:
        label = f"runner @ {concurrency}" + (f" {transport}" if transport else "")
        super().__init__(label, concurrency, sizes.calls, **kw)
        self.spec = make_spec(server.base_url, sizes)
        self.runner = ExperimentRunner(concurrency=concurrency, timeout=CALL_TIMEOUT_S)
        self.transport = transport

    def run_once(self) -> None:
        # Read when an endpoint's connections are first made (the warm-up run).
        with _transport(self.transport):
            result = self.runner.run(self.spec)
        if len(result.samples) != self.calls:
            raise RuntimeError(f"expected {self.calls} samples, got {len(result.samples)}")
        return None

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
        return None

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


async def _make_client() -> httpx.AsyncClient:
    return httpx.AsyncClient()


class AiohttpRow(HttpxRow):
    """A plain ``aiohttp.ClientSession`` doing the same POSTs: what its transport costs alone."""

    def __init__(self, server: ServerProcess, sizes: Sizes, concurrency: int, **kw: Any) -> None:
        super().__init__(server, sizes, concurrency, **kw)
        self.label = f"aiohttp @ {concurrency}"
        self.bodies = [(url, json.dumps(body).encode()) for url, body in self.requests]
        self.session = self.loop.run_until_complete(_make_session())

    async def _all(self) -> None:
        limit = asyncio.Semaphore(self.concurrency)
        headers = {"Content-Type": "application/json"}

        async def post(url: str, body: bytes) -> Any:
            async with limit, self.session.post(url, data=body, headers=headers) as response:
                response.raise_for_status()
                return json.loads(await response.read())

        replies = await asyncio.gather(*(post(url, body) for url, body in self.bodies))
        if len(replies) != self.calls:
            raise RuntimeError(f"expected {self.calls} replies, got {len(replies)}")

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        super().close()


async def _make_session() -> Any:
    import aiohttp

    return aiohttp.ClientSession()


@contextmanager
def _transport(name: str) -> Iterator[None]:
    """``CHATEXP_HTTP_TRANSPORT`` set to ``name`` (unset when empty) for the block."""
    before = os.environ.pop(TRANSPORT_VARIABLE, None)
    if name:
        os.environ[TRANSPORT_VARIABLE] = name
    try:
        yield
    finally:
        os.environ.pop(TRANSPORT_VARIABLE, None)
        if before is not None:
            os.environ[TRANSPORT_VARIABLE] = before


_SUITE = """\
import pytest

from pytest_chatexp import ModelConfig

BASE = ModelConfig(
    name="bench",
    model="reference",
    chat_template=[{{"role": "user", "content": "Count to {{{{n}}}}."}}],
)
CONFIGS = [BASE.variant(name=f"bench-{{n}}", temperature=n / 10) for n in range({configs})]


INPUTS = [{{"id": f"n{{n}}", "n": n}} for n in range({inputs})]


@pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS)
def test_experiment(chatexp):
    assert len(chatexp.samples) == {calls}
"""
_EMPTY = "def test_nothing():\n    pass\n"


class SessionRow(Row):
    """A whole pytest process (``python -m pytest -q ... --chatexp-record=off``) running one
    marked test of the experiment against the server: what a user's run costs, imports,
    collection and reporting included. ``inputs`` 0 is an empty session (one plain test)."""

    def __init__(
        self,
        server: ServerProcess,
        root: Path,
        label: str,
        inputs: int,
        configs: int,
        transport: str = "",
        **kw: Any,
    ) -> None:
        calls = inputs * configs
        concurrency = kw.pop("concurrency", 64)
        super().__init__(label, concurrency, calls, **kw)
        text = _SUITE.format(inputs=inputs, configs=configs, calls=calls) if inputs else _EMPTY
        name = f"session_{inputs}x{configs}_{concurrency}_{int(self.latency * 1000)}ms{transport}"
        self.suite = write_suite(root / name, {"test_it.py": text})
        self.env = session_env(root, server.base_url)
        self.env.pop(TRANSPORT_VARIABLE, None)
        self.transport = transport
        if transport:
            self.env[TRANSPORT_VARIABLE] = transport
        self.options = ("--chatexp-record=off", f"--chatexp-concurrency={concurrency}")

    def run_once(self) -> Session:
        return expect(run_session(self.suite, self.env, *self.options), self.label, passed=1)


@dataclass
class Baselines:
    """The whole-process rows' references: an empty session, and a 2-call session of the same
    shape (what a session costs whatever the number of calls: imports, spec, report)."""

    empty: SessionRow
    two_calls: SessionRow
    # The same 2-call session through httpx's transport, for the rows that use it.
    two_calls_httpx: SessionRow

    def over_limit(self, row: SessionRow) -> float:
        """Median wall minus the empty session's, over the limit."""
        return (row.median_of("wall") - self.empty.median_of("wall")) / row.limit

    def cpu_ms_per_call(self, row: SessionRow) -> float:
        """Median CPU above the 2-call session's, per call beyond its 2."""
        two_calls = self.two_calls_httpx if row.transport == "httpx" else self.two_calls
        extra = row.median_of("cpu") - two_calls.median_of("cpu")
        return extra / (row.calls - two_calls.calls) * 1000

    @property
    def rows(self) -> tuple[SessionRow, ...]:
        return (self.empty, self.two_calls, self.two_calls_httpx)

    def __contains__(self, row: Row) -> bool:
        return row in self.rows


def session_rows(
    server: ServerProcess, root: Path, sizes: Sizes, latency: float, targets: bool
) -> tuple[Baselines, list[Row]]:
    baselines = Baselines(
        SessionRow(server, root, "empty session", 0, 1, latency=latency),
        SessionRow(server, root, "2-call session", 1, 2, latency=latency),
        SessionRow(server, root, "2-call httpx", 1, 2, transport="httpx", latency=latency),
    )
    rows: list[Row] = [
        SessionRow(
            server,
            root,
            f"chatexp @ {concurrency}",
            sizes.inputs,
            sizes.configs,
            concurrency=concurrency,
            latency=latency,
            target=TARGET_RATIO if targets else None,
        )
        for concurrency in (16, 64)
    ]
    rows.append(
        SessionRow(
            server,
            root,
            "chatexp @ 64 httpx",
            sizes.inputs,
            sizes.configs,
            transport="httpx",
            concurrency=64,
            latency=latency,
            target=TARGET_RATIO if targets else None,
        )
    )
    return baselines, rows


def run_rows(rows: Sequence[Row], server: ServerProcess, repeats: int) -> None:
    for row in rows:
        row.run_once()  # warm-up: opens the connections
    for _ in range(repeats):
        for row in rows:
            row.measure(server)


def _aiohttp_rows(server: ServerProcess, sizes: Sizes, latency: float) -> list[Row]:
    if importlib.util.find_spec("aiohttp") is None:
        return []
    return [AiohttpRow(server, sizes, 64, latency=latency)]


# --- output ------------------------------------------------------------------------------------


def environment() -> str:
    """One line describing what the numbers were measured on."""
    # Without sniffio, httpcore retries a failing `import sniffio` for every lock it creates.
    sniffio = "present" if importlib.util.find_spec("sniffio") else "missing"
    return (
        f"Python {platform.python_version()} | {platform.platform()} | "
        f"{os.cpu_count()} CPUs | httpx {httpx.__version__} | httpcore {httpcore.__version__} "
        f"| sniffio {sniffio} | aiohttp {_version('aiohttp')}"
    )


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed (the plugin uses httpx's transport)"


def ratio(row: Row, baselines: Baselines) -> float | None:
    """A whole process: median wall minus the empty session's, over the limit; the runner or
    httpx in this process: median wall over the limit; a baseline: None."""
    if row in baselines:
        return None
    if isinstance(row, SessionRow):
        return baselines.over_limit(row)
    return row.median_of("wall") / row.limit


def cpu_ms(row: Row, baselines: Baselines) -> float:
    """Client CPU per call: a whole process's above the 2-call session; this process's."""
    if isinstance(row, SessionRow) and row.calls > baselines.two_calls.calls:
        return baselines.cpu_ms_per_call(row)
    return row.median_of("cpu") / max(row.calls, 1) * 1000


def verdict(row: Row, baselines: Baselines) -> str:
    value = ratio(row, baselines)
    if row.target is None or value is None:
        return "-"
    return "meets" if value <= row.target else "misses"


def print_latency_table(rows: Sequence[Row], baselines: Baselines) -> None:
    print(
        f"{'row':<20} {'calls':>5} {'limit s':>7} {'best s':>7} {'median s':>8} "
        f"{'median/limit':>12} {'ratio':>6} {'target':>6} {'verdict':<7} "
        f"{'in flight':>9} {'new conns':>9} {'CPU ms/call':>11} {'server CPU':>10}"
    )
    for row in rows:
        walls = row.walls
        target = f"{row.target:.2f}" if row.target is not None else "-"
        value = ratio(row, baselines)
        print(
            f"{row.label:<20} {row.calls:>5} {row.limit if row.calls else 0:>7.3f} "
            f"{min(walls):>7.3f} {statistics.median(walls):>8.3f} "
            f"{statistics.median(walls) / row.limit if row.calls else 0:>12.2f} "
            f"{'-' if value is None else f'{value:.2f}':>6} {target:>6} "
            f"{verdict(row, baselines):<7} "
            f"{max(m.max_in_flight for m in row.measurements):>9} "
            f"{max(m.connections for m in row.measurements):>9} "
            f"{cpu_ms(row, baselines) if row.calls else 0:>11.2f} "
            f"{row.median_of('server_cpu') / max(row.calls, 1) * 1000:>10.2f}"
        )


def print_issue_row(sizes: Sizes, rows: Sequence[Row], baselines: Baselines) -> None:
    """The issue's row: the whole process at concurrency 64, wall and client CPU."""
    (row,) = (r for r in rows if isinstance(r, SessionRow) and r.label == "chatexp @ 64")
    value, cpu = baselines.over_limit(row), baselines.cpu_ms_per_call(row)
    whole = row.median_of("wall") / row.limit
    print(
        f"\n[{sizes.calls} live calls, {LATENCY_S * 1000:.0f} ms server, concurrency 64, whole "
        "pytest process vs the limit]\n"
        f"  (median wall {row.median_of('wall'):.3f} s - empty session "
        f"{baselines.empty.median_of('wall'):.3f} s) / limit {row.limit:.3f} s = {value:.2f}x, "
        f"target <= {TARGET_RATIO:.2f}x: {'meets' if value <= TARGET_RATIO else 'misses'} "
        f"(whole wall / limit, nothing subtracted: {whole:.2f}x)\n"
        f"  client CPU per call (the session's CPU above a 2-call session's, per call) = "
        f"{cpu:.2f} ms, target <= {TARGET_CPU_MS:.2f} ms: "
        f"{'meets' if cpu <= TARGET_CPU_MS else 'misses'}"
    )


def print_throughput_table(rows: Sequence[Row], baselines: Baselines) -> None:
    print(
        f"{'row':<20} {'calls':>5} {'best calls/s':>12} {'median calls/s':>14} "
        f"{'median CPU ms/call':>18} {'server CPU':>10}"
    )
    for row in rows:
        if row in baselines:
            print(f"{row.label:<20} {row.calls:>5} (median {row.median_of('wall'):.3f} s)")
            continue
        # A whole process's calls/s: after what the empty session takes.
        floor = baselines.empty.median_of("wall") if isinstance(row, SessionRow) else 0.0
        print(
            f"{row.label:<20} {row.calls:>5} {row.calls / (min(row.walls) - floor):>12.0f} "
            f"{row.calls / (row.median_of('wall') - floor):>14.0f} "
            f"{cpu_ms(row, baselines):>18.2f} "
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
    row = RunnerRow(server, sizes, 64, latency=LATENCY_S)
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
    print_load("start")
    if args.profile:
        with server_process(LATENCY_S) as server:
            profile(server, sizes)
        print_load("end")
        return 0

    print(
        f"\nlatency {LATENCY_S * 1000:.0f} ms, {sizes.calls} calls ({sizes.inputs} inputs x "
        f"{sizes.configs} configs x 1 sample), the server in its own process; best and median of "
        f"{sizes.repeats} interleaved runs after one warm-up; limit = ceil(calls/conc) x latency."
        "\nrows chatexp @ C: a whole pytest process (python -m pytest -q ... --chatexp-record=off "
        "--chatexp-concurrency=C), ratio = (median wall - the empty session's) / limit, CPU "
        "ms/call = its CPU above the 2-call session's, per call; runner @ C: ExperimentRunner.run "
        "in this process (no pytest), and httpx @ 64: a default httpx.AsyncClient in this "
        "process, ratio = median wall / limit, CPU ms/call = this process's; server CPU: the "
        "server process's"
    )
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="chatexp-conc-") as tmp:
        server = stack.enter_context(server_process(LATENCY_S))
        baselines, sessions = session_rows(server, Path(tmp), sizes, LATENCY_S, targets=True)
        rows: list[Row] = [
            baselines.empty,
            baselines.two_calls,
            baselines.two_calls_httpx,
            *sessions,
            RunnerRow(server, sizes, 16, latency=LATENCY_S),
            RunnerRow(server, sizes, 64, latency=LATENCY_S),
            RunnerRow(server, sizes, 64, "httpx", latency=LATENCY_S),
            HttpxRow(server, sizes, 64, latency=LATENCY_S),
            *_aiohttp_rows(server, sizes, LATENCY_S),
        ]
        for row in rows:
            stack.callback(row.close)
        run_rows(rows, server, sizes.repeats)
    print_latency_table(rows, baselines)
    print_issue_row(sizes, rows, baselines)

    print(
        f"\nthroughput: latency 0 ms, {sizes.calls} calls, the server in its own process; a "
        "whole process's calls/s after the empty session's wall time"
    )
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="chatexp-conc-") as tmp:
        server = stack.enter_context(server_process(0.0))
        baselines, sessions = session_rows(server, Path(tmp), sizes, 0.0, targets=False)
        # --quick (CI's smoke run) measures whole processes in the latency part only.
        whole = [] if args.quick else [*baselines.rows, *sessions]
        rows = [
            *whole,
            RunnerRow(server, sizes, 16, latency=0.0),
            RunnerRow(server, sizes, 64, latency=0.0),
            RunnerRow(server, sizes, 64, "httpx", latency=0.0),
            HttpxRow(server, sizes, 64, latency=0.0),
            *_aiohttp_rows(server, sizes, 0.0),
        ]
        for row in rows:
            stack.callback(row.close)
        run_rows(rows, server, sizes.repeats)
    print_throughput_table(rows, baselines)

    print("\nreference (measured elsewhere, not in this run; whole processes):")
    for line in REFERENCES:
        print(f"  {line}")
    print_load("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
