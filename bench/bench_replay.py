"""Benchmark: what replaying recorded LLM calls costs per test, next to plain tests and vcrpy.

A chatexp suite in CI replays recordings: no provider, no network. Its cost should then be close
to that of ordinary tests, or teams will not keep hundreds of prompt cases in their test suite.
This script generates, in temporary directories, five suites of 1000 tests each and times whole
pytest sessions (``python -m pytest -q ...`` in a subprocess), side by side in one run:

* ``plain``: 1000 plain tests, each asserting on a constant dict shaped like a chat completion --
  the floor: pytest's own cost of collecting, running and reporting 1000 tests;
* ``plain+fixture``: the same tests, each with a marker and a fixture that depends on ``request``
  and on a config fixture, as ``chatexp`` does, and does nothing -- pytest's own cost of the
  fixture machinery any fixture-based plugin pays, so the rows below can be read against it;
* ``chatexp split``: one ``@pytest.mark.chatexp(..., inputs=[1000 inputs], split="inputs")`` test,
  i.e. 1000 items, each replaying its recording;
* ``chatexp each``: 1000 individually declared marked tests, one input each (the typical shape),
  each replaying its recording;
* ``vcrpy``: 1000 ``@pytest.mark.vcr`` tests (pytest-recording), each making one httpx POST to
  ``/v1/chat/completions`` with a distinct body, replayed from cassettes matched on the body.

The chatexp and vcrpy suites are first recorded (untimed) against a ``ReferenceServer`` running
in this process. The timed runs use ``OPENAI_BASE_URL=http://127.0.0.1:9/v1``, where nothing
listens: a call that went live would fail its test, and every run must report 1000 passed.

Fairness: every row runs with the same environment and the same command line (the chatexp and
recording plugins are loaded in every row; plugins no row needs -- hypothesis, xdist, syrupy,
anyio -- are disabled in every row). Each row is measured twice:

* with ``PYTHONDONTWRITEBYTECODE=1`` (what this machine's shell sets): pytest cannot cache
  rewritten test modules and Python recompiles every module that has no ``.pyc`` yet (this
  checkout's ``pytest_chatexp`` has none), on every run;
* with bytecode cached: ``PYTHONDONTWRITEBYTECODE`` unset and ``PYTHONPYCACHEPREFIX`` pointing
  into the temporary directory (so nothing is written into the checkout or the virtualenv).

Per setting, every row gets ``REPEATS`` timed runs (after one untimed warm-up run when bytecode
is cached), interleaved across rows so that background load hits all rows alike. The table shows
the best and median wall time, their ratio to ``plain``, the median CPU time (user + system) of
the pytest process -- steadier than wall time when other work shares the CPUs, and what the
verdict is on: issue 19's target is a replayed test at most 1.35x a plain one in CPU -- and its
peak RSS (both from ``os.wait4``).

Run: ``.venv/bin/python bench/bench_replay.py`` (``--profile`` also profiles one ``chatexp each``
replay with cProfile and prints the hot spots).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from _shared import CHATEXP_HEAD, FIXTURE_HEAD, FIXTURE_TEST, PLAIN_HEAD, print_load, version

from pytest_chatexp.testing import ReferenceServer

TESTS = 1000
REPEATS = 3
QUICK_TESTS = 20
HAVE_VCR = all(importlib.util.find_spec(name) for name in ("vcr", "pytest_recording"))
RUN_TIMEOUT_S = 300.0
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
)
PYTEST_ARGS = ("-q", *(arg for name in PLUGINS_OFF for arg in ("-p", f"no:{name}")))
TARGET_CHATEXP = 1.35  # issue 19: CPU of the whole process, replayed vs plain tests
REFERENCE_VCR = 3.0
PROFILE_LIBS = re.compile(
    r"pytest_chatexp|[/\\](yaml|pydantic|httpx|httpcore|asyncio|_pytest|pluggy)[/\\]"
)
PROFILE_TOP = 25
_PASSED = re.compile(r"\b(\d+) passed\b")
_FAILED = re.compile(r"\b\d+ (failed|errors?)\b")

QUESTION = "Question {i}: what is {i} + {i}?"


@dataclass(frozen=True)
class Row:
    """One generated suite: its directory and how to record it (None: nothing to record)."""

    name: str
    meaning: str
    path: Path
    record_args: tuple[str, ...] | None


@dataclass(frozen=True)
class Run:
    """One pytest session: wall seconds and the peak resident set size of its process."""

    wall_s: float
    cpu_s: float
    max_rss_kb: int


@dataclass(frozen=True)
class Measurement:
    """The timed runs of one row under one bytecode setting."""

    row: Row
    runs: tuple[Run, ...]

    @property
    def best(self) -> float:
        return min(run.wall_s for run in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(run.wall_s for run in self.runs)

    @property
    def median_cpu(self) -> float:
        return statistics.median(run.cpu_s for run in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(run.max_rss_kb for run in self.runs) / 1024


class BenchError(Exception):
    """A generated suite did not pass as expected (so its timing would mean nothing)."""


# --- generated suites -------------------------------------------------------------------------

_INI = "[pytest]\n"

_PLAIN_TEST = """

