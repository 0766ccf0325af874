"""A recording miss told once per distinct change: cases that changed alike share one diff."""

from __future__ import annotations

from pytest_chatexp._calls._misses import MissedCalls
from pytest_chatexp._recording import Label
from pytest_chatexp._recording._diff import Change, Miss

PROMPT = Change("messages[0].content", "text", diff=(" Be brief.", "-Old rule.", "+New rule."))


def missed(*misses: Miss) -> MissedCalls:
    return MissedCalls(
        test="t.py::test_it",
        mode="none",
        recording="__recordings__/t/test_it.yaml",
        recording_exists=True,
        record_command="pytest --chatexp-record=new 't.py::test_it'",
        misses=misses,
        total=len(misses),
    )


def alike(config: str, case: str) -> Miss:
    label = Label(config, case, 0)
    return Miss(label, closest=label, relation="same label", changes=(PROMPT,))


def test_sixteen_cases_with_one_system_prompt_change_show_one_diff() -> None:
    cases = [alike("bot", f"q{number}") for number in range(12)]
    cases += [alike("other", f"q{number}") for number in range(4)]
    text = missed(*cases).render()
    assert text.count("-Old rule.") == 1
    lines = text.splitlines()
    assert lines[1] == (
        "no recorded response for 16 cases that changed alike: model config 'bot', inputs "
        "'q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7' and 8 more."
    )
    assert lines[2] == "Each compared with its closest recording (same label)."
    assert "more case" not in text  # all 16 are told: none left over


def test_cases_that_changed_differently_are_told_apart_and_the_rest_counted() -> None:
    label = Label("bot", "x", 0)
    different = [
        Miss(
            Label("bot", f"d{number}", 0),
            closest=label,
            relation="same config",
            changes=(Change("messages[1].content", "changed", '"x"', f'"d{number}"'),),
        )
        for number in range(4)
    ]
    text = missed(alike("bot", "a"), alike("bot", "b"), *different).render()
    # The shared change once, then two of the four different ones; the other two counted.
    assert text.count("-Old rule.") == 1
    assert "cases that changed alike: model config 'bot', inputs 'a', 'b'." in text
    assert text.count("no recorded response for model config 'bot', input 'd") == 2
    assert "... and 2 more cases" in text
    assert text.endswith("To record, run: pytest --chatexp-record=new 't.py::test_it'")
