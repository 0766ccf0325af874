"""Benchmark: a pytest run without chatexp tests pays (almost) nothing for the plugin.

The plugin is installed through a ``pytest11`` entry point, so every pytest run in an environment
that has it loads it, chatexp tests or not. This script generates, in a temporary directory, a
suite of 500 plain tests (asserts on constant dicts, five modules, some parametrized) and measures
what the plugin adds to it, comparing sessions WITH the plugin (the default) and WITHOUT it
(``-p no:chatexp``), with the same command line and environment otherwise:

* whole sessions (``python -m pytest -q ... <dir>`` in a subprocess): one untimed warm-up run per
  variant, then 17 rounds, each running both variants (their order alternating from round
  to round, so that drifting background load hits both alike). Shown: best and median wall time,
  median CPU time (user + system of the pytest process, from ``os.wait4``), peak RSS, and the
  added milliseconds, also as the median of the per-round differences;
* ``pytest --co -q`` (collect only) the same way: start-up, plugin loading and collection;
* the plugin's own cost, measured inside the session rather than as a difference of two noisy
  totals, per bytecode setting: a probe plugin (loaded with ``-p``, before entry points) times
  the entry point's import (``EntryPoint.load``) and registration (``pytest_addoption`` runs
  then) in CPU time of the thread, and every call of each of chatexp's hook implementations
  during a full run; calls preempted by other processes are discounted, the probe's own overhead
  subtracted; medians over several runs;
* where the import's time goes: ``python -X importtime`` of ``pytest_chatexp.plugin`` after
  importing every module a session without the plugin imports, so that only what the plugin
  adds is left (a plain import: in a session, pytest's assertion-rewriting hook loads the
  package, which costs more without cached bytecode);
* which modules the plugin made the run import: none of httpx, pydantic, yaml or the plugin's
  providers, runner, recorder or session may be among them (the script fails if one is);
* everything the plugin adds, pluggy's dispatch of its hooks and pytest's handling of its
  options and fixtures included, without timing noise: instructions executed under valgrind's
  callgrind, with and without the plugin, for a 1-test suite (the fixed part) and the 500-test
  one (the rest is per test), turned into ms at the session's own instructions per CPU second.
  About 2 minutes; skipped without valgrind, with ``--quick`` or with ``--no-instructions``.

Bytecode: this machine's shell sets ``PYTHONDONTWRITEBYTECODE=1``, which makes Python recompile,
and pytest re-rewrite, every module that has no ``.pyc`` (this checkout's ``pytest_chatexp`` has
none) on every run. The main tables therefore unset it and set ``PYTHONPYCACHEPREFIX`` into the
temporary directory, as a developer machine or a CI cache would have it; the shell's setting is
shown too.

Target: under 15 ms added per session. Missing it is printed ("misses"), not an error: the exit
status is non-zero only if a run fails or a heavy module is imported.

Run: ``.venv/bin/python bench/bench_inert.py`` (``--quick``: a tiny suite and one repeat, a smoke
run for CI whose numbers mean nothing; ``--no-instructions``: no valgrind part).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _shared import print_load, version

TARGET_MS = 15.0
RUN_TIMEOUT_S = 300.0
# Plugins of this virtualenv that neither variant needs; disabling them in both keeps the
# baseline small and steady. Only `-p no:chatexp` differs between the variants.
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
WITHOUT_ARGS = ("-p", "no:chatexp")
# Importing any of these means a run without chatexp tests paid for the plugin's machinery.
HEAVY = re.compile(
    r"^(httpx|httpcore|pydantic|pydantic_core|yaml|jsonschema|anyio|syrupy)(\.|$)"
    r"|^pytest_chatexp\.(_providers|_calls|_recording|_session\.(?!(_cli|_settings)$)\w+"
    r"|_experiment|_reports|testing|checks)(\.|$)"
)
PROBE_MODULE = "_chatexp_inert_probe"
_PASSED = re.compile(r"\b(\d+) passed\b")
_COLLECTED = re.compile(r"\b(\d+) tests? collected\b")
_BAD = re.compile(r"\b\d+ (failed|errors?)\b")
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")


@dataclass(frozen=True)
class Sizes:
    modules: int
    plain_per_module: int
    params_per_module: int
    repeats: int
    collect_repeats: int
    import_repeats: int
    probe_repeats: int
    both_bytecode_settings: bool
    warm_up: bool

    @property
    def tests(self) -> int:
        return self.modules * (self.plain_per_module + self.params_per_module)


FULL = Sizes(5, 80, 20, 17, 21, 15, 9, both_bytecode_settings=True, warm_up=True)
QUICK = Sizes(2, 8, 2, 1, 1, 1, 1, both_bytecode_settings=False, warm_up=False)


@dataclass(frozen=True)
class Run:
    """One pytest process: wall and CPU seconds, peak RSS, and what it printed."""

    wall_s: float
    cpu_s: float
    max_rss_kb: int
    output: str
    stderr: str


class BenchError(Exception):
    """A run did not do what it should (so its timing would mean nothing)."""


# --- the generated suite ----------------------------------------------------------------------

_MODULE_HEAD = """\
import pytest

