"""Declaring agents: tool handlers by name, scripted turns and a simulated user's goal, checked
before any call."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_chatexp import InvalidExperimentError, ModelConfig, SimulatedUser, Tool
from pytest_chatexp._experiment._inputs import input_from_row
from pytest_chatexp._session._options import parse_options

AGENT = ModelConfig(
    name="agent",
    model="m",
    chat_template=[{"role": "system", "content": "You are Acme's agent."}],
    tools=[Tool(name="lookup_order"), Tool(name="issue_refund", returns="ok")],
)


def _spec(**options: object):  # type: ignore[no-untyped-def]
    parsed = parse_options({"model_configs": [AGENT], **options}, source="chatexp marker")
    return parsed.to_spec(name="t", base_dir=Path("."))


def test_variables_used_only_by_the_script_or_the_goal_are_used() -> None:
    user = SimulatedUser(config=ModelConfig(model="u"), goal="Refund order {{order_id}}.")
    spec = _spec(inputs=[{"order_id": "7"}], simulated_user=user)
    assert spec.calls[0].loop.goal == "Refund order 7."
    scripted = _spec(inputs=[{"inputs": {"name": "Ann"}, "turns": ["Hi, I am {{name}}.", "Bye."]}])
    call = scripted.calls[0]
    assert call.messages[-1].content == "Hi, I am Ann."
    assert [m.content for m in call.loop.script] == ["Bye."]
    with pytest.raises(InvalidExperimentError, match="'order_id' is used by no template"):
        _spec(inputs=[{"order_id": "7"}])


def test_tool_handlers_attach_by_name_and_a_tool_keeps_its_own() -> None:
    def lookup(order_id: str) -> str:
        return order_id

    spec = _spec(tool_handlers={"lookup_order": lookup})
    tools = spec.calls[0].loop.tools
    assert tools["lookup_order"].handler is lookup
    assert tools["lookup_order"].parameters is None and tools["issue_refund"].returns == "ok"
    # Handlers are never sent: the config's id does not depend on them.
    assert AGENT.model_config_id == AGENT.variant(name="x").model_config_id
    assert _spec().calls[0].loop.active  # issue_refund runs: a loop
    plain = parse_options({"model_configs": [AGENT.variant(tools=[])]}, source="m")
    assert not plain.to_spec(name="t", base_dir=Path(".")).calls[0].loop.active


def test_bad_agent_declarations_name_the_field() -> None:
    with pytest.raises(
        InvalidExperimentError, match="tool_handlers\\['lookup_order'\\] must be a function"
    ):
        _spec(tool_handlers={"lookup_order": "lookup"})
    with pytest.raises(InvalidExperimentError, match="'max_turns': input should be greater"):
        _spec(max_turns=0)
    with pytest.raises(InvalidExperimentError, match="SimulatedUser: 'goal'"):
        SimulatedUser(config=ModelConfig(model="u"), goal="")
    with pytest.raises(InvalidExperimentError, match="turns"):
        input_from_row({"turns": [{"role": "user"}]}, where="inputs[0]")
