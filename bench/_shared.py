"""What the benchmark scripts share: the generated test suites' common parts, whole pytest
sessions measured one by one against a reference server in its own process, and reporting.

The scripts run as ``python bench/<script>.py``, so this folder is on ``sys.path``. Stdlib only:
a script that measures peak RSS must stay small itself.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import os
import platform
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLAIN_HEAD = """\
RESPONSE = {
    "id": "chatcmpl-0",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "echo: hello"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
}
"""

CHATEXP_HEAD = """\
import pytest

from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="bench",
    model="gpt-4o-mini",
    temperature=0.2,
    chat_template=[{"role": "user", "content": "{{question}}"}],
)
"""

FIXTURE_HEAD = """\
import pytest


@pytest.fixture
def config():
    return {}


@pytest.fixture
def answer(request, config):
    return RESPONSE
"""

FIXTURE_TEST = """

@pytest.mark.bench(inputs=[{{"id": "q{i}", "question": "{question}"}}])
def test_q{i}(answer):
    assert answer["choices"][0]["message"]["content"] == "echo: hello"
"""


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def print_load(when: str) -> None:
    """Other processes share the CPUs; the load average says how much to trust the figures."""
    one, five, fifteen = os.getloadavg()
    print(f"load average at {when}: {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min)")


# --- whole pytest sessions against a reference server in its own process ----------------------

# Plugins no benchmark needs, disabled in every session so every row runs the same command line.
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
# Nothing listens on the discard port here: a replay that went live fails, a dead provider is down.
NOWHERE = "http://127.0.0.1:9"
SERVER_START_TIMEOUT_S = 15.0
_URL = re.compile(r"http://127\.0\.0\.1:\d+")
# pytest's last line: "3 passed, 1 error in 0.52s" (-q), possibly between "=" signs.
_SUMMARY = re.compile(r"\b\d+ (passed|failed|errors?|skipped)\b.* in [\d.]+s\b")


class BenchError(Exception):
    """A run did not end as expected, so its figures would mean nothing."""


class ServerProcess:
    """A reference server in its own process (``python -m pytest_chatexp.testing --stats``):
    its CPU is not the client's, and its memory is not in any session's peak."""

    def __init__(self, url: str) -> None:
        self.url = url
        host, port = url.removeprefix("http://").split(":")
        # One kept-alive connection, so reading the stats adds no connection to them.
        self._stats = http.client.HTTPConnection(host, int(port), timeout=30)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """Requests served, peak in flight, connections, server CPU s; ``reset`` zeroes them."""
        self._stats.request("POST" if reset else "GET", "/_stats")
        stats: dict[str, Any] = json.loads(self._stats.getresponse().read())
        return stats

    def close(self) -> None:
        self._stats.close()


@contextmanager
def server_process(latency: float = 0.0) -> Iterator[ServerProcess]:
    """``python -m pytest_chatexp.testing --port 0 --latency L --stats``, stopped on exit."""
    command = [sys.executable, "-m", "pytest_chatexp.testing", "--port", "0"]
    command += ["--latency", str(latency), "--stats"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], SERVER_START_TIMEOUT_S)
        line = process.stdout.readline() if ready else ""
        match = _URL.search(line)
        if match is None:
            raise BenchError(f"no URL in the reference server's first line: {line!r}")
        server = ServerProcess(match.group(0))
        try:
            yield server
        finally:
            server.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Session:
    """One whole pytest process: wall s, CPU s (user + system) and peak RSS, from ``os.wait4``
    of that child alone, and what it printed."""

    wall_s: float
    cpu_s: float
    max_rss_kb: int
    status: int
    output: str

    @property
    def rss_mb(self) -> float:
        return self.max_rss_kb / 1024

    def outcome(self, word: str) -> int:
        """How many tests the summary line counts as ``word`` (passed, failed, error...)."""
        summary = [line for line in self.output.splitlines() if _SUMMARY.search(line)]
        found = re.search(rf"\b(\d+) {word}\b", summary[-1]) if summary else None
        return int(found.group(1)) if found else 0


def session_env(root: Path, openai_base_url: str) -> dict[str, str]:
    """This process's environment without what changes how pytest or Python runs, bytecode
    cached in ``root`` (a warm-up run fills it), and the OpenAI endpoint of the run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH")
        and not key.startswith(("PYTEST_", "COV_CORE_"))
    }
    env.update(
        OPENAI_BASE_URL=openai_base_url,
        OPENAI_API_KEY="unused",
        PYTHONPYCACHEPREFIX=str(root / "pycache"),
    )
    return env


def run_session(
    suite: Path, env: Mapping[str, str], *options: str, timeout: float = 1800.0
) -> Session:
    """``python -m pytest <PYTEST_ARGS> <options> <suite>`` in ``suite``, measured alone.

    The caller must stay small (stdlib only) when peak RSS matters: a child's ``ru_maxrss``
    starts from the RSS of the process it was forked from.
    """
    log = suite.parent / f"{suite.name}.log"
    command = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *options, str(suite)]
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=suite, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    return Session(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_kb=usage.ru_maxrss,
        status=os.waitstatus_to_exitcode(status),
        output=log.read_text(errors="replace"),
    )


def expect(
    session: Session, what: str, *, passed: int = 0, failed: int = 0, errors: int = 0
) -> Session:
    """``session`` unless its outcome differs from the expected counts (then BenchError)."""
    got = (session.outcome("passed"), session.outcome("failed"), session.outcome("errors?"))
    if got != (passed, failed, errors):
        tail = "\n".join(session.output.splitlines()[-15:])
        raise BenchError(
            f"{what}: expected {passed} passed, {failed} failed, {errors} errors; got {got}, "
            f"exit {session.status}:\n{tail}"
        )
    return session


def write_suite(path: Path, files: Mapping[str, str]) -> Path:
    """A suite folder that is its own rootdir (a ``pytest.ini``), with ``files`` in it."""
    path.mkdir(parents=True)
    (path / "pytest.ini").write_text("[pytest]\n")
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "misses"


def environment_line() -> str:
    """Python, OS, CPUs and the packages that matter, without importing them."""
    packages = " | ".join(
        f"{name} {version(name)}" for name in ("pytest", "httpx", "httpcore", "pydantic", "PyYAML")
    )
    return (
        f"Python {platform.python_version()} | {platform.platform()} | {os.cpu_count()} CPUs | "
        f"{packages} | pytest-chatexp {version('pytest-chatexp')}"
    )
