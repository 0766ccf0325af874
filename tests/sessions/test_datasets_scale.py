"""Datasets at scale, as a user runs them: a deterministic subsample of a test's inputs (declared
or from the command line), CI shards whose reports merge into one unsharded run's, and a
record run killed part-way that the next run resumes, sending only the calls it had not made.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import Input, subsample
from pytest_chatexp._session._sharding import shard_of
from pytest_chatexp.testing import ReferenceServer
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response
from tests._suite import recording_path

ROWS = [
    {"id": f"r{i:02d}", "inputs": {"q": f"question {i}"}, "metadata": {"lang": ["en", "fr"][i % 2]}}
    for i in range(12)
]

SUBSAMPLED = f"""
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="m", chat_template=[{{"role": "user", "content": "{{{{q}}}}"}}])
ROWS = {ROWS!r}

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=ROWS, subsample=4, subsample_seed=1,
                     stratify="lang")
def test_subsampled(chatexp):
    assert len(chatexp.cases) in (4, 12, 3)
"""


def asked(server: ReferenceServer) -> list[str]:
    """The questions the server was asked, in order of the inputs."""
    return sorted(request.json["messages"][-1]["content"] for request in server.requests)


def expected(n: int, seed: int) -> list[str]:
    rows = subsample([Input.model_validate(row) for row in ROWS], n, seed=seed, stratify="lang")
    return sorted(row.inputs["q"] for row in rows)


def test_a_declared_subsample_runs_the_same_rows_everywhere(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_data=SUBSAMPLED)
    pytester.runpytest().assert_outcomes(passed=1)
    assert asked(server) == expected(4, 1)
    # Two of each language: stratified in proportion (6 en, 6 fr).
    assert sorted(int(q.split()[1]) % 2 for q in asked(server)) == [0, 0, 1, 1]
    server.requests.clear()
    pytester.runpytest("-n", "2").assert_outcomes(passed=1)
    assert asked(server) == expected(4, 1)


def test_the_command_line_overrides_the_subsample_for_a_quick_run(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_data=SUBSAMPLED)
    result = pytester.runpytest("--chatexp-subsample=3", "--chatexp-subsample-seed=9")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["chatexp: subsample: each experiment runs at most 3 of its inputs (seed: 9)"]
    )
    assert asked(server) == expected(3, 9)
    # The marker's stratify= still applies: 1.5 and 1.5 round to 2 and 1.
    assert sorted(int(q.split()[1]) % 2 for q in asked(server)) in ([0, 0, 1], [0, 1, 1])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "subsample=0",
            "chatexp: test_bad.py::test_bad: chatexp marker: 'subsample': input should be "
            "greater than or equal to 1 (got 0)",
        ),
        (
            'subsample=3, stratify="topic"',
            "chatexp: test_bad.py::test_bad: stratify='topic': input 'r00' has no field 'topic' "
            "in metadata or inputs (its fields: lang, q)",
        ),
        (
            'stratify="metadata.q"',  # checked even without a subsample: a quick run needs it
            "chatexp: test_bad.py::test_bad: stratify='metadata.q': input 'r00' has no field "
            "'q' in metadata (its fields: lang, q)",
        ),
    ],
)
def test_bad_subsamples_fail_at_collection_naming_the_test_and_field(
    pytester: pytest.Pytester, server: ReferenceServer, marker: str, message: str
) -> None:
    source = SUBSAMPLED.replace(
        'subsample=4, subsample_seed=1,\n                     stratify="lang"', marker
    ).replace("test_subsampled", "test_bad")
    pytester.makepyfile(test_bad=source)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([message.replace("[", "[[]")])
    assert not server.requests


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--chatexp-subsample=0", "--chatexp-subsample must be a whole number of inputs >= 1"),
        ("--chatexp-shard=3/2", "--chatexp-shard must be I/N, * got '3/2'"),
        ("--chatexp-shard=0/2", "--chatexp-shard must be I/N, * got '0/2'"),
        ("--chatexp-shard=two", "--chatexp-shard must be I/N, * got 'two'"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, option: str, message: str) -> None:
    result = pytester.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: chatexp: {message}*"])


def test_a_subsample_keeps_the_other_inputs_recorded_answers(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makepyfile(test_data=SUBSAMPLED.replace("subsample=4, ", ""))
    path = recording_path(pytester.path, "test_data", "test_subsampled")
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    whole = path.read_text()
    assert whole.count("- fingerprint:") == 12
    for mode in ("new", "all"):
        recording_session.requests.clear()
        result = pytester.runpytest(f"--chatexp-record={mode}", "--chatexp-subsample=3")
        result.assert_outcomes(passed=1)
        assert len(recording_session.requests) == (0 if mode == "new" else 3)
        # Neither stale nor dropped: this run could not have used them.
        assert path.read_text().count("- fingerprint:") == 12
        assert "unused" not in result.stdout.str()
    pytester.runpytest("--chatexp-record=none").assert_outcomes(passed=1)


# --- shards -------------------------------------------------------------------------------------

SHARDED = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "a"}, {"q": "b"}], num_samples=2)
@pytest.mark.parametrize("n", range(8))
def test_experiment(chatexp, n):
    assert len(chatexp.samples) == 4

def test_plain():
    pass

def test_plain_too():
    pass
"""


def _tests_of(report: Path) -> list[str]:
    return [test["test"] for test in json.loads(report.read_text())["tests"]]


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    for test in report["tests"]:
        for experiment in test["experiments"]:
            experiment.pop("wall_time_s")
            for row in experiment["configs"]:
                row.pop("latency_p50_s"), row.pop("latency_p95_s")
            for case in experiment["cases"]:
                for sample in case["samples"]:
                    sample.pop("latency_s")
    return report


