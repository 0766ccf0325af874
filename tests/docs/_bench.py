"""Running a benchmark script's ``--quick`` smoke run, for the ``test_bench_*`` tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_env() -> dict[str, str]:
    """This environment, without what would leak this session into the pytest sessions the
    scripts start of their own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("COV_CORE_SOURCE", None)
    return env


def run_quick(script: str, *args: str, timeout: float = 240) -> str:
    """``bench/<script> --quick`` run to its end (which must be a success): what it printed."""
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        env=bench_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    return output
