"""Robust judges through whole pytest sessions: votes, confirm_on_fail, several graders with an
agreement bar, calibration against labelled examples; every vote recorded and replayed.

The graders are the reference server, scripted from here (inline sessions run in this process,
and xdist workers reach the same server over HTTP). Calls are counted at the server.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from pytest_chatexp.checks._judge import JUDGE_SYSTEM_PROMPT
from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite, glob, report_cases

Request = dict[str, Any]

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

SUPPORT = ModelConfig(
    name="support",
    model="ref-model",
    chat_template=[{"role": "user", "content": "{{question}}"}],
)
GRADER = ModelConfig(name="grader", model="judge-model", temperature=0.7)
A = ModelConfig(name="a", model="judge-a")
B = ModelConfig(name="b", model="judge-b")
C = ModelConfig(name="c", model="judge-c")

@pytest.mark.chatexp(
    model_configs=[SUPPORT],
    inputs=[{"id": "refund", "question": "refund?"}, {"id": "late", "question": "late?"}],
)
def test_graded(chatexp):
    c.assert_samples(chatexp, CHECK, min_pass_rate=0.5)
"""


def _suite(check: str) -> str:
    return SUITE.replace("CHECK", check)


def is_judging(request: Request) -> bool:
    messages = request.get("messages") or [{}]
    return bool(messages[0].get("content") == JUDGE_SYSTEM_PROMPT)


def _graded(request: Request) -> str:
    """The response under grading, as the grading prompt shows it."""
    return str(request["messages"][1]["content"].split("Response:\n", 1)[1].split("\n\n", 1)[0])


def _grading_calls(server: ReferenceServer) -> list[tuple[str, str]]:
    """(grader model, graded response) of every grading call the server answered."""
    return [
        (r.json["model"], _graded(r.json)) for r in server.requests if r.json and is_judging(r.json)
    ]


def by_topic(request: Request) -> str:
    """PASS for the refund answer, FAIL for the late one."""
    if "refund" in _graded(request):
        return "PASS\nIt mentions the refund."
    return "FAIL\nIt never apologises."


def in_turn(answers: dict[str, list[str]]) -> Callable[[Request], str]:
    """Identical grading requests (a sample's votes) answered in turn, per graded topic. Votes
    go concurrently, so which vote gets which answer varies, but not how many of each."""
    lock = threading.Lock()
    queues = {topic: list(replies) for topic, replies in answers.items()}

    def reply(request: Request) -> str:
        topic = next(t for t in queues if t in _graded(request))
        with lock:
            return queues[topic].pop(0)

    return reply


# --- confirm_on_fail ---------------------------------------------------------------------------


def test_confirm_on_fail_costs_one_call_for_a_pass_and_three_for_a_failure(
    suite: Suite, server: ReferenceServer
) -> None:
    server.add_rule(by_topic, when=is_judging)
    suite.write(_suite('c.judge("Apologises", grader=GRADER, votes=3, confirm_on_fail=True)'))
    run = suite.run(report=True)
    run.assert_outcomes(failed=1)
    calls = _grading_calls(server)
    assert sum("refund" in graded for _, graded in calls) == 1
    assert sum("late" in graded for _, graded in calls) == 3
    run.fnmatch(
        "E*sample 0: judge('Apologises'): judged FAIL by 3 of 3 votes; votes: "
        "grader#0 FAIL: It never apologises.; grader#1 FAIL: It never apologises.; "
        "grader#2 FAIL: It never apologises.",
        # The model's two calls, the first votes (2), the late answer's confirming votes (2).
        "total: 3 experiments, 6 *calls*",
    )
    run.assert_clean()
    # The reports' per-sample detail carries the votes and their reasons.
    failures = {
        case["input"]: [sample["failure"] for sample in case["samples"]]
        for case in report_cases(run.report)
        if case["config"] == "support"
    }
    assert failures["refund"] == [None]
    assert failures["late"] == [
        "judge('Apologises'): judged FAIL by 3 of 3 votes; votes: grader#0 FAIL: It never "
        "apologises.; grader#1 FAIL: It never apologises.; grader#2 FAIL: It never apologises."
    ]


