"""Experiments: what a test declares (``ExperimentSpec``), the calls it expands into
(``PlannedCall``) and what comes back (``ExperimentResult`` of ``Case`` of ``Sample``).

Order is part of the contract: cases follow the order of the model configs, then of the inputs,
and samples their index, whatever order the provider calls complete in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from ._config import ModelConfig
from .._errors import InvalidExperimentError
from ._inputs import Input
from ._humanloop import (
    ChatDataResponse,
    ChatMessage,
    ChatResponse,
    TextChatContent,
    ToolCall,
    Usage,
)
from ._templates import render

__all__ = ["Case", "ExperimentResult", "ExperimentSpec", "PlannedCall", "Sample"]

_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment: every model config x every input x ``num_samples``."""

    name: str
    model_configs: tuple[ModelConfig, ...]
    inputs: tuple[Input, ...]
    messages: tuple[ChatMessage, ...] = ()
    num_samples: int = 1
    concurrency: int | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not self.model_configs:
            raise InvalidExperimentError(
                "no model configs: pass model_configs= to the chatexp marker, or return them "
                "from a 'chatexp_config' fixture"
            )
        names: set[str] = set()
        for config in self.model_configs:
            if config.display_name in names:
                raise InvalidExperimentError(
                    f"two model configs are named '{config.display_name}'; give each a unique "
                    "name= so results and reports can tell them apart"
                )
            names.add(config.display_name)
        ids: dict[str, str] = {}
        for config in self.model_configs:
            twin = ids.setdefault(config.model_config_id, config.display_name)
            if twin != config.display_name:
                raise InvalidExperimentError(
                    f"model configs '{twin}' and '{config.display_name}' send identical "
                    "requests; remove one or change what it sends"
                )

    @cached_property
    def calls(self) -> tuple[PlannedCall, ...]:
        """Every call of the experiment (rendered once, on first use)."""
        return tuple(self.plan())

    def plan(self) -> list[PlannedCall]:
        """Render every config x input, strictly, and expand to one call per sample."""
        calls: list[PlannedCall] = []
        for config in self.model_configs:
            for case_input in self.inputs:
                messages = self.render_messages(config, case_input)
                calls.extend(
                    PlannedCall(config, case_input, messages, index)
                    for index in range(self.num_samples)
                )
        return calls

    def render_messages(self, config: ModelConfig, case_input: Input) -> tuple[ChatMessage, ...]:
        """The chat template, then the experiment's messages, then the input's, all rendered."""
        variables = case_input.inputs
        sources = (
            ("chat_template", config.chat_template),
            ("messages", self.messages),
            (f"input '{case_input.id}' messages", case_input.messages),
        )
        rendered: list[ChatMessage] = []
        for label, messages in sources:
            for position, message in enumerate(messages):
                where = (
                    f"model config '{config.display_name}', input '{case_input.id}': "
                    f"{label}[{position}].content"
                )
                rendered.append(_render_message(message, variables, where=where))
        if not rendered:
            raise InvalidExperimentError(
                f"model config '{config.display_name}', input '{case_input.id}': no messages to "
                "send; give the config a chat_template or the experiment messages="
            )
        return tuple(rendered)


def _render_message(message: ChatMessage, variables: dict[str, Any], *, where: str) -> ChatMessage:
    content = message.content
    if isinstance(content, str):
        new_content: Any = render(content, variables, where=where)
    elif isinstance(content, list):
        new_content = [
            part.model_copy(update={"text": render(part.text, variables, where=f"{where}[{n}]")})
            if isinstance(part, TextChatContent)
            else part
            for n, part in enumerate(content)
        ]
    else:
        return message
    if new_content == content:
        return message
    return message.model_copy(update={"content": new_content})


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One provider call: a config, an input, its rendered messages and the sample index."""

    config: ModelConfig
    input: Input
    messages: tuple[ChatMessage, ...]
    sample_index: int

    @property
    def label(self) -> str:
        """How messages name this call."""
        config, case = self.config.display_name, self.input.id
        return f"model config '{config}', input '{case}', sample {self.sample_index}"


@dataclass(frozen=True, slots=True)
class Sample:
    """One generation, as Humanloop's ``ChatDataResponse`` plus what a tester needs beside it."""

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
        """The messages sent to the provider."""
        return self.data.messages or []


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
        return ChatResponse(
            data=[sample.data for sample in self.samples],
            provider_responses=[sample.provider_response for sample in self.samples],
            num_samples=len(self.samples),
            usage=self.usage,
            provider_request=first.provider_request,
            tool_choice=self.config.tool_choice,
            metadata=self.input.metadata or None,
        )


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
        return _group(self.cases, lambda case: case.config.display_name)

    @property
    def by_input(self) -> dict[str, list[Case]]:
        """Cases grouped by input id, in declaration order."""
        return _group(self.cases, lambda case: str(case.input.id))

    @property
    def by_sample(self) -> dict[int, list[Sample]]:
        """Samples grouped by sample index: ``by_sample[0]`` is every case's first sample."""
        return _group(self.samples, lambda sample: sample.index)

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


def _group(items: Sequence[_V], key: Callable[[_V], _K]) -> dict[_K, list[_V]]:
    groups: dict[_K, list[_V]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def sample_id(call: PlannedCall) -> str:
    """A deterministic ``data_`` id, so ids do not churn between runs of the same experiment."""
    key = f"{call.config.model_config_id}|{call.input.id}|{call.sample_index}"
    return "data_" + hashlib.sha256(key.encode()).hexdigest()[:20]
