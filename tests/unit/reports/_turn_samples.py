"""Samples of tool loops and conversations, built the way the loop builds them (``_calls/_loop``):
each model answer appended to the transcript with its tool results, user messages between.

``conversation`` takes the prompt and the steps in order: a ``Turn`` is a model call (a
simulated user's too), a ``ChatMessage`` a user message appended to the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._calls._metering import CallTally
from pytest_chatexp._calls._tools import tool_messages
from pytest_chatexp._experiment._humanloop import (
    ChatDataResponse,
    ChatMessage,
    FunctionTool,
    ToolCall,
    Usage,
)
from pytest_chatexp._experiment._result import (
    Case,
    ExperimentResult,
    Sample,
    ToolResult,
    Turn,
)
from pytest_chatexp._pricing import PriceTable
from pytest_chatexp._reports._records import ExperimentRun, Outcomes, experiment_record
from pytest_chatexp._reports._run import RunReport, TestRecord, build_run_report

CONFIG = ModelConfig(name="agent", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])
INPUT = Input(id="refund", inputs={"q": "refund order 7"})
PROMPT = (ChatMessage(role="system", content="Be kind."), ChatMessage(role="user", content="help"))


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def call(name: str, arguments: str | None, id: str = "") -> ToolCall:
    return ToolCall(
        id=id or f"call_{name}",
        type="function",
        function=FunctionTool(name=name, arguments=arguments),
    )


def result(tool_call: ToolCall, text: str, *, error: bool = False) -> ToolResult:
    return ToolResult(
        call=tool_call, signature=f"{tool_call.function.name}()", result=text, error=error
    )


def turn(
    text: str = "",
    calls: Sequence[ToolCall] = (),
    results: Sequence[ToolResult] = (),
    *,
    speaker: Literal["assistant", "user"] = "assistant",
    usage: Usage | None = None,
    latency_s: float = 0.25,
) -> Turn:
    message = ChatMessage(role="assistant", content=text, tool_calls=list(calls) or None)
    return Turn(
        index=0,  # numbered by ``conversation``
        message=message,
        finish_reason="tool_calls" if calls else "stop",
        usage=usage or Usage.of(10, 4),
        request={},
        response=None,
        latency_s=latency_s,
        tool_results=tuple(results),
        speaker=speaker,
    )


def conversation(
    steps: Sequence[Turn | ChatMessage],
    *,
    prompt: Sequence[ChatMessage] = PROMPT,
    index: int = 0,
    finish_reason: str | None = None,
) -> Sample:
    history = list(prompt)
    turns: list[Turn] = []
    # As the loop carries them: the prompt's closing user messages, then each one appended,
    # are what the next model call reads first.
    closing = len(history)
    while closing and history[closing - 1].role == "user":
        closing -= 1
    said = history[closing:]
    for step in steps:
        if isinstance(step, ChatMessage):
            history.append(step)
            said.append(step)
            continue
        if step.speaker == "assistant":
            step = replace(step, index=len(turns), user_messages=tuple(said))
            said = []
            history.append(step.message)
            history += tool_messages(list(step.tool_results))
        else:
            step = replace(step, index=len(turns))
        turns.append(step)
    model = [step for step in turns if step.speaker == "assistant"]
    last = model[-1].message
    data = ChatDataResponse(
        id=f"data_{index}",
        index=index,
        output=last.text.strip(),
        raw_output=last.text,
        model_config_id=CONFIG.model_config_id,
        output_message=last,
        finish_reason=finish_reason or model[-1].finish_reason,
        messages=history[:-1],
        tool_calls=last.tool_calls,
    )
    return Sample(
        data=data,
        usage=Usage.combined(step.usage for step in model),
        config=CONFIG,
        input=INPUT,
        provider_request={},
        provider_response=None,
        latency_s=sum(step.latency_s for step in model),
        turns=tuple(turns),
        transcript=tuple(history),
    )


def single(text: str = "Refunded.", *, index: int = 0) -> Sample:
    """A single call: one turn, no tool run."""
    return conversation([turn(text)], index=index)


def experiment(*samples: Sample) -> ExperimentResult:
    return ExperimentResult(name="t.py::test_agent", cases=(Case(CONFIG, INPUT, samples),))


def run_report(*samples: Sample, failures: dict[int, str] | None = None) -> RunReport:
    """The JSON report of one test whose one case holds ``samples``, each judged (``failures``
    by sample index, the others passed)."""
    failures = failures or {}
    outcomes: Outcomes = {
        (CONFIG.display_name, str(INPUT.id), sample.index): failures.get(sample.index)
        for sample in samples
    }
    result = experiment(*samples)
    run = ExperimentRun((CONFIG,), result, CallTally(), 0.5)
    record = experiment_record(result.name, run, outcomes, PriceTable(), with_cases=True)
    outcome = "failed" if failures else "passed"
    return build_run_report(
        [TestRecord(test=result.name, outcome=outcome, experiments=[record])], record_mode="once"
    )
