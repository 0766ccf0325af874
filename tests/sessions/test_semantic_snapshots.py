"""Semantic snapshots: approved answers per case, a new answer passing when it means the same.

The model and the grader are the reference server, scripted from here (inline pytester sessions
run in this process). Each scenario records, then replays offline under ``-n 2`` with the
server answering nothing the tests asked for: the grader's verdicts come from the recording.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_chatexp.checks._judge import SIMILARITY_SYSTEM_PROMPT
from pytest_chatexp.testing import ReferenceServer
from tests._suite import assert_clean

Request = dict[str, Any]

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import similar_to

SUPPORT = ModelConfig(
    name="support", model="ref-model", chat_template=[{"role": "user", "content": "{{question}}"}]
)
GRADER = ModelConfig(name="grader", model="judge-model", temperature=0)

@pytest.mark.chatexp(
    model_configs=[SUPPORT],
    inputs=[INPUTS],
    num_samples=2,
)
def test_support(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot.semantic(SEMANTIC)
"""
BOTH = '{"id": "refund", "question": "refund?"}, {"id": "hours", "question": "hours?"}'
EQUIVALENT = "lambda approved: similar_to(approved, grader=GRADER, min_score=0.8)"


@pytest.fixture(autouse=True)
def not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner sessions are whole runs, even when this suite runs under xdist: syrupy reads these
    variables as "I am a worker" and leaves the snapshot summary to a controller there is not."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


def _suite(pytester: pytest.Pytester, semantic: str = EQUIVALENT, inputs: str = BOTH) -> None:
    source = SUITE.replace("INPUTS", inputs).replace("SEMANTIC", semantic)
    pytester.makepyfile(test_semantic=source)


def _approved(pytester: pytest.Pytester) -> Path:
    return pytester.path / "__snapshots__" / "test_semantic" / "test_support[approved].yaml"


def _approved_answers(pytester: pytest.Pytester) -> dict[str, list[str]]:
    data = yaml.safe_load(_approved(pytester).read_text())
    return {case["input"]: case["approved"] for case in data["cases"]}


def _graded_response(request: Request) -> str:
    return str(request["messages"][1]["content"].split("Response:\n", 1)[1])


def _is_scoring(request: Request) -> bool:
    return bool((request.get("messages") or [{}])[0].get("content") == SIMILARITY_SYSTEM_PROMPT)


def _answers(server: ReferenceServer, refund: str, hours: str = "We open at 9.") -> None:
    """The model answers each question so; the grader scores a refusal as a changed meaning."""
    server.clear_rules()

    def score(request: Request) -> str:
        return json.dumps({"score": 0.1 if "never" in _graded_response(request) else 0.9})

    def model(question: str) -> Callable[[Request], bool]:
        return lambda request: request["model"] == "ref-model" and question in json.dumps(request)

    server.add_rule(score, when=_is_scoring)
    server.add_rule(refund, when=model("refund?"))
    server.add_rule(hours, when=model("hours?"))


def _offline(server: ReferenceServer) -> None:
    """Nothing scripted any more: a call reaching the server would get an echo, not an answer."""
    server.clear_rules()
    server.requests.clear()


def _grader_calls(server: ReferenceServer) -> int:
    return sum(1 for r in server.requests if r.json and r.json["model"] == "judge-model")


