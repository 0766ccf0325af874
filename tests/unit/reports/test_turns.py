"""A sample's turns in the snapshot and the JSON report: what a tool loop or a conversation
shows, and that a single call shows as it always did."""

from __future__ import annotations

import json
from typing import Any

from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._reports._entries import ToolCallEntry, ToolResultEntry, TurnEntry, read_run
from pytest_chatexp._reports._snapshot import render_experiment
from pytest_chatexp._reports._turns import shows_turns, turn_views
from tests.unit.reports._turn_samples import (
    PROMPT,
    call,
    conversation,
    experiment,
    result,
    run_report,
    single,
    turn,
    user,
)

LOOKUP = call("lookup_order", '{"order_id": "7",  "verbose": true}')
REFUND = call("issue_refund", '{"order_id":"7"}')


def tool_loop(*, latency_s: float = 0.25, index: int = 0) -> Any:
    return conversation(
        [
            turn(
                calls=[LOOKUP],
                results=[result(LOOKUP, '{"status": "delivered"}')],
                latency_s=latency_s,
            ),
            turn(
                "Refunding now.",
                [REFUND],
                [result(REFUND, "Error: RuntimeError: payments down\nretry later", error=True)],
                latency_s=latency_s,
            ),
            turn("I could not refund order 7.\nPlease try again tomorrow.", latency_s=latency_s),
        ],
        index=index,
    )


def simulated() -> Any:
    """A simulated user opens, the model answers, the user writes again and then stops."""
    return conversation(
        [
            turn("Where is my order?", speaker="user"),
            user("Where is my order?"),
            turn("Which order?"),
            turn("Order 7.", speaker="user"),
            user("Order 7."),
            turn("It is on its way."),
            turn("Thanks GOAL_COMPLETE", speaker="user"),
        ],
        prompt=PROMPT[:1],
    )


def scripted() -> Any:
    """Scripted user turns: the first closes the prompt, the next follow the answers."""
    return conversation(
        [turn("Hello."), user("second"), turn("Again."), user("third"), turn("Bye.")],
        prompt=(*PROMPT, user("first")),
    )


# -- the turns shown ----------------------------------------------------------------------------


def test_only_loops_and_conversations_show_turns() -> None:
    assert not shows_turns(single())
    # A tool call nobody runs ends the sample with it: one call, shown as before.
    assert not shows_turns(conversation([turn(calls=[LOOKUP])]))
    # max_turns=1 with a tool run: one call, but a tool result to show.
    assert shows_turns(conversation([turn(calls=[LOOKUP], results=[result(LOOKUP, "x")])]))
    assert shows_turns(tool_loop()) and shows_turns(simulated()) and shows_turns(scripted())


def test_each_turn_answers_the_user_messages_no_turn_wrote() -> None:
    views = turn_views(tool_loop())
    assert [(view.number, view.user, view.final) for view in views] == [
        (1, ("help",), False),  # the prompt's closing user message
        (2, (), False),  # after tool results: no user message
        (3, (), True),
    ]
    # The prompt ends with two user messages (the template's, then the input's): both.
    two = conversation([turn("ok")], prompt=(*PROMPT, user("and this")))
    assert turn_views(two)[0].user == ("help", "and this")
    assert [view.user for view in turn_views(scripted())] == [
        ("help", "first"),
        ("second",),
        ("third",),
    ]


def test_a_simulated_users_messages_are_its_own_turns() -> None:
    views = turn_views(simulated())
    assert [(view.turn.speaker, view.user, view.final) for view in views] == [
        ("user", (), False),
        ("assistant", (), False),  # "Where is my order?" is turn 1's
        ("user", (), False),
        ("assistant", (), True),  # the model's last answer, though the user spoke after it
        ("user", (), False),
    ]


def test_a_few_shot_answer_in_the_prompt_does_not_move_the_user_messages() -> None:
    answer = turn("Sure.")
    few_shot = (PROMPT[0], user("q"), ChatMessage(role="assistant", content="Sure."), user("help"))
    views = turn_views(conversation([answer, user("more"), turn("Done.")], prompt=few_shot))
    assert [view.user for view in views] == [("help",), ("more",)]


# -- the snapshot -------------------------------------------------------------------------------


def test_a_tool_loop_in_the_snapshot() -> None:
    text = render_experiment(experiment(tool_loop()))
    sample = text[text.index("#### sample 0") :]
    assert sample == (
        "#### sample 0: finish_reason stop, 30 prompt + 12 generation tokens, 3 turns\n"
        "user:\n"
        "  help\n"
        "turn 1, assistant:\n"
        '  tool call: lookup_order {"order_id":"7","verbose":true}\n'
        "  tool result: lookup_order\n"
        '    {"status": "delivered"}\n'
        "turn 2, assistant:\n"
        "  Refunding now.\n"
        '  tool call: issue_refund {"order_id":"7"}\n'
        "  tool result (error): issue_refund\n"
        "    Error: RuntimeError: payments down\n"
        "    retry later\n"
        "turn 3, assistant (final answer):\n"
        "  I could not refund order 7.\n"
        "  Please try again tomorrow.\n"
    )


def test_the_snapshot_of_turns_holds_no_timing_or_id() -> None:
    slow, fast = tool_loop(latency_s=9.5), tool_loop(latency_s=0.01)
    assert render_experiment(experiment(slow)) == render_experiment(experiment(fast))
    text = render_experiment(experiment(slow))
    assert "call_" not in text and "9.5" not in text and "latency" not in text


