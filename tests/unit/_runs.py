"""Samples of tool loops and conversations without a provider: ``SampleRun``s answered with
made-up replies (``reply``), their tools run as the runner runs them (``drive``)."""

from __future__ import annotations

import asyncio
from typing import Any

from pytest_chatexp._calls._loop import SampleRun
from pytest_chatexp._calls._target import CallOutcome
from pytest_chatexp._experiment._humanloop import ChatMessage, FunctionTool, ToolCall, Usage
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import ProviderReply, WireRequest

__all__ = ["drive", "reply"]


def reply(text: str | None = None, *calls: tuple[str, Any]) -> ProviderReply:
    """An answer: ``text`` and tool calls given as (name, arguments text); 10 + 2 tokens."""
    tool_calls = [
        ToolCall(id=f"call_{n}", type="function", function=FunctionTool(name=name, arguments=args))
        for n, (name, args) in enumerate(calls)
    ]
    message = ChatMessage(role="assistant", content=text, tool_calls=tool_calls or None)
    return ProviderReply(
        message=message,
        raw_output=text or "",
        finish_reason="tool_call" if calls else "stop",
        usage=Usage.of(10, 2),
    )


def drive(run: SampleRun, *replies: ProviderReply) -> list[PlannedCall]:
    """Answer ``run``'s calls with ``replies`` in turn, running its tools; the calls made.
    Each answer took half a second; its response body is ``{"turn": n}``."""
    made: list[PlannedCall] = []
    answers = iter(replies)
    while not run.done:
        if run.pending:
            run.ran([asyncio.run(tool.arun(run.where)) for tool in run.pending])
            continue
        call = run.next
        assert call is not None
        made.append(call)
        outcome = CallOutcome(body={"turn": call.turn}, latency_s=0.5)
        run.take(call, WireRequest(url="u", body={"n": call.turn}), next(answers), outcome)
    return made