def test_a_confirmed_failure_can_be_outvoted(suite: Suite, server: ReferenceServer) -> None:
    server.add_rule(
        in_turn({"refund": ["PASS"], "late": ["FAIL\nCurt.", "PASS\nFine.", "PASS\nFine."]}),
        when=is_judging,
    )
    suite.write(_suite('c.judge("Apologises", grader=GRADER, votes=3, confirm_on_fail=True)'))
    suite.run().assert_outcomes(passed=1)
    assert len(_grading_calls(server)) == 4


def test_similar_to_votes_on_scores(suite: Suite, server: ReferenceServer) -> None:
    scores = {
        "refund": ['{"score": 0.9}', '{"score": 0.5}', '{"score": 0.95}'],
        "late": ['{"score": 0.1}'] * 3,
    }
    server.add_rule(in_turn(scores), when=lambda r: r.get("response_format") is not None)
    suite.write(_suite('c.similar_to("Your refund.", grader=GRADER, min_score=0.8, votes=3)'))
    run = suite.run(report=True)
    run.assert_outcomes(failed=1)  # refund passes (two of three scores >= 0.8), late fails
    failures = {
        case["input"]: [sample["failure"] for sample in case["samples"]]
        for case in report_cases(run.report)
        if case["config"] == "support"
    }
    vote = "similarity 0.1 < 0.8"
    assert failures == {
        "refund": [None],
        "late": [
            f"similar_to('Your refund.'): judged FAIL by 3 of 3 votes; votes: grader#0 FAIL: "
            f"{vote}; grader#1 FAIL: {vote}; grader#2 FAIL: {vote}"
        ],
    }
    assert len(server.requests) == 2 + 6


# --- several graders, an agreement bar ---------------------------------------------------------


def test_several_graders_must_agree(suite: Suite, server: ReferenceServer) -> None:
    server.add_rule(
        lambda request: "FAIL\nToo curt." if request["model"] == "judge-c" else by_topic(request),
        when=is_judging,
    )
    suite.write(_suite('c.judge("Apologises", graders=[A, B, C], agreement=1.0)'))
    run = suite.run()
    run.assert_outcomes(failed=1)
    # The refund answer: two PASS votes of three, under the bar; the late one: failed by all.
    run.fnmatch(
        glob(
            "E*sample 0: judge('Apologises'): the graders disagree: 2 of 3 votes PASS, "
            "agreement 67% < 100% required; votes: a#0 PASS: It mentions the refund.; "
            "b#0 PASS: It mentions the refund.; c#0 FAIL: Too curt."
        ),
    )
    calls = _grading_calls(server)
    assert (
        sorted(model for model, _ in calls) == ["judge-a"] * 2 + ["judge-b"] * 2 + ["judge-c"] * 2
    )


# --- every vote recorded, and replayed offline ------------------------------------------------


def _vote_lines(lines: list[str]) -> list[str]:
    """The failure lines listing votes, as pytest shows them under each test's traceback."""
    return sorted(line for line in lines if line.startswith("E ") and "votes:" in line)


VOTED = 'c.judge("Apologises", grader=GRADER, votes=3)'
CONFIRMED = 'c.judge("Apologises", graders=[A, B], votes=3, confirm_on_fail=True, agreement=0.6)'


@pytest.mark.parametrize("workers", ["0", "2"])
def test_every_vote_is_recorded_and_replays_with_the_graders_gone(
    suite: Suite,
    recording_session: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
) -> None:
    answers = {
        "refund": ["PASS\nSorry, and refunded.", "FAIL\nNo apology.", "PASS\nApologises."],
        "late": ["FAIL\nCurt.", "PASS\nSays sorry.", "FAIL\nNo apology."],
    }
    recording_session.add_rule(in_turn(answers), when=lambda r: r["model"] == "judge-model")
    recording_session.add_rule(by_topic, when=is_judging)  # graders A and B
    suite.write(_suite(VOTED), name="test_voted.py")
    suite.write(_suite(CONFIRMED), name="test_confirmed.py")
    recorded = suite.run("--chatexp-record=all", "-v")
    recorded.assert_outcomes(failed=2)
    # test_voted: 2 model calls + 2 x 3 votes; test_confirmed: 2 model calls, A's first votes
    # (2), then for the failing late answer A's votes 1-2 and B's votes 0-2 (5).
    assert len(_grading_calls(recording_session)) == 6 + 7
    failures = _vote_lines(recorded.lines)
    assert len(failures) == 2

    voted = recorded.recordings()["__recordings__/test_voted/test_graded.yaml"]
    labels = sorted(
        (i["label"]["input"], i["label"]["sample"])
        for i in voted["interactions"]
        if i["label"]["config"] == "judge:grader"
    )
    assert labels == [
        (f"support/{case}#0", vote) for case in ("late", "refund") for vote in range(3)
    ]
    confirmed = recorded.recordings()["__recordings__/test_confirmed/test_graded.yaml"]
    assert sorted(
        (i["label"]["config"], i["label"]["input"], i["label"]["sample"])
        for i in confirmed["interactions"]
        if i["label"]["config"] != "support"
    ) == [
        *(("judge:a", "support/late#0", vote) for vote in range(3)),
        ("judge:a", "support/refund#0", 0),
        *(("judge:b", "support/late#0", vote) for vote in range(3)),
    ]

    # The graders are gone: every vote replays, the same verdicts and the same reasons.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    recording_session.clear_rules()
    recording_session.requests.clear()
    replayed = suite.run("-p", "xdist", "-n", workers, "--chatexp-record=none")
    replayed.assert_outcomes(failed=2)
    assert _vote_lines(replayed.lines) == failures
    if workers == "0":
        replayed.fnmatch("total: 6 experiments, 17 calls (17 replayed, 0 live)*")
    assert not recording_session.requests
    replayed.assert_clean()