def test_a_reworded_answer_passes_and_a_changed_meaning_fails_offline_under_xdist(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    server = recording_session
    _suite(pytester)
    _answers(server, "Your refund is on its way.")
    result = pytester.runpytest("--chatexp-record=all", "--snapshot-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 snapshot generated*"])
    assert _grader_calls(server) == 0  # new cases: nothing to compare with
    approved = _approved(pytester).read_text()
    assert approved.startswith("# pytest-chatexp approved answers (format 1)\n")
    assert "cases:\n- config: support\n  input: refund\n  approved:\n" in approved
    assert _approved_answers(pytester) == {
        "refund": ["Your refund is on its way."],
        "hours": ["We open at 9."],
    }

    # Reworded: the grader finds it equivalent; the file does not change.
    _answers(server, "Your refund has been sent.")
    server.requests.clear()
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    assert _grader_calls(server) == 1  # both samples answered alike: graded once
    assert _approved(pytester).read_text() == approved

    _offline(server)
    result = pytester.runpytest("--chatexp-record=none", "-n", "2")
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 0  # the model's answers and the grader's verdict replayed

    # A changed meaning: not equivalent, shown against the closest approved answer.
    _answers(server, "We never give refunds.")
    failure = [
        "*2 samples not equivalent to an approved answer (2 equal to one, 0 equivalent)*",
        "*@@ model config 'support', input 'refund', sample 0 @@*",
        "*not equivalent to approved answer 1: similar_to('Your refund is on its way.'):"
        " similarity 0.1 < 0.8*",
        "*closest approved answer (1 of 1), then this answer:*",
        "*- Your refund is on its way.*",
        "*+ We never give refunds.*",
        "*@@ model config 'support', input 'refund', sample 1 @@*",
        "*Run pytest with --snapshot-update to approve them (added as approved variants).*",
    ]
    result = pytester.runpytest("--chatexp-record=all")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(failure)
    assert _approved(pytester).read_text() == approved

    _offline(server)
    result = pytester.runpytest("--chatexp-record=none", "-n", "2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(failure)
    assert len(server.requests) == 0
    assert_clean(result)

    # Approving it adds a variant; then it passes as an exact match, without the grader.
    result = pytester.runpytest("--chatexp-record=none", "-n", "2", "--snapshot-update")
    result.assert_outcomes(passed=1)  # (syrupy < 5 prints no snapshot summary under xdist)
    assert _approved_answers(pytester) == {
        "refund": ["Your refund is on its way.", "We never give refunds."],
        "hours": ["We open at 9."],
    }
    pytester.runpytest("--chatexp-record=none", "-n", "2").assert_outcomes(passed=1)
    assert len(server.requests) == 0


def test_replace_approves_this_runs_answers_and_update_drops_removed_cases(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    server = recording_session
    _suite(pytester, semantic="replace=True")  # no equivalence: only equal answers pass
    _answers(server, "Your refund is on its way.")
    pytester.runpytest("--chatexp-record=all", "--snapshot-update").assert_outcomes(passed=1)

    _suite(pytester, semantic="replace=True", inputs='{"id": "refund", "question": "refund?"}')
    _answers(server, "Refunds take a week.")
    result = pytester.runpytest("--chatexp-record=all")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*@@ model config 'support', input 'refund', sample 0 @@*",
            "*not equal to an approved answer (no equivalence check given)*",
            "*- Your refund is on its way.*",
            "*+ Refunds take a week.*",
            "*@@ model config 'support', input 'hours' (removed: no longer in the experiment) @@*",
            "*Run pytest with --snapshot-update to approve them (replaced by this run's answers).*",
        ]
    )
    assert_clean(result)

    _offline(server)
    result = pytester.runpytest("--chatexp-record=none", "-n", "2", "--snapshot-update")
    result.assert_outcomes(passed=1)
    assert _approved_answers(pytester) == {"refund": ["Refunds take a week."]}
    pytester.runpytest("--chatexp-record=none", "-n", "2").assert_outcomes(passed=1)
    assert len(server.requests) == 0

    if int(version("syrupy").split(".")[0]) < 7:
        return  # syrupy < 7 looks for unused snapshots only in test files that asserted one
    # A test that no longer asserts its approved answers leaves them unused, as syrupy says.
    pytester.makepyfile(test_semantic="def test_support():\n    pass\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*1 snapshot unused*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    pytester.runpytest("--snapshot-update").stdout.fnmatch_lines(["*1 unused snapshot deleted*"])
    assert not _approved(pytester).exists()


BAD_INPUT = """
import pytest
from pytest_chatexp import ModelConfig

SUPPORT = ModelConfig(
    name="support", model="ref-model", chat_template=[{"role": "user", "content": "refund?"}]
)
pytestmark = pytest.mark.chatexp(model_configs=[SUPPORT], inputs=[{"id": "refund"}])

def test_not_an_experiment(chatexp, chatexp_snapshot):
    assert "hello" == chatexp_snapshot.semantic()

def test_not_a_check(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot.semantic(lambda approved: "similar")

def test_not_callable(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot.semantic("similar_to")

def test_broken_file(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot.semantic()
"""


def test_bad_input_gets_a_clear_error(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(test_bad=BAD_INPUT)
    folder = pytester.path / "__snapshots__" / "test_bad"
    folder.mkdir(parents=True)
    case = "cases:\n- config: support\n  input: refund\n  approved:\n"
    (folder / "test_not_a_check[approved].yaml").write_text(case + "  - Something else.\n")
    (folder / "test_broken_file[approved].yaml").write_text(case + "  - 42\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines_random(
        [
            "*chatexp_snapshot.semantic: compares experiment results (the 'chatexp' fixture),"
            " not str",
            "*chatexp_snapshot.semantic: equivalent('Something else.') returned str, not a check:"
            " it must build one from the approved answer, e.g."
            " lambda approved: similar_to(approved, grader=GRADER)",
            "*chatexp_snapshot.semantic: equivalent= must be a function from an approved answer"
            " to a check, e.g. * got str",
            "*chatexp_snapshot.semantic: */test_broken_file[[]approved].yaml:"
            " cases[[]0].approved[[]0]: expected text, got int",
        ]
    )
    assert_clean(result)
