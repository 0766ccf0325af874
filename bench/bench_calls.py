"""Benchmark: the live calls a run makes, or spends time on, beyond what it needs.

Two rows of issue 19's table, each measured side by side in one run, whole pytest process against
whole pytest process (``python -m pytest -q ... <suite>`` in a subprocess):

* fail fast: 128 calls (8 tests x 16 inputs) to a provider that is down (a refused loopback
  port), the default circuit breaker against ``--chatexp-breaker=0``, default retries and
  backoff, calls live (``--chatexp-record=off``): wall time of the whole session (target under
  5 s), the HTTP attempts made (from the run's JSON report) and how many tests' errors name the
  endpoint;
* shared experiment: two tests under one module-level ``pytestmark = pytest.mark.chatexp(...,
  share=True)`` (the same declaration) against one test with it, recorded from scratch
  (``--chatexp-record=all``) against the reference server in its own process, which counts the
  live calls: target equal counts (one experiment, run once). Sharing is opt-in, so the same two
  tests without ``share=True`` are shown too (two experiments: twice the calls).

Run: ``.venv/bin/python bench/bench_calls.py`` (about 1 min), ``--quick`` is CI's smoke run (8
calls, a 10 ms backoff: figures meaningless).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _shared import (
    NOWHERE,
    BenchError,
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

TARGET_FAIL_S = 5.0
TARGET_SHARED = 1.0

DEAD = """\
import pytest

from pytest_chatexp import ModelConfig

DEAD = ModelConfig(
    name="dead",
    model="gpt-4o-mini",
    base_url="{nowhere}/v1",
    chat_template=[{{"role": "user", "content": "{{{{q}}}}"}}],
)


@pytest.mark.parametrize("t", range({tests}))
@pytest.mark.chatexp(model_configs=[DEAD], inputs=[{{"q": f"q{{n}}"}} for n in range({per_test})])
def test_down(chatexp, t):
    assert chatexp.samples
"""

SHARED_HEAD = """\
import pytest

from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="c", model="gpt-4o-mini", chat_template=[{{"role": "user", "content": "{{{{q}}}}"}}]
)

pytestmark = pytest.mark.chatexp(
    model_configs=[CONFIG], inputs=[{{"q": f"question {{n}}"}} for n in range({inputs})],
    share={share},
)
"""

SHARED_TEST = """

def test_{name}(chatexp):
    assert len(chatexp.samples) == {inputs}
"""


def attempts(report: Path) -> int:
    """Live calls plus retries across the JSON report's rows: every HTTP attempt made."""
    data = json.loads(report.read_text())
    return sum(
        row["live"] + row["retries"]
        for test in data["tests"]
        for experiment in test["experiments"]
        for row in experiment["configs"]
    )


def fail_fast(root: Path, tests: int, per_test: int, repeats: int, quick: bool) -> None:
    calls = tests * per_test
    suite = write_suite(
        root / "down",
        {"test_down.py": DEAD.format(nowhere=NOWHERE, tests=tests, per_test=per_test)},
    )
    env = session_env(root, NOWHERE + "/v1")
    # Live calls (record mode "off"): the provider must be asked to find it down.
    backoff = ("--chatexp-record=off", *(("--chatexp-backoff=0.01",) if quick else ()))
    variants = {"breaker on (default)": (), "--chatexp-breaker=0": ("--chatexp-breaker=0",)}
    runs: dict[str, list[tuple[Session, int]]] = {label: [] for label in variants}
    expect(run_session(suite, env, *backoff), "warm-up, provider down", errors=tests)
    for _ in range(repeats):
        for label, options in variants.items():
            report = root / "down.json"
            session = run_session(suite, env, *backoff, *options, f"--chatexp-json={report}")
            expect(session, f"provider down, {label}", errors=tests)
            runs[label].append((session, attempts(report)))
    print(
        f"\n[a provider that is down, {calls} calls ({tests} tests x {per_test} inputs) to "
        f"{NOWHERE}] target < {TARGET_FAIL_S:.0f} s for the whole session, breaker on; "
        f"{'a 10 ms backoff (--quick)' if quick else 'default retries and backoff'}, "
        f"median of {repeats}"
    )
    print(
        f"{'variant':<22} {'wall s':>7} {'CPU s':>6} {'attempts':>8} {'tests naming it':>15} "
        f"{'verdict':<7}"
    )
    medians = {}
    for label, measured in runs.items():
        wall = statistics.median(session.wall_s for session, _ in measured)
        medians[label] = wall
        session, tried = measured[-1]
        # Each test's error, above the short summary (which repeats them when CI=true).
        errors = session.output.split("short test summary info")[0].split(" at setup of ")[1:]
        named = sum(NOWHERE in error for error in errors)
        on = label.startswith("breaker on")
        print(
            f"{label:<22} {wall:>7.2f} "
            f"{statistics.median(s.cpu_s for s, _ in measured):>6.2f} {tried:>8} "
            f"{named:>15} {verdict(wall, TARGET_FAIL_S) if on else '':<7}"
        )
    on, off = medians.values()
    print(f"  breaker on / off: {on / off:.2f}x the wall time")


def shared(root: Path, inputs: int) -> None:
    suites = {}
    shapes = (("one test", ("a",), True), ("two tests", ("a", "b"), True))
    for label, names, share in (*shapes, ("not shared", ("a", "b"), False)):
        text = SHARED_HEAD.format(inputs=inputs, share=share) + "".join(
            SHARED_TEST.format(name=name, inputs=inputs) for name in names
        )
        suites[label] = (write_suite(root / label.replace(" ", "_"), {"test_it.py": text}), names)
    counts: dict[str, tuple[int, int]] = {}
    with server_process(0.0) as server:
        env = session_env(root, server.base_url)
        for label, (suite, names) in suites.items():
            shutil.rmtree(suite / "__recordings__", ignore_errors=True)
            server.stats(reset=True)
            expect(run_session(suite, env, "--chatexp-record=all"), label, passed=len(names))
            files = len(list((suite / "__recordings__").rglob("*.yaml")))
            counts[label] = (server.stats()["requests"], files)
    (one, one_files), (two, two_files), (apart, apart_files) = counts.values()
    if one != inputs:
        raise BenchError(f"one test under the marker made {one} live calls, not {inputs}")
    ratio = two / one
    print(
        f"\n[two tests under one module-level marker ({inputs} inputs) vs one test] target "
        f"{TARGET_SHARED:.1f}x the live calls (one experiment, recorded once), "
        "--chatexp-record=all from scratch"
    )
    print(f"{'suite':<10} {'live calls':>10} {'recording files':>15}")
    print(f"{'one test':<10} {one:>10} {one_files:>15}")
    print(f"{'two tests':<10} {two:>10} {two_files:>15}")
    print(f"{'not shared':<10} {apart:>10} {apart_files:>15}  (the same two, without share=True)")
    print(f"  two tests / one test: {ratio:.2f}x the live calls: {verdict(ratio, TARGET_SHARED)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 calls, a 10 ms backoff (CI)")
    args = parser.parse_args(argv)
    print(environment_line())
    print_load("start")
    try:
        with tempfile.TemporaryDirectory(prefix="chatexp-calls-") as tmp:
            root = Path(tmp)
            if args.quick:
                fail_fast(root, tests=2, per_test=4, repeats=1, quick=True)
            else:
                fail_fast(root, tests=8, per_test=16, repeats=3, quick=False)
            shared(root, inputs=10 if args.quick else 100)
    except BenchError as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        print_load("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
