"""Running the tools a model called: arguments checked against the tool's schema, the handler
called (sync or async), and its result or error turned into the text the model reads next.

What an agent framework would send back, the plugin sends: invalid arguments, an unknown tool
and a handler that raises are the tool's error result (``ToolResult.error``), which the model
sees and may recover from, and the sample's checks may judge. Only a result that cannot be
sent at all (not text, not JSON) fails the call, with a ``ToolError`` naming it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import ToolError
from .._experiment._config import Tool
from .._experiment._humanloop import ChatMessage, ToolCall
from .._experiment._result import ToolResult
from .._experiment._schema import SchemaProblem, schema_checker
from .._util import canonical_json, exception_text

__all__ = ["ToolRun", "prepare", "tool_messages"]

_SCHEMAS: dict[str, SchemaProblem] = {}  # compiled once per schema, by its canonical JSON


@dataclass(frozen=True, slots=True)
class ToolRun:
    """One tool call, ready to run: its handler and arguments, or the error it gets instead."""

    call: ToolCall
    signature: str
    tool: Tool | None = None
    arguments: Mapping[str, Any] | None = None
    error: str | None = None

    @property
    def awaits(self) -> bool:
        """Whether running it needs an event loop (its handler is a coroutine function)."""
        handler = self.tool.handler if self.tool is not None and self.error is None else None
        return handler is not None and (
            inspect.iscoroutinefunction(handler)
            or inspect.iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004
        )

    def run(self, where: str) -> ToolResult:
        """Run it here (a sync handler, a canned result); ``where`` names the call."""
        outcome = self._start()
        if isinstance(outcome, ToolResult):
            return outcome
        handler, arguments = outcome
        try:
            value = handler(**arguments)
        except Exception as exc:  # the tool failed: the model is told, as a framework would
            return self._failed(exc)
        if inspect.isawaitable(value):
            if hasattr(value, "close"):
                value.close()  # never awaited: close it rather than leak a warning
            raise ToolError(
                f"{where}: the handler of tool '{self.call.function.name}' returned an "
                "awaitable: declare it 'async def' so the plugin awaits it"
            )
        return self._returned(value, where)

    async def arun(self, where: str) -> ToolResult:
        """Run it on the event loop: awaited when async, in a worker thread when not (a slow
        sync handler must not hold up every other call in flight)."""
        if not self.awaits:
            import asyncio

            return await asyncio.to_thread(self.run, where)
        outcome = self._start()
        if isinstance(outcome, ToolResult):
            return outcome
        handler, arguments = outcome
        try:
            value = await handler(**arguments)
        except Exception as exc:
            return self._failed(exc)
        return self._returned(value, where)

    def _start(self) -> ToolResult | tuple[Any, Mapping[str, Any]]:
        """The result when no handler runs (an error, a canned value), else what to call."""
        tool = self.tool
        if self.error is not None or tool is None:
            return self._result(self.error or "no handler", error=True)
        if tool.raises is not None:
            raised = tool.raises
            if isinstance(raised, str):
                return self._result(f"Error: {raised}", error=True)
            return self._failed(raised() if isinstance(raised, type) else raised)
        if tool.handler is None:  # a canned result
            return self._returned(tool.returns, where="")
        return tool.handler, self.arguments or {}

    def _failed(self, exc: BaseException) -> ToolResult:
        return self._result(f"Error: {type(exc).__name__}: {exception_text(exc)}", error=True)

    def _returned(self, value: Any, where: str) -> ToolResult:
        return self._result(result_text(value, self.call.function.name, where))

    def _result(self, text: str, *, error: bool = False) -> ToolResult:
        return ToolResult(call=self.call, signature=self.signature, result=text, error=error)


def prepare(call: ToolCall, tools: Mapping[str, Tool]) -> ToolRun:
    """The run of one tool call: its tool and parsed, schema-checked arguments, or the error
    result an agent framework would send for an unknown tool or invalid arguments."""
    name = call.function.name
    tool = tools.get(name)
    if tool is None:
        known = ", ".join(sorted(tools)) or "none"
        return ToolRun(call, name, error=f"Error: unknown tool '{name}' (tools: {known})")
    signature = signature_of(tool)
    text = call.function.arguments or ""
    try:
        arguments = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        problem = f"not JSON ({exc.msg} at position {exc.pos}): {text[:80]!r}"
        return ToolRun(call, signature, tool, error=_invalid(name, problem))
    if not isinstance(arguments, dict):
        return ToolRun(call, signature, tool, error=_invalid(name, "not a JSON object"))
    if tool.parameters is not None:
        key = canonical_json(tool.parameters)
        checker = _SCHEMAS.get(key)
        if checker is None:
            where = f"the parameters of tool '{name}'"
            checker = _SCHEMAS[key] = schema_checker(tool.parameters, where=where)
        mismatch = checker(arguments)
        if mismatch is not None:
            return ToolRun(call, signature, tool, error=_invalid(name, mismatch))
    return ToolRun(call, signature, tool, arguments=arguments)


def _invalid(name: str, problem: str) -> str:
    return f"Error: invalid arguments for tool '{name}': {problem}"


def signature_of(tool: Tool) -> str:
    """``lookup_order(order_id: string, verbose?: boolean)``, from the tool's JSON schema."""
    schema = tool.parameters or {}
    properties = schema.get("properties")
    required = set(schema.get("required") or ())
    parts = []
    for key, value in properties.items() if isinstance(properties, dict) else ():
        kind = value.get("type") if isinstance(value, dict) else None
        kind = "|".join(kind) if isinstance(kind, list) else kind or "any"
        parts.append(f"{key}{'' if key in required else '?'}: {kind}")
    return f"{tool.name}({', '.join(parts)})"


def result_text(value: Any, name: str, where: str) -> str:
    """A handler's result as the model reads it: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):  # a pydantic model
        return str(value.model_dump_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        at = f"{where}: " if where else ""
        raise ToolError(
            f"{at}tool '{name}' returned {type(value).__name__} {value!r:.60}, which cannot be "
            f"sent to the model ({exc}): return text, or data JSON can hold"
        ) from None


def tool_messages(results: list[ToolResult]) -> list[ChatMessage]:
    """The ``tool`` messages answering a turn's calls, in the order of the calls."""
    return [
        ChatMessage(
            role="tool", content=result.result, tool_call_id=result.call.id, is_error=result.error
        )
        for result in results
    ]