ORDER = {{
    "id": "order-{module}",
    "customer": {{"name": "Ada", "tier": "gold", "tags": ["early", "vip"]}},
    "lines": [
        {{"sku": "A-1", "quantity": 2, "price": 9.5}},
        {{"sku": "B-2", "quantity": 1, "price": 20.0}},
    ],
    "status": "shipped",
}}
"""

_PLAIN_TEST = """

def test_order_{i}():
    assert ORDER["status"] == "shipped"
    assert sum(line["quantity"] * line["price"] for line in ORDER["lines"]) == 39.0
"""

_PARAM_TEST = """

@pytest.mark.parametrize("n", range({params}))
def test_line_count(n):
    assert len(ORDER["lines"]) + n == 2 + n
"""


def make_suite(root: Path, sizes: Sizes, name: str = "suite") -> Path:
    suite = root / name
    suite.mkdir()
    # Its own ini file: the rootdir is the suite, not this checkout (whose ini adds options).
    (suite / "pytest.ini").write_text("[pytest]\n")
    for module in range(sizes.modules):
        text = _MODULE_HEAD.format(module=module)
        text += "".join(_PLAIN_TEST.format(i=i) for i in range(sizes.plain_per_module))
        if sizes.params_per_module:
            text += _PARAM_TEST.format(params=sizes.params_per_module)
        (suite / f"test_orders_{module}.py").write_text(text)
    return suite


# --- the probe plugin: timings of chatexp's hooks and the modules a run imported ---------------

# Loaded with `-p` (before entry-point plugins), so it sees chatexp load. It times the entry
# point's import and registration (which runs pytest_addoption) in CPU time of the thread, and
# every call of every hook implementation of the `chatexp` module and of the plugin object it
# registers at configure time, with perf_counter (thread_time costs ~1 us a read here, as much as
# the hooks themselves). A call preempted by another process looks slow; print_probes discounts
# those. The probe's own overhead per call is measured on a no-op and reported.
_PROBE = """\
import importlib.metadata, json, os, sys, time

_WATCHED = ("chatexp", "chatexp-runlog")
_CALLS = {}
_WRAPPERS = set()
_ONCE = {}
_load = importlib.metadata.EntryPoint.load


def _once(name, function, *args):
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        return function(*args)
    finally:
        _ONCE[name] = [time.thread_time() - cpu, time.perf_counter() - wall]


def _timed_load(self):
    # pluggy imports entry points with ep.load(): importlib, not the import statement, so
    # -X importtime does not see it. Time it here, and note which modules it added.
    if self.group != "pytest11" or self.name != "chatexp":
        return _load(self)
    before = set(sys.modules)
    try:
        return _once("import", _load, self)
    finally:
        _ONCE["imported"] = sorted(set(sys.modules) - before)


