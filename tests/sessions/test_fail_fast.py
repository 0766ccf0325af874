"""Failing fast: a provider that is down costs a handful of connection attempts, not every
call's retries. After a few connection failures in a row to one endpoint its circuit breaker
opens: the calls not yet sent fail at once, each test naming the endpoint and how many calls
were skipped, and the reports count only the calls that went out. A 429 storm is an answer,
not an endpoint that is down; a healthy endpoint beside a dead one is not affected.

Attempts are counted from the run's own JSON report (each live call once, each retry once),
never timed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_chatexp.testing import Fault, ReferenceServer
from tests._suite import REPORTS, Run, Suite

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens on it here
FAST = "--chatexp-backoff=0.01"

MANY = """
import pytest
from pytest_chatexp import ModelConfig

DEAD = ModelConfig(
    name="dead", model="m", base_url="DEAD_URL/v1",
    chat_template=[{"role": "user", "content": "{{q}}"}],
)
UP = DEAD.variant(name="up", base_url=None)
INPUTS = [{"id": f"i{n}", "q": f"q{n}"} for n in range(PER_TEST)]

@pytest.mark.parametrize("t", range(TESTS))
@pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS)
def test_it(chatexp, t):
    assert len(chatexp.samples) == len(INPUTS) * len(CONFIGS)
"""


def many(*, tests: int, per_test: int, configs: str = "[DEAD]") -> str:
    return (
        MANY.replace("DEAD_URL", DEAD)
        .replace("PER_TEST", str(per_test))
        .replace("TESTS", str(tests))
        .replace("CONFIGS", configs)
    )


@pytest.fixture
def server(server: ReferenceServer) -> Iterator[ReferenceServer]:
    server.faults.clear()
    yield server
    server.faults.clear()


def rows(run: Run, config: str = "dead") -> list[dict[str, Any]]:
    """The JSON report's rows of ``config``, one per experiment."""
    return [
        row
        for test in run.report["tests"]
        for experiment in test["experiments"]
        for row in experiment["configs"]
        if row["name"] == config
    ]


def attempts(run: Run, config: str = "dead") -> tuple[int, int, int]:
    """(live calls, HTTP attempts, failed calls) of ``config`` across the run's experiments."""
    found = rows(run, config)
    live = sum(row["live"] for row in found)
    return live, live + sum(row["retries"] for row in found), sum(row["failed"] for row in found)


def test_128_calls_to_a_dead_endpoint_fail_after_a_few_attempts(
    suite: Suite, server: ReferenceServer
) -> None:
    run = suite.write(many(tests=8, per_test=16)).run(FAST, *REPORTS)
    run.assert_outcomes(errors=8).assert_clean()
    live, tried, failed = attempts(run)
    # Without the breaker: 128 calls x 4 attempts = 512. With it: the 3 failures that open it,
    # and whatever was already in flight or backing off when it opened (at most 16 calls).
    assert 3 <= tried <= 16, tried
    assert live == failed <= 16
    # Every test names the endpoint (never the path or a key) and what was skipped.
    # Above the short summary, which repeats each message in full when CI=true.
    body = run.text.split("short test summary info")[0].splitlines()
    errors = [line for line in body if "not sent: " in line]
    assert len(errors) == 8, run.text
    for line in errors:
        assert f"not sent: {DEAD} cannot be reached: " in line, line
        assert "--chatexp-breaker=3; 0 turns this off" in line, line
    skipped = int(errors[-1].rsplit("; ", 1)[1].split()[0])
    assert skipped == 128 - live
    # The reports count what went out as live; the rest as not sent, never as live calls.
    assert sum(row.get("skipped", 0) for row in rows(run)) == skipped
    assert run.report["totals"]["live"] == live
    assert run.report["totals"]["calls"] == live
    assert run.report["totals"]["skipped"] == skipped
    run.fnmatch(
        f"total: 8 experiments (8 raised), {live} calls (0 replayed, {live} live ({live} failed)*"
        f", {skipped} not sent (endpoint down))*"
    )
    _, markdown, html = run.reports()
    # The Markdown and HTML reports say so too: in the totals, and per config row.
    assert f"(0 replayed, {live} live, {skipped} not sent (endpoint down))" in markdown
    assert f'<dd>0 / {live}<span class="sub">{skipped} not sent (endpoint down)</span>' in html
    row_counts = re.findall(r"\| \d+ / \d+<br>(\d+) not sent \(endpoint down\) \|", markdown)
    assert sum(map(int, row_counts)) == skipped


def test_a_disabled_breaker_retries_every_call(suite: Suite, server: ReferenceServer) -> None:
    run = suite.write(many(tests=1, per_test=4)).run(FAST, "--chatexp-breaker=0", report=True)
    run.assert_outcomes(errors=1).assert_clean()
    assert attempts(run) == (4, 16, 4)
    run.no_fnmatch("*not sent*")


def test_a_429_storm_does_not_trip_it(suite: Suite, server: ReferenceServer) -> None:
    server.faults.add(Fault.status(429, retry_after="0"), times=12)
    run = suite.write(many(tests=2, per_test=4, configs="[UP]")).run(
        FAST, "--chatexp-retries=8", "--chatexp-breaker=2", report=True
    )
    run.assert_outcomes(passed=2).assert_clean()
    live, tried, failed = attempts(run, "up")
    assert (live, failed) == (8, 0)
    assert tried == 8 + 12  # every 429 was retried: none was taken for an endpoint down
    run.no_fnmatch("*not sent*")


def test_a_dead_endpoint_beside_a_healthy_one(suite: Suite, server: ReferenceServer) -> None:
    run = suite.write(many(tests=4, per_test=8, configs="[DEAD, UP]")).run(FAST, report=True)
    run.assert_outcomes(errors=4).assert_clean()
    live, tried, failed = attempts(run, "up")
    assert (live, tried, failed) == (32, 32, 0)  # every healthy call answered, first time
    assert len(server.requests) == 32
    dead_tried = attempts(run)[1]
    assert dead_tried <= 16, dead_tried
    # Above the short summary, which repeats each message in full when CI=true.
    body = run.text.split("short test summary info")[0].splitlines()
    errors = [line for line in body if "not sent: " in line]
    assert errors and all(f"not sent: {DEAD} cannot be reached" in line for line in errors)
