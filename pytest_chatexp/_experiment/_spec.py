"""Experiments: what a test declares (``ExperimentSpec``) and the calls it expands into
(``PlannedCall``). What comes back is in ``_result``.

Order is part of the contract: calls follow the order of the model configs, then of the inputs,
then the sample index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .._errors import InvalidExperimentError
from ._agents import DEFAULT_MAX_TURNS, SimulatedUser, check_tool_handlers, running_tools
from ._config import ModelConfig, Tool
from ._humanloop import (
    ChatMessage,
    TextChatContent,
)
from ._inputs import Input
from ._templates import render

__all__ = ["ExperimentSpec", "Loop", "PlannedCall", "SampleRange", "sample_id"]


@dataclass(frozen=True, slots=True)
class SampleRange:
    """Adaptive sampling, as a test declares it: from ``minimum`` to ``maximum`` samples per
    case, drawn until the declared checks settle whether the case's pass rate reaches
    ``min_pass_rate`` at ``confidence`` (``checks/_sequential.py``; the session runs it)."""

    minimum: int
    maximum: int
    min_pass_rate: float
    confidence: float
    checks: tuple[Any, ...]  # SampleChecks: the checks' layer sits above this one


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
    # Tools run by name, for configs that declare tools without their handlers (prompt files).
    tool_handlers: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    # Model calls one sample may make (a tool loop, a conversation) before it is cut short.
    max_turns: int = DEFAULT_MAX_TURNS
    simulated_user: SimulatedUser | None = None
    # Adaptive sampling declared (``num_samples`` is then its maximum); None: a fixed count.
    adaptive: SampleRange | None = None
    # One round of adaptive sampling plans only some cases, (config name, input id), and
    # their next samples: indexes from ``first_sample``, continuing the earlier rounds'.
    only: frozenset[tuple[str, str]] | None = None
    first_sample: int = 0
    # The ids of the declared inputs a subsample left out: their recorded answers are not stale.
    left_out: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if isinstance(self.max_turns, bool) or not isinstance(self.max_turns, int):
            raise InvalidExperimentError(f"max_turns must be an integer, got {self.max_turns!r}")
        if self.max_turns < 1:
            raise InvalidExperimentError(
                f"max_turns is {self.max_turns}: a sample needs at least one model call"
            )
        check_tool_handlers(self.model_configs, self.tool_handlers)
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
            tools = running_tools(config, self.tool_handlers)
            for case_input in self.inputs:
                if (
                    self.only is not None
                    and (config.display_name, str(case_input.id)) not in self.only
                ):
                    continue
                messages = self.render_messages(config, case_input)
                script = self.render_turns(config, case_input)
                if script:  # the first scripted turn opens the conversation
                    messages, script = (*messages, script[0]), script[1:]
                loop = Loop(
                    tools=tools,
                    script=script,
                    max_turns=self.max_turns,
                    user=self.simulated_user,
                    goal=self._goal(config, case_input),
                )
                calls.extend(
                    PlannedCall(config, case_input, messages, index, loop=loop)
                    for index in range(self.first_sample, self.first_sample + self.num_samples)
                )
        return calls

    def render_turns(self, config: ModelConfig, case_input: Input) -> tuple[ChatMessage, ...]:
        """The input's scripted user turns, rendered."""
        where = f"model config '{config.display_name}', input '{case_input.id}': turns"
        return tuple(
            _render_message(message, case_input.inputs, where=f"{where}[{position}].content")
            for position, message in enumerate(case_input.turns)
        )

    def _goal(self, config: ModelConfig, case_input: Input) -> str:
        if self.simulated_user is None:
            return ""
        where = (
            f"model config '{config.display_name}', input '{case_input.id}': simulated_user.goal"
        )
        return render(self.simulated_user.goal, case_input.inputs, where=where)

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
        if not rendered and not case_input.turns:  # a scripted first turn is a message
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
class Loop:
    """What may make a sample more than one call; shared by the samples of a case."""

    tools: Mapping[str, Tool] = field(default_factory=dict)
    # Scripted user messages still to send, each after the model answered the one before.
    script: tuple[ChatMessage, ...] = ()
    max_turns: int = DEFAULT_MAX_TURNS
    user: SimulatedUser | None = None
    goal: str = ""  # the simulated user's, rendered for the case

    @property
    def active(self) -> bool:
        return bool(self.tools or self.script or self.user)


_SINGLE_CALL = Loop()


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One provider call: a config, an input, its rendered messages and the sample index.

    A sample of a tool loop or a conversation makes one call per turn: ``turn`` numbers them,
    and ``agent`` is set on a simulated user's call (whose ``config`` is the user's) to the
    config of the case it belongs to.
    """

    config: ModelConfig
    input: Input
    messages: tuple[ChatMessage, ...]
    sample_index: int
    turn: int = 0
    agent: ModelConfig | None = None
    loop: Loop = _SINGLE_CALL

    @property
    def case_config(self) -> ModelConfig:
        """The config of the case this call belongs to."""
        return self.agent or self.config

    @property
    def label(self) -> str:
        """How messages name this call."""
        config, case = self.case_config.display_name, self.input.id
        label = f"model config '{config}', input '{case}', sample {self.sample_index}"
        if self.turn:
            label += f", turn {self.turn}"
        return label + (" (simulated user)" if self.agent is not None else "")


def sample_id(call: PlannedCall) -> str:
    """A deterministic ``data_`` id, so ids do not churn between runs of the same experiment."""
    key = f"{call.config.model_config_id}|{call.input.id}|{call.sample_index}"
    return "data_" + hashlib.sha256(key.encode()).hexdigest()[:20]
