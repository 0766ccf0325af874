"""The inertness and memory benchmarks still run: ``--quick`` smoke runs, no timing asserted.

Both scripts run at once, each in its own interpreter (they only wait on pytest subprocesses),
so the pair takes about as long as the slower one.
"""

from __future__ import annotations

import subprocess
import sys

from tests.docs._bench import BENCH, bench_env

TIMEOUT_S = 120

# Lines each script prints whatever the numbers: its table headers and its verdict lines.
EXPECTED = {
    "bench_inert.py": [
        "whole sessions, bytecode cached",
        "variant          runs  best s median s  CPU s RSS MB",
        "collect only (pytest --co -q)",
        "target: under 15 ms added -> median wall ",
        "in-session cost of the plugin",
        "  total  ",
        "import breakdown (python -X importtime",
        "pytest_chatexp modules imported by a run without chatexp tests: ",
        "ok: none of httpx",
        "load average at end: ",
    ],
    "bench_memory.py": [
        "(a) live experiment",
        "row                             calls peak RSS MB over empty MB over 2 calls MB  wall s",
        "live, --chatexp-record=all",
        "(b) replay",
        " tests  plain MB plain+fixture MB chatexp MB chatexp - plain+fixture MB",
        "growth per 1000 tests",
        "alive at the end of a 10-test replay",
        "  objects alive per test",
        "load average at end: ",
    ],
}


def test_both_benchmarks_run_quick_and_print_their_tables() -> None:
    processes = {
        script: subprocess.Popen(
            [sys.executable, str(BENCH / script), "--quick"],
            env=bench_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for script in EXPECTED
    }
    outputs: dict[str, str] = {}
    try:
        for script, process in processes.items():
            outputs[script], _ = process.communicate(timeout=TIMEOUT_S)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for script, process in processes.items():
        output = outputs[script]
        assert process.returncode == 0, f"{script} --quick exited {process.returncode}:\n{output}"
        missing = [line for line in EXPECTED[script] if line not in output]
        assert not missing, f"{script} --quick did not print {missing}:\n{output}"