def test_{i}():
    assert RESPONSE["choices"][0]["message"]["content"] == "echo: hello"
"""

_CHATEXP_SPLIT = """
INPUTS = [{{"id": f"q{{i}}", "question": f"{question}"}} for i in range({tests})]


@pytest.mark.chatexp(model_configs=[CONFIG], inputs=INPUTS, split="inputs")
def test_answers(chatexp):
    (case,) = chatexp.cases
    assert case.input.inputs["question"] in case.outputs[0]
"""

_CHATEXP_EACH = """

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"id": "q{i}", "question": "{question}"}}])
def test_q{i}(chatexp):
    assert "{question}" in chatexp.outputs[0]
"""

_VCR_CONFTEST = """\
import pytest


@pytest.fixture(scope="module")
def vcr_config():
    # No port: recordings come from an ephemeral loopback port, replays point at port 9.
    return {
        "match_on": ["method", "scheme", "host", "path", "query", "body"],
        "filter_headers": ["authorization"],
    }
"""

_VCR_HEAD = """\
import os

import httpx
import pytest

# One client for the module, as chatexp shares its clients across the session.
CLIENT = httpx.Client(
    base_url=os.environ["OPENAI_BASE_URL"], headers={"Authorization": "Bearer unused"}
)


def ask(question):
    body = {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "messages": [{"role": "user", "content": question}],
    }
    response = CLIENT.post("/chat/completions", json=body)
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]
"""

_VCR_TEST = """

@pytest.mark.vcr
def test_q{i}():
    assert "{question}" in ask("{question}")
"""


def _write_suite(path: Path, files: Mapping[str, str]) -> None:
    path.mkdir(parents=True)
    (path / "pytest.ini").write_text(_INI)
    for name, text in files.items():
        (path / name).write_text(text)


def _each(template: str) -> str:
    """``template`` once per test, with ``{i}`` and ``{question}`` filled in."""
    return "".join(template.format(i=i, question=QUESTION.format(i=i)) for i in range(TESTS))


def make_rows(root: Path) -> list[Row]:
    """Generate the four suites under ``root``."""
    split = _CHATEXP_SPLIT.format(question=QUESTION, tests=TESTS)
    suites: list[tuple[str, str, dict[str, str], tuple[str, ...] | None]] = [
        (
            "plain",
            "1000 plain tests asserting on a constant chat-completion dict",
            {"test_plain.py": PLAIN_HEAD + _each(_PLAIN_TEST)},
            None,
        ),
        (
            "plain+fixture",
            "the same with a marker and a 2-fixture chain doing nothing",
            {
                "test_fixture.py": PLAIN_HEAD + FIXTURE_HEAD + _each(FIXTURE_TEST),
                "pytest.ini": "[pytest]\nmarkers = bench\n",
            },
            None,
        ),
        (
            "chatexp split",
            "1 marked test, 1000 inputs, split='inputs' (1000 items)",
            {"test_chatexp_split.py": CHATEXP_HEAD + split},
            ("--chatexp-record=all",),
        ),
        (
            "chatexp each",
            "1000 marked tests, one input each",
            {"test_chatexp_each.py": CHATEXP_HEAD + _each(_CHATEXP_EACH)},
            ("--chatexp-record=all",),
        ),
        (
            "vcrpy",
            "1000 @pytest.mark.vcr tests, one httpx POST each",
            {"conftest.py": _VCR_CONFTEST, "test_vcr.py": _VCR_HEAD + _each(_VCR_TEST)},
            ("--record-mode=all",),
        ),
    ]
    if not HAVE_VCR:
        suites = [suite for suite in suites if suite[0] != "vcrpy"]
    rows: list[Row] = []
    for name, meaning, files, record_args in suites:
        path = root / name.replace(" ", "_")
        _write_suite(path, files)
        rows.append(Row(name, meaning, path, record_args))
    return rows


# --- running pytest ---------------------------------------------------------------------------


def base_environment(openai_base_url: str) -> dict[str, str]:
    """This process's environment without anything that changes how pytest or Python runs."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        and not key.startswith("PYTEST_")
    }
    env.update(OPENAI_BASE_URL=openai_base_url, OPENAI_API_KEY="unused")
    return env


