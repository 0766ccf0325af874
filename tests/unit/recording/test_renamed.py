"""The recordings left behind by renamed tests: a folder is read once however many of its
module's tests have none, and an adopted recording is no longer offered to another test."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_chatexp._recording import (
    Call,
    Interaction,
    Label,
    RecordedRequest,
    RecordingFile,
    _renamed,
)
from pytest_chatexp._recording._renamed import Orphans


def call(question: str) -> Call:
    body = {"messages": [{"role": "user", "content": question}]}
    return Call(Label("c", question, 0), RecordedRequest("openai", "e", body))


def recording(folder: Path, test: str, *questions: str) -> Path:
    path = folder / f"{test.split('::')[1]}.yaml"
    interactions = [Interaction.record(call(q), body={"q": q}, latency_s=0.1) for q in questions]
    RecordingFile(test, interactions).save(path, known_secrets=[])
    return path


def test_a_folder_is_read_once_for_all_the_tests_that_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = recording(tmp_path, "t.py::test_old", "a", "b")
    recording(tmp_path, "t.py::test_kept", "k")
    reads: list[Path] = []
    load = RecordingFile.load
    monkeypatch.setattr(
        _renamed.RecordingFile, "load", lambda path: reads.append(path) or load(path)
    )
    orphans = Orphans()
    defined = {"t.py::test_kept"}.__contains__
    new = tmp_path / "test_new.yaml"
    for question in ("a", "b", "x") * 50:  # 150 lookups by the module's tests with no file
        found = orphans.holding(
            tmp_path / f"test_{question}.yaml", call(question).fingerprint, defined
        )
        assert (found is not None and found.path == old) == (question != "x")
    assert sorted(reads) == sorted(tmp_path.glob("*.yaml"))  # each file once
    orphan = orphans.holding(new, call("a").fingerprint, defined)
    assert orphan is not None
    adopted = orphans.adopt(orphan, new, "t.py::test_new", [])
    assert adopted.test == "t.py::test_new" and len(adopted) == 2
    assert not old.exists() and load(new).test == "t.py::test_new"
    # Taken over: no other test is offered it, and the folder is not read again.
    assert orphans.holding(tmp_path / "test_other.yaml", call("b").fingerprint, defined) is None
    assert len(reads) == 2
