"""The JSON report read into typed entries: tool calls and the prompt as records."""

from __future__ import annotations

from typing import Any

from pytest_chatexp._reports._entries import MessageEntry, ToolCallEntry, read_run


def _case(data: list[Any]) -> Any:
    experiment = {"test": "t", "configs": [], "cases": [{"chat_response": {"data": data}}]}
    report = {"tests": [{"test": "t", "experiments": [experiment]}]}
    return read_run(report).tests[0].cases()[0]


def test_tool_calls_read_in_either_shape() -> None:
    nested = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    flat = {"name": "g", "arguments": {"b": 2}}
    case = _case([{"index": 0, "tool_calls": [nested, flat, "junk"]}, {"index": 1}])
    assert case.outputs[0].tool_calls == (
        ToolCallEntry(name="f", arguments='{"a": 1}'),
        ToolCallEntry(name="g", arguments={"b": 2}),
    )
    assert case.outputs[1].tool_calls == ()
    # An empty function object: the call's own fields (none here: unknown).
    assert _case([{"tool_calls": [{"function": {}}]}]).outputs[0].tool_calls == (
        ToolCallEntry(name=None, arguments=None),
    )


def test_a_case_holds_its_prompt_and_variables_once() -> None:
    def item(index: int, content: str) -> dict[str, Any]:
        return {
            "index": index,
            "inputs": {"id": "i", "n": index},
            "messages": [{"role": "user", "content": content}, "junk", {"content": None}],
        }

    case = _case([item(2, "later"), item(0, "first")])
    assert case.inputs == {"id": "i", "n": 2}  # the first output's
    assert case.prompt == (  # the lowest-numbered sample's
        MessageEntry(role="user", content="first"),
        MessageEntry(role="None", content=None),
    )
    assert [output.index for output in case.outputs] == [2, 0]
    empty = _case([])
    assert empty.inputs is None and empty.prompt == ()