@dataclass(frozen=True)
class Setting:
    """A bytecode setting every row runs under: extra environment, and whether it needs one
    untimed warm-up run per row (to fill the bytecode cache)."""

    label: str
    env: dict[str, str]
    warm_up: bool


def bytecode_settings(root: Path) -> list[Setting]:
    # Nothing is cached with PYTHONDONTWRITEBYTECODE=1, so a warm-up run would only cost time
    # (the recording runs have already read every file into the page cache).
    return [
        Setting("PYTHONDONTWRITEBYTECODE=1", {"PYTHONDONTWRITEBYTECODE": "1"}, warm_up=False),
        Setting(
            "bytecode cached (PYTHONDONTWRITEBYTECODE unset, PYTHONPYCACHEPREFIX=tmp)",
            {"PYTHONPYCACHEPREFIX": str(root / "pycache")},
            warm_up=True,
        ),
    ]


def pytest_command(path: Path, extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "pytest", *PYTEST_ARGS, *extra, str(path)]


def run_pytest(row: Row, env: Mapping[str, str], extra: Sequence[str] = ()) -> Run:
    """Run the row's suite once; fail unless all ``TESTS`` tests passed."""
    log = row.path.parent / f"{row.path.name}.log"
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            pytest_command(row.path, extra),
            cwd=row.path,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, peak RSS included
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    check_passed(row, process.returncode, log.read_text(errors="replace"))
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def check_passed(row: Row, returncode: int, output: str) -> None:
    passed = _PASSED.search(output)
    if returncode != 0 or passed is None or int(passed.group(1)) != TESTS or _FAILED.search(output):
        tail = "\n".join(output.splitlines()[-15:])
        raise BenchError(f"{row.name}: expected {TESTS} passed, exit {returncode}:\n{tail}")


def record(rows: Sequence[Row], root: Path) -> int:
    """Record every suite that needs it against an in-process reference server; returns calls."""
    with ReferenceServer() as server:
        env = base_environment(server.base_url) | {"PYTHONDONTWRITEBYTECODE": "1"}
        for row in rows:
            if row.record_args is not None:
                run_pytest(row, env, row.record_args)
        return len(server.requests)


def measure(rows: Sequence[Row], env: Mapping[str, str], warm_up: bool) -> list[Measurement]:
    """Optionally one warm-up run per row, then ``REPEATS`` rounds over all rows."""
    for row in rows if warm_up else ():
        run_pytest(row, env)
    runs: dict[str, list[Run]] = {row.name: [] for row in rows}
    for _ in range(REPEATS):
        for row in rows:
            runs[row.name].append(run_pytest(row, env))
    return [Measurement(row, tuple(runs[row.name])) for row in rows]


# --- reporting --------------------------------------------------------------------------------


def environment() -> str:
    """One line describing what the numbers were measured on."""
    import yaml

    shell = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
    packages = " | ".join(
        f"{name} {version(name)}"
        for name in ("pytest", "httpx", "pydantic", "PyYAML", "vcrpy", "pytest-recording")
    )
    return (
        f"Python {platform.python_version()} | {platform.platform()} | {os.cpu_count()} CPUs | "
        f"{packages} | yaml C loader {'yes' if hasattr(yaml, 'CLoader') else 'no'} | "
        f"shell PYTHONDONTWRITEBYTECODE {shell}"
    )


