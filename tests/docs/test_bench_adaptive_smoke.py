"""The adaptive-sampling simulation still runs: a ``--quick`` smoke run, its verdict lines."""

from __future__ import annotations

from tests.docs._bench import run_quick


def test_adaptive_benchmark_runs_quick_and_prints_its_verdicts() -> None:
    output = run_quick("bench_adaptive.py", timeout=120)
    for line in (
        "procedure                              wrong verdicts  mean samples",
        "fixed N=20 ",
        "adaptive 3..20 at 95% ",
        "  settled by the test: ",
        "  not settled by the test (raw-rate verdict): ",
        "  error rate ratio ",
        "  samples ratio ",
        "true rate settled % wrong settled %  wrong %  mean samples",
    ):
        assert line in output, f"missing {line!r} in:\n{output}"
    assert output.count(" target <= ") == 2
    assert all(
        ("meets" in line) != ("misses" in line)
        for line in output.splitlines()
        if "target <=" in line
    )
