"""The concurrency benchmark still runs end to end: ``--quick`` (tiny sizes, one repeat) and
``--quick --profile``. Timings are not asserted: they depend on the machine and its load; what
is asserted is that every row, the whole-process ones included, and each verdict is printed."""

from __future__ import annotations

from tests.docs._bench import run_quick


def run_bench(*args: str) -> list[str]:
    return run_quick("bench_concurrency.py", *args, timeout=300).splitlines()


def test_quick_run_prints_both_tables() -> None:
    lines = run_bench()
    latency_header = ["row", "calls", "limit", "s", "best", "s", "median", "s", "median/limit"]
    assert any(line.split()[:9] == latency_header for line in lines), lines
    assert any(line.startswith("row") and "best calls/s" in line for line in lines), lines
    # Latency: whole pytest processes at 16 and 64, and at 64 through httpx's transport, next to
    # an empty and a 2-call session (one per transport); the runner alone at 16 and 64 and at 64
    # through httpx's transport, the plain httpx and aiohttp baselines; throughput (--quick):
    # the last five.
    assert sum(line.startswith(("empty session", "2-call ")) for line in lines) == 3
    assert sum(line.startswith("chatexp @") for line in lines) == 3, lines
    assert sum(line.startswith("chatexp @ 64 httpx") for line in lines) == 1, lines
    assert sum(line.startswith(("runner @", "httpx @", "aiohttp @")) for line in lines) == 10, lines
    # The issue's row, whole process against the limit, with a verdict on each target.
    issue = [line for line in lines if "target <= " in line]
    assert len(issue) == 2, lines
    assert "empty session" in issue[0] and "2-call session" in issue[1], issue
    assert all((": meets" in line) != (": misses" in line) for line in issue), issue
    assert any(line.startswith("load average at end") for line in lines), lines


def test_profile_breaks_the_cpu_down_by_phase() -> None:
    lines = run_bench("--profile")
    assert any(line.startswith("httpx/httpcore send and read") for line in lines), lines
    assert any(line.startswith("total charged") for line in lines), lines
