"""Checks on the turns of a sample: counts, tool results, tool errors, and checks narrowed to
the final answer, each turn, each reply or one reply."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from pytest_chatexp import Input, ModelConfig, Tool
from pytest_chatexp import checks as c
from pytest_chatexp._calls._loop import SampleRun
from pytest_chatexp._experiment._result import Sample
from pytest_chatexp._experiment._spec import ExperimentSpec
from tests.unit._runs import drive, reply

ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
LOOKUP = ("lookup", json.dumps({"order_id": "7"}))


def _lookup(order_id: str) -> dict[str, str]:
    if order_id == "0":
        raise LookupError("no such order")
    return {"order_id": order_id, "status": "delivered"}


def _sample(*replies: object, turns: Sequence[str] = ()) -> Sample:
    config = ModelConfig(
        name="agent",
        model="m",
        chat_template=[{"role": "user", "content": "Refund order 7."}],
        tools=[Tool(name="lookup", parameters=ORDER, handler=_lookup)],
    )
    spec = ExperimentSpec(name="t", model_configs=(config,), inputs=(Input(id="x", turns=turns),))
    run = SampleRun(spec.calls[0])
    drive(run, *replies)  # type: ignore[arg-type]
    return run.sample()


LOOP = _sample(reply(None, LOOKUP), reply("It was delivered; refund issued."))


def test_tool_checks_see_every_turn_output_checks_the_final_answer() -> None:
    assert c.called("lookup", {"order_id": "7"})(LOOP) is None
    assert c.contains("refund issued")(LOOP) is None
    assert c.no_tool_calls()(LOOP) == 'called lookup({"order_id":"7"})'
    assert c.final_answer(c.no_tool_calls(), c.contains("refund"))(LOOP) is None
    assert c.final_answer(c.called("lookup"))(LOOP) == (
        "final answer: called('lookup'): made no tool calls, not lookup"
    )


def test_turn_count_counts_model_calls() -> None:
    assert c.turn_count(min=2, max=2)(LOOP) is None
    assert c.turn_count(max=1)(LOOP) == "2 turns (finish_reason 'stop')"
    with pytest.raises(TypeError, match="min=, max="):
        c.turn_count()
    with pytest.raises(ValueError, match="at least 1"):
        c.turn_count(min=0)


def test_tool_result_looks_at_what_the_tool_returned() -> None:
    assert c.tool_result("lookup")(LOOP) is None
    assert c.tool_result("lookup", '"status": "delivered"')(LOOP) is None
    assert c.tool_result("lookup", lambda text: "lost" in text)(LOOP) == (
        'lookup returned \'{"order_id": "7", "status": "delivered"}\''
    )
    assert c.tool_result("refund")(LOOP) == "refund never ran (ran: lookup)"


def test_no_tool_errors_names_the_tool_and_its_error() -> None:
    failing = _sample(
        reply(None, ("lookup", json.dumps({"order_id": "0"}))),
        reply(None, ("lookup", "{}")),
        reply("Sorry."),
    )
    assert c.no_tool_errors()(LOOP) is None
    assert c.no_tool_errors()(failing) == (
        "lookup: 'Error: LookupError: no such order' (and 1 more)"
    )
    assert c.tool_result("lookup")(failing) is not None  # errors are not results


def test_each_turn_names_the_turn_that_fails() -> None:
    assert c.each_turn(c.valid_tool_arguments())(LOOP) is None
    inner = c.not_contains("delivered")
    reason = inner(LOOP.part(LOOP.model_turns[1:]))
    assert reason is not None
    assert c.each_turn(inner)(LOOP) == f"turn 1: not_contains('delivered'): {reason}"


def test_replies_checks_each_answer_of_a_conversation() -> None:
    chat = _sample(
        reply("Hello."),
        reply(None, LOOKUP),
        reply("Order 7 was delivered."),
        reply("Bye."),
        turns=["Hi.", "Where is order 7?", "Thanks."],
    )
    assert [part.output for part in chat.replies] == ["Hello.", "Order 7 was delivered.", "Bye."]
    assert [len(part.turns) for part in chat.replies] == [1, 2, 1]
    assert c.reply(1, c.called("lookup"), c.contains("delivered"))(chat) is None
    assert c.reply(-1, c.equals("Bye."))(chat) is None
    assert c.reply(0, c.called("lookup"))(chat) == (
        "reply 0: called('lookup'): made no tool calls, not lookup"
    )
    assert c.reply(5, c.equals("x"))(chat) == "the conversation has 3 replies"
    assert c.each_reply(c.matches(r"\.$"))(chat) is None
    assert c.each_reply(c.not_contains("Bye"))(chat) == (
        "reply 2: not_contains('Bye'): " + c.not_contains("Bye")(chat.replies[2])  # type: ignore[operator]
    )
    assert c.reply(1, c.equals("x")).name == "reply(1, equals('x'))"


def test_narrowing_checks_need_checks() -> None:
    with pytest.raises(TypeError, match=r"each_reply\(\) needs at least one check"):
        c.each_reply()
    with pytest.raises(TypeError, match="expected checks"):
        c.final_answer("refund")  # type: ignore[arg-type]
