"""Benchmark: how close ExperimentRunner gets to the physical limit of concurrent calls.

An experiment is N provider calls; with concurrency C against a server that takes L seconds per
reply, no runner can finish before ceil(N / C) x L. This script runs real experiments through
``ExperimentRunner`` against the loopback reference server and prints, side by side in one run:

* latency rows (100 ms per reply, server in this process so that its ``max_in_flight`` can be
  read): measured wall time, the limit, their ratio, and the peak concurrency the server saw --
  plus a serial run (concurrency 1) to show what concurrency buys;
* a throughput row (0 ms per reply, server in a subprocess so that ``time.process_time`` counts
  only the runner, its HTTP client and this script): calls per second and CPU time per call.

The latency rows also show process CPU per call (server included): when calls x CPU per call
approaches the limit, the runner is bound by the GIL rather than by the server's latency.

Every measurement follows one warm-up run (which opens the connections) and is repeated
``REPEATS`` times; the table shows the best and the median.

Run: ``.venv/bin/python bench/bench_concurrency.py``
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass

import httpcore
import httpx

from pytest_chatexp._configs import ModelConfig
from pytest_chatexp._experiment import ExperimentSpec
from pytest_chatexp._inputs import Input
from pytest_chatexp._models import ChatMessage
from pytest_chatexp._runner import ExperimentRunner
from pytest_chatexp.testing import ReferenceServer

REPEATS = 3
LATENCY_S = 0.1
SAMPLES_PER_INPUT = 2
CALL_TIMEOUT_S = 30.0
SERVER_START_TIMEOUT_S = 15.0
_URL = re.compile(r"http://127\.0\.0\.1:\d+")


class ServerStartError(Exception):
    """The reference server subprocess did not report its URL."""


@dataclass(frozen=True)
class Timing:
    """Wall and process-CPU seconds of each timed repeat of one experiment."""

    calls: int
    walls: tuple[float, ...]
    cpus: tuple[float, ...]

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def median_cpu_per_call(self) -> float:
        return statistics.median(self.cpus) / self.calls


@dataclass(frozen=True)
class LatencyRow:
    """One experiment measured against a server with ``LATENCY_S`` per reply."""

    timing: Timing
    concurrency: int
    max_in_flight: int

    @property
    def limit(self) -> float:
        return math.ceil(self.timing.calls / self.concurrency) * LATENCY_S


def environment() -> str:
    """One line describing what the numbers were measured on."""
    bytecode = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
    # Without sniffio, httpcore retries a failing `import sniffio` for every lock it creates.
    sniffio = "present" if importlib.util.find_spec("sniffio") else "missing"
    return (
        f"Python {platform.python_version()} | {platform.platform()} | "
        f"{os.cpu_count()} CPUs | httpx {httpx.__version__} | httpcore {httpcore.__version__} "
        f"| sniffio {sniffio} | PYTHONDONTWRITEBYTECODE {bytecode}"
    )


def make_spec(base_url: str, calls: int) -> ExperimentSpec:
    """One config x ``calls / SAMPLES_PER_INPUT`` inputs x ``SAMPLES_PER_INPUT`` samples."""
    config = ModelConfig(
        name="bench",
        model="reference",
        base_url=base_url,
        chat_template=(ChatMessage(role="user", content="Count to {{n}}."),),
    )
    inputs = tuple(Input(id=f"n{n}", inputs={"n": n}) for n in range(calls // SAMPLES_PER_INPUT))
    return ExperimentSpec(
        name=f"bench-{calls}",
        model_configs=(config,),
        inputs=inputs,
        num_samples=SAMPLES_PER_INPUT,
    )


def time_experiment(runner: ExperimentRunner, spec: ExperimentSpec) -> Timing:
    """Time ``REPEATS`` runs of ``spec`` (after the caller's warm-up run)."""
    calls = len(spec.plan())
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(REPEATS):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        result = runner.run(spec)
        walls.append(time.perf_counter() - wall_start)
        cpus.append(time.process_time() - cpu_start)
        if len(result.samples) != calls:
            raise RuntimeError(f"expected {calls} samples, got {len(result.samples)}")
    return Timing(calls, tuple(walls), tuple(cpus))


def latency_row(server: ReferenceServer, calls: int, concurrency: int) -> LatencyRow:
    """Time ``calls`` calls at ``concurrency`` and read the server's peak concurrency."""
    spec = make_spec(server.base_url, calls)
    with closing(ExperimentRunner(concurrency=concurrency, timeout=CALL_TIMEOUT_S)) as runner:
        runner.run(spec)  # warm-up: opens the connections
        server.reset_stats()
        timing = time_experiment(runner, spec)
    return LatencyRow(timing, concurrency, server.max_in_flight)


@contextmanager
def subprocess_server() -> Iterator[str]:
    """Run ``python -m pytest_chatexp.testing --port 0`` and yield its OpenAI base URL."""
    command = [sys.executable, "-m", "pytest_chatexp.testing", "--port", "0", "--latency", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], SERVER_START_TIMEOUT_S)
        line = process.stdout.readline() if ready else ""
        match = _URL.search(line)
        if match is None:
            raise ServerStartError(f"no URL in the server's first line: {line!r}")
        yield match.group(0) + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def throughput(calls: int, concurrency: int) -> tuple[Timing, str]:
    """Time ``calls`` zero-latency calls; returns the timing and where the server ran."""
    try:
        with subprocess_server() as base_url:
            return _throughput_against(base_url, calls, concurrency), "a subprocess"
    except (OSError, ServerStartError) as exc:
        print(f"note: subprocess server failed ({exc}); falling back to an in-process server")
    with ReferenceServer(latency=0.0) as server:
        where = "this process (its CPU is included)"
        return _throughput_against(server.base_url, calls, concurrency), where


