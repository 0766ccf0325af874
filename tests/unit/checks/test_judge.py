"""Model-graded checks (``judge``, ``similar_to``) through whole pytest sessions.

The grader is the reference server, scripted from here: inline pytester sessions run in this
process, so a rule added to ``server`` answers the inner session's grading calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_chatexp import ModelConfig
from pytest_chatexp._errors import InvalidExperimentError
from pytest_chatexp.checks._judge import (
    JUDGE_SYSTEM_PROMPT,
    SIMILARITY_SYSTEM_PROMPT,
    _read_score,
    _read_verdict,
    judge,
    similar_to,
)
from pytest_chatexp.testing import ReferenceServer
from tests._suite import assert_clean, recording_path

Request = dict[str, Any]

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import assert_samples
from pytest_chatexp.checks._judge import judge, similar_to

SUPPORT = ModelConfig(
    name="support",
    model="ref-model",
    chat_template=[{"role": "system", "content": "You help."}, {"role": "user", "content": "{{question}}"}],
)
GRADER = ModelConfig(name="grader", model="judge-model", temperature=0)

@pytest.mark.chatexp(
    model_configs=[SUPPORT],
    inputs=[{"id": "refund", "question": "refund?"}, {"id": "late", "question": "late?"}],
    num_samples=2,
)
def test_graded(chatexp):
    assert_samples(chatexp, CHECK, min_pass_rate=MIN_PASS_RATE)
"""


def _suite(
    pytester: pytest.Pytester, check: str, *, min_pass_rate: float = 1.0, name: str = "test_suite"
) -> None:
    source = SUITE.replace("CHECK", check).replace("MIN_PASS_RATE", repr(min_pass_rate))
    pytester.makepyfile(**{name: source})


def _grading(system_prompt: str) -> Callable[[Request], bool]:
    """A rule condition recognising grading requests by their system prompt."""

    def is_grading(request: Request) -> bool:
        messages = request.get("messages") or [{}]
        return bool(messages[0].get("content") == system_prompt)

    return is_grading


is_judging = _grading(JUDGE_SYSTEM_PROMPT)
is_scoring = _grading(SIMILARITY_SYSTEM_PROMPT)


def _graded_response(request: Request) -> str:
    """The response under grading, as the grading prompt shows it."""
    user = request["messages"][1]["content"]
    return str(user.split("Response:\n", 1)[1].split("\n\n", 1)[0])


def _grader_requests(server: ReferenceServer) -> list[Request]:
    return [r.json for r in server.requests if r.json and r.json["model"] == "judge-model"]


def _verdict_by_topic(request: Request) -> str:
    """PASS for the refund answers, FAIL (with a reason) for the others."""
    if "refund" in _graded_response(request):
        return "**PASS**\nIt addresses the refund."
    return "FAIL\nThe reply never apologises for the delay."


# --- judge ------------------------------------------------------------------------------------


def test_judge_passes_grading_every_distinct_sample_in_one_experiment(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.add_rule("**PASS**\nThe reply is on topic.", when=is_judging)
    _suite(pytester, 'judge("Stays on topic", grader=GRADER)')
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["total: 2 experiments, 6 *calls*"])
    graded = _grader_requests(server)
    assert len(graded) == 2  # the reference model answers both samples alike: graded once
    first = graded[0]
    assert first["temperature"] == 0
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    user = first["messages"][1]["content"]
    assert user.startswith("Rubric:\nStays on topic\n\nConversation:\nuser: ")
    assert "Response:\n[system: You help.] echo: " in user
    assert "response_format" not in first
    assert {_graded_response(r) for r in graded} == {
        "[system: You help.] echo: refund?",
        "[system: You help.] echo: late?",
    }


def test_a_failing_judge_names_the_case_and_the_graders_reason(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.add_rule(_verdict_by_topic, when=is_judging)
    _suite(pytester, 'judge("Apologises for the delay", grader=GRADER)', min_pass_rate=0.5)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*1 of 2 cases fail [[]judge('Apologises for the delay')] (required: a pass rate of at least 50%)",
            "E*support/late  0/2 passed (0%)",
            "E*sample 0: judge('Apologises for the delay'): judged FAIL: The reply never apologises for the delay.",
            "E*output: '[[]system: You help.] echo: late?'",
            "E*sample 1: judge(*): judged FAIL: The reply never apologises for the delay.",
        ]
    )
    result.stdout.no_fnmatch_line("*support/refund*")


def test_an_unreadable_verdict_fails_the_sample_with_an_excerpt(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.add_rule("I would say it is mostly fine, really.", when=is_judging)
    _suite(pytester, 'judge("Stays on topic", grader=GRADER)')
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*2 of 2 cases fail [[]judge('Stays on topic')] (required: every sample)",
            "E*sample 0: judge('Stays on topic'): the grader's answer could not be read: 'I would say it is mostly fine, really.'",
        ]
    )


