"""How votes make a verdict, and the arguments ``judge``, ``similar_to`` and ``calibrate``
refuse (the sessions in tests/sessions/test_judges.py drive them through pytest)."""

from __future__ import annotations

import pytest

from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c
from pytest_chatexp.checks._judge import _read_vote
from pytest_chatexp.checks._votes import Reading, Vote, tally

GRADER = ModelConfig(name="g", model="m")
OTHER = ModelConfig(name="o", model="m2")


def _votes(*verdicts: bool) -> list[Vote]:
    return [
        Vote("g", i, passed, "fine" if passed else "rude", None if passed else "judged FAIL: rude")
        for i, passed in enumerate(verdicts)
    ]


def test_a_lone_vote_speaks_as_a_grader_did_before_votes() -> None:
    assert tally(_votes(True), agreement=None) is None
    assert tally(_votes(False), agreement=None) == "judged FAIL: rude"


def test_the_majority_decides_and_every_vote_is_listed() -> None:
    assert tally(_votes(True, False, True), agreement=None) is None
    assert tally(_votes(False, True, False), agreement=None) == (
        "judged FAIL by 2 of 3 votes; votes: g#0 FAIL: rude; g#1 PASS: fine; g#2 FAIL: rude"
    )


def test_an_agreement_bar_fails_a_split_majority_and_a_tie() -> None:
    assert tally(_votes(True, True, False), agreement=0.6) is None
    assert tally(_votes(True, True, False), agreement=0.8) == (
        "the graders disagree: 2 of 3 votes PASS, agreement 67% < 80% required; votes: "
        "g#0 PASS: fine; g#1 PASS: fine; g#2 FAIL: rude"
    )
    assert tally(_votes(True, False), agreement=0.75) is not None  # a tie never passes
    assert tally(_votes(True, True, True, False), agreement=0.75) is None


def test_a_pass_keeps_the_graders_reason() -> None:
    assert _read_vote("**PASS**\nIt apologises.") == Reading(True, "It apologises.", None)
    assert _read_vote("FAIL: curt") == Reading(False, "curt", "judged FAIL: curt")


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: c.judge("x", grader=GRADER, votes=0), r"judge\(\): votes must be at least 1"),
        (lambda: c.judge("x", grader=GRADER, votes=True), r"votes must be a whole number"),
        (
            lambda: c.judge("x", grader=GRADER, votes=4),
            r"judge\(\): votes=4 make 4 votes, which can tie 50/50 under the majority rule",
        ),
        (
            lambda: c.judge("x", graders=[GRADER, OTHER]),
            r"judge\(\): 2 graders x votes=1 make 2 votes, which can tie",
        ),
        (
            lambda: c.judge("x", grader=GRADER, votes=4, agreement=0.5),
            r"can tie 50/50",
        ),
        (lambda: c.judge("x", grader=GRADER, agreement=0), r"agreement must be .* in \(0, 1\]"),
        (lambda: c.judge("x", grader=GRADER, agreement=True), r"agreement must be"),
        (
            lambda: c.judge("x", grader=GRADER, confirm_on_fail=True),
            r"confirm_on_fail needs more than one vote",
        ),
        (lambda: c.judge("x", graders=[]), r"judge\(\): graders must be a non-empty list"),
        (lambda: c.judge("x"), r"judge\(\) needs exactly one of grader=.* or graders="),
        (
            lambda: c.judge("x", grader=GRADER, graders=[GRADER]),
            r"needs exactly one of grader=",
        ),
        (
            lambda: c.similar_to("x", graders=[GRADER, GRADER, GRADER]),
            r"similar_to\(\): two graders are named 'g'",
        ),
        (
            lambda: c.judge("x", graders=[GRADER, GRADER.variant(name="h"), OTHER]),
            r"judge\(\): graders 'g' and 'h' would send identical grading requests; to ask one "
            r"grader several times, pass votes=",
        ),
    ],
)
def test_bad_panels_are_refused_naming_the_argument(make: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make()  # type: ignore[operator]


def test_an_even_number_of_votes_is_fine_with_an_agreement_bar_over_one_half() -> None:
    check = c.judge("x", grader=GRADER, votes=4, agreement=0.75)
    assert check.name == "judge('x')"


def test_calibrate_takes_only_graded_checks() -> None:
    with pytest.raises(
        TypeError, match=r"calibrate\(\) needs a check made by judge\(\).*got contains\('x'\)"
    ):
        c.calibrate(c.contains("x"), [("x", True)])


@pytest.mark.parametrize(
    ("examples", "error"),
    [
        ([], r"the calibration set is empty"),
        ("PASS", r"needs the calibration set as a list"),
        ([("a", True), ("b",)], r"example 2: expected Labelled\(...\) or \(output, verdict\)"),
        ([(3, True)], r"example 1: the output must be text, got int"),
        ([("a", 1)], r"example 1: the expected verdict must be True/False or 'PASS'/'FAIL', got 1"),
    ],
)
def test_bad_calibration_sets_are_refused_naming_the_example(examples: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        c.calibrate(c.judge("x", grader=GRADER), examples)  # type: ignore[arg-type]


def test_calibrate_needs_a_running_test() -> None:
    from pytest_chatexp._errors import InvalidExperimentError

    with pytest.raises(InvalidExperimentError, match=r"calibrate\(\) needs a running chatexp"):
        c.calibrate(c.judge("x", grader=GRADER), [("a", True)])