def test_a_conversation_in_the_snapshot() -> None:
    text = render_experiment(experiment(simulated()))
    assert text.endswith(
        "5 turns\n"
        "turn 1, simulated user:\n"
        "  Where is my order?\n"
        "turn 2, assistant:\n"
        "  Which order?\n"
        "turn 3, simulated user:\n"
        "  Order 7.\n"
        "turn 4, assistant (final answer):\n"
        "  It is on its way.\n"
        "turn 5, simulated user:\n"
        "  Thanks GOAL_COMPLETE\n"
    )
    assert "user:\n  first\n" in render_experiment(experiment(scripted()))


def test_odd_tool_calls_and_results_in_the_snapshot() -> None:
    broken, empty = call("search", '{"q": "unclosed'), call("ping", None)
    sample = conversation(
        [
            turn(
                calls=[broken, empty],
                results=[result(broken, "Error: bad", error=True), result(empty, "")],
            ),
            turn(""),
        ],
        finish_reason="max_turns",
    )
    text = render_experiment(experiment(sample))
    assert "finish_reason max_turns" in text
    assert 'tool call: search "{\\"q\\": \\"unclosed" (not valid JSON)\n' in text
    # Each call is followed by its result; an empty result and an empty answer say so.
    assert "  tool call: ping {}\n  tool result: ping\n    (empty)\n" in text
    assert text.endswith("turn 2, assistant (final answer):\n  (empty)\n")


def test_a_single_call_renders_as_it_always_did() -> None:
    text = render_experiment(
        experiment(single("Refunded.\nBye."), conversation([turn(calls=[LOOKUP])], index=1))
    )
    assert text == (
        "# pytest-chatexp experiment (format 1)\n"
        "\n"
        "## model config: agent\n"
        "model: m\n"
        "template user:\n"
        "  {{q}}\n"
        "\n"
        "### input: refund\n"
        "q: refund order 7\n"
        "#### sample 0: finish_reason stop, 10 prompt + 4 generation tokens\n"
        "output:\n"
        "  Refunded.\n"
        "  Bye.\n"
        "#### sample 1: finish_reason tool_calls, 10 prompt + 4 generation tokens\n"
        "tool call: lookup_order\n"
        "  {\n"
        '    "order_id": "7",\n'
        '    "verbose": true\n'
        "  }\n"
    )


# -- the JSON report and reading it back --------------------------------------------------------


def _samples(report: Any) -> list[dict[str, Any]]:
    (test,) = report["tests"]
    (case,) = test["experiments"][0]["cases"]
    samples: list[dict[str, Any]] = case["samples"]
    return samples


def test_the_json_report_holds_a_loops_turns_and_not_a_single_calls() -> None:
    report = json.loads(json.dumps(run_report(tool_loop(), single(index=1))))
    loop, plain = _samples(report)
    assert "turns" not in plain  # as it always was
    first, second, last = loop["turns"]
    assert first == {
        "speaker": "assistant",
        "user": ["help"],
        "output": "",
        "tool_calls": [
            {"name": "lookup_order", "arguments": '{"order_id": "7",  "verbose": true}'}
        ],
        "tool_results": [
            {"name": "lookup_order", "result": '{"status": "delivered"}', "error": False}
        ],
        "finish_reason": "tool_calls",
        "usage": {
            "prompt_tokens": 10,
            "generation_tokens": 4,
            "total_tokens": 14,
            "reasoning_tokens": None,
        },
        "latency_s": 0.25,
    }
    assert second["tool_results"][0]["error"] is True and second["output"] == "Refunding now."
    assert last["output"].startswith("I could not refund") and last["tool_calls"] == []
    # The sample's own numbers add up its turns.
    assert loop["usage"]["total_tokens"] == sum(t["usage"]["total_tokens"] for t in loop["turns"])


def test_a_simulated_users_turns_in_the_json_report() -> None:
    (sample,) = _samples(run_report(simulated()))
    assert [(t["speaker"], t["output"], t["user"]) for t in sample["turns"]] == [
        ("user", "Where is my order?", []),
        ("assistant", "Which order?", []),
        ("user", "Order 7.", []),
        ("assistant", "It is on its way.", []),
        ("user", "Thanks GOAL_COMPLETE", []),
    ]


def test_turns_read_back_as_entries() -> None:
    (test,) = read_run(run_report(tool_loop(), single(index=1))).tests
    loop, plain = test.cases()[0].samples
    assert plain.turns == () and plain.final_turn is None
    assert loop.final_turn == 2
    assert loop.turns[1] == TurnEntry(
        speaker="assistant",
        user=(),
        output="Refunding now.",
        tool_calls=(ToolCallEntry(name="issue_refund", arguments='{"order_id":"7"}'),),
        tool_results=(
            ToolResultEntry(
                name="issue_refund",
                result="Error: RuntimeError: payments down\nretry later",
                error=True,
            ),
        ),
        finish_reason="tool_calls",
        latency_s=0.25,
        total_tokens=14,
    )


def test_reports_without_turns_or_with_odd_ones_still_read() -> None:
    def sample(**fields: Any) -> Any:
        case = {"config": "c", "input": "i", "samples": [{"index": 0, **fields}]}
        report = {
            "tests": [{"test": "t", "experiments": [{"test": "t", "configs": [], "cases": [case]}]}]
        }
        return read_run(report).tests[0].cases()[0].samples[0]

    assert sample().turns == ()  # a report from before turns were recorded
    assert sample(turns="junk").turns == ()
    (odd,) = sample(
        turns=[{"speaker": "robot", "user": "x", "tool_results": [{"error": "yes"}, 3]}]
    ).turns
    assert odd == TurnEntry(
        speaker="assistant",
        user=(),
        output="",
        tool_calls=(),
        tool_results=(ToolResultEntry(name="", result="", error=False),),
        finish_reason=None,
        latency_s=None,
        total_tokens=None,
    )
    users = sample(turns=[{"speaker": "user"}, {"speaker": "user"}])
    assert users.final_turn is None  # no model turn: no final answer to mark
