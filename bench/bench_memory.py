"""Benchmark: peak memory of a live experiment, and of replaying many recorded chatexp tests.

Memory is the peak resident set size of the pytest process (``ru_maxrss`` from ``os.wait4``),
run as a whole session in a subprocess (``python -m pytest -q ... <dir>``, the same command line
and environment for every row; plugins no row needs are disabled in every row). A child's
``ru_maxrss`` includes the peak RSS of the process it was forked from, and this one runs a
server, so the sessions are started by a small launcher process instead. Two parts:

* (a) a live experiment: one marked test of 1 config x 1000 inputs x 2 samples = 2,000 calls at
  ``--chatexp-concurrency=64`` against the loopback ``ReferenceServer`` (in this process, 0 ms
  latency), with ``--chatexp-record=off`` (nothing kept but the results) and with
  ``--chatexp-record=all`` (the 2,000 answers also recorded, into one file), next to an empty
  session (one plain test) for pytest's own floor;
* (b) replay at several sizes: N individually marked tests with one input each, so N recording
  files, next to N plain tests asserting on a constant chat-completion dict. The chatexp suites
  are recorded first, untimed (``--chatexp-record=all`` against the server), then replayed with
  the default record mode and ``OPENAI_BASE_URL=http://127.0.0.1:9/v1``, where nothing listens:
  a call that went live would fail its test. The slope of the (chatexp - plain) difference over
  the sizes is what the plugin keeps per test beyond what pytest itself keeps per item. A last,
  separate replay of the largest suite counts, at the end of the session, the plugin's objects
  still alive (a probe plugin walks ``gc.get_objects()``), to show what is retained.

Bytecode: every run unsets ``PYTHONDONTWRITEBYTECODE`` (this machine's shell sets it) and points
``PYTHONPYCACHEPREFIX`` into the temporary directory, after a warm-up run per suite, so no run
spends memory re-rewriting test modules.

Run: ``.venv/bin/python bench/bench_memory.py`` (``--quick``: tiny sizes, one run each, a smoke run
for CI whose numbers mean nothing). The exit status is non-zero only if a run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from _shared import CHATEXP_HEAD, FIXTURE_HEAD, FIXTURE_TEST, PLAIN_HEAD, print_load, version

from pytest_chatexp.testing import ReferenceServer

RUN_TIMEOUT_S = 900.0
# Replays never connect; a call that went live would fail fast here (nothing listens on port 9).
NOWHERE = "http://127.0.0.1:9/v1"
PLUGINS_OFF = (
    "cacheprovider",
    "randomly",
    "hypothesispytest",
    "xdist",
    "xdist.looponfail",
    "syrupy",
    "anyio",
    "recording",
)
PYTEST_ARGS = ("-q", *(arg for name in PLUGINS_OFF for arg in ("-p", f"no:{name}")))
CENSUS_MODULE = "_chatexp_memory_census"
# The plugin's per-test objects worth counting at the end of a session, by class name.
CENSUS_TYPES = (
    "TestRecorder",
    "RecordingFile",
    "Interaction",
    "ExperimentResult",
    "Case",
    "Sample",
    "ChatDataResponse",
    "ExperimentSpec",
    "TestReport",
    "Function",
)
_PASSED = re.compile(r"\b(\d+) passed\b")
_BAD = re.compile(r"\b\d+ (failed|errors?)\b")


@dataclass(frozen=True)
class Sizes:
    live_inputs: int  # x 2 samples
    concurrency: int
    replay_sizes: tuple[int, ...]
    repeats: int
    warm_up: bool
    # The census walks every object at the end of the session, adding to the peak: a separate
    # run, unless the figures do not matter (--quick).
    separate_census: bool


FULL = Sizes(
    1000, 64, replay_sizes=(250, 1000, 3000), repeats=2, warm_up=True, separate_census=True
)
QUICK = Sizes(5, 4, replay_sizes=(5, 10), repeats=1, warm_up=False, separate_census=False)


class BenchError(Exception):
    """A run did not pass as expected (so its memory figure would mean nothing)."""


@dataclass(frozen=True)
class Run:
    wall_s: float
    max_rss_kb: int


# --- generated suites -------------------------------------------------------------------------

_LIVE = """\
import pytest

