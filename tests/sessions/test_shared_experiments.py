"""Shared experiments: tests under a module or class marker with ``share=True`` that declare the
same experiment run it once, record it in one file, and each get its result -- in one process
and across xdist workers -- with reports and the plan counting it once."""

from __future__ import annotations

from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite

SHARED = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="ref-model",
                     chat_template=[{"role": "user", "content": "{{q}}"}])

pytestmark = pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "one"}, {"q": "two"}],
                                 num_samples=2, share=True)

def test_outputs(chatexp):
    assert len(chatexp.samples) == 4

def test_cases(chatexp):
    assert [case.input.id for case in chatexp] == ["input-0", "input-1"]
"""

CALLS = 4  # 2 inputs x 2 samples


def test_recorded_once_and_used_by_two_tests(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    run = suite.write(SHARED).run("--chatexp-record=once", report=True)
    run.assert_outcomes(passed=2).assert_clean()
    assert len(recording_session.requests) == CALLS
    assert sorted(run.recordings()) == ["__recordings__/test_x/test_x.shared.yaml"]
    recording = run.recordings()["__recordings__/test_x/test_x.shared.yaml"]
    assert recording["test"] == "test_x.py"
    assert len(recording["interactions"]) == CALLS
    # Each test has the experiment; the totals count it once.
    tests = run.tests()
    for name in ("test_x.py::test_outputs", "test_x.py::test_cases"):
        (experiment,) = tests[name]["experiments"]
        assert experiment["shared"] == "test_x.py"
        assert experiment["configs"][0]["live"] == CALLS
    totals = run.report["totals"]
    assert (totals["experiments"], totals["calls"], totals["live"]) == (1, CALLS, CALLS)
    run.fnmatch(
        "test_x.py::test_cases (shared experiment test_x.py: counted once)",
        "test_x.py::test_outputs (shared experiment test_x.py: counted once)",
        f"total: 1 experiment, {CALLS} calls (0 replayed, {CALLS} live)*",
    )

    # Offline, the shared recording answers both tests.
    recording_session.requests.clear()
    replayed = suite.run("--chatexp-record=none", report=True)
    replayed.assert_outcomes(passed=2).assert_clean()
    assert len(recording_session.requests) == 0
    totals = replayed.report["totals"]
    assert (totals["experiments"], totals["calls"], totals["replayed"]) == (1, CALLS, CALLS)
