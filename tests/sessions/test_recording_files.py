"""Recording files that are hand-edited, unreadable, unwritable or left half-written by a kill.

Each failure is a message naming the file (and the field, line or call), never a traceback; a
failed write leaves the previous recording intact and no debris; and whatever killed writers left
behind is removed by the next run that writes into the folder, without touching a live writer's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_chatexp._recording import (
    Call,
    CorruptRecordingError,
    Interaction,
    Label,
    RecordedRequest,
    RecordingError,
    RecordingFile,
    update,
)
from pytest_chatexp.testing import ReferenceServer
from tests._suite import assert_clean
from tests.unit.recording.test_store import KILLED_WRITER, run_and_kill

SUITE = """
import pathlib
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c1", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])
QUESTION = pathlib.Path(__file__).with_name("question.txt")

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "a", "q": QUESTION.read_text()}])
def test_x(chatexp):
    assert chatexp.outputs[0]
"""

# For the full-disk test: the inner session may not grow any file past a size, like a disk
# that fills up; the kernel then fails the write with EFBIG instead of killing the process.
FILE_SIZE_LIMIT = """
import os, resource, signal
if os.environ.get("CHATEXP_TEST_FILE_SIZE_LIMIT"):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(os.environ["CHATEXP_TEST_FILE_SIZE_LIMIT"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, server: ReferenceServer) -> Path:
    """A one-call suite, recorded once; returns its recording's path."""
    pytester.makepyfile(test_x=SUITE)
    pytester.path.joinpath("question.txt").write_text("hi")
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    server.requests.clear()
    path = pytester.path / "__recordings__" / "test_x" / "test_x.yaml"
    assert path.is_file()
    return path


def _error(result: pytest.RunResult) -> str:
    assert_clean(result)
    output = result.stdout.str()
    return " ".join(output.split())  # messages wrap across lines in the terminal


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` refuses new entries, also for root, whom permissions do not stop."""
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not available")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


# --- hand edits ------------------------------------------------------------------------------


def test_a_key_given_twice_names_the_file_and_both_lines(
    pytester: pytest.Pytester, suite: Path
) -> None:
    text = suite.read_text()
    answer = "          content: 'echo: hi'\n"
    assert answer in text
    suite.write_text(text.replace(answer, answer + "          content: Ignore the test.\n"))
    line = text[: text.index(answer)].count("\n") + 1
    result = pytester.runpytest("--chatexp-record=none")
    result.assert_outcomes(errors=1)
    assert (
        f"recording {suite} is corrupt: invalid YAML at line {line + 1}, column 11: "
        f"the key 'content' is repeated (first at line {line})"
    ) in _error(result)


@pytest.mark.parametrize("field", ["latency_s", "first_token_s"])
@pytest.mark.parametrize(
    ("value", "shown"), [(".nan", "nan"), (".inf", "inf"), ("-.inf", "-inf"), ("-0.5", "-0.5")]
)
def test_latencies_must_be_finite_and_not_negative(
    tmp_path: Path, field: str, value: str, shown: str
) -> None:
    call = Call(Label("c", "i", 0), RecordedRequest("openai", "e", {"model": "m"}))
    interaction = Interaction.record(call, body={}, latency_s=0.25, first_token_s=0.125)
    path = tmp_path / "r.yaml"
    text = RecordingFile("t", [interaction]).render()
    old = f"{field}: {interaction.response[field]}"
    assert old in text
    path.write_text(text.replace(old, f"{field}: {value}"))
    with pytest.raises(CorruptRecordingError) as info:
        RecordingFile.load(path)
    assert str(info.value) == (
        f"recording {path} is corrupt: interactions[0].response.{field} must be a duration in "
        f"seconds (finite, not negative), not {shown}. "
        "Delete it and re-record with --chatexp-record=all."
    )


def test_a_wrong_shaped_answer_names_the_file_the_field_and_the_call(
    pytester: pytest.Pytester, suite: Path
) -> None:
    suite.write_text(suite.read_text().replace("      choices:", "      choicez:", 1))
    result = pytester.runpytest("--chatexp-record=none")
    result.assert_outcomes(errors=1)
    message = _error(result)
    assert "model config 'c1', input 'a', sample 0: the response is not an OpenAI" in message
    assert (
        "the answer was replayed from recording __recordings__/test_x/test_x.yaml "
        "(its response.body): fix the edit, or re-record with: pytest --chatexp-record=new "
        "'test_x.py::test_x'"
    ) in message


def test_an_unstorable_answer_names_the_call_and_the_field(tmp_path: Path) -> None:
    call = Call(Label("c1", "refund", 2), RecordedRequest("openai", "e", {"model": "m"}))
    answer = {"choices": [{"message": {"content": json.loads('"broken \\ud800"')}}]}
    interaction = Interaction.record(call, body=answer, latency_s=0.1)
    with pytest.raises(RecordingError) as info:
        update(tmp_path / "r.yaml", [interaction], replace_test=False, test="t", known_secrets=[])
    assert str(info.value) == (
        "cannot record model config 'c1', input 'refund', sample 2: "
        "response.body.choices[0].message.content holds '\\ud800', an unpaired surrogate that a "
        "UTF-8 file cannot store"
    )
    assert os.listdir(tmp_path) == []


# --- unreadable and unwritable files -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["none", "all"])
def test_a_folder_at_the_recording_path_is_named(
    pytester: pytest.Pytester, suite: Path, server: ReferenceServer, mode: str
) -> None:
    suite.unlink()
    suite.mkdir()
    result = pytester.runpytest(f"--chatexp-record={mode}")
    result.assert_outcomes(errors=1)
    verb = "read" if mode == "none" else "write"
    assert f"cannot {verb} recording {suite}: Is a directory" in _error(result)
    assert len(server.requests) == 0


def test_an_unreadable_recording_is_named(pytester: pytest.Pytester, suite: Path) -> None:
    suite.chmod(0)
    try:
        if os.access(suite, os.R_OK):
            pytest.skip("running as root: permissions do not stop reading")
        result = pytester.runpytest("--chatexp-record=none")
    finally:
        suite.chmod(0o644)
    result.assert_outcomes(errors=1)
    assert f"cannot read recording {suite}: Permission denied" in _error(result)


def test_a_read_only_recordings_folder_fails_before_any_call(
    pytester: pytest.Pytester, suite: Path, server: ReferenceServer
) -> None:
    before = suite.read_bytes()
    pytester.path.joinpath("question.txt").write_text("a new question")
    with _read_only(suite.parent):
        result = pytester.runpytest("--chatexp-record=all")
    result.assert_outcomes(errors=1)
    message = _error(result)
    assert f"cannot write recording {suite}: " in message
    assert "the previous recording, if any, is unchanged. No call was made." in message
    assert len(server.requests) == 0  # nothing was paid for
    assert suite.read_bytes() == before
    assert os.listdir(suite.parent) == ["test_x.yaml"]


def test_a_read_only_test_folder_fails_before_any_call(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_x=SUITE)
    pytester.path.joinpath("question.txt").write_text("hi")
    with _read_only(pytester.path):
        result = pytester.runpytest("--chatexp-record=once", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    recordings = pytester.path / "__recordings__"
    assert f"cannot write recording {recordings}/test_x/test_x.yaml: " in _error(result)
    assert f"({recordings})" in _error(result)  # the folder that could not be made
    assert len(server.requests) == 0
    assert not recordings.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_a_full_disk_while_recording_keeps_the_previous_recording(
    pytester: pytest.Pytester, suite: Path, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = suite.read_bytes()
    pytester.makeconftest(FILE_SIZE_LIMIT)
    pytester.path.joinpath("question.txt").write_text("word " * 40_000)  # a 400 KB recording
    monkeypatch.setenv("CHATEXP_TEST_FILE_SIZE_LIMIT", str(64 * 1024))
    monkeypatch.setenv("PYTEST_ADDOPTS", "")
    result = pytester.runpytest_subprocess("--chatexp-record=all", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    message = _error(result)
    assert f"cannot write recording {suite}: File too large" in message
    assert "the previous recording, if any, is unchanged" in message
    assert suite.read_bytes() == before
    assert os.listdir(suite.parent) == ["test_x.yaml"]  # no partial temp file, no lock file


# --- what killed writers leave -----------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_the_next_run_removes_what_killed_writers_left(
    pytester: pytest.Pytester, suite: Path
) -> None:
    other = suite.with_name("test_other.yaml")  # a test of the folder that this run does not run
    for seed in range(3):  # real SIGKILLs between writing a temp file and renaming it
        run_and_kill(other, seed, "stall-in-write", ["0", "writing"], delay=0.0)
    # Each writer removed the temp file of the one killed before it; the last one's remains.
    lock, temp = _leftovers(suite.parent)
    assert lock == ".test_other.yaml.lock" and temp.startswith(".test_other.yaml.tmp-")
    assert suite.parent.joinpath(temp).stat().st_size > 100_000
    kept = other.read_bytes()

    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    assert _leftovers(suite.parent) == []
    assert other.read_bytes() == kept  # the killed writer's file: its last complete version


def test_a_live_writers_lock_and_temp_file_are_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "__recordings__" / "test_a"
    busy = folder / "test_busy.yaml"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(busy), "0", "stall-in-write"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    try:
        assert [writer.stdout.readline().strip() for _ in range(2)] == ["0", "writing"]
        live = _leftovers(folder)  # the lock it holds, the temp file it is writing
        assert len(live) == 2
        _write_in_a_new_process(folder / "test_other.yaml")
        assert _leftovers(folder) == live
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
    _write_in_a_new_process(folder / "test_other.yaml")
    assert _leftovers(folder) == []
    assert len(RecordingFile.load(busy)) == 30


def _write_in_a_new_process(path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from pytest_chatexp._recording import update; "
        "update(Path(sys.argv[1]), [], replace_test=True, test='t', known_secrets=[])"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)


def test_pytest_does_not_walk_the_recordings_folder(pytester: pytest.Pytester, suite: Path) -> None:
    """Recordings are YAML, one file per test: pytest skips their folder rather than looking
    at each file (a replayed test paid that at collection). A test module put there is not
    collected; the replay still finds its recording."""
    suite.parent.joinpath("test_trap.py").write_text("def test_trap():\n    assert False\n")
    suite.parent.joinpath("conftest.py").write_text("raise RuntimeError('imported')\n")
    result = pytester.runpytest("--chatexp-record=none")
    result.assert_outcomes(passed=1)
    assert "test_trap" not in result.stdout.str()
