"""The shared harness (tests/_suite.py) reads a run as the tests rely on: outcomes, lines, the
JSON report, recordings, and a traceback caught by assert_clean."""

from __future__ import annotations

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite, glob

EXPERIMENT = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"id": "a", "q": "hi"}, {"id": "b", "q": "ho"}])
def test_it(chatexp):
    assert chatexp.outputs
"""


def test_a_run_reads_outcomes_lines_the_report_and_recordings(
    suite: Suite, recording_session: ReferenceServer
) -> None:
    run = suite.write(EXPERIMENT).run("--chatexp-record=all", report=True)
    run.assert_outcomes(passed=1).assert_clean().fnmatch("*1 passed*")
    assert run.outcomes() == {"passed": 1}
    assert run.ret == 0 and run.seconds > 0
    assert list(run.tests()) == ["test_x.py::test_it"]
    assert [case["input"] for case in run.cases()] == ["a", "b"]
    assert list(run.recordings()) == ["__recordings__/test_x/test_it.yaml"]
    assert suite.recording("test_x", "test_it").is_file()
    assert len(recording_session.requests) == 2


def test_assert_clean_catches_a_traceback_and_a_report_not_asked_for(suite: Suite) -> None:
    run = suite.write("def test_boom():\n    raise RuntimeError('boom')\n").run("--tb=native")
    run.assert_outcomes(failed=1).fnmatch("Traceback (most recent call last):")
    with pytest.raises(AssertionError):
        run.assert_clean()
    with pytest.raises(AssertionError, match="report=True"):
        run.report  # noqa: B018  (reading it is the test)


def test_glob_keeps_brackets_literal() -> None:
    assert glob("messages[0].content: *") == "messages[[]0].content: *"
