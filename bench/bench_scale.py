"""Benchmark: recording and replaying one big experiment, at 1k, 10k and 50k calls.

Four rows of issue 19's table, each measured side by side in one run, whole pytest process
against whole pytest process (``python -m pytest -q ... <suite>`` in a subprocess, CPU time and
peak RSS of that child alone from ``os.wait4``):

* first recording (``--chatexp-record=all`` into an empty folder) vs the same run unrecorded
  (``--chatexp-record=off``), CPU: target at most 1.3x at every size;
* re-recording (``--chatexp-record=all`` again, over the existing recording) vs the first
  recording, CPU: target linear, 50k calls re-recorded in under 2x a first recording;
* peak RSS of a first recording: target at most 300 MB at 50k calls;
* replay of the recorded experiment (default mode, ``OPENAI_BASE_URL`` where nothing listens):
  CPU and peak RSS per call above a 1-call experiment's replay, target at most 0.1 ms and 3 KB
  per call, and the growth from size to size next to what linear growth would be.

The suite is one test, ``@pytest.mark.chatexp(model_configs=[one config], inputs=[N inputs])``,
one sample per input, at ``--chatexp-concurrency=64``, against the reference server in its own
process (``python -m pytest_chatexp.testing --port 0 --stats``, 0 ms latency), which counts the
requests each live run made. This script imports nothing but the stdlib, so its own RSS (about
10 MB) is all a child's ``ru_maxrss`` can inherit from it. Bytecode is cached in a temporary
directory after a warm-up run. Each size runs its four sessions in turn (unrecorded, first
recording, re-recording, replay), ``repeats`` times; medians shown.

Run: ``.venv/bin/python bench/bench_scale.py`` (1k and 10k, about 3 min on a quiet 2-core machine),
``--big`` adds 50k calls (about 6 min more), ``--quick`` is CI's smoke run (tiny sizes, figures
meaningless).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _shared import (
    NOWHERE,
    BenchError,
    ServerProcess,
    Session,
    environment_line,
    expect,
    print_load,
    run_session,
    server_process,
    session_env,
    verdict,
    write_suite,
)

CONCURRENCY = 64
TARGET_RECORD = 1.3  # first recording / unrecorded, CPU
TARGET_RERECORD = 2.0  # re-recording / first recording, CPU, at the largest size
TARGET_PEAK_MB = 300.0  # a first recording of 50k calls
TARGET_REPLAY_MS = 0.1  # per call
TARGET_REPLAY_KB = 3.0  # per call
BIG = 50_000

SUITE = """\
import pytest

from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="c",
    model="gpt-4o-mini",
    chat_template=[{{"role": "user", "content": "Count to {{{{n}}}}."}}],
)


@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"n": n}} for n in range({calls})])
def test_big(chatexp):
    assert len(chatexp.samples) == {calls}
