"""The sample state machine on its own: which call comes next, what ends a sample, and what
the sample keeps of its turns; answers made up here, no provider, no server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_chatexp import Input, InvalidExperimentError, ModelConfig, SimulatedUser, Tool
from pytest_chatexp._calls._loop import SampleRun
from pytest_chatexp._experiment._humanloop import Usage
from pytest_chatexp._experiment._spec import ExperimentSpec, PlannedCall
from tests.unit._runs import drive, reply

ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
TEMPLATE = [{"role": "user", "content": "Refund order 7."}]


def _call(spec: ExperimentSpec) -> PlannedCall:
    return spec.calls[0]


def _spec(*tools: Tool, **options: Any) -> ExperimentSpec:
    config = ModelConfig(name="agent", model="m", chat_template=TEMPLATE, tools=tools)
    inputs = options.pop("inputs", (Input(id="x"),))
    return ExperimentSpec(name="t", model_configs=(config,), inputs=inputs, **options)


def _arguments(order_id: str) -> str:
    return json.dumps({"order_id": order_id})


def test_a_tool_loop_calls_again_with_the_results_until_a_plain_answer() -> None:
    looked_up: list[str] = []

    def lookup(order_id: str) -> dict[str, str]:
        looked_up.append(order_id)
        return {"status": "delivered"}

    spec = _spec(Tool(name="lookup", parameters=ORDER, handler=lookup))
    run = SampleRun(_call(spec))
    calls = drive(run, reply(None, ("lookup", _arguments("7"))), reply("Delivered."))
    assert [call.turn for call in calls] == [0, 1]
    assert [m.role for m in calls[1].messages] == ["user", "assistant", "tool"]
    assert calls[1].messages[2].content == '{"status": "delivered"}'
    assert calls[1].messages[2].tool_call_id == "call_0"
    assert looked_up == ["7"]
    sample = run.sample()
    assert sample.output == "Delivered." and sample.finish_reason == "stop"
    assert sample.usage == Usage.of(20, 4)  # both turns
    assert sample.latency_s == 1.0
    assert [turn.index for turn in sample.turns] == [0, 1]
    assert [r.result for r in sample.data.tool_results or []] == ['{"status": "delivered"}']
    assert [m.role for m in sample.transcript] == ["user", "assistant", "tool", "assistant"]
    assert [call.function.name for call in sample.trajectory] == ["lookup"]
    assert sample.provider_response == {"turn": 1}


def test_max_turns_ends_the_sample_with_its_own_finish_reason() -> None:
    spec = _spec(Tool(name="lookup", parameters=ORDER, returns="x"), max_turns=2)
    run = SampleRun(_call(spec))
    again = reply(None, ("lookup", _arguments("7")))
    calls = drive(run, again, again)
    assert len(calls) == 2
    sample = run.sample()
    assert sample.finish_reason == "max_turns"
    assert len(sample.tool_results) == 2  # the last turn's tools ran; their results unsent


def test_a_call_to_a_declared_tool_without_handler_ends_the_sample_with_it() -> None:
    spec = _spec(Tool(name="lookup", parameters=ORDER, returns="x"), Tool(name="refund"))
    run = SampleRun(_call(spec))
    calls = drive(run, reply(None, ("lookup", _arguments("7")), ("refund", "{}")))
    assert len(calls) == 1
    assert run.sample().finish_reason == "tool_call"
    assert run.sample().tool_results == []


def test_a_made_up_tool_gets_an_error_result_and_the_loop_goes_on() -> None:
    spec = _spec(Tool(name="lookup", parameters=ORDER, returns="x"))
    run = SampleRun(_call(spec))
    drive(run, reply(None, ("delete_everything", "{}")), reply("Sorry."))
    [result] = run.sample().tool_results
    assert (
        result.error and result.result == "Error: unknown tool 'delete_everything' (tools: lookup)"
    )


def test_scripted_turns_follow_each_answer() -> None:
    spec = _spec(inputs=(Input(id="x", turns=["Hi.", "Order 7.", "Bye."]),))
    run = SampleRun(_call(spec))
    calls = drive(run, reply("Hello."), reply("Found it."), reply("Bye!"))
    assert [call.messages[-1].content for call in calls] == ["Hi.", "Order 7.", "Bye."]
    sample = run.sample()
    assert [turn.user_turn for turn in sample.turns] == [0, 1, 2]
    assert [reply.output for reply in sample.replies] == ["Hello.", "Found it.", "Bye!"]


def test_max_turns_leaves_the_rest_of_the_script_unsent() -> None:
    spec = _spec(inputs=(Input(id="x", turns=["Hi.", "Order 7.", "Bye."]),), max_turns=2)
    run = SampleRun(_call(spec))
    calls = drive(run, reply("Hello."), reply("Found it."))
    assert len(calls) == 2
    sample = run.sample()
    assert sample.finish_reason == "max_turns"
    assert sample.transcript[-1].content == "Found it."


def _user(**fields: Any) -> SimulatedUser:
    config = ModelConfig(name="customer", model="u")
    return SimulatedUser(config=config, goal="get a refund for {{order}}", **fields)


def test_the_simulated_user_answers_until_it_says_it_is_done() -> None:
    spec = _spec(simulated_user=_user(), inputs=(Input(id="x", inputs={"order": "7"}),))
    run = SampleRun(_call(spec))
    calls = drive(
        run,
        reply("How can I help?"),
        reply("I want my refund."),
        reply("Done."),
        reply("Thanks. GOAL_COMPLETE"),
    )
    user_call = calls[1]
    assert user_call.config.name == "customer" and user_call.agent is not None
    assert "get a refund for 7" in user_call.messages[0].text
    # The simulated user sees the conversation from the other side.
    assert [m.role for m in user_call.messages] == ["system", "user", "assistant", "user"]
    assert user_call.label == ("model config 'agent', input 'x', sample 0, turn 1 (simulated user)")
    sample = run.sample()
    assert [turn.speaker for turn in sample.turns] == ["assistant", "user", "assistant", "user"]
    assert sample.output == "Done."
    assert sample.usage == Usage.of(20, 4)  # the model's turns, not the simulated user's


def test_the_simulated_user_opens_when_nobody_has_spoken() -> None:
    config = ModelConfig(
        name="agent", model="m", chat_template=[{"role": "system", "content": "S"}]
    )
    spec = ExperimentSpec(
        name="t",
        model_configs=(config,),
        inputs=(Input(id="x", inputs={"order": "7"}),),
        simulated_user=_user(max_messages=1),
    )
    run = SampleRun(_call(spec))
    calls = drive(run, reply("Refund 7, please."), reply("Refunded."))
    assert calls[0].agent is not None and calls[1].agent is None
    assert [m.role for m in calls[1].messages] == ["system", "user"]
    assert run.sample().output == "Refunded."
    assert [turn.user_turn for turn in run.sample().turns] == [0, 0]


@pytest.mark.parametrize("max_turns", [0, -1, True, 1.5])
def test_max_turns_must_allow_a_call(max_turns: Any) -> None:
    with pytest.raises(InvalidExperimentError, match="max_turns"):
        _spec(max_turns=max_turns)