def test_shards_run_each_test_once_and_their_reports_merge_into_the_whole_run(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SHARDED)
    ids = [f"test_suite.py::test_experiment[{n}]" for n in range(8)]
    shards = {shard: [i for i in ids if shard_of(i, 3) == shard] for shard in (1, 2, 3)}
    assert all(shards.values())  # the ids spread over all three shards
    for shard, mine in shards.items():
        result = pytester.runpytest(f"--chatexp-shard={shard}/3", f"--chatexp-json=s{shard}.json")
        plain = 2 if shard == 1 else 0  # tests without chatexp: in shard 1 only
        result.assert_outcomes(passed=len(mine) + plain, deselected=10 - len(mine) - plain)
        assert _tests_of(pytester.path / f"s{shard}.json") == mine
        result.stdout.fnmatch_lines([f"chatexp: shard {shard}/3: *"])
    # The same shard under xdist: the same tests.
    result = pytester.runpytest("-n", "2", "--chatexp-shard=2/3", "--chatexp-json=x2.json")
    result.assert_outcomes(passed=len(shards[2]))
    assert _tests_of(pytester.path / "x2.json") == shards[2]

    pytester.runpytest("--chatexp-json=whole.json").assert_outcomes(passed=10)
    command = ["merge", "-o", "all.json", "s1.json", "s2.json", "s3.json"]
    merge = subprocess.run(
        [sys.executable, "-m", "pytest_chatexp.report", *command],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merge.returncode == 0, merge.stderr
    merged = json.loads((pytester.path / "all.json").read_text())
    whole = json.loads((pytester.path / "whole.json").read_text())
    assert _stable(merged)["tests"] == _stable(whole)["tests"]
    assert merged["totals"] == whole["totals"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["n0", "n2"])
def test_a_shard_with_nothing_to_run_passes(
    pytester: pytest.Pytester, server: ReferenceServer, workers: list[str]
) -> None:
    pytester.makepyfile(test_suite=SHARDED.replace("range(8)", "range(1)"))
    other = 2 if shard_of("test_suite.py::test_experiment[0]", 2) == 1 else 1
    assert other == 2  # shard 2 of 2 then holds nothing: the plain tests run in shard 1
    result = pytester.runpytest(*workers, f"--chatexp-shard={other}/2", "--chatexp-json=r.json")
    assert result.ret == pytest.ExitCode.OK  # not 5, "no tests ran"
    assert _tests_of(pytester.path / "r.json") == []  # still written, to merge
    assert not server.requests


# --- resuming an interrupted record run ---------------------------------------------------------

RESUMED = """
import os
from pathlib import Path

import pytest
from pytest_chatexp import ModelConfig

Path("pid").write_text(str(os.getpid()))
CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": f"q{i}"} for i in range(12)],
                     concurrency=1)
def test_long(chatexp):
    assert len(chatexp.cases) == 12
"""

CONFTEST = """
import pytest_chatexp._calls._checkpoint as checkpoint

checkpoint.MIN_INTERVAL_S = SECONDS
"""


def _entries(path: Path) -> int:
    try:
        return path.read_text().count("- fingerprint:")
    except FileNotFoundError:
        return 0


@contextmanager
def _killing(
    server: ReferenceServer, folder: Path, *, after: int, how: signal.Signals, recording: Path
) -> Iterator[None]:
    """The server answers ``after`` calls, then kills the test process at the next one: with
    SIGKILL once the recording holds those answers (written while the run goes on)."""
    route = ("POST", "/v1/chat/completions")
    answer = server.routes[route]
    seen = 0

    async def killing(request: RecordedRequest) -> Response:
        nonlocal seen
        seen += 1
        if seen == after + 1:
            if how == signal.SIGKILL:
                deadline = time.monotonic() + 20
                while _entries(recording) < after and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            os.kill(int((folder / "pid").read_text()), how)
            # Not answered, nor logged: the next run's requests are counted from an empty log.
            return json_response({"error": {"message": "the test process was killed"}}, 500)
        return await answer(request)

    server.routes[route] = killing
    try:
        yield
    finally:
        server.routes[route] = answer


@pytest.mark.parametrize(
    ("how", "interval"), [(signal.SIGKILL, "0.0"), (signal.SIGINT, "1000.0")], ids=["kill", "int"]
)
def test_an_interrupted_record_run_is_resumed_making_only_the_missing_calls(
    pytester: pytest.Pytester,
    recording_session: ReferenceServer,
    how: signal.Signals,
    interval: str,
) -> None:
    pytester.makepyfile(test_long=RESUMED)
    pytester.makeconftest(CONFTEST.replace("SECONDS", interval))
    path = recording_path(pytester.path, "test_long", "test_long")
    with _killing(recording_session, pytester.path, after=5, how=how, recording=path):
        killed = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--chatexp-record=new", timeout=60
        )
    assert killed.ret != pytest.ExitCode.OK
    kept = _entries(path)
    # SIGKILL: what checkpoints wrote; SIGINT: the run's own last write, on its way out.
    assert 5 <= kept <= 6
    recording_session.requests.clear()
    pytester.runpytest("--chatexp-record=new").assert_outcomes(passed=1)
    assert len(recording_session.requests) == 12 - kept  # only the missing calls
    resumed = [line for line in path.read_text().splitlines() if "latency_s" not in line]

    path.unlink()
    pytester.runpytest("--chatexp-record=new").assert_outcomes(passed=1)
    whole = [line for line in path.read_text().splitlines() if "latency_s" not in line]
    assert resumed == whole
    assert not list(path.parent.glob(".*"))  # no lock or temporary file left behind