from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="c", model="gpt-4o-mini", chat_template=[{{"role": "user", "content": "{{{{n}}}}"}}]
)


@pytest.mark.chatexp(
    model_configs=[CONFIG], inputs=[{{"n": n}} for n in range({inputs})], num_samples=2
)
def test_live(chatexp):
    assert len(chatexp.samples) == {calls}
    assert chatexp.samples[-1].output == "echo: {last}"
"""

_EMPTY = "def test_nothing():\n    pass\n"

_PLAIN_TEST = """

def test_{i}():
    assert RESPONSE["choices"][0]["message"]["content"] == "echo: hello"
"""

_CHATEXP_TEST = """

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"id": "q{i}", "question": "{question}"}}])
def test_q{i}(chatexp):
    assert "{question}" in chatexp.outputs[0]
"""

QUESTION = "Question {i}: what is {i} + {i}?"

# At the end of the session (after the summary), count live objects by class.
_CENSUS = """\
import collections, gc, json, os


def pytest_unconfigure(config):
    gc.collect()
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    with open(os.environ["CHATEXP_CENSUS_OUT"], "w") as out:
        json.dump(dict(counts), out)
"""

_FIXTURE_INI = "[pytest]\nmarkers =\n    bench: a marker with keyword arguments, like chatexp's\n"


# The shape of a chatexp test without the plugin: a marker with an input, and a fixture that
# depends on ``request`` and on a config fixture, as ``chatexp`` does. What pytest keeps per item
# for that is not the plugin's doing.
@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    tests: int


def write_suite(root: Path, name: str, text: str, tests: int, ini: str = "[pytest]\n") -> Suite:
    path = root / name
    path.mkdir()
    (path / "pytest.ini").write_text(ini)  # the suite is the rootdir, not this checkout
    (path / f"test_{name}.py").write_text(text)
    return Suite(name, path, tests)


def plain_suite(root: Path, tests: int) -> Suite:
    text = PLAIN_HEAD + "".join(_PLAIN_TEST.format(i=i) for i in range(tests))
    return write_suite(root, f"plain_{tests}", text, tests)


def fixture_suite(root: Path, tests: int) -> Suite:
    text = PLAIN_HEAD + FIXTURE_HEAD
    text += "".join(FIXTURE_TEST.format(i=i, question=QUESTION.format(i=i)) for i in range(tests))
    return write_suite(root, f"fixture_{tests}", text, tests, _FIXTURE_INI)


def chatexp_suite(root: Path, tests: int) -> Suite:
    text = CHATEXP_HEAD + "".join(
        _CHATEXP_TEST.format(i=i, question=QUESTION.format(i=i)) for i in range(tests)
    )
    return write_suite(root, f"chatexp_{tests}", text, tests)


# --- running pytest ---------------------------------------------------------------------------


def environment_for(root: Path, openai_base_url: str) -> dict[str, str]:
    """This process's environment without what changes how pytest or Python runs, bytecode
    cached in the temporary directory."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH")
        and not key.startswith("PYTEST_")
    }
    env.update(
        OPENAI_BASE_URL=openai_base_url,
        OPENAI_API_KEY="unused",
        PYTHONPYCACHEPREFIX=str(root / "pycache"),
    )
    return env


# A child's ru_maxrss includes the peak RSS of the process it was forked from (Linux records the
# old address space's high-water mark at exec, and fork and vfork children start with the
# parent's), so sessions started from this process -- which runs the reference server and
# imports the plugin -- would all report at least this process's peak. They are started by
# this small helper instead (stdlib only, no site), whose own RSS is the floor of every figure.
_LAUNCHER = """\
import json, os, subprocess, sys, threading, time

for line in sys.stdin:
    job = json.loads(line)
    with open(job["log"], "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            job["command"], cwd=job["cwd"], env=job["env"], stdout=out, stderr=subprocess.STDOUT
        )
        timer = threading.Timer(job["timeout"], process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        wall = time.perf_counter() - start
    result = {"status": os.waitstatus_to_exitcode(status), "wall_s": wall,
              "max_rss_kb": usage.ru_maxrss}
    print(json.dumps(result), flush=True)
"""