importlib.metadata.EntryPoint.load = _timed_load


def _timed(durations, function):
    def timed(*args):
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            durations.append(time.perf_counter() - start)

    return timed


def _timed_wrapper(durations, function):
    # A generator in front of the wrapper's own: times the code before and after its yield,
    # not the inner hook calls in between.
    def timed(*args):
        start = time.perf_counter()
        inner = function(*args)
        try:
            value = next(inner)
        finally:
            spent = time.perf_counter() - start
        try:
            sent = yield value
        except BaseException as exc:
            start = time.perf_counter()
            try:
                inner.throw(exc)
            except StopIteration as stop:
                return stop.value
            finally:
                durations.append(spent + time.perf_counter() - start)
            raise RuntimeError("hook wrapper yielded twice")
        start = time.perf_counter()
        try:
            inner.send(sent)
        except StopIteration as stop:
            return stop.value
        finally:
            durations.append(spent + time.perf_counter() - start)
        raise RuntimeError("hook wrapper yielded twice")

    return timed


def pytest_addhooks(pluginmanager):
    register = pluginmanager.register

    def timed_register(plugin, name=None):
        if name != "chatexp":
            return register(plugin, name)
        return _once("register", register, plugin, name)

    pluginmanager.register = timed_register


def pytest_plugin_registered(plugin, plugin_name, manager):
    if plugin_name not in _WATCHED:
        return
    for caller in manager.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin:
                key = f"{plugin_name}:{caller.name}"
                durations = _CALLS.setdefault(key, [])
                wraps = impl.wrapper or impl.hookwrapper
                if wraps:
                    _WRAPPERS.add(key)
                impl.function = (_timed_wrapper if wraps else _timed)(durations, impl.function)


def _overhead():
    # What the timing adds inside the measured interval, per call, on no-op hooks.
    def plain(x):
        return x

    def wrapper(x):
        return (yield)

    plain_durations, wrapper_durations = [], []
    timed = _timed(plain_durations, plain)
    timed_wrapper = _timed_wrapper(wrapper_durations, wrapper)
    for _ in range(2000):
        timed(1)
        generator = timed_wrapper(1)
        next(generator)
        try:
            generator.send(None)
        except StopIteration:
            pass
    return {"plain": sorted(plain_durations)[1000], "wrapper": sorted(wrapper_durations)[1000]}


def pytest_unconfigure(config):
    with open(os.environ["CHATEXP_INERT_PROBE"], "w") as out:
        json.dump({"calls": _CALLS, "once": _ONCE, "overhead": _overhead(),
                   "wrappers": sorted(_WRAPPERS), "modules": sorted(sys.modules)}, out)
"""


# --- running pytest ---------------------------------------------------------------------------


def base_environment() -> dict[str, str]:
    """This process's environment without anything that changes how pytest or Python runs."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH")
        and not key.startswith("PYTEST_")
    }


@dataclass(frozen=True)
class Setting:
    label: str
    env: dict[str, str]


def bytecode_settings(root: Path, both: bool) -> list[Setting]:
    cached = Setting(
        "bytecode cached (PYTHONDONTWRITEBYTECODE unset, PYTHONPYCACHEPREFIX=<tmp>/pycache)",
        base_environment() | {"PYTHONPYCACHEPREFIX": str(root / "pycache")},
    )
    shell = Setting(
        "PYTHONDONTWRITEBYTECODE=1 (this shell's setting: every module without a .pyc is "
        "recompiled on every run)",
        base_environment() | {"PYTHONDONTWRITEBYTECODE": "1"},
    )
    return [cached, shell] if both else [cached]


