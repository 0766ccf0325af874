"""The adaptive-sampling simulation still runs: a ``--quick`` smoke run, its verdict lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_adaptive_benchmark_runs_quick_and_prints_its_verdicts() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "bench_adaptive.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
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
