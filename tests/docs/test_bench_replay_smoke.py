"""The replay benchmark still runs: a ``--quick`` smoke run (20 tests per row), no timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_replay_benchmark_runs_quick_and_prints_its_verdicts() -> None:
    # It starts pytest sessions of its own: nothing of this session may leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, str(BENCH / "bench_replay.py"), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for line in (
        "row            best s median s best/plain median/plain CPU s CPU/plain",
        "plain+fixture: median ",
        "chatexp split: ",
        "chatexp each: ",
        "x-of-plain target (CPU ",
        "load average at end: ",
    ):
        assert line in output, f"missing {line!r} in:\n{output}"
    # Every row replayed offline: the script fails unless each run reports all tests passed.
    assert output.count("chatexp each ") >= 2  # one table per bytecode setting
