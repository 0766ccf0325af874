"""A renamed test and its recording: the miss names the recording left behind, and
``--chatexp-adopt`` moves it to the test, so the calls replay instead of going live."""

from __future__ import annotations

import pytest
import yaml

from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite

SUITE = """
import pytest
from pytest_chatexp import ModelConfig

BOT = ModelConfig(name="bot", model="ref-model", chat_template=[{"role": "user", "content": "{{q}}"}])
INPUTS = [{"id": "a", "q": "first question"}, {"id": "b", "q": "second question"}]

@pytest.mark.chatexp(model_configs=[BOT], inputs=INPUTS)
def NAME(chatexp):
    assert len(chatexp.outputs) == 2

@pytest.mark.chatexp(model_configs=[BOT], inputs=[{"id": "c", "q": "other"}])
def test_kept(chatexp):
    assert chatexp.outputs
"""


def write(suite: Suite, name: str, extra: str = "") -> None:
    suite.write(SUITE.replace("NAME", name) + extra, name="test_mod.py")


@pytest.fixture
def renamed(suite: Suite, recording_session: ReferenceServer) -> Suite:
    """A suite recorded with ``test_old``, then ``test_old`` renamed ``test_new``."""
    write(suite, "test_old")
    suite.run("--chatexp-record=once").assert_outcomes(passed=2)
    write(suite, "test_new")
    return suite


def test_a_renamed_test_is_told_which_recording_holds_its_requests(
    renamed: Suite, recording_session: ReferenceServer
) -> None:
    calls = len(recording_session.requests)
    run = renamed.run().assert_outcomes(passed=1, errors=1)
    run.fnmatch(
        "*test_mod.py::test_new: 2 of 2 calls have no matching recording (record mode 'none'); "
        "no recording file yet (__recordings__/test_mod/test_new.yaml).",
        "Recording __recordings__/test_mod/test_old.yaml holds this request, and its test "
        "test_mod.py::test_old no longer exists: if the test was renamed, run with "
        "--chatexp-adopt to move that recording to this one.",
    )
    assert len(recording_session.requests) == calls
    assert renamed.recording("test_mod", "test_old").exists()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_adopt_moves_the_recording_and_the_calls_replay(
    renamed: Suite, recording_session: ReferenceServer, workers: str
) -> None:
    old = yaml.safe_load(renamed.recording("test_mod", "test_old").read_text())
    calls = len(recording_session.requests)
    xdist = ("-p", "xdist", "-n", workers)
    run = renamed.run("--chatexp-adopt", *xdist, report=True).assert_outcomes(passed=2)
    assert len(recording_session.requests) == calls  # replayed, not live
    assert run.report["totals"]["replayed"] == 3
    run.fnmatch(
        "chatexp: adopted recording __recordings__/test_mod/test_old.yaml "
        "(of test_mod.py::test_old, which no longer exists) as "
        "__recordings__/test_mod/test_new.yaml"
    )
    assert not renamed.recording("test_mod", "test_old").exists()
    new = yaml.safe_load(renamed.recording("test_mod", "test_new").read_text())
    assert new["test"] == "test_mod.py::test_new"
    assert new["interactions"] == old["interactions"]
    # Afterwards the suite replays as usual, and no recording is left unused.
    again = renamed.run().assert_outcomes(passed=2)
    again.no_fnmatch("*unused*")
    again.no_fnmatch("*no longer exists*")


def test_the_recording_of_a_test_that_still_exists_is_never_taken(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    # test_copy asks what test_kept asks; test_kept is only deselected, not gone.
    copy = """
@pytest.mark.chatexp(model_configs=[BOT], inputs=[{"id": "c", "q": "other"}])
def test_copy(chatexp):
    assert chatexp.outputs
"""
    write(suite, "test_one")
    suite.run("--chatexp-record=once").assert_outcomes(passed=2)
    write(suite, "test_one", copy)
    run = suite.run("--chatexp-adopt", "-k", "test_copy").assert_outcomes(errors=1)
    run.no_fnmatch("*holds this request*")
    run.no_fnmatch("*adopted*")
    assert suite.recording("test_mod", "test_kept").exists()
    assert not suite.recording("test_mod", "test_copy").exists()