def print_table(setting: str, measurements: Sequence[Measurement]) -> None:
    plain = measurements[0]
    print(f"\n{setting}")
    print(
        f"{'row':<14} {'best s':>6} {'median s':>8} {'best/plain':>10} {'median/plain':>12} "
        f"{'CPU s':>5} {'CPU/plain':>9} {'+ms/test':>8} {'peak RSS MB':>11}"
    )
    for m in measurements:
        extra_ms = (m.median - plain.median) / TESTS * 1000
        print(
            f"{m.row.name:<14} {m.best:>6.2f} {m.median:>8.2f} {m.best / plain.best:>10.2f} "
            f"{m.median / plain.median:>12.2f} {m.median_cpu:>5.2f} "
            f"{m.median_cpu / plain.median_cpu:>9.2f} {extra_ms:>8.2f} {m.peak_rss_mb:>11.0f}"
        )
    by_name = {m.row.name: m for m in measurements}
    floor = by_name["plain+fixture"]
    print(
        f"  plain+fixture: median {floor.median / plain.median:.2f}x plain, "
        f"CPU {floor.median_cpu / plain.median_cpu:.2f}x: pytest's own fixture cost"
    )
    vcr = by_name.get("vcrpy")
    if vcr is None:
        print("  vcrpy: not installed, row skipped (pip install -e '.[bench]')")
    else:
        print(
            f"  vcrpy: median {vcr.median / plain.median:.2f}x plain "
            f"(reference point: about {REFERENCE_VCR:.0f}x)"
        )
    for name in ("chatexp split", "chatexp each"):
        m = by_name[name]
        # On CPU: steadier than wall time when other work shares the CPUs.
        verdict = "meets" if m.median_cpu / plain.median_cpu <= TARGET_CHATEXP else "misses"
        versus_vcr = (
            ""
            if vcr is None
            else f"speed-up over vcrpy (vcrpy time / chatexp time) {vcr.best / m.best:.2f}x "
            f"best, {vcr.median / m.median:.2f}x median, {vcr.median_cpu / m.median_cpu:.2f}x "
            "CPU; "
        )
        print(
            f"  {name}: {versus_vcr}{verdict} the {TARGET_CHATEXP}x-of-plain "
            f"target (CPU {m.median_cpu / plain.median_cpu:.2f}x, median wall "
            f"{m.median / plain.median:.2f}x; CPU {m.median_cpu / floor.median_cpu:.2f}x "
            "plain+fixture)"
        )


def print_rows(rows: Sequence[Row]) -> None:
    for row in rows:
        print(f"  {row.name:<14} {row.meaning}")


# --- profiling --------------------------------------------------------------------------------


def profile(row: Row, env: Mapping[str, str], root: Path) -> None:
    """Profile one replay of ``row`` and print the hot spots. A replay runs on the test's own
    thread (no event loop is started), so the main thread's profile is the whole story."""
    out = root / "main.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "pytest", *PYTEST_ARGS]
    completed = subprocess.run(
        [*command, str(row.path)],
        cwd=row.path,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    check_passed(row, completed.returncode, completed.stdout)
    stats = pstats.Stats(str(out))
    print(
        f"\nprofile of one '{row.name}' replay: top {PROFILE_TOP} by cumulative time, "
        "pytest_chatexp and big-library frames:"
    )
    _print_hot(stats, lambda file: bool(PROFILE_LIBS.search(file)), PROFILE_TOP)
    print("  pytest_chatexp frames only:")
    _print_hot(stats, lambda file: "pytest_chatexp" in file, PROFILE_TOP)


def _print_hot(stats: pstats.Stats, keep: Callable[[str], bool], top: int) -> None:
    entries = [
        (cumulative, calls, file, line, function)
        for (file, line, function), (_, calls, _, cumulative, _) in stats.stats.items()  # type: ignore[attr-defined]
        if keep(file)
    ]
    print(f"  {'cum s':>7} {'calls':>8}  function")
    for cumulative, calls, file, line, function in sorted(entries, reverse=True)[:top]:
        short = re.sub(r".*?(pytest_chatexp|site-packages|python3\.\d+)[/\\]", "", file)
        print(f"  {cumulative:>7.3f} {calls:>8}  {short}:{line}({function})")


# --- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="also profile a chatexp replay")
    parser.add_argument(
        "--quick", action="store_true", help=f"a smoke run: {QUICK_TESTS} tests per row, 1 run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        global TESTS, REPEATS
        TESTS, REPEATS = QUICK_TESTS, 1
    print(environment())
    print_load("start")
    print(
        f"{TESTS} tests per row; best and median of {REPEATS} runs each (after one warm-up run "
        "when bytecode is cached); "
        f"command: python -m pytest {' '.join(PYTEST_ARGS)} <dir>"
    )
    with tempfile.TemporaryDirectory(prefix="chatexp-bench-") as tmp:
        root = Path(tmp)
        rows = make_rows(root)
        print_rows(rows)
        calls = record(rows, root)
        print(
            f"recorded {calls} calls against the reference server (untimed); replays use "
            f"OPENAI_BASE_URL={NOWHERE} (nothing listens there)"
        )
        env = base_environment(NOWHERE)
        settings = bytecode_settings(root)
        for setting in settings:
            print_table(setting.label, measure(rows, env | setting.env, setting.warm_up))
        print_load("end")
        if args.profile:  # bytecode cached: profile the plugin, not the compiler
            each = next(row for row in rows if row.name == "chatexp each")
            profile(each, env | settings[-1].env, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