def run_pytest(
    suite: Path,
    env: Mapping[str, str],
    extra: Sequence[str] = (),
    *,
    python_flags: Sequence[str] = (),
    expect: str = "passed",
    tests: int,
    runner: Sequence[str] = (),
) -> Run:
    """One pytest session in a subprocess (under ``runner``, e.g. valgrind, if given); fails
    unless it passed (or collected) every test."""
    command = [
        *runner,
        sys.executable,
        *python_flags,
        "-m",
        "pytest",
        *PYTEST_ARGS,
        *extra,
        str(suite),
    ]
    out_path, err_path = suite.parent / "run.out", suite.parent / "run.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=suite, env=dict(env), stdout=out, stderr=err)
        try:
            _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        except BaseException:
            process.kill()
            raise
        wall = time.perf_counter() - start
    output = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    returncode = os.waitstatus_to_exitcode(status)
    found = (_PASSED if expect == "passed" else _COLLECTED).search(output)
    if returncode != 0 or found is None or int(found.group(1)) != tests or _BAD.search(output):
        tail = "\n".join(output.splitlines()[-15:] + stderr.splitlines()[-15:])
        raise BenchError(
            f"{' '.join(command)}: expected {tests} {expect}, exit {returncode}:\n{tail}"
        )
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, output, stderr)


@dataclass(frozen=True)
class Pair:
    """Interleaved runs of both variants."""

    with_plugin: tuple[Run, ...]
    without: tuple[Run, ...]


def measure_pair(
    suite: Path,
    env: Mapping[str, str],
    repeats: int,
    tests: int,
    extra: Sequence[str] = (),
    expect: str = "passed",
    warm_up: bool = True,
) -> Pair:
    """One untimed warm-up run per variant, then ``repeats`` rounds of both, order alternating."""
    variants: dict[bool, list[Run]] = {True: [], False: []}

    def once(with_plugin: bool) -> Run:
        args = (*extra, *(() if with_plugin else WITHOUT_ARGS))
        return run_pytest(suite, env, args, expect=expect, tests=tests)

    if warm_up:
        once(True)
        once(False)
    for round_ in range(repeats):
        for with_plugin in (True, False) if round_ % 2 == 0 else (False, True):
            variants[with_plugin].append(once(with_plugin))
    return Pair(tuple(variants[True]), tuple(variants[False]))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:+.1f}"


def _verdict(added_s: float) -> str:
    return "meets" if added_s * 1000 < TARGET_MS else "misses"


def print_pair(title: str, pair: Pair) -> None:
    print(f"\n{title}")
    print(f"{'variant':<16} {'runs':>4} {'best s':>7} {'median s':>8} {'CPU s':>6} {'RSS MB':>6}")
    for name, runs in (("without plugin", pair.without), ("with plugin", pair.with_plugin)):
        print(
            f"{name:<16} {len(runs):>4} {min(r.wall_s for r in runs):>7.3f} "
            f"{statistics.median(r.wall_s for r in runs):>8.3f} "
            f"{statistics.median(r.cpu_s for r in runs):>6.3f} "
            f"{max(r.max_rss_kb for r in runs) / 1024:>6.1f}"
        )
    best = min(r.wall_s for r in pair.with_plugin) - min(r.wall_s for r in pair.without)
    median = statistics.median(r.wall_s for r in pair.with_plugin) - statistics.median(
        r.wall_s for r in pair.without
    )
    cpu = statistics.median(r.cpu_s for r in pair.with_plugin) - statistics.median(
        r.cpu_s for r in pair.without
    )
    wall_diffs = sorted(
        a.wall_s - b.wall_s for a, b in zip(pair.with_plugin, pair.without, strict=True)
    )
    cpu_diffs = sorted(
        a.cpu_s - b.cpu_s for a, b in zip(pair.with_plugin, pair.without, strict=True)
    )
    print(
        f"added by the plugin (with - without), ms: median wall {_ms(median)}, best wall "
        f"{_ms(best)}, median CPU {_ms(cpu)}; per-round differences: wall median "
        f"{_ms(statistics.median(wall_diffs))} (range {_ms(wall_diffs[0])} .. "
        f"{_ms(wall_diffs[-1])}), CPU median {_ms(statistics.median(cpu_diffs))} "
        f"(range {_ms(cpu_diffs[0])} .. {_ms(cpu_diffs[-1])})"
    )
    print(
        f"target: under {TARGET_MS:.0f} ms added -> median wall {_verdict(median)}, "
        f"median CPU {_verdict(cpu)}"
    )