# --- calibration -------------------------------------------------------------------------------

CALIBRATED = """
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

SUPPORT = ModelConfig(name="support", model="ref-model", chat_template=[{"role": "user", "content": "hi"}])
GRADER = ModelConfig(name="grader", model="judge-model")
APOLOGISES = c.judge("Apologises for the delay", grader=GRADER)
LABELLED = [
    ("Sorry for the delay: your refund is on its way.", True),
    ("Refund issued.", False),
    c.Labelled("We apologise; the refund was sent.", passes=True, conversation="user: late refund?"),
    ("No.", "FAIL"),
]

def test_calibrated(chatexp_runner):
    calibration = c.calibrate(APOLOGISES, LABELLED, min_agreement=BAR)
    assert calibration.agreement == 0.75
    result = chatexp_runner.run(model_configs=[SUPPORT], inputs=[{"id": "x"}])
    c.assert_samples(result, APOLOGISES)
"""


def test_a_judge_under_its_calibration_bar_fails_fast_naming_the_disagreements(
    suite: Suite, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A grader that passes anything mentioning a refund: wrong on 'Refund issued.'.
    recording_session.add_rule(
        lambda r: "PASS\nIt mentions the refund." if "efund" in _graded(r) else "FAIL\nNo.",
        when=is_judging,
    )
    suite.write(CALIBRATED.replace("BAR", "0.9"))
    expected = [
        "E*AssertionError: judge('Apologises for the delay') is not calibrated: it agrees with "
        "3 of 4 labelled examples (75%), below the required 90%. It disagrees on:",
        "E*example 2 'Refund issued.': labelled FAIL, judged PASS: It mentions the refund.",
    ]
    recorded = suite.run("--chatexp-record=all")
    recorded.assert_outcomes(failed=1)
    recorded.fnmatch(*expected).no_fnmatch("*example 1 *").no_fnmatch("*example 3 *")
    # Failed fast: the four examples were graded, the model under test never called.
    assert len(_grading_calls(recording_session)) == 4
    assert len(recording_session.requests) == 4
    recording = recorded.recordings()["__recordings__/test_x/test_calibrated.yaml"]
    assert sorted(i["label"]["input"] for i in recording["interactions"]) == [
        f"calibration#{number}" for number in range(1, 5)
    ]
    shown = [r.json["messages"][1]["content"] for r in recording_session.requests if r.json]
    assert any("Conversation:\nuser: late refund?\n" in text for text in shown)
    assert any("Conversation:\n(not given)\n" in text for text in shown)

    # The calibration replays offline, with the same verdict.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    recording_session.clear_rules()
    recording_session.requests.clear()
    replayed = suite.run("--chatexp-record=none")
    replayed.assert_outcomes(failed=1)
    replayed.fnmatch(*expected).assert_clean()
    assert not recording_session.requests


def test_a_judge_meeting_its_calibration_bar_goes_on_to_judge(
    suite: Suite, server: ReferenceServer
) -> None:
    server.add_rule(
        lambda r: "PASS\nIt mentions the refund." if "efund" in _graded(r) else "FAIL\nNo.",
        when=is_judging,
    )
    server.add_rule("Sorry for the delay, here is your refund.")
    suite.write(CALIBRATED.replace("BAR", "0.75"))
    suite.run().assert_outcomes(passed=1)
    assert len(_grading_calls(server)) == 5  # four examples, then the sample


# --- bad input ---------------------------------------------------------------------------------

BAD = """
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

GRADER = ModelConfig(name="grader", model="judge-model")
CHECK = MAKE

def test_it(chatexp_runner):
    CALL
"""


@pytest.mark.parametrize(
    ("make", "call", "line"),
    [
        (
            'c.judge("Polite", grader=GRADER, votes=0)',
            "pass",
            "E*ValueError: judge(): votes must be at least 1, got 0",
        ),
        (
            'c.judge("Polite", grader=GRADER, votes=2)',
            "pass",
            "E*ValueError: judge(): votes=2 make 2 votes, which can tie 50/50 under the majority "
            "rule: use an odd number of votes, or agreement= above 0.5",
        ),
        (
            'c.similar_to("Hi", graders=[])',
            "pass",
            "E*ValueError: similar_to(): graders must be a non-empty list of ModelConfig, got []",
        ),
        (
            'c.judge("Polite", grader=GRADER, agreement=1.5)',
            "pass",
            "E*ValueError: judge(): agreement must be a share of the votes in (0, 1], got 1.5",
        ),
        (
            'c.judge("Polite", grader=GRADER)',
            "c.calibrate(CHECK, [])",
            "E*ValueError: calibrate(): the calibration set is empty: give it labelled examples, "
            "Labelled(output, passes) or (output, verdict) pairs",
        ),
        (
            'c.judge("Polite", grader=GRADER)',
            'c.calibrate(CHECK, [("Hi", True)], min_agreement=0)',
            "E*ValueError: calibrate(): min_agreement must be in (0, 1], got 0",
        ),
        (
            'c.judge("Polite", grader=GRADER)',
            'c.calibrate(CHECK, [("Hi", True), ("Bye", "maybe")])',
            "E*ValueError: calibrate(): example 2: the expected verdict must be True/False or "
            "'PASS'/'FAIL', got 'maybe'",
        ),
    ],
)
def test_bad_judges_and_calibration_sets_are_named_clearly(
    suite: Suite, server: ReferenceServer, make: str, call: str, line: str
) -> None:
    suite.write(BAD.replace("MAKE", make).replace("CALL", call))
    run = suite.run()
    assert run.ret != 0
    run.fnmatch(glob(line)).assert_clean()
    assert not server.requests


# --- votes are spent like any call: counted, priced, held to the budget -------------------------


def test_votes_are_priced_and_held_to_the_session_budget(
    suite: Suite, server: ReferenceServer
) -> None:
    server.add_rule(by_topic, when=is_judging)
    capped = 'GRADER.variant(name="grader", max_tokens=30)'
    suite.write(_suite(f'c.judge("Apologises", grader={capped}, votes=3, confirm_on_fail=True)'))
    suite.write(
        "[pytest]\nchatexp_prices =\n    judge-model 1000 1000\n    ref-model 1000 1000\n",
        name="pytest.ini",
    )
    # Every token priced, the votes' too: $1000 per million tokens is $0.001 a token.
    spent = suite.run().assert_outcomes(failed=1)
    total = re.search(r"total: 3 experiments, 6 calls .*?, ([\d,]+) tokens, \$([\d.]+)", spent.text)
    assert total, spent.text
    tokens = int(total.group(1).replace(",", ""))
    assert float(total.group(2)) == pytest.approx(tokens / 1000, abs=1e-4)
    assert tokens > 400  # four grading prompts of ~100 tokens: the votes were counted

    # Each vote reserves its estimate (~199 tokens) before it goes out: with 223 tokens spent
    # and one confirming vote reserved, the other would pass 600 and is never sent.
    server.requests.clear()
    capped_run = suite.run("--chatexp-max-tokens=600").assert_outcomes(failed=1)
    capped_run.fnmatch(
        "*the session's token budget would be exceeded: model config 'judge:grader', input "
        "'support/late#0', sample * needs ~* tokens (* spent and * reserved of "
        "--chatexp-max-tokens 600; no further live calls are made)",
        "chatexp budget: 600 tokens; spent * tokens on 5 calls",
    )
    assert len(_grading_calls(server)) == 3