class Launcher:
    """A small process that starts the measured sessions and reports their rusage."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(
        self, command: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
    ) -> tuple[int, Run]:
        assert self._process.stdin is not None and self._process.stdout is not None
        job = {
            "command": list(command),
            "cwd": str(cwd),
            "env": dict(env),
            "log": str(log),
            "timeout": RUN_TIMEOUT_S,
        }
        self._process.stdin.write(json.dumps(job) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise BenchError(f"the launcher died (exit {self._process.wait()})")
        result = json.loads(line)
        return int(result["status"]), Run(float(result["wall_s"]), int(result["max_rss_kb"]))

    def floor_mb(self, root: Path) -> float:
        """Peak RSS of ``python -c pass`` started by the launcher: what no figure can go under."""
        _, run = self.run([sys.executable, "-c", "pass"], root, os.environ, root / "floor.log")
        return _mb(run.max_rss_kb)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def run_pytest(
    launcher: Launcher, suite: Suite, env: Mapping[str, str], extra: Sequence[str] = ()
) -> Run:
    """One session in a subprocess; fails unless every test of the suite passed."""
    log = suite.path.parent / f"{suite.name}.log"
    command = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *extra, str(suite.path)]
    returncode, run = launcher.run(command, suite.path, env, log)
    output = log.read_text(errors="replace")
    passed = _PASSED.search(output)
    if (
        returncode != 0
        or passed is None
        or int(passed.group(1)) != suite.tests
        or _BAD.search(output)
    ):
        tail = "\n".join(output.splitlines()[-15:])
        raise BenchError(f"{suite.name}: expected {suite.tests} passed, exit {returncode}:\n{tail}")
    return run


def _after(sizes: Sizes) -> str:
    return " after a warm-up run" if sizes.warm_up else " (no warm-up)"


def _mb(kb: float) -> float:
    return kb / 1024


# --- (a) live ---------------------------------------------------------------------------------


def live_part(launcher: Launcher, root: Path, sizes: Sizes) -> None:
    calls = sizes.live_inputs * 2

    def live_suite(name: str, inputs: int) -> Suite:
        text = _LIVE.format(inputs=inputs, calls=inputs * 2, last=inputs - 1)
        return write_suite(root, name, text, 1)

    empty = write_suite(root, "empty", _EMPTY, 1)
    floor = live_suite("live_floor", 1)
    live = live_suite("live", sizes.live_inputs)
    concurrency = f"--chatexp-concurrency={sizes.concurrency}"
    off, record = ("--chatexp-record=off", concurrency), ("--chatexp-record=all", concurrency)
    rows: list[tuple[str, Suite, int, tuple[str, ...]]] = [
        ("empty session (1 plain test)", empty, 0, ()),
        ("live, --chatexp-record=off", floor, 2, off),
        ("live, --chatexp-record=off", live, calls, off),
        ("live, --chatexp-record=all", live, calls, record),
    ]
    print(
        f"\n(a) live experiment: 1 config x {sizes.live_inputs} inputs x 2 samples = {calls:,} "
        f"calls at concurrency {sizes.concurrency}, against the reference server (in this "
        f"process, 0 ms latency), next to a 2-call experiment (the imports' floor); "
        f"{sizes.repeats} runs per row{_after(sizes)}, max shown"
    )
    with ReferenceServer() as server:
        env = environment_for(root, server.base_url)
        for _, suite, _, extra in rows[:3] if sizes.warm_up else ():
            run_pytest(launcher, suite, env, extra)  # warm-up: bytecode cache
        results: list[list[Run]] = [[] for _ in rows]
        for _ in range(sizes.repeats):
            for runs, (_, suite, _, extra) in zip(results, rows, strict=True):
                runs.append(run_pytest(launcher, suite, env, extra))
        served = len(server.requests)
    print(
        f"{'row':<30} {'calls':>6} {'peak RSS MB':>11} {'over empty MB':>13} "
        f"{'over 2 calls MB':>15} {'wall s':>7}"
    )
    peaks = [max(run.max_rss_kb for run in runs) for runs in results]
    for (label, _, row_calls, _), runs, peak in zip(rows, results, peaks, strict=True):
        over_floor = f"{_mb(peak - peaks[1]):>15.1f}" if row_calls > 2 else f"{'':>15}"
        print(
            f"{label:<30} {row_calls:>6} {_mb(peak):>11.1f} {_mb(peak - peaks[0]):>13.1f} "
            f"{over_floor} {statistics.median(run.wall_s for run in runs):>7.2f}"
        )
    recording = sum(p.stat().st_size for p in (live.path / "__recordings__").rglob("*.yaml"))
    print(
        f"per call beyond the 2-call floor: {(peaks[2] - peaks[1]) / (calls - 2):.2f} KB "
        f"(record off), {(peaks[3] - peaks[1]) / (calls - 2):.2f} KB (record all); the "
        f"recording of the {calls:,} calls is {recording / 1e6:.2f} MB on disk; the server "
        f"answered {served:,} requests, warm-up included"
    )


# --- (b) replay -------------------------------------------------------------------------------


KINDS = ("plain", "plain+fixture", "chatexp")


def replay_part(launcher: Launcher, root: Path, sizes: Sizes) -> None:
    print(
        f"\n(b) replay: N marked tests, one input and one recording file each (chatexp), vs N "
        f"plain tests (plain), vs N plain tests each with a marker and a 2-fixture chain doing "
        f"nothing (plain+fixture: what pytest keeps per item of that shape); peak RSS of the "
        f"pytest process, max of {sizes.repeats} runs{_after(sizes)}"
    )
    groups = [
        {
            "plain": plain_suite(root, n),
            "plain+fixture": fixture_suite(root, n),
            "chatexp": chatexp_suite(root, n),
        }
        for n in sizes.replay_sizes
    ]
    with ReferenceServer() as server:
        env = environment_for(root, server.base_url)
        for group in groups:
            run_pytest(launcher, group["chatexp"], env, ("--chatexp-record=all",))
        recorded = len(server.requests)
    print(
        f"recorded {recorded:,} calls against the reference server (untimed); replays use "
        f"OPENAI_BASE_URL={NOWHERE} (nothing listens there)"
    )
    env = environment_for(root, NOWHERE)
    for group in groups if sizes.warm_up else ():
        for suite in group.values():
            run_pytest(launcher, suite, env)  # warm-up: bytecode cache
    # A census of the two largest sizes, with and without the plugin: in runs of their own,
    # unless the figures do not matter.
    counted = [group[kind] for group in groups[-2:] for kind in ("plain+fixture", "chatexp")]
    censuses = {suite.name: census_env(root, env, suite) for suite in counted}
    peaks: dict[str, list[int]] = {}
    for _ in range(sizes.repeats):
        for group in groups:
            for suite in group.values():
                census = suite.name in censuses and not sizes.separate_census
                how = censuses[suite.name] if census else (env, ())
                peaks.setdefault(suite.name, []).append(
                    run_pytest(launcher, suite, *how).max_rss_kb
                )
    print(
        f"{'tests':>6} {'plain MB':>9} {'plain+fixture MB':>16} {'chatexp MB':>10} "
        f"{'chatexp - plain+fixture MB':>26} {'recordings on disk MB':>21}"
    )
    xs: list[float] = []
    mb: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for group in groups:
        chatexp = group["chatexp"]
        files = list((chatexp.path / "__recordings__").rglob("*.yaml"))
        if len(files) != chatexp.tests:
            raise BenchError(f"{chatexp.name}: {len(files)} recording files, not {chatexp.tests}")
        xs.append(chatexp.tests)
        for kind in KINDS:
            mb[kind].append(_mb(max(peaks[group[kind].name])))
        plain, fixture, ours = (mb[kind][-1] for kind in KINDS)
        on_disk = sum(path.stat().st_size for path in files)
        print(
            f"{chatexp.tests:>6} {plain:>9.1f} {fixture:>16.1f} {ours:>10.1f} "
            f"{ours - fixture:>26.1f} {on_disk / 1e6:>21.2f}"
        )
    if len(xs) >= 2:
        slopes = {kind: _slope(xs, mb[kind]) * 1000 for kind in KINDS}
        extra = slopes["chatexp"] - slopes["plain+fixture"]
        print(
            "growth per 1000 tests (least-squares slope over the sizes): "
            + ", ".join(f"{kind} {slopes[kind]:.1f} MB" for kind in KINDS)
            + f"; chatexp minus plain+fixture {extra:.1f} MB per 1000 tests "
            f"({extra * 1024 / 1000:.2f} KB per test), chatexp minus plain "
            f"{slopes['chatexp'] - slopes['plain']:.1f} MB; one recording file is "
            f"{on_disk / len(files) / 1024:.2f} KB on disk"
        )
    for suite in counted if sizes.separate_census else ():
        run_pytest(launcher, suite, *censuses[suite.name])
    print_census(root, groups[-2:])


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return numerator / sum((x - mean_x) ** 2 for x in xs)


def census_env(
    root: Path, env: Mapping[str, str], suite: Suite
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Environment and options of a run of ``suite`` that counts, at its end, the objects still
    alive."""
    (root / f"{CENSUS_MODULE}.py").write_text(_CENSUS)
    census = {"PYTHONPATH": str(root), "CHATEXP_CENSUS_OUT": str(_census_file(root, suite))}
    return dict(env) | census, ("-p", CENSUS_MODULE)


