"""Adaptive concurrency against a rate-limiting server of our own (not the reference server).

The server counts the requests in flight as each one arrives: what the runner's limit let
through, counted rather than timed. 429s come from a seeded random draw, from one burst, or
from going past the server's own capacity. The server shares the inner session's process (and
its GIL), so answers take long enough (0.1-0.25 s) that 64 calls in flight are reachable.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

CONCURRENCY = 64

SUITE = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="c", model="m", base_url=BASE_URL,
    chat_template=[{"role": "user", "content": "{{n}}"}],
)

@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"n": n} for n in range(CALLS)])
def test_many(chatexp):
    assert len(chatexp.samples) == CALLS
"""

COMPLETION = json.dumps(
    {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()
THROTTLED = json.dumps({"error": {"message": "rate limited"}}).encode()


@dataclass
class Limiter:
    """The server's state: how it picks 429s, and what it saw."""

    latency: float = 0.1
    random_429: float = 0.0  # the share of requests rejected at random
    seed: int = 13
    burst: int = 0  # reject the first ``burst`` requests, once all of them are in flight
    # Hold the ``hold`` requests after the burst until all are in flight (or 2 s pass): how many
    # the limit lets through together is then counted, whatever the machine's load.
    hold: int = 0
    capacity: int | None = None  # reject a request arriving with more than this in flight
    in_flight: int = 0
    arrivals: list[int] = field(default_factory=list)  # requests in flight as each arrived
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    burst_in: threading.Event = field(default_factory=threading.Event)
    held_in: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def arrive(self) -> bool:
        """Count a request in; whether to reject it."""
        with self.lock:
            self.in_flight += 1
            self.arrivals.append(self.in_flight)
            number = len(self.arrivals)
            if number == self.burst:
                self.burst_in.set()
            if number == self.burst + self.hold:
                self.held_in.set()
            reject = (
                number <= self.burst
                or self.rng.random() < self.random_429
                or (self.capacity is not None and self.in_flight > self.capacity)
            )
            self.rejected += reject
        if number <= self.burst:
            self.burst_in.wait(10)  # all of the burst's calls are in flight together
        elif number <= self.burst + self.hold:
            self.held_in.wait(2)
        return reject

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


@pytest.fixture
def limiter() -> Iterator[tuple[Limiter, str]]:
    state = Limiter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as providers answer

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            reject = state.arrive()
            try:
                time.sleep(state.latency)
                body = THROTTLED if reject else COMPLETION
                self.send_response(429 if reject else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                state.leave()

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 256  # 64 connections open at once
    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
        server.shutdown()


def run(pytester: pytest.Pytester, base_url: str, calls: int) -> None:
    pytester.makepyfile(
        test_many=SUITE.replace("BASE_URL", repr(base_url)).replace("CALLS", str(calls))
    )
    result = pytester.runpytest(
        "--chatexp-record=off",
        f"--chatexp-concurrency={CONCURRENCY}",
        "--chatexp-retries=12",
        "--chatexp-backoff=0.005",
    )
    result.assert_outcomes(passed=1)


def test_random_429s_do_not_collapse_the_concurrency(
    pytester: pytest.Pytester, limiter: tuple[Limiter, str]
) -> None:
    """30% of requests rejected at random, whatever the load: halving on every 429 (or once per
    round trip while growing back by one per round trip) settled near 2 in flight of 64."""
    state, base_url = limiter
    state.random_429, state.latency = 0.3, 0.25
    run(pytester, base_url, calls=500)
    assert len(state.arrivals) - state.rejected == 500
    later = state.arrivals[len(state.arrivals) // 2 :]
    assert statistics.median(later) >= CONCURRENCY / 4, statistics.median(later)


def test_one_burst_of_429s_halves_the_limit_once(
    pytester: pytest.Pytester, limiter: tuple[Limiter, str]
) -> None:
    """64 calls in flight together all get a 429: one window, so one halving (to 32), not
    six (to 1)."""
    state, base_url = limiter
    state.burst, state.hold = CONCURRENCY, CONCURRENCY // 2
    run(pytester, base_url, calls=CONCURRENCY + 64)
    after = state.arrivals[CONCURRENCY:]
    assert max(after[:32]) >= CONCURRENCY // 2 - 1, after[:32]


def test_a_real_capacity_is_found_and_kept(
    pytester: pytest.Pytester, limiter: tuple[Limiter, str]
) -> None:
    """A server that takes 8 at a time: the limit comes down near 8 and stays there, so most
    requests succeed. At a fixed 64 in flight, 7 of every 8 would be rejected (about 1400
    rejections for 200 answers) and the median arrival would see about 64 in flight; the bounds
    leave room for a loaded machine, whose slower round trips let a few more through before
    each halving, and still fail a limit that does not adapt."""
    state, base_url = limiter
    state.capacity = 8
    run(pytester, base_url, calls=200)
    later = state.arrivals[len(state.arrivals) // 2 :]
    assert statistics.median(later) <= 20, statistics.median(later)
    assert state.rejected < 400, state.rejected
