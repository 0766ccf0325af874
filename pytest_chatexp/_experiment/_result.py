"""What an experiment gives back: an ``ExperimentResult`` of ``Case`` of ``Sample``.

Order is part of the contract: cases follow the order of the model configs, then of the inputs,
and samples their index, whatever order the provider calls complete in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypeVar

from ._config import ModelConfig
from ._humanloop import (
    ChatDataResponse,
    ChatMessage,
    ChatResponse,
    HumanloopLog,
    ToolCall,
    ToolResultResponse,
    Usage,
)
from ._inputs import Input
from ._spec import ExperimentSpec

__all__ = [
    "Case",
    "CaseSampling",
    "ExperimentResult",
    "Sample",
    "ToolResult",
    "Turn",
    "assemble",
    "group",
]

_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool the plugin ran for a tool call: what it returned as sent to the model, and whether
    that was an error (the handler raised, or the arguments were invalid)."""

    call: ToolCall
    signature: str
    result: str
    error: bool = False

    @property
    def name(self) -> str:
        return self.call.function.name

    def to_humanloop(self) -> ToolResultResponse:
        return ToolResultResponse(
            id=self.call.id, name=self.name, signature=self.signature, result=self.result
        )


@dataclass(frozen=True, slots=True)
class Turn:
    """One model call of a sample: the request, the answer, and the tools run on it.

    A sample without tool handlers or a conversation has one turn. ``speaker`` is ``"user"``
    for a simulated user's call, whose answer is the next user message. ``user_turn`` counts the
    user messages before it: the turns answering one user message share it.
    """

    index: int
    message: ChatMessage
    finish_reason: str | None
    usage: Usage
    request: dict[str, Any]
    response: Any
    latency_s: float
    first_token_s: float | None = None
    retries: int = 0
    replayed: bool = False
    tool_results: tuple[ToolResult, ...] = ()
    speaker: Literal["assistant", "user"] = "assistant"
    user_turn: int = 0
    # The model that answered: the config's, or for a simulated user's turn that user's.
    model: str = ""
    # The user messages this call read for the first time (the prompt's closing ones, a
    # scripted or simulated user's next message); none after tool results.
    user_messages: tuple[ChatMessage, ...] = ()
    # The model's reasoning text, when the provider returned it (Anthropic thinking blocks).
    reasoning: str | None = None
    # Answered live through a provider's batch API (``--chatexp-batch``): half price.
    batch: bool = False

    @property
    def output(self) -> str:
        return self.message.text

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.message.tool_calls or []