def _throughput_against(base_url: str, calls: int, concurrency: int) -> Timing:
    spec = make_spec(base_url, calls)
    with closing(ExperimentRunner(concurrency=concurrency, timeout=CALL_TIMEOUT_S)) as runner:
        runner.run(spec)  # warm-up: opens the connections
        return time_experiment(runner, spec)


def print_latency_table(rows: list[LatencyRow]) -> None:
    print(
        f"{'calls':>5} {'conc':>4} {'limit s':>7} {'best s':>7} {'median s':>8} "
        f"{'best/limit':>10} {'median/limit':>12} {'max in flight':>13} {'CPU ms/call':>11}"
    )
    for row in rows:
        t = row.timing
        print(
            f"{t.calls:>5} {row.concurrency:>4} {row.limit:>7.3f} {t.best:>7.3f} "
            f"{t.median:>8.3f} {t.best / row.limit:>10.2f} {t.median / row.limit:>12.2f} "
            f"{row.max_in_flight:>13} {t.median_cpu_per_call * 1000:>11.2f}"
        )


def print_speedup(concurrent: LatencyRow, serial: LatencyRow) -> None:
    per_call = serial.timing.best / serial.timing.calls
    calls = concurrent.timing.calls
    print(
        f"serial: estimate {calls} x {LATENCY_S * 1000:.0f} ms = {calls * LATENCY_S:.2f} s; "
        f"measured at concurrency 1: {per_call * 1000:.1f} ms/call -> {calls * per_call:.2f} s "
        f"for {calls} calls; speed-up at concurrency {concurrent.concurrency}: "
        f"{calls * per_call / concurrent.timing.best:.1f}x (ideal {concurrent.concurrency}x)"
    )


def print_throughput(timing: Timing, concurrency: int, where: str) -> None:
    print(
        f"throughput, 0 ms latency, {timing.calls} calls at concurrency {concurrency}, "
        f"server in {where}:\n"
        f"  calls/s best {timing.calls / timing.best:.0f}, "
        f"median {timing.calls / timing.median:.0f}; "
        f"process CPU per call best {min(timing.cpus) / timing.calls * 1000:.2f} ms, "
        f"median {timing.median_cpu_per_call * 1000:.2f} ms"
    )


def main() -> int:
    print(environment())
    print(
        f"latency {LATENCY_S * 1000:.0f} ms, server in this process (CPU ms/call includes it); "
        f"best and median of {REPEATS} runs after one warm-up; limit = ceil(calls/conc) x latency"
    )
    with ReferenceServer(latency=LATENCY_S) as server:
        main_row = latency_row(server, 64, 16)
        serial_row = latency_row(server, 16, 1)
        rows = [main_row, serial_row, latency_row(server, 64, 64), latency_row(server, 400, 16)]
    print_latency_table(rows)
    print_speedup(main_row, serial_row)
    timing, where = throughput(400, 16)
    print_throughput(timing, 16, where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
