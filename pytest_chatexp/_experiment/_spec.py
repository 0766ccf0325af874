"""Experiments: what a test declares (``ExperimentSpec``) and the calls it expands into
(``PlannedCall``). What comes back is in ``_result``.

Order is part of the contract: calls follow the order of the model configs, then of the inputs,
then the sample index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .._errors import InvalidExperimentError
from ._config import ModelConfig
from ._humanloop import (
    ChatMessage,
    TextChatContent,
)
from ._inputs import Input
from ._templates import render

__all__ = ["ExperimentSpec", "PlannedCall", "sample_id"]


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


def sample_id(call: PlannedCall) -> str:
    """A deterministic ``data_`` id, so ids do not churn between runs of the same experiment."""
    key = f"{call.config.model_config_id}|{call.input.id}|{call.sample_index}"
    return "data_" + hashlib.sha256(key.encode()).hexdigest()[:20]