def test_judge_shows_tool_calls_and_works_with_chatexp_runner(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    seen: list[str] = []

    def grade(request: Request) -> str:
        seen.append(request["messages"][1]["content"])
        return "PASS - it looks up the order"

    server.add_rule(grade, when=is_judging)
    pytester.makepyfile(
        test_tools="""
        from pytest_chatexp import ModelConfig
        from pytest_chatexp.checks import assert_samples
        from pytest_chatexp.checks._judge import judge

        AGENT = ModelConfig(
            name="agent",
            model="ref-model",
            tools=[{"name": "lookup", "parameters": {"type": "object", "properties": {"order": {"type": "string"}}}}],
            tool_choice="required",
            chat_template=[{"role": "user", "content": "Where is order {{n}}?"}],
        )

        def test_tools(chatexp_runner):
            result = chatexp_runner.run(model_configs=[AGENT], inputs=[{"n": 7}])
            assert_samples(result, judge("Looks the order up", grader=ModelConfig(name="grader", model="judge-model")))
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert len(seen) == 1
    assert "Conversation:\nuser: Where is order 7?\n" in seen[0]
    assert 'Response:\ntool calls:\nlookup({"order":"<order>"})' in seen[0]


def test_judge_outside_a_chatexp_test_says_what_it_needs() -> None:
    check = judge("Polite", grader=ModelConfig(model="m"))
    assert check.prepare is not None
    with pytest.raises(InvalidExperimentError, match=r"judge\(\) needs a running chatexp test"):
        check.prepare([])


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("PASS\nGood.", None),
        ("  **pass**", None),
        ("Passed.", None),
        ("`PASS`: fine", None),
        ("FAIL\nToo long.", "judged FAIL: Too long."),
        ("**FAIL**: rude tone", "judged FAIL: rude tone"),
        ("# fail - off topic\n", "judged FAIL: off topic"),
        ("FAIL\nReason: no apology", "judged FAIL: no apology"),
        ("FAIL", "judged FAIL: (no reason given)"),
        ("PASSABLE", "the grader's answer could not be read: 'PASSABLE'"),
        ("Verdict: PASS", "the grader's answer could not be read: 'Verdict: PASS'"),
        ("", "the grader's answer could not be read: ''"),
    ],
)
def test_verdicts_are_read_robustly(answer: str, reason: str | None) -> None:
    assert _read_verdict(answer) == reason


def test_bad_arguments_fail_early() -> None:
    grader = ModelConfig(model="m")
    with pytest.raises(ValueError, match="non-empty rubric"):
        judge("  ", grader=grader)
    with pytest.raises(ValueError, match=r"min_score must be between 0 and 1, got 1\.5"):
        similar_to("x", grader=grader, min_score=1.5)
    with pytest.raises(TypeError, match=r"judge\(\) needs grader=ModelConfig"):
        judge("x", grader={"model": "m"})  # type: ignore[arg-type]


# --- similar_to -------------------------------------------------------------------------------


def test_similar_to_passes_and_asks_for_json(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.add_rule('{"score": 0.9}', when=is_scoring)
    _suite(pytester, 'similar_to("We can help with that.", grader=GRADER)')
    pytester.runpytest().assert_outcomes(passed=1)
    graded = _grader_requests(server)
    assert len(graded) == 2
    assert graded[0]["response_format"] == {"type": "json_object"}
    assert graded[0]["messages"][1]["content"].startswith(
        "Reference answer:\nWe can help with that.\n\nResponse:\n"
    )


def test_similar_to_fails_under_min_score(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.add_rule(
        lambda request: json.dumps(
            {"score": 0.95 if "refund" in _graded_response(request) else 0.42}
        ),
        when=is_scoring,
    )
    _suite(pytester, 'similar_to("About your refund.", grader=GRADER, min_score=0.8)')
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*1 of 2 cases fail [[]similar_to('About your refund.')] (required: every sample)",
            "E*support/late  0/2 passed (0%)",
            "E*sample 0: similar_to('About your refund.'): similarity 0.42 < 0.8",
        ]
    )


def test_similar_to_with_an_unreadable_score(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.add_rule("Quite similar, I'd say.", when=is_scoring)
    _suite(pytester, 'similar_to("Hello.", grader=GRADER)')
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            """E*sample 0: similar_to('Hello.'): the grader's answer could not be read as {"score": <0..1>}: "Quite similar, I'd say.\"""",
        ]
    )


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ('{"score": 0.42}', 0.42),
        ('{"score": 1}', 1.0),
        ('```json\n{"score": 0.5}\n```', 0.5),
        ('{"score": "0.7"}', 0.7),
        ('{"score": 1.5}', "the grader's score 1.5 is not between 0 and 1: '{\"score\": 1.5}'"),
        (
            '{"score": true}',
            'the grader\'s answer could not be read as {"score": <0..1>}: \'{"score": true}\'',
        ),
        (
            '{"echo": "hi"}',
            'the grader\'s answer could not be read as {"score": <0..1>}: \'{"echo": "hi"}\'',
        ),
        ("[0.9]", "the grader's answer could not be read as {\"score\": <0..1>}: '[0.9]'"),
    ],
)
def test_scores_are_read_strictly(answer: str, score: float | str) -> None:
    assert _read_score(answer) == score


# --- recording and replay ---------------------------------------------------------------------


def _recording(pytester: pytest.Pytester, module: str, test: str) -> Path:
    return recording_path(pytester.path, module, test)


def test_grader_calls_are_recorded_and_replay_with_the_server_gone(
    pytester: pytest.Pytester, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_session.add_rule(_verdict_by_topic, when=is_judging)
    recording_session.add_rule('{"score": 0.9}', when=is_scoring)
    _suite(pytester, 'judge("Apologises for the delay", grader=GRADER)', name="test_judged")
    _suite(pytester, 'similar_to("Some help.", grader=GRADER)', name="test_scored")
    # Each test's line, in any order (a plugin such as pytest-randomly may reorder the tests),
    # then the failure's lines, in order.
    expected = [
        ["*test_judged.py::test_graded FAILED*"],
        ["*test_scored.py::test_graded PASSED*"],
        [
            "E*support/late  0/2 passed (0%)",
            "E*sample 0: judge(*): judged FAIL: The reply never apologises for the delay.",
        ],
    ]
    recorded = pytester.runpytest("--chatexp-record=all", "-v")
    recorded.assert_outcomes(passed=1, failed=1)
    for lines in expected:
        recorded.stdout.fnmatch_lines(lines)
    assert len(_grader_requests(recording_session)) == 4

    data = yaml.safe_load(_recording(pytester, "test_judged", "test_graded").read_text())
    labels = [(i["label"]["config"], i["label"]["input"]) for i in data["interactions"]]
    assert ("judge:grader", "support/late#0") in labels
    assert ("judge:grader", "support/refund#0") in labels
    assert labels.count(("support", "late")) == 2
    assert len(labels) == 6
    scored = yaml.safe_load(_recording(pytester, "test_scored", "test_graded").read_text())
    assert {i["label"]["config"] for i in scored["interactions"]} == {
        "support",
        "similar_to:grader",
    }

    # The provider and the grader are gone: the verdicts replay from the recordings.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    recording_session.clear_rules()
    recording_session.requests.clear()
    replayed = pytester.runpytest("-v")
    replayed.assert_outcomes(passed=1, failed=1)
    for lines in [*expected, ["total: 4 experiments, 12 *calls*12 replayed*"]]:
        replayed.stdout.fnmatch_lines(lines)
    assert not recording_session.requests


def test_a_changed_rubric_misses_the_replay_naming_the_grader(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    recording_session.add_rule("PASS\nFine.", when=is_judging)
    _suite(pytester, 'judge("Stays on topic", grader=GRADER)')
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)

    _suite(pytester, 'judge("Stays on topic and apologises", grader=GRADER)')
    recording_session.requests.clear()
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*chatexp: test_suite.py::test_graded: 2 of 2 calls have no matching recording (record mode 'none'); recording __recordings__/test_suite/test_graded.yaml.",
            # Both cases' grader prompts changed alike: one explanation for both.
            "no recorded response for 2 cases that changed alike: model config 'judge:grader', inputs 'support/refund#0', 'support/late#0'.",
            "Each compared with its closest recording (same label).",
            "Request changes since it was recorded:",
            "*messages[[]1].content changed:",
            "*-Stays on topic",
            "*+Stays on topic and apologises",
            "To record, run: pytest --chatexp-record=new 'test_suite.py::test_graded'",
        ]
    )
    assert_clean(result)
    assert not recording_session.requests


def test_grading_inputs_get_unique_ids(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    recording_session.add_rule("PASS", when=is_judging)
    pytester.makepyfile(
        test_ids="""
        from pytest_chatexp import ModelConfig
        from pytest_chatexp.checks import assert_samples
        from pytest_chatexp.checks._judge import judge

        A = ModelConfig(name="support v1", model="ref-model", chat_template=[{"role": "user", "content": "hi"}])
        B = A.variant(name="support_v1", chat_template=[{"role": "user", "content": "hello"}])

        def test_ids(chatexp_runner):
            result = chatexp_runner.run(model_configs=[A, B], inputs=[{"id": "x"}])
            assert_samples(result, judge("Greets", grader=ModelConfig(name="grader", model="judge-model")))
        """
    )
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    data = yaml.safe_load(_recording(pytester, "test_ids", "test_ids").read_text())
    assert sorted(
        i["label"]["input"] for i in data["interactions"] if i["label"]["config"] == "judge:grader"
    ) == ["support_v1/x#0", "support_v1/x#0~2"]
