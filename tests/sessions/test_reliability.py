"""Load, parallelism and interruption: the same results with -n 4 as with -n 0, bounded memory
at 2,000 calls, and Ctrl-C that stops promptly without damaging a recording."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest
import yaml

from pytest_chatexp.testing import ReferenceServer

MANY = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "case {{n}}"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": f"n{n}", "n": n} for n in range(200)], split="inputs")
def test_case(chatexp):
    assert chatexp.outputs == [f"echo: case {chatexp.inputs[0].inputs['n']}"]
"""


@pytest.fixture
def live(recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> ReferenceServer:
    """Not an xdist worker either: the inner sessions start workers of their own."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return recording_session


def test_200_cases_give_the_same_results_with_4_workers_as_with_none(
    pytester: pytest.Pytester, live: ReferenceServer
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_many=MANY)
    args = ("-p", "no:cacheprovider", "--chatexp-record=all")
    serial = pytester.runpytest_subprocess("-n", "0", *args, "--chatexp-json=serial.json")
    serial.assert_outcomes(passed=200)
    folder = pytester.path / "__recordings__" / "test_many"
    serial_recordings = {path.name: path.read_text() for path in folder.glob("*.yaml")}

    parallel = pytester.runpytest_subprocess("-n", "4", *args, "--chatexp-json=parallel.json")
    parallel.assert_outcomes(passed=200)
    parallel_recordings = {path.name: path.read_text() for path in folder.glob("*.yaml")}
    assert len(parallel_recordings) == 200
    strip = lambda text: [line for line in text.splitlines() if "latency_s" not in line]  # noqa: E731
    assert {k: strip(v) for k, v in parallel_recordings.items()} == {
        k: strip(v) for k, v in serial_recordings.items()
    }

    serial_report = json.loads((pytester.path / "serial.json").read_text())
    parallel_report = json.loads((pytester.path / "parallel.json").read_text())
    assert len(parallel_report["tests"]) == 200
    assert [t["test"] for t in parallel_report["tests"]] == [
        t["test"] for t in serial_report["tests"]
    ]
    assert parallel_report["totals"] == serial_report["totals"]
    for result in (serial, parallel):
        result.stdout.fnmatch_lines(
            ["total: 200 experiments, 200 calls (0 replayed, 200 live), * tokens, $0.0*"]
        )


def test_2000_calls_at_high_concurrency_in_bounded_memory(
    pytester: pytest.Pytester, live: ReferenceServer
) -> None:
    pytester.makepyfile(
        test_big="""
        import pytest
        from pytest_chatexp import ModelConfig

        CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{n}}"}])

        @pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"n": n} for n in range(1000)], num_samples=2)
        def test_big(chatexp):
            assert len(chatexp.samples) == 2000
            assert chatexp.samples[-1].output == "echo: 999"
        """
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--chatexp-record=off", "--chatexp-concurrency=64"
    )
    result.assert_outcomes(passed=1)
    peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(f"peak RSS of a 2,000-call run: {peak_mb:.0f} MB")
    assert len(live.requests) >= 2000
    assert peak_mb < 600, f"peak RSS {peak_mb:.0f} MB"


def test_ctrl_c_stops_promptly_and_leaves_recordings_intact(
    pytester: pytest.Pytester, live: ReferenceServer
) -> None:
    # 300 tests of two 0.2 s calls each: a run that ignored Ctrl-C would go on for a minute, so
    # a 20 s bound tells a prompt stop apart from it even on a loaded machine.
    live.latency = 0.2
    pytester.makepyfile(
        test_slow="""
        import pytest
        from pytest_chatexp import ModelConfig

        CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{n}}"}])

        @pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"n": n} for n in range(300)], split="inputs", num_samples=2)
        def test_case(chatexp):
            pass
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--chatexp-record=all", "-q"],
        cwd=pytester.path,
        env={**os.environ, "OPENAI_BASE_URL": live.base_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    folder = pytester.path / "__recordings__" / "test_slow"
    try:
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and len(list(folder.glob("*.yaml")) if folder.exists() else []) < 5
        ):
            time.sleep(0.02)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        # A run that did not stop must not outlive this test and its server (it would fail
        # whichever test comes next).
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert time.monotonic() - interrupted < 20
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output.decode()[-2000:]
    assert b"KeyboardInterrupt" in output
    files = list(folder.glob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        assert len(yaml.safe_load(path.read_text())["interactions"]) == 2
    assert not list(folder.glob(".*"))  # no temp or lock file left behind


def test_concurrency_halves_on_429_and_recovers() -> None:
    """AIMD per endpoint: a rate-limited run slows down instead of failing, then speeds up."""
    import asyncio

    from pytest_chatexp._calls._retry import Endpoint

    async def scenario() -> list[int]:
        endpoint = Endpoint(16)
        seen = [int(endpoint.limit)]
        for _ in range(3):
            endpoint.throttled(endpoint.window)  # each from a later window
            seen.append(int(endpoint.limit))
        for _ in range(40):
            endpoint.succeeded()
        seen.append(int(endpoint.limit))
        for _ in range(400):
            endpoint.succeeded()
        seen.append(int(endpoint.limit))
        # At the lowered limit, a third caller waits until one of two finishes.
        endpoint.limit = 2.0
        order: list[str] = []

        async def user(name: str, hold: float) -> None:
            async with endpoint:
                order.append(f"{name}+")
                await asyncio.sleep(hold)
                order.append(f"{name}-")

        await asyncio.gather(user("a", 0.05), user("b", 0.1), user("c", 0.0))
        seen.append(order.index("c+") > order.index("a-"))
        return seen

    limits = asyncio.run(scenario())
    assert limits[:4] == [16, 8, 4, 2]
    assert 2 < limits[4] < 16  # recovering additively
    assert limits[5] == 16  # back to the session's limit, never above
    assert limits[6] is True


@pytest.mark.parametrize(
    "ini, args",
    [
        pytest.param("", ["--chatexp-deadline=0.5"], id="option"),
        pytest.param("[pytest]\nchatexp_deadline = 0.5\n", [], id="ini"),
    ],
)
def test_the_experiment_deadline_stops_a_slow_experiment(
    pytester: pytest.Pytester, live: ReferenceServer, ini: str, args: list[str]
) -> None:
    live.latency = 0.4
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(
        test_slow="""
        import pytest
        from pytest_chatexp import ModelConfig

        CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{n}}"}])

        @pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"n": n} for n in range(6)], concurrency=1)
        def test_slow(chatexp):
            pass
        """
    )
    result = pytester.runpytest("--chatexp-record=off", *args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_slow.py::test_slow: the experiment did not finish within 0.5 s (--chatexp-deadline); 6 calls were planned*"
        ]
    )
    assert len(live.requests) < 6  # stopped: the remaining calls were never made