@dataclass(frozen=True, slots=True)
class Sample:
    """One generation, as Humanloop's ``ChatDataResponse`` plus what a tester needs beside it.

    A sample of a tool loop or a conversation is the whole run: ``data`` holds its final answer
    and every tool result, ``usage`` and ``latency_s`` add up the model's turns, ``turns`` holds
    each model call and ``transcript`` the conversation as the model saw it, final answer
    included.
    """

    data: ChatDataResponse
    usage: Usage
    config: ModelConfig
    input: Input
    provider_request: dict[str, Any]
    provider_response: Any
    latency_s: float
    replayed: bool = False
    # Streams only: seconds until the first event (time to first token).
    first_token_s: float | None = None
    # Attempts beyond the first that the call needed (429s, 5xx, timeouts...).
    retries: int = 0
    turns: tuple[Turn, ...] = ()
    transcript: tuple[ChatMessage, ...] = ()
    # The model's reasoning text or summary when the provider returned it (Anthropic thinking
    # blocks; its turns' joined by a blank line in a tool loop); None when it returned none.
    # It comes from the recorded response, so a replay has it too.
    reasoning: str | None = None
    # Humanloop's answer beyond the message (log envelope, its exchange with the model), when
    # Humanloop answered: what ``Case.to_chat_response()`` reports.
    humanloop: HumanloopLog | None = None

    @property
    def model(self) -> str:
        """The model that answered, what the sample is priced by: the one the provider reports
        (Humanloop names the model its stored config called), else the config's."""
        turns = self.model_turns
        return turns[-1].model if turns and turns[-1].model else self.config.model

    @property
    def index(self) -> int:
        return self.data.index

    @property
    def output(self) -> str:
        return self.data.output

    @property
    def raw_output(self) -> str:
        return self.data.raw_output

    @property
    def finish_reason(self) -> str | None:
        return self.data.finish_reason

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls the model asked for (an empty list when none)."""
        return self.data.tool_calls or []

    @property
    def messages(self) -> list[ChatMessage]:
        """The messages sent to the provider (in the last call, for a loop)."""
        return self.data.messages or []

    @property
    def model_turns(self) -> list[Turn]:
        """The turns the model under test answered (a simulated user's left out)."""
        return [turn for turn in self.turns if turn.speaker == "assistant"]

    @property
    def trajectory(self) -> list[ToolCall]:
        """Every tool call of every turn, in order: what the tool checks look at."""
        if len(self.turns) <= 1:
            return self.tool_calls
        return [call for turn in self.model_turns for call in turn.tool_calls]

    @property
    def tool_results(self) -> list[ToolResult]:
        """The tools the plugin ran, in order, with what they returned."""
        return [result for turn in self.turns for result in turn.tool_results]

    @property
    def replies(self) -> list[Sample]:
        """The model's answer to each user message of a conversation, as a sample of the turns
        that answered it (a tool loop's included): ``replies[0]`` answers the first message."""
        by_user: dict[int, list[Turn]] = {}
        for turn in self.model_turns:
            by_user.setdefault(turn.user_turn, []).append(turn)
        return [self.part(turns) for turns in by_user.values()]

    def part(self, turns: Sequence[Turn]) -> Sample:
        """This sample as if it ended after ``turns`` (model turns of it): their last answer is
        the output, their tool calls and results the trajectory, their usage summed."""
        if not turns:
            raise ValueError("a part of a sample needs at least one turn")
        last = turns[-1]
        message = last.message
        data = self.data.model_copy(
            update={
                "output": message.text.strip(),
                "raw_output": message.text,
                "output_message": message,
                "finish_reason": last.finish_reason,
                "tool_calls": message.tool_calls,
                "tool_call": message.tool_calls[0].function if message.tool_calls else None,
                "tool_results": [r.to_humanloop() for turn in turns for r in turn.tool_results],
            }
        )
        return Sample(
            data=data,
            usage=Usage.combined(turn.usage for turn in turns),
            config=self.config,
            input=self.input,
            provider_request=last.request,
            provider_response=last.response,
            latency_s=sum(turn.latency_s for turn in turns),
            replayed=all(turn.replayed for turn in turns),
            first_token_s=turns[0].first_token_s,
            retries=sum(turn.retries for turn in turns),
            turns=tuple(turns),
            transcript=self.transcript,
            reasoning="\n\n".join(t.reasoning for t in turns if t.reasoning is not None) or None,
            humanloop=self.humanloop,
        )


@dataclass(frozen=True)
class Case:
    """One model config x one input, with its samples in index order."""

    config: ModelConfig
    input: Input
    samples: tuple[Sample, ...]

    @property
    def id(self) -> str:
        return f"{self.config.display_name}/{self.input.id}"

    @property
    def outputs(self) -> list[str]:
        return [sample.output for sample in self.samples]

    @property
    def usage(self) -> Usage:
        return Usage.combined(sample.usage for sample in self.samples)

    def to_chat_response(self) -> ChatResponse:
        """This case as the ``ChatResponse`` Humanloop returns for ``num_samples`` samples."""
        first = self.samples[0]
        log = first.humanloop
        if log is None:
            return ChatResponse(
                data=[sample.data for sample in self.samples],
                provider_responses=[sample.provider_response for sample in self.samples],
                num_samples=len(self.samples),
                usage=self.usage,
                provider_request=first.provider_request,
                tool_choice=self.config.tool_choice,
                metadata=self.input.metadata or None,
            )
        # Humanloop answered each sample: its envelope as it sent it (the first sample's, where
        # one value stands for all), the model's raw answers of every sample in order.
        return ChatResponse(
            data=[sample.data for sample in self.samples],
            provider_responses=[
                response
                for sample in self.samples
                for response in (sample.humanloop.provider_responses if sample.humanloop else [])
            ],
            project_id=log.project_id,
            num_samples=len(self.samples),
            user=log.user,
            usage=self.usage,
            metadata=log.metadata,
            provider_request=log.provider_request,
            session_id=log.session_id,
            tool_choice=self.config.tool_choice,
        )


@dataclass(frozen=True, slots=True)
class CaseSampling:
    """How adaptive sampling ended for one case: samples drawn of the maximum, the verdict,
    and whether the sequential test settled it (else the raw pass rate decided, at the maximum
    or once the remaining samples could not change it)."""

    config: str
    input: str
    drawn: int
    maximum: int
    passed: int
    ok: bool
    settled: bool


@dataclass(frozen=True)
class ExperimentResult:
    """Every case of an experiment, with the groupings a test needs.

    Iterating yields the cases; ``samples`` flattens them in config, input, index order.
    """

    name: str
    cases: tuple[Case, ...]
    wall_time_s: float = 0.0
    model_configs: tuple[ModelConfig, ...] = field(default=())
    inputs: tuple[Input, ...] = field(default=())
    # Adaptive sampling (``num_samples=(min, max)``): each case's samples drawn and verdict.
    sampling: tuple[CaseSampling, ...] = field(default=())

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)

    @cached_property
    def samples(self) -> list[Sample]:
        return [sample for case in self.cases for sample in case.samples]

    @property
    def outputs(self) -> list[str]:
        return [sample.output for sample in self.samples]

    @property
    def usage(self) -> Usage:
        return Usage.combined(case.usage for case in self.cases)

    @property
    def by_config(self) -> dict[str, list[Case]]:
        """Cases grouped by model config name, in declaration order."""
        return group(self.cases, lambda case: case.config.display_name)

    @property
    def by_input(self) -> dict[str, list[Case]]:
        """Cases grouped by input id, in declaration order."""
        return group(self.cases, lambda case: str(case.input.id))

    @property
    def by_sample(self) -> dict[int, list[Sample]]:
        """Samples grouped by sample index: ``by_sample[0]`` is every case's first sample."""
        return group(self.samples, lambda sample: sample.index)

    def case(self, config: str | ModelConfig | None = None, input: str | None = None) -> Case:
        """The one case for a config name and an input id (either may be omitted when unique)."""
        name = config.display_name if isinstance(config, ModelConfig) else config
        found = [
            case
            for case in self.cases
            if (name is None or case.config.display_name == name)
            and (input is None or case.input.id == input)
        ]
        if len(found) != 1:
            known = ", ".join(case.id for case in self.cases)
            what = "no case" if not found else f"{len(found)} cases"
            raise KeyError(f"{what} for config={name!r}, input={input!r} (cases: {known})")
        return found[0]

    def to_chat_responses(self) -> dict[str, ChatResponse]:
        """Every case as a Humanloop ``ChatResponse``, keyed by ``"<config>/<input>"``."""
        return {case.id: case.to_chat_response() for case in self.cases}


def group(items: Sequence[_V], key: Callable[[_V], _K]) -> dict[_K, list[_V]]:
    groups: dict[_K, list[_V]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def assemble(spec: ExperimentSpec, samples: list[Sample], wall_time: float) -> ExperimentResult:
    """The result of ``spec`` from its samples in plan order: each case's samples together."""
    per_case = spec.num_samples
    cases = tuple(
        Case(config=group[0].config, input=group[0].input, samples=tuple(group))
        for group in (samples[i : i + per_case] for i in range(0, len(samples), per_case))
    )
    return ExperimentResult(
        name=spec.name,
        cases=cases,
        wall_time_s=wall_time,
        model_configs=spec.model_configs,
        inputs=spec.inputs,
    )
