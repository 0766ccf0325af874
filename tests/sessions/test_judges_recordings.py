"""Recordings made before judges voted still replay: votes=1 with one grader plans exactly the
grading experiment of before (same requests, same sample index), so nothing is re-recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._suite import Suite

# --- recordings made before votes existed ------------------------------------------------------

BEFORE_VOTES = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import assert_samples, judge, similar_to

SUPPORT = ModelConfig(name="support", model="ref-model", chat_template=[{"role": "user", "content": "{{q}}"}])
GRADER = ModelConfig(name="grader", model="judge-model")

@pytest.mark.chatexp(model_configs=[SUPPORT], inputs=[{"id": "a", "q": "PASS please"}, {"id": "b", "q": "hello"}], num_samples=2)
def test_old(chatexp):
    assert_samples(chatexp, judge("Says PASS", grader=GRADER), similar_to("x", grader=GRADER), min_pass_rate=0.0)
"""


def test_a_recording_made_before_votes_still_replays(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recorded by the plugin before this change (one grader, one vote: the default), against
    # the reference server; replayed now with no server at all.
    recorded = (Path(__file__).parents[1] / "data/judges/recorded_before_votes.yaml").read_bytes()
    suite.write(
        BEFORE_VOTES,
        name="test_old.py",
        **{"__recordings__/test_old/test_old.yaml": recorded},
    )
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    run = suite.run("--chatexp-record=none").assert_outcomes(passed=1)
    run.fnmatch("total: 3 experiments, 8 calls (8 replayed, 0 live)*").assert_clean()
    assert suite.recording("test_old", "test_old").read_bytes() == recorded