"""

MODES = ("off", "first", "rerecord", "replay")


@dataclass
class Size:
    calls: int
    path: Path
    runs: dict[str, list[Session]] = field(default_factory=lambda: {mode: [] for mode in MODES})
    recording_bytes: int = 0

    def cpu(self, mode: str) -> float:
        return statistics.median(run.cpu_s for run in self.runs[mode])

    def wall(self, mode: str) -> float:
        return statistics.median(run.wall_s for run in self.runs[mode])

    def peak_mb(self, mode: str) -> float:
        return max(run.rss_mb for run in self.runs[mode])


def make_size(root: Path, calls: int) -> Size:
    path = write_suite(root / f"calls_{calls}", {"test_big.py": SUITE.format(calls=calls)})
    return Size(calls, path)


def recordings(size: Size) -> Path:
    return size.path / "__recordings__"


def run_mode(size: Size, mode: str, server: ServerProcess, root: Path) -> Session:
    """One session of ``size`` in ``mode``; checks it passed and made the calls it should."""
    options = [f"--chatexp-concurrency={CONCURRENCY}"]
    env = session_env(root, server.base_url)
    if mode == "off":
        options.append("--chatexp-record=off")
    elif mode == "first":
        shutil.rmtree(recordings(size), ignore_errors=True)
        options.append("--chatexp-record=all")
    elif mode == "rerecord":
        options.append("--chatexp-record=all")
    else:
        env = session_env(root, NOWHERE + "/v1")
    server.stats(reset=True)
    session = expect(run_session(size.path, env, *options), f"{size.calls} calls, {mode}", passed=1)
    served = server.stats()["requests"]
    if served != (0 if mode == "replay" else size.calls):
        raise BenchError(f"{size.calls} calls, {mode}: the server answered {served} requests")
    size.runs[mode].append(session)
    # As it goes, so that an interrupted run of the big sizes still tells what it measured.
    print(
        f"run: {size.calls:,} calls, {mode}: wall {session.wall_s:.2f} s, CPU "
        f"{session.cpu_s:.2f} s, peak RSS {session.rss_mb:.1f} MB",
        flush=True,
    )
    if mode == "first":
        size.recording_bytes = sum(p.stat().st_size for p in recordings(size).rglob("*.yaml"))
    return session


# --- reporting --------------------------------------------------------------------------------


def growth(sizes: Sequence[Size], value: str, per: dict[int, float]) -> str:
    return (
        "; ".join(
            f"{b.calls:,}/{a.calls:,} {per[b.calls] / per[a.calls]:.1f}x "
            f"(linear would be {b.calls / a.calls:.0f}x)"
            for a, b in itertools.pairwise(sizes)
            if per[a.calls] > 0
        )
        or f"no growth ratio of the {value}: one size, or none above the 1-call run's CPU"
    )


def report(sizes: Sequence[Size], floor: Size, big_measured: bool) -> None:
    print(
        "\n[first recording vs the same run unrecorded, CPU] target <= "
        f"{TARGET_RECORD:.2f}x at every size"
    )
    print(f"{'calls':>7} {'off CPU s':>9} {'first CPU s':>11} {'ratio':>6} {'verdict':<7}")
    for size in sizes:
        ratio = size.cpu("first") / size.cpu("off")
        print(
            f"{size.calls:>7,} {size.cpu('off'):>9.2f} {size.cpu('first'):>11.2f} "
            f"{ratio:>5.2f}x {verdict(ratio, TARGET_RECORD):<7}"
        )

    print(
        "\n[re-recording over an existing recording vs a first recording, CPU] target linear, "
        f"< {TARGET_RERECORD:.1f}x at {BIG:,} calls"
    )
    print(f"{'calls':>7} {'first CPU s':>11} {'re-record CPU s':>15} {'ratio':>6} {'verdict':<7}")
    for size in sizes:
        ratio = size.cpu("rerecord") / size.cpu("first")
        print(
            f"{size.calls:>7,} {size.cpu('first'):>11.2f} {size.cpu('rerecord'):>15.2f} "
            f"{ratio:>5.2f}x {verdict(ratio, TARGET_RERECORD - 1e-9):<7}"
        )
    rerecord = {s.calls: s.cpu("rerecord") - floor.cpu("rerecord") for s in sizes}
    print(f"  growth of re-record CPU above a 1-call run: {growth(sizes, 're-record', rerecord)}")
    if not big_measured:
        print(f"  the {BIG:,}-call target: not measured (run with --big)")

    print(f"\n[peak RSS of a first recording] target <= {TARGET_PEAK_MB:.0f} MB at {BIG:,} calls")
    print(
        f"{'calls':>7} {'peak MB':>8} {'KB/call above 1 call':>20} {'file MB':>8} "
        f"{'file KB/call':>12} {'verdict':<7}"
    )
    for size in sizes:
        peak = size.peak_mb("first")
        per_call = (peak - floor.peak_mb("first")) * 1024 / (size.calls - 1)
        applies = verdict(peak, TARGET_PEAK_MB) if size.calls >= BIG else "(n/a)"
        print(
            f"{size.calls:>7,} {peak:>8.1f} {per_call:>20.1f} "
            f"{size.recording_bytes / 1e6:>8.2f} {size.recording_bytes / 1024 / size.calls:>12.2f}"
            f" {applies:<7}"
        )
    if not big_measured:
        print(f"  the {BIG:,}-call target: not measured (run with --big)")

    print(
        f"\n[replay of one big experiment] target <= {TARGET_REPLAY_MS} ms and <= "
        f"{TARGET_REPLAY_KB:.0f} KB per call (above a 1-call replay: "
        f"{floor.cpu('replay'):.2f} s CPU, {floor.peak_mb('replay'):.1f} MB)"
    )
    print(
        f"{'calls':>7} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} {'ms/call':>8} {'verdict':<7} "
        f"{'KB/call':>8} {'verdict':<7}"
    )
    cpu_per: dict[int, float] = {}
    mem_per: dict[int, float] = {}
    for size in sizes:
        cpu_per[size.calls] = size.cpu("replay") - floor.cpu("replay")
        mem_per[size.calls] = size.peak_mb("replay") - floor.peak_mb("replay")
        ms = cpu_per[size.calls] * 1000 / (size.calls - 1)
        kb = mem_per[size.calls] * 1024 / (size.calls - 1)
        print(
            f"{size.calls:>7,} {size.wall('replay'):>7.2f} {size.cpu('replay'):>6.2f} "
            f"{size.peak_mb('replay'):>8.1f} {ms:>8.3f} {verdict(ms, TARGET_REPLAY_MS):<7} "
            f"{kb:>8.2f} {verdict(kb, TARGET_REPLAY_KB):<7}"
        )
    print(f"  growth of replay CPU above 1 call: {growth(sizes, 'CPU', cpu_per)}")
    print(f"  growth of replay peak RSS above 1 call: {growth(sizes, 'memory', mem_per)}")


# --- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run (CI smoke)")
    parser.add_argument("--big", action="store_true", help=f"add {BIG:,} calls (~6 min more)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per size (default 2)")
    parser.add_argument(
        "--calls", type=int, nargs="+", default=None, help="these sizes only (e.g. 10000)"
    )
    args = parser.parse_args(argv)
    calls = (20, 100) if args.quick else (1000, 10_000, *((BIG,) if args.big else ()))
    if args.calls:
        calls = tuple(sorted(set(args.calls)))
    repeats = args.repeats or (1 if args.quick else 2)
    print(environment_line())
    print_load("start")
    print(
        f"one test, 1 config x N inputs x 1 sample, --chatexp-concurrency={CONCURRENCY}, the "
        "reference server in its own process (0 ms); whole pytest sessions, CPU and peak RSS of "
        f"each session's process alone; {repeats} run(s) per size and mode, median CPU, max RSS"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="chatexp-scale-") as tmp:
            root = Path(tmp)
            floor = make_size(root, 1)
            sizes = [make_size(root, n) for n in calls]
            with server_process(0.0) as server:
                for mode in MODES:  # warm-up: bytecode cache, and the floor's recording
                    run_mode(floor, mode, server, root)
                floor.runs = {mode: [] for mode in MODES}
                for _ in range(repeats):
                    for size in (floor, *sizes):
                        for mode in MODES:
                            run_mode(size, mode, server, root)
            report(sizes, floor, big_measured=BIG in calls)
    except BenchError as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        print_load("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