# --- the plugin's own cost, measured in the session -------------------------------------------


def probe_run(
    suite: Path, env: Mapping[str, str], root: Path, tests: int, with_plugin: bool
) -> dict[str, Any]:
    out = root / "probe.json"
    env = dict(env) | {"PYTHONPATH": str(root), "CHATEXP_INERT_PROBE": str(out)}
    extra = ("-p", PROBE_MODULE, *(() if with_plugin else WITHOUT_ARGS))
    run_pytest(suite, env, extra, tests=tests)
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@dataclass(frozen=True)
class Probes:
    """Full runs under the probe: several with the plugin, one without."""

    with_plugin: tuple[dict[str, Any], ...]
    without: dict[str, Any]


def run_probes(
    suite: Path, env: Mapping[str, str], root: Path, repeats: int, tests: int, warm_up: bool
) -> Probes:
    (root / f"{PROBE_MODULE}.py").write_text(_PROBE)
    # The warm-up run fills the bytecode cache of the probe and the suite (when there is one).
    warm = int(warm_up)
    runs = [probe_run(suite, env, root, tests, with_plugin=True) for _ in range(repeats + warm)]
    return Probes(tuple(runs[warm:]), probe_run(suite, env, root, tests, with_plugin=False))


# A hook call this many times slower than the hook's median call was preempted by another
# process (a 2 us call does not take 100 us on its own): it counts as a median call.
PREEMPTED = 20.0
_PER_TEST_HOOKS = ("pytest_runtest_makereport", "pytest_runtest_logreport")


def hook_cost(durations: Sequence[float], overhead: float) -> float:
    """Seconds spent in one hook implementation over a run: preempted calls counted as median
    ones, the probe's own overhead per call subtracted."""
    if not durations:
        return 0.0
    median = statistics.median(durations)
    kept = sum(min(d, PREEMPTED * median) if median > 0 else d for d in durations)
    return max(0.0, kept - overhead * len(durations))


def print_probes(probes: Probes, tests: int) -> float:
    """Print the in-session table; return its median total in seconds."""
    runs = probes.with_plugin
    lines: dict[str, list[tuple[float, float, int]]] = {}  # what -> per run (ms, raw ms, calls)
    totals: list[float] = []
    per_test: list[float] = []
    for run in runs:
        total = 0.0
        for once, label in (
            ("import", "import of the entry point (CPU)"),
            ("register", "registration, runs pytest_addoption (CPU)"),
        ):
            cpu, wall = run["once"][once]
            lines.setdefault(label, []).append((cpu * 1000, wall * 1000, 1))
            total += cpu
        spent_per_test = 0.0
        for key, durations in sorted(run["calls"].items()):
            kind = "wrapper" if key in run["wrappers"] else "plain"
            cost = hook_cost(durations, run["overhead"][kind])
            lines.setdefault(key, []).append((cost * 1000, sum(durations) * 1000, len(durations)))
            total += cost
            if key.endswith(_PER_TEST_HOOKS):
                spent_per_test += cost
        totals.append(total)
        per_test.append(spent_per_test / tests)
    overheads = {
        kind: statistics.median(r["overhead"][kind] for r in runs) for kind in ("plain", "wrapper")
    }
    print(
        f"in-session cost of the plugin in a full {tests}-test run (a probe plugin times the entry "
        f"point's import and registration in thread CPU time, and each call of chatexp's hook "
        f"implementations; median of {len(runs)} runs):"
    )
    print(f"  {'what':<44} {'calls':>6} {'ms':>7} {'us/call':>8} {'raw ms':>7}")
    for what, values in lines.items():
        ms = statistics.median(v[0] for v in values)
        raw = statistics.median(v[1] for v in values)
        calls = statistics.median(v[2] for v in values)
        per_call = ms * 1000 / calls if calls else 0.0
        print(f"  {what:<44} {calls:>6.0f} {ms:>7.2f} {per_call:>8.2f} {raw:>7.2f}")
    total = statistics.median(totals)
    print(
        f"  {'total':<44} {'':>6} {total * 1000:>7.2f}   (best {min(totals) * 1000:.2f}, worst "
        f"{max(totals) * 1000:.2f}); target: under {TARGET_MS:.0f} ms -> {_verdict(total)}"
    )
    print(
        f"  (ms: hook calls over {PREEMPTED:.0f}x their median count as median calls, and the "
        f"probe's overhead, {overheads['plain'] * 1e6:.2f} us a plain call and "
        f"{overheads['wrapper'] * 1e6:.2f} us a wrapper call, is subtracted; raw ms: plain sum "
        f"of the wall time of the calls, or of the import/registration. Per-test hooks "
        f"(makereport, logreport): {statistics.median(per_test) * 1e6:.1f} us per test.)"
    )
    return total


