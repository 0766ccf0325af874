"""Report files: always written when asked (empty for a shard without chatexp tests), with the
umask's mode, and a failed write is one clear line that leaves the run's verdict to its tests."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import REPORTS, assert_clean, read_reports

CHATEXP = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="echo", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "hi"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "a"}], num_samples=2)
def test_echo(chatexp):
    c.assert_samples(chatexp, c.contains("hi"))
"""

PLAIN = """
def test_plain():
    pass
"""


def _merge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_chatexp.report", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_shard_without_chatexp_tests_writes_empty_reports_that_merge(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest(*REPORTS)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["chatexp: report written to r.json"])
    empty, markdown, page = read_reports(pytester.path)
    assert (empty["tests"], empty["totals"]["tests"], empty["totals"]["calls"]) == ([], 0, 0)
    assert "no chatexp tests ran" in markdown
    assert "0 tests, all passed" in page

    (pytester.path / "test_plain.py").unlink()
    pytester.makepyfile(test_chat=CHATEXP)
    pytester.runpytest("--chatexp-json=chat.json").assert_outcomes(passed=1)
    merged = _merge(pytester.path, "merge", "-o", "all.json", "r.json", "chat.json")
    assert merged.returncode == 0, merged.stderr
    report = json.loads((pytester.path / "all.json").read_text())
    assert [test["test"] for test in report["tests"]] == ["test_chat.py::test_echo"]
    assert report["totals"]["calls"] == 2


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.parametrize("umask", [0o022, 0o027], indirect=True)
def test_reports_are_written_with_the_umask_mode(
    pytester: pytest.Pytester, server: ReferenceServer, umask: int
) -> None:
    pytester.makepyfile(test_chat=CHATEXP)
    pytester.runpytest(*REPORTS, "--junitxml=junit.xml").assert_outcomes(passed=1)
    modes = {
        name: stat.S_IMODE((pytester.path / name).stat().st_mode)
        for name in ("r.json", "r.md", "r.html", "junit.xml")
    }
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)  # as pytest writes JUnit XML
    merged = _merge(pytester.path, "merge", "-o", "all.json", "r.json")
    assert merged.returncode == 0, merged.stderr
    assert stat.S_IMODE((pytester.path / "all.json").stat().st_mode) == 0o666 & ~umask


# Delayed allocation reports a full disk when the data reaches it: at fsync. Every descriptor
# whose file is the Markdown report's temporary file fails so.
FULL_DISK = """
import errno
import os

_fsync = os.fsync

def _full_disk_fsync(fd):
    if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".r.md"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return _fsync(fd)

os.fsync = _full_disk_fsync
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_a_full_disk_fails_one_report_with_one_line_and_the_run_stays_green(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_chat=CHATEXP)
    pytester.makeconftest(FULL_DISK)
    result = pytester.runpytest_subprocess(*REPORTS)
    assert result.ret == 0  # the tests passed: a report that could not be written is no failure
    result.stdout.fnmatch_lines(
        [
            "chatexp: report written to r.json",
            "chatexp: could not write the Markdown report r.md: No space left on device",
            "chatexp: report written to r.html",
        ]
    )
    result.stdout.fnmatch_lines(["total: 1 experiment, 2 calls*"])  # the summary still prints
    assert_clean(result)
    assert sorted(path.name for path in pytester.path.iterdir() if "r." in path.name) == [
        "r.html",
        "r.json",
    ]  # no half-written file, no temporary debris


def test_a_report_path_that_is_a_directory_is_named_in_one_line(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_chat=CHATEXP)
    (pytester.path / "out.json").mkdir()
    result = pytester.runpytest("--chatexp-json=out.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "chatexp: could not write the JSON report out.json: Is a directory",
            "total: 1 experiment, 2 calls*",
        ]
    )
    assert list((pytester.path / "out.json").iterdir()) == []
    assert [path.name for path in pytester.path.iterdir() if ".tmp" in path.name] == []

    merged = _merge(pytester.path, "merge", "-o", "out.json", "out.json")
    assert merged.returncode == 2
    assert merged.stderr.strip().splitlines()[-1] == (
        "error: out.json: not a readable JSON report ([Errno 21] Is a directory: 'out.json')"
    )
    pytester.runpytest("--chatexp-json=one.json").assert_outcomes(passed=1)
    merged = _merge(pytester.path, "merge", "-o", "out.json", "one.json")
    assert (merged.returncode, merged.stderr.strip()) == (
        2,
        "error: cannot write out.json: Is a directory",
    )
