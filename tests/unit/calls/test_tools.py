"""Running one tool call: arguments checked against the schema, the handler (sync or async,
or a canned result) called, and what the model reads back, errors included."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

from pytest_chatexp import Tool, ToolError
from pytest_chatexp._calls._tools import ToolRun, prepare, signature_of
from pytest_chatexp._experiment._humanloop import FunctionTool, ToolCall

ORDER = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "verbose": {"type": "boolean"}},
    "required": ["order_id"],
}
WHERE = "model config 'agent', input 'x', sample 0"


def _call(name: str, arguments: str | None) -> ToolCall:
    return ToolCall(
        id="call_1", type="function", function=FunctionTool(name=name, arguments=arguments)
    )


def _run(tool: Tool, arguments: str | None = '{"order_id": "7"}') -> tuple[str, bool]:
    run = prepare(_call(tool.name, arguments), {tool.name: tool})
    result = asyncio.run(run.arun(WHERE)) if run.awaits else run.run(WHERE)
    assert result.call.id == "call_1" and result.name == tool.name
    return result.result, result.error


def test_a_sync_handler_gets_the_arguments_as_keywords() -> None:
    seen: list[dict[str, Any]] = []

    def lookup(**arguments: Any) -> dict[str, Any]:
        seen.append(arguments)
        return {"status": "délivré", "total": 4.5}

    tool = Tool(name="lookup", parameters=ORDER, handler=lookup)
    assert _run(tool, '{"order_id": "7", "verbose": true}') == (
        '{"status": "délivré", "total": 4.5}',
        False,
    )
    assert seen == [{"order_id": "7", "verbose": True}]


def test_an_async_handler_is_awaited_and_a_sync_one_runs_off_the_loop() -> None:
    async def refund(order_id: str) -> str:
        await asyncio.sleep(0)
        return f"refunded {order_id}"

    tool = Tool(name="refund", parameters=ORDER, handler=refund)
    assert prepare(_call("refund", '{"order_id": "7"}'), {"refund": tool}).awaits
    assert _run(tool) == ("refunded 7", False)
    sync = Tool(name="lookup", parameters=ORDER, handler=lambda order_id: order_id)
    run = prepare(_call("lookup", '{"order_id": "7"}'), {"lookup": sync})
    assert not run.awaits
    assert asyncio.run(run.arun(WHERE)).result == "7"


class _Order(BaseModel):
    id: str


@dataclasses.dataclass
class _Refund:
    amount: float


@pytest.mark.parametrize(
    ("returns", "text"),
    [
        (None, "null"),
        ("plain text", "plain text"),
        ([1, "two"], '[1, "two"]'),
        (_Order(id="7"), '{"id":"7"}'),
        (_Refund(amount=2.5), '{"amount": 2.5}'),
    ],
)
def test_canned_results_are_sent_as_text_or_json(returns: Any, text: str) -> None:
    assert _run(Tool(name="t", returns=returns)) == (text, False)


@pytest.mark.parametrize(
    ("raises", "text"),
    [
        ("the store is down", "Error: the store is down"),
        (TimeoutError("slow"), "Error: TimeoutError: slow"),
        (PermissionError, "Error: PermissionError: "),
    ],
)
def test_raises_is_the_tools_error_result(raises: Any, text: str) -> None:
    result, error = _run(Tool(name="t", raises=raises))
    assert error and result.startswith(text)


def test_a_handler_that_raises_is_an_error_result_the_model_reads() -> None:
    def lookup(order_id: str) -> str:
        raise LookupError(f"no order {order_id}")

    assert _run(Tool(name="lookup", parameters=ORDER, handler=lookup)) == (
        "Error: LookupError: no order 7",
        True,
    )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ('{"order_id": 7}', "$.order_id: 7 is not of type 'string'"),
        ("{}", "$: 'order_id' is a required property"),
        ('{"order_id": "7"', "not JSON (Expecting ',' delimiter at position 16)"),
        ("[1]", "not a JSON object"),
    ],
)
def test_invalid_arguments_never_reach_the_handler(arguments: str, problem: str) -> None:
    def lookup(**_: Any) -> str:
        raise AssertionError("called")

    result, error = _run(Tool(name="lookup", parameters=ORDER, handler=lookup), arguments)
    assert error
    assert result.startswith(f"Error: invalid arguments for tool 'lookup': {problem}")


def test_empty_arguments_are_an_empty_object() -> None:
    assert _run(Tool(name="now", handler=lambda: "12:00"), None) == ("12:00", False)


def test_an_unknown_tool_gets_an_error_naming_the_tools() -> None:
    run = prepare(_call("drop_tables", "{}"), {"lookup": Tool(name="lookup", returns=1)})
    result = run.run(WHERE)
    assert result.error and result.result == "Error: unknown tool 'drop_tables' (tools: lookup)"


def test_a_result_that_cannot_be_sent_fails_naming_the_call() -> None:
    with pytest.raises(ToolError) as excinfo:
        _run(Tool(name="lookup", handler=lambda: object()), None)
    assert str(excinfo.value).startswith(f"{WHERE}: tool 'lookup' returned object <object")
    with pytest.raises(ToolError, match=r"NaN|nan"):
        _run(Tool(name="lookup", handler=lambda: float("nan")), None)


def test_a_sync_function_returning_a_coroutine_is_named() -> None:
    async def later() -> str:
        return "x"

    tool = Tool(name="t", handler=lambda: later())
    with pytest.raises(ToolError, match="returned an awaitable: declare it 'async def'"):
        _run(tool, None)


def test_the_signature_comes_from_the_schema() -> None:
    assert signature_of(Tool(name="lookup", parameters=ORDER)) == (
        "lookup(order_id: string, verbose?: boolean)"
    )
    assert signature_of(Tool(name="now")) == "now()"
    tool = Tool(
        name="t", parameters={"type": "object", "properties": {"x": {"type": ["string", "null"]}}}
    )
    assert signature_of(tool) == "t(x?: string|null)"


def test_a_tool_takes_one_behaviour_and_a_callable_handler() -> None:
    with pytest.raises(ValueError, match="sets handler and returns: give one of them"):
        Tool(name="t", handler=print, returns=1)
    with pytest.raises(ValueError, match="callable"):
        Tool(name="t", handler="print")
    assert not Tool(name="t").runs and Tool(name="t", returns=None).runs


def test_tool_runs_are_records() -> None:
    run = prepare(_call("t", "{}"), {})
    assert isinstance(run, ToolRun) and run.error is not None and not run.awaits