_IMPORT_SCRIPT = """\
import importlib, sys
for name in {names!r}:
    try:
        importlib.import_module(name)  # importlib: -X importtime does not log these
    except Exception:
        pass
sys.stderr.write("--- chatexp ---\\n")
import pytest_chatexp.plugin
"""


def import_breakdown(
    env: Mapping[str, str], root: Path, baseline: Sequence[str], repeats: int, warm_up: bool
) -> None:
    """``python -X importtime`` of the entry point, after importing every module a session
    without the plugin had imported: what remains is exactly what the plugin adds."""
    names = [
        name
        for name in baseline
        if name not in ("__main__", PROBE_MODULE) and not name.startswith(("test_", "conftest"))
    ]
    script = root / "import_plugin.py"
    script.write_text(_IMPORT_SCRIPT.format(names=names))
    by_module: dict[str, list[int]] = {}
    totals: list[float] = []
    for index in range(repeats + int(warm_up)):
        completed = subprocess.run(
            [sys.executable, "-X", "importtime", str(script)],
            env=dict(env),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            raise BenchError(f"importing the plugin failed:\n{completed.stderr[-2000:]}")
        entries = [
            match.groups()
            for line in completed.stderr.split("--- chatexp ---", 1)[-1].splitlines()
            if (match := _IMPORTTIME.match(line)) is not None
        ]
        if warm_up and index == 0:
            continue  # fills the bytecode cache, when there is one
        for own, total, indent, name in entries:
            by_module.setdefault(name, []).append(int(own))
            if name == "pytest_chatexp.plugin" and not indent:
                totals.append(int(total) / 1000)
    print(
        f"import breakdown (python -X importtime, after importing the {len(names)} modules a "
        f"session without the plugin imports; {len(totals)} runs): total median "
        f"{statistics.median(totals):.2f} ms, best {min(totals):.2f} ms; median self ms: "
        + ", ".join(f"{name} {statistics.median(v) / 1000:.2f}" for name, v in by_module.items())
    )
    # In a session pytest loads the package through its assertion-rewriting import hook
    # (pytest11 packages are marked for rewriting): without cached bytecode that parses the
    # source into Python AST objects, walks it and compiles the tree, about twice a compile.
    print(
        "  (a plain import; in a session pytest's assertion-rewriting hook loads these modules, "
        "which without cached bytecode costs about twice as much: see the in-session table)"
    )


def check_modules(probes: Probes) -> bool:
    """The run without chatexp tests imported nothing heavy; print what the plugin added."""
    with_plugin = probes.with_plugin[-1]["modules"]
    added = sorted(set(with_plugin) - set(probes.without["modules"]))
    ours = [name for name in with_plugin if name.startswith("pytest_chatexp")]
    heavy = [name for name in with_plugin if HEAVY.match(name)]
    print(f"pytest_chatexp modules imported by a run without chatexp tests: {', '.join(ours)}")
    print(
        "modules the plugin added to the run (with - without): "
        + (", ".join(added) if added else "none")
    )
    checked = "httpx, httpcore, pydantic, yaml, jsonschema, anyio, syrupy, and pytest_chatexp's"
    checked += " providers, runner, recorder, recording, session, models, configs, experiment,"
    checked += " reports, testing, checks"
    if heavy:
        print(f"FAILED: heavy modules imported: {', '.join(heavy)} (checked: {checked})")
        return False
    print(f"ok: none of {checked} was imported")
    return True


# --- instruction counts: the plugin's whole cost, without the noise ---------------------------

_IREFS = re.compile(r"I\s+refs:\s+([\d,]+)")
ONE = Sizes(1, 1, 0, 0, 0, 0, 0, both_bytecode_settings=False, warm_up=False)


def count_instructions(
    valgrind: str, suite: Path, env: Mapping[str, str], root: Path, tests: int, with_plugin: bool
) -> int:
    """Instructions one session executes under callgrind: deterministic but for hash seeds, so
    the seed is fixed."""
    runner = (valgrind, "--tool=callgrind", f"--callgrind-out-file={root / 'callgrind.out'}")
    extra = () if with_plugin else WITHOUT_ARGS
    env = dict(env) | {"PYTHONHASHSEED": "0"}
    run = run_pytest(suite, env, extra, tests=tests, runner=runner)
    match = _IREFS.search(run.stderr)
    if match is None:
        raise BenchError(f"no instruction count in valgrind's output:\n{run.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def measure_instructions(
    suite: Path, env: Mapping[str, str], root: Path, tests: int, cpu_without: Sequence[float]
) -> None:
    """Everything the plugin adds to a session (import, registration, configure, pluggy's calls
    of its hooks, fixture parsing, ...), as instructions, for 1 test and for the suite: their
    difference splits it into a fixed part and a part per test."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("\ninstruction counts: skipped (valgrind is not installed)")
        return
    one = make_suite(root, ONE, name="one")
    run_pytest(one, env, tests=1)  # fills the bytecode cache of its module
    counts: list[tuple[str, int, int]] = []
    for label, target, n in (("1 test", one, 1), (f"{tests} tests", suite, tests)):
        without = count_instructions(valgrind, target, env, root, n, with_plugin=False)
        with_plugin = count_instructions(valgrind, target, env, root, n, with_plugin=True)
        counts.append((label, without, with_plugin))
    # The session's instructions over its CPU time (timed runs without the plugin) turn
    # instructions into ms on this machine: at the median run's rate, and at the best run's
    # (the least disturbed by other processes).
    rates = {
        "median": counts[-1][1] / statistics.median(cpu_without),
        "best": counts[-1][1] / min(cpu_without),
    }
    print(
        f"\ninstructions executed (valgrind --tool=callgrind, PYTHONHASHSEED=0, bytecode cached; "
        f"deterministic to about 0.1%); ms at the {tests}-test session's instructions per CPU "
        f"second: {rates['median'] / 1e9:.2f} G in the median timed run, "
        f"{rates['best'] / 1e9:.2f} G in the best:"
    )
    print(
        f"{'suite':<10} {'without M':>10} {'with M':>10} {'added M':>8} {'added %':>7} "
        f"{'ms (median rate)':>16} {'ms (best rate)':>14}"
    )
    for label, without, with_plugin in counts:
        added = with_plugin - without
        print(
            f"{label:<10} {without / 1e6:>10.1f} {with_plugin / 1e6:>10.1f} {added / 1e6:>+8.1f} "
            f"{added / without * 100:>+7.2f} {added / rates['median'] * 1000:>+16.1f} "
            f"{added / rates['best'] * 1000:>+14.1f}"
        )
    fixed = counts[0][2] - counts[0][1]
    total = counts[-1][2] - counts[-1][1]
    per_test = (total - fixed) / (tests - 1)
    print(
        f"fixed part (the 1-test difference: import, registration, configure, ...): "
        f"{fixed / 1e6:.1f} M instructions, {fixed / rates['median'] * 1000:.1f} to "
        f"{fixed / rates['best'] * 1000:.1f} ms; per test: {per_test:,.0f} instructions, "
        f"{per_test / rates['median'] * 1e6:.1f} to {per_test / rates['best'] * 1e6:.1f} us"
    )
    print(
        f"target: under {TARGET_MS:.0f} ms added ({tests} tests) -> at the median rate "
        f"{_verdict(total / rates['median'])}, at the best rate {_verdict(total / rates['best'])}"
    )


# --- reporting --------------------------------------------------------------------------------


def print_environment() -> None:
    shell = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
    # .pyc files next to the package's sources would be read even with PYTHONDONTWRITEBYTECODE=1
    # (pytest's own, for the modules it rewrites, included): say whether there are any.
    spec = importlib.util.find_spec("pytest_chatexp")
    package = Path(spec.origin).parent if spec is not None and spec.origin else None
    cached = package is not None and any(package.rglob("*.pyc"))
    print(
        f"Python {platform.python_version()} | {platform.platform()} | {os.cpu_count()} CPUs | "
        f"pytest {version('pytest')} | pluggy {version('pluggy')} | "
        f"shell PYTHONDONTWRITEBYTECODE {shell} | .pyc files next to {package}: "
        f"{'yes' if cached else 'none'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (CI smoke)")
    parser.add_argument(
        "--no-instructions",
        dest="instructions",
        action="store_false",
        help="skip the instruction counts under valgrind (about 2 minutes; never with --quick)",
    )
    args = parser.parse_args(argv)
    args.instructions = args.instructions and not args.quick
    sizes = QUICK if args.quick else FULL
    print_environment()
    print_load("start")
    print(
        f"suite: {sizes.tests} plain tests in {sizes.modules} modules ({sizes.plain_per_module} "
        f"functions + 1 parametrized x {sizes.params_per_module} each), no chatexp tests"
    )
    print(
        f"command: python -m pytest {' '.join(PYTEST_ARGS)} <suite>; without the plugin: "
        f"{' '.join(WITHOUT_ARGS)} added; {sizes.repeats} rounds"
        + (" after one warm-up run each" if sizes.warm_up else " (no warm-up)")
    )
    ok = True
    try:
        with tempfile.TemporaryDirectory(prefix="chatexp-inert-") as tmp:
            root = Path(tmp)
            suite = make_suite(root, sizes)
            settings = bytecode_settings(root, sizes.both_bytecode_settings)
            cached = settings[0]
            sessions = {
                setting.label: measure_pair(
                    suite, setting.env, sizes.repeats, sizes.tests, warm_up=sizes.warm_up
                )
                for setting in settings
            }
            for label, pair in sessions.items():
                print_pair(f"whole sessions, {label}", pair)
            print_pair(
                f"collect only (pytest --co -q), {cached.label}",
                measure_pair(
                    suite,
                    cached.env,
                    sizes.collect_repeats,
                    sizes.tests,
                    extra=("--co",),
                    expect="collected",
                    warm_up=sizes.warm_up,
                ),
            )
            for setting in settings:
                print(f"\nthe plugin's own cost, {setting.label}")
                probes = run_probes(
                    suite, setting.env, root, sizes.probe_repeats, sizes.tests, sizes.warm_up
                )
                print_probes(probes, sizes.tests)
                import_breakdown(
                    setting.env,
                    root,
                    probes.without["modules"],
                    sizes.import_repeats,
                    sizes.warm_up,
                )
                ok = check_modules(probes) and ok
            if args.instructions:
                cpu = [run.cpu_s for run in sessions[cached.label].without]
                measure_instructions(suite, cached.env, root, sizes.tests, cpu)
    except BenchError as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        print_load("end")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