def _census_file(root: Path, suite: Suite) -> Path:
    return root / f"census_{suite.name}.json"


def print_census(root: Path, groups: Sequence[Mapping[str, Suite]]) -> None:
    """What the plugin still held when the session ended: its own objects at the largest size,
    and, between the two largest sizes, how many more objects per test stay alive with it than
    in the same suite without it (by class, largest first)."""

    def counts(suite: Suite) -> dict[str, int]:
        return dict[str, int](json.loads(_census_file(root, suite).read_text()))

    largest = counts(groups[-1]["chatexp"])
    tests = groups[-1]["chatexp"].tests
    print(
        f"alive at the end of a {tests}-test replay (gc census at pytest_unconfigure): "
        + ", ".join(f"{name} {largest.get(name, 0)}" for name in CENSUS_TYPES)
    )
    if len(groups) < 2:
        return
    small, large = groups
    added = large["chatexp"].tests - small["chatexp"].tests
    growth: dict[str, dict[str, float]] = {}
    for kind in ("plain+fixture", "chatexp"):
        before, after = counts(small[kind]), counts(large[kind])
        growth[kind] = {
            name: (after.get(name, 0) - before.get(name, 0)) / added
            for name in before.keys() | after.keys()
        }
    ours, theirs = growth["chatexp"], growth["plain+fixture"]
    extra = sorted(
        ((ours.get(name, 0.0) - theirs.get(name, 0.0), name) for name in ours.keys() | theirs),
        reverse=True,
    )
    print(
        f"  objects alive per test (growth from {small['chatexp'].tests} to {tests} tests): "
        f"chatexp {sum(ours.values()):.1f}, plain+fixture {sum(theirs.values()):.1f}; "
        "most outnumbered per test (chatexp - plain+fixture): "
        + (
            ", ".join(f"{name} {diff:+.2f}" for diff, name in extra[:6] if abs(diff) >= 0.005)
            or "none"
        )
    )


