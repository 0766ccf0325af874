"""Recording and replay through whole pytest sessions: the CI gate on prompt changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pytest_chatexp.testing import ReferenceServer
from tests._suite import assert_clean, recording_path

SUPPORT = '''
import pytest
from pytest_chatexp import ModelConfig

SYSTEM = """You are a support agent for {{company}}.
Answer in one short paragraph.
Never promise refunds."""

CONFIG = ModelConfig(
    name="support-v2",
    model="ref-model",
    temperature=TEMPERATURE,
    chat_template=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "{{question}}"}],
)

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=INPUTS, num_samples=2)
def test_support(chatexp):
    for case in chatexp:
        for sample in case.samples:
            assert case.input.inputs["question"] in sample.output

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"company": "Acme", "question": "hours?"}])
def test_other(chatexp):
    assert chatexp.outputs[0].endswith("hours?")
'''

INPUTS = '[{"id": "refund", "company": "Acme", "question": "refund?"}, {"id": "late", "company": "Acme", "question": "late?"}]'


def _write_suite(
    pytester: pytest.Pytester,
    *,
    temperature: float = 0.2,
    inputs: str = INPUTS,
    system: str | None = None,
) -> None:
    source = SUPPORT.replace("TEMPERATURE", repr(temperature)).replace("INPUTS", inputs)
    if system is not None:
        source = source.replace("Answer in one short paragraph.", system)
    pytester.makepyfile(test_support=source)


def _recording(pytester: pytest.Pytester, name: str) -> Path:
    return recording_path(pytester.path, "test_support", name)


def test_record_then_replay_with_the_server_gone(
    pytester: pytest.Pytester, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_suite(pytester)
    recorded = pytester.runpytest("--chatexp-record=once")
    recorded.assert_outcomes(passed=2)
    assert len(recording_session.requests) == 5
    data = yaml.safe_load(_recording(pytester, "test_support").read_text())
    assert data["test"] == "test_support.py::test_support"
    assert [(i["label"]["input"], i["label"]["sample"]) for i in data["interactions"]] == [
        ("late", 0),
        ("late", 1),
        ("refund", 0),
        ("refund", 1),
    ]

    # The provider is gone: replay must not need it.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    recording_session.requests.clear()
    replayed = pytester.runpytest()
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(
        [
            "*chatexp experiments (record mode: none)*",
            "total: 2 experiments, 5 calls (5 replayed, 0 live)*",
        ]
    )
    assert not recording_session.requests


def test_a_changed_prompt_fails_with_a_field_level_diff(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _write_suite(pytester)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=2)
    _write_suite(pytester, system="Answer in two short paragraphs.", temperature=0.7)
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    output = result.stdout.str()
    assert (
        "4 of 4 calls have no matching recording (record mode 'none'); recording __recordings__/test_support/test_support.yaml."
        in output
    )
    assert "messages[0].content changed:" in output
    assert "-Answer in one short paragraph." in output
    assert "+Answer in two short paragraphs." in output
    assert "temperature: 0.2 -> 0.7" in output
    assert "To record, run: pytest --chatexp-record=new 'test_support.py::test_support'" in output
    assert_clean(result)


def test_a_new_input_is_named(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _write_suite(pytester)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=2)
    _write_suite(
        pytester, inputs=INPUTS[:-1] + ', {"id": "lost", "company": "Acme", "question": "lost?"}]'
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*2 of 6 calls have no matching recording*", "*input 'lost' is new*"]
    )


def test_new_mode_rerecords_only_what_changed(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _write_suite(pytester)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=2)
    other_before = _recording(pytester, "test_other").read_bytes()
    support_before = yaml.safe_load(_recording(pytester, "test_support").read_text())

    # Change one input's question: only its two samples are new calls.
    _write_suite(pytester, inputs=INPUTS.replace("late?", "delayed?"))
    recording_session.requests.clear()
    result = pytester.runpytest("--chatexp-record=new")
    result.assert_outcomes(passed=2)
    assert len(recording_session.requests) == 2
    assert {r.json["messages"][-1]["content"] for r in recording_session.requests if r.json} == {
        "delayed?"
    }
    assert _recording(pytester, "test_other").read_bytes() == other_before  # untouched
    support_after = yaml.safe_load(_recording(pytester, "test_support").read_text())
    assert len(support_after["interactions"]) == 4  # the stale 'late?' answers were dropped
    kept = {i["fingerprint"] for i in support_after["interactions"]} & {
        i["fingerprint"] for i in support_before["interactions"]
    }
    assert len(kept) == 2  # the 'refund' answers, replayed, not re-recorded

    # And now everything replays.
    pytester.runpytest().assert_outcomes(passed=2)


def test_rerecording_an_unchanged_experiment_changes_nothing(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _write_suite(pytester)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=2)
    before = _recording(pytester, "test_support").read_bytes()
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=2)
    after = _recording(pytester, "test_support").read_bytes()
    # The reference server answers deterministically, so only latencies may move.
    strip = lambda text: [line for line in text.decode().splitlines() if "latency_s" not in line]  # noqa: E731
    assert strip(before) == strip(after)


def test_off_mode_neither_reads_nor_writes(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _write_suite(pytester)
    pytester.runpytest("--chatexp-record=off").assert_outcomes(passed=2)
    assert not (pytester.path / "__recordings__").exists()
    assert len(recording_session.requests) == 5


def test_once_mode_records_only_tests_without_a_recording(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _write_suite(pytester)
    pytester.runpytest("--chatexp-record=once").assert_outcomes(passed=2)
    _write_suite(pytester, temperature=0.9)
    recording_session.requests.clear()
    result = pytester.runpytest("--chatexp-record=once")
    result.assert_outcomes(errors=2)
    assert not recording_session.requests


def test_record_mode_from_the_ini_file(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makeini("[pytest]\nchatexp_record = new\n")
    _write_suite(pytester)
    pytester.runpytest().assert_outcomes(passed=2)
    assert _recording(pytester, "test_support").exists()


def test_unused_recordings_are_reported_and_pruned(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _write_suite(pytester)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=2)
    # An input goes away, and a recording of a deleted test lies around.
    _write_suite(pytester, inputs=INPUTS.split("}, ")[0] + "}]")
    ghost = _recording(pytester, "test_deleted")
    ghost.write_text(_recording(pytester, "test_other").read_text())
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "chatexp: 2 unused recording entries in __recordings__/test_support/test_support.yaml",
            "chatexp: unused recording file __recordings__/test_support/test_deleted.yaml (its test no longer exists)",
            "chatexp: run with --chatexp-prune to delete unused recordings",
        ]
    )
    # Selecting one test by id is not a full run: nothing is judged unused then.
    partial = pytester.runpytest("test_support.py::test_other")
    partial.stdout.no_fnmatch_line("*unused recording file*")

    pruned = pytester.runpytest("--chatexp-prune")
    pruned.assert_outcomes(passed=2)
    pruned.stdout.fnmatch_lines(
        [
            "chatexp: 2 deleted recording entries in *",
            "chatexp: deleted recording file *test_deleted.yaml*",
        ]
    )
    assert not ghost.exists()
    assert (
        len(yaml.safe_load(_recording(pytester, "test_support").read_text())["interactions"]) == 2
    )
    clean = pytester.runpytest()
    clean.assert_outcomes(passed=2)
    clean.stdout.no_fnmatch_line("chatexp:*unused*")


def test_a_corrupt_recording_names_the_file(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _write_suite(pytester)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=2)
    _recording(pytester, "test_other").write_text("version: 1\ninteractions: [unclosed\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["chatexp: test_support.py::test_other: *__recordings__/test_support/test_other.yaml*"]
    )
    assert_clean(result)


def test_a_canary_key_never_reaches_a_file(
    pytester: pytest.Pytester, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "sk-canary-" + "9f8e7d6c5b4a" * 3
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    _write_suite(pytester)
    result = pytester.runpytest(
        "--chatexp-record=all", "--junitxml=report.xml", "-v", "--log-level=DEBUG"
    )
    result.assert_outcomes(passed=2)
    # The key was sent on every call, and the files it must stay out of were written.
    assert len(recording_session.requests) == 5
    assert all(
        r.headers.get("authorization") == f"Bearer {canary}" for r in recording_session.requests
    )
    assert _recording(pytester, "test_support").is_file()
    assert _recording(pytester, "test_other").is_file()
    assert (pytester.path / "report.xml").is_file()
    for path in pytester.path.rglob("*"):
        if path.is_file():
            assert canary not in path.read_text(errors="replace"), path
    assert canary not in result.stdout.str() + result.stderr.str()


def test_a_secret_in_an_answer_refuses_the_write(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    leaked = "sk-proj-" + "A1b2C3d4E5f6G7h8" * 2
    _write_suite(pytester)
    recording_session.add_rule(f"your key is {leaked}")
    result = pytester.runpytest("--chatexp-record=all", "-k", "test_other")
    result.assert_outcomes(errors=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_support.py::test_other: refusing to write recording *test_other.yaml: it would contain a secret.",
            "  line *content: sk-p… (OpenAI API key)",
            "Nothing was written.*",
        ]
    )
    assert leaked not in result.stdout.str()
    assert not _recording(pytester, "test_other").exists()


def test_xdist_workers_record_200_cases_without_losing_one(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        test_many="""
        import pytest
        from pytest_chatexp import ModelConfig

        CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{n}}"}])

        @pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"n": n} for n in range(200)], split="inputs")
        def test_case(chatexp):
            assert len(chatexp.samples) == 1
        """
    )
    result = pytester.runpytest_subprocess(
        "-n", "4", "--chatexp-record=all", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=200)
    files = sorted((pytester.path / "__recordings__" / "test_many").glob("*.yaml"))
    assert len(files) == 200
    for path in files:
        assert len(yaml.safe_load(path.read_text())["interactions"]) == 1
    assert not list((pytester.path / "__recordings__").rglob("*.tmp*"))
    replay = pytester.runpytest_subprocess("-n", "4", "-p", "no:cacheprovider")
    replay.assert_outcomes(passed=200)
    replay.stdout.fnmatch_lines(["total: 200 experiments, 200 calls (200 replayed, 0 live)*"])


def test_sigkill_while_recording_leaves_every_file_valid(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    recording_session.latency = 0.02
    pytester.makepyfile(
        test_slow="""
        import pytest
        from pytest_chatexp import ModelConfig

        CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{n}} " + "x" * 2000}])

        @pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"n": n} for n in range(400)], split="inputs", num_samples=3)
        def test_case(chatexp):
            pass
        """
    )
    env = {**os.environ, "PYTEST_ADDOPTS": ""}
    folder = pytester.path / "__recordings__" / "test_slow"
    for attempt in range(3):
        before = len(list(folder.glob("*.yaml"))) if folder.exists() else 0
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "--chatexp-record=all",
                "-p",
                "no:cacheprovider",
                "-q",
            ],
            cwd=pytester.path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill it while it records: once it has written something, at a different moment each time.
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and len(list(folder.glob("*.yaml")) if folder.exists() else []) <= before
        ):
            time.sleep(0.02)
        time.sleep(0.05 + attempt * 0.13)
        process.send_signal(signal.SIGKILL)
        process.wait()
    files = list((pytester.path / "__recordings__" / "test_slow").glob("*.yaml"))
    assert files, "the runs were killed before recording anything"
    for path in files:
        data = yaml.safe_load(path.read_text())
        assert data["version"] == 1 and len(data["interactions"]) == 3
    # And the plugin itself accepts them all.
    from pytest_chatexp._recording import RecordingFile

    for path in files:
        assert len(RecordingFile.load(path)) == 3


def test_rerecording_what_changed_keeps_other_snapshots(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    """`--chatexp-record=new` selects nothing away, so syrupy never sees a snapshot as unused."""
    source = """
    import pytest
    from pytest_chatexp import ModelConfig

    def config(system):
        return ModelConfig(name="c", model="m", chat_template=[{"role": "system", "content": system}, {"role": "user", "content": "{{q}}"}])

    @pytest.mark.chatexp(model_configs=[config("SYSTEM_A")], inputs=[{"q": "one"}])
    def test_a(chatexp, snapshot):
        assert chatexp.outputs == snapshot

    @pytest.mark.chatexp(model_configs=[config("steady")], inputs=[{"q": "two"}])
    def test_b(chatexp, snapshot):
        assert chatexp.outputs == snapshot
    """
    pytester.makepyfile(test_snap=source.replace("SYSTEM_A", "first"))
    pytester.runpytest("--chatexp-record=all", "--snapshot-update").assert_outcomes(passed=2)
    pytester.makepyfile(test_snap=source.replace("SYSTEM_A", "second"))
    recording_session.requests.clear()
    result = pytester.runpytest("--chatexp-record=new")
    result.assert_outcomes(passed=1, failed=1)  # test_a's output changed: the snapshot shows it
    assert len(recording_session.requests) == 1
    result.stdout.fnmatch_lines(["*[[]system: second[]] echo: one*"])
    result.stdout.no_fnmatch_line("*snapshot*unused*")
    updated = pytester.runpytest("--snapshot-update")
    updated.assert_outcomes(passed=2)
    updated.stdout.no_fnmatch_line("*deleted*")
    pytester.runpytest().assert_outcomes(passed=2)
