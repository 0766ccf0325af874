"""The calls benchmark still runs: a ``--quick`` smoke run (8 calls to a dead port, a 10 ms
backoff; a 10-input shared experiment), its rows printed with their targets and verdicts. No
timing is asserted; the counts that do not depend on the machine are."""

from __future__ import annotations

from tests.docs._bench import run_quick


def test_calls_benchmark_runs_quick_and_prints_both_rows() -> None:
    output = run_quick("bench_calls.py")
    lines = output.splitlines()
    on = next(line.split() for line in lines if line.startswith("breaker on (default)"))
    off = next(line.split() for line in lines if line.startswith("--chatexp-breaker=0"))
    # wall, CPU, attempts, tests naming the endpoint, verdict: the breaker stops the attempts
    # (3 in a row, then the probe); each of the 2 tests' errors names the dead endpoint.
    assert on[-1] in ("meets", "misses"), on
    assert int(on[-3]) < int(off[-2]) == 8 * 4, (on, off)
    assert int(on[-2]) == int(off[-1]) == 2, (on, off)
    # The shared-experiment row: counts from the server, and a verdict.
    assert next(line for line in lines if line.startswith("one test ")).split()[-2:] == ["10", "1"]
    assert any(line.startswith("  two tests / one test: ") for line in lines), output
    assert any(line.startswith("load average at end: ") for line in lines), output
