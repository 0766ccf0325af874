"""What makes a sample more than one call: tools the plugin runs, and a simulated user.

Declared here, run by the calls stage (``_calls/_loop``): a test names the tools' handlers (on
``Tool`` itself or by name with ``tool_handlers=``), a ``max_turns`` cap, scripted user turns
on an ``Input``, or a ``SimulatedUser`` who writes the next user message towards a goal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._errors import InvalidExperimentError
from .._validation import describe_validation_error, suggest
from ._config import OPAQUE_PROVIDERS, ModelConfig, Tool

__all__ = ["DEFAULT_MAX_TURNS", "SimulatedUser", "check_tool_handlers", "running_tools"]

#: Model calls a sample may make before its loop is cut short (``finish_reason="max_turns"``).
DEFAULT_MAX_TURNS = 10

_INSTRUCTIONS = (
    "You are role-playing a user talking to an assistant. Your goal: {goal}\n"
    "Write only the user's next message, in the first person, nothing else. When the goal "
    "is met, or cannot be met, reply with exactly {stop}."
)


class SimulatedUser(BaseModel):
    """Another model plays the user: after each answer it writes the next user message, towards
    ``goal`` (a template: ``{{var}}`` takes the input's variables), until it answers ``stop``
    (alone or at the end of its message) or has written ``max_messages`` messages. Its calls
    are recorded and replayed like the model's, so a replayed conversation is the same one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: ModelConfig
    goal: str = Field(min_length=1)
    max_messages: int = Field(default=5, ge=1, le=100)
    stop: str = Field(default="GOAL_COMPLETE", min_length=1)
    # The simulated user's system prompt; ``{goal}`` and ``{stop}`` are filled in.
    instructions: str = _INSTRUCTIONS

    if not TYPE_CHECKING:

        def __init__(self, /, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:
                problems = describe_validation_error(exc, known_fields=type(self).model_fields)
                raise InvalidExperimentError(f"SimulatedUser: {problems}") from None

    def system_prompt(self, goal: str) -> str:
        return self.instructions.replace("{goal}", goal).replace("{stop}", self.stop)

    def is_done(self, text: str) -> bool:
        return not text.strip() or text.rstrip().endswith(self.stop)

    def message_text(self, text: str) -> str:
        """The user message in the simulated user's answer (a trailing ``stop`` removed)."""
        return text.strip().removesuffix(self.stop).strip()


def running_tools(
    config: ModelConfig, handlers: Mapping[str, Callable[..., Any]]
) -> dict[str, Tool]:
    """The tools of ``config`` the plugin runs, by name: those with a behaviour of their own,
    and those ``handlers`` (``tool_handlers=``) name. A config whose tools live elsewhere (a
    stored Humanloop config, an app) takes handlers for tools it does not declare."""
    tools = {tool.name: tool for tool in config.tools if tool.runs}
    declared = {tool.name: tool for tool in config.tools}
    for name, handler in handlers.items():
        tool = declared.get(name)
        if tool is not None and name not in tools:
            tools[name] = tool.model_copy(update={"handler": handler})
        elif tool is None and config.provider in OPAQUE_PROVIDERS:
            tools[name] = Tool(name=name, handler=handler)
    return tools


def check_tool_handlers(
    configs: tuple[ModelConfig, ...], handlers: Mapping[str, Callable[..., Any]]
) -> None:
    """Every handler is a function for a tool some config declares (or may use unseen)."""
    if any(config.provider in OPAQUE_PROVIDERS for config in configs):
        declared: list[str] | None = None
    else:
        declared = sorted({tool.name for config in configs for tool in config.tools})
    for name, handler in handlers.items():
        if not callable(handler):
            raise InvalidExperimentError(
                f"tool_handlers['{name}'] must be a function, got {type(handler).__name__}"
            )
        if declared is not None and name not in declared:
            known = ", ".join(f"'{tool}'" for tool in declared) or "none"
            raise InvalidExperimentError(
                f"tool_handlers names the tool '{name}', which no model config declares "
                f"(tools: {known}){suggest(name, declared)}"
            )