# --- reporting --------------------------------------------------------------------------------


def print_environment() -> None:
    import yaml

    shell = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
    packages = " | ".join(f"{name} {version(name)}" for name in ("pytest", "httpx", "pydantic"))
    print(
        f"Python {platform.python_version()} | {platform.platform()} | {os.cpu_count()} CPUs | "
        f"{packages} | PyYAML {version('PyYAML')} (C loader "
        f"{'yes' if hasattr(yaml, 'CSafeLoader') else 'no'}) | shell PYTHONDONTWRITEBYTECODE "
        f"{shell}, unset for every run (PYTHONPYCACHEPREFIX=<tmp>/pycache)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run (CI smoke)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    print_environment()
    print_load("start")
    print(f"command: python -m pytest {' '.join(PYTEST_ARGS)} [options] <dir>")
    try:
        with tempfile.TemporaryDirectory(prefix="chatexp-memory-") as tmp:
            root = Path(tmp)
            launcher = Launcher()
            try:
                print(
                    f"sessions are started by a small launcher process (a child's ru_maxrss "
                    f"includes the peak RSS of the process it was forked from); the floor, "
                    f"python -c pass: {launcher.floor_mb(root):.1f} MB"
                )
                live_part(launcher, root, sizes)
                replay_part(launcher, root, sizes)
            finally:
                launcher.close()
    except BenchError as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        print_load("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
