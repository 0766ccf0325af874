"""Model configs: what to call and how, declared inline or in prompt files kept in the repo.

A config is content-addressed: ``model_config_id`` hashes everything that shapes the request sent to
the provider, so any prompt or parameter edit is a new id, while renaming a config or changing which
environment variable holds its key is not.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .._errors import InvalidExperimentError
from .._redaction import display_url
from .._util import canonical_json, endpoint_identity
from .._validation import describe_validation_error, suggest
from ._apps import APP_PROVIDER, register_app
from ._humanloop import ChatMessage, ToolChoice, ToolChoiceValue
from ._schema import schema_checker

__all__ = ["ModelConfig", "Reasoning", "TemplateMessage", "Tool", "model_config_from_data"]

# Fields that do not change what is sent to the provider, so they stay out of the id; and the
# extra headers and query parameters, which may hold keys (excluded from every dump as well).
_NOT_SENT = frozenset({"name", "description", "api_key_env", "headers", "query"})
# Providers that may use tools and input variables the config does not declare: a stored or
# deployed Humanloop config (sent the inputs, rendered server-side), an app's own code.
OPAQUE_PROVIDERS = frozenset({"humanloop", APP_PROVIDER})


def _has_content(message: ChatMessage) -> ChatMessage:
    # Only an assistant message carrying tool calls may go without content: any other would be
    # sent as a bare {"role": ...}, a prompt other than the one written.
    if message.content is None and not (
        message.role == "assistant" and (message.tool_calls or message.tool_call)
    ):
        article = "an" if message.role == "assistant" else "a"
        raise ValueError(f"{article} {message.role} message needs 'content'")
    return message


# A message written in a template, an experiment or an input: one that says something.
TemplateMessage = Annotated[ChatMessage, AfterValidator(_has_content)]


def check_json_value(value: Any, where: str) -> None:
    """Raise ValueError unless ``value`` can be sent as JSON: no NaN or infinity, string keys,
    only JSON's types. Checked when declared, so a bad value names its field, not a call."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value!r}, which JSON cannot carry")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has the key {key!r}; JSON keys are strings")
            check_json_value(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            check_json_value(item, f"{where}[{position}]")
    elif value is not None and not isinstance(value, str | int | float):
        raise ValueError(f"{where} is of type {type(value).__name__}, which JSON cannot carry")


class Tool(BaseModel):
    """A function the model may call, with its arguments described by a JSON Schema.

    ``handler`` (a function, sync or async, called with the arguments as keywords), or a canned
    ``returns=`` value, or ``raises=`` (an exception or its message) makes the tool run: the
    plugin sends its result back to the model and calls it again, up to ``max_turns``. None of
    the three is sent to the model, so none is part of ``model_config_id``: what a handler
    returns is, through the next request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    handler: Callable[..., Any] | None = Field(default=None, exclude=True, repr=False)
    returns: Any = Field(default=None, exclude=True, repr=False)
    raises: BaseException | type[BaseException] | str | None = Field(
        default=None, exclude=True, repr=False
    )

    @property
    def runs(self) -> bool:
        """Whether the plugin runs this tool: it has a handler, a ``returns`` or a ``raises``."""
        return bool(self._behaviours())

    def _behaviours(self) -> list[str]:
        # ``returns=None`` is a canned result (JSON null), so ``returns`` counts once given.
        return [
            name
            for name in ("handler", "returns", "raises")
            if name in self.model_fields_set and (name == "returns" or getattr(self, name))
        ]

    @field_validator("handler")
    @classmethod
    def _handler(cls, value: Any) -> Any:
        if value is not None and not callable(value):
            raise ValueError(f"must be a function, got {type(value).__name__}")
        return value

    @model_validator(mode="after")
    def _one_behaviour(self) -> Tool:
        given = self._behaviours()
        if len(given) > 1:
            raise ValueError(f"tool '{self.name}' sets {' and '.join(given)}: give one of them")
        return self

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_json_value(value, "parameters")
            schema_checker(value, where="parameters")  # a ValueError naming where it is wrong
        return value


# The thinking budget an effort stands for where a provider takes only a budget (Anthropic's
# ``thinking.budget_tokens``, at least 1024): documented in the README's Providers section.
EFFORT_BUDGETS: Mapping[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
# What Anthropic sends as max_tokens when a config sets none (the provider's DEFAULT_MAX_TOKENS).
_ANTHROPIC_DEFAULT_MAX_TOKENS = 1024


class Reasoning(BaseModel):
    """How much a reasoning model thinks, one setting for every provider: an ``effort``, a
    thinking ``budget_tokens``, or both. Each provider translates it (OpenAI chat:
    ``reasoning_effort``; Anthropic: ``thinking`` with a budget, an effort alone standing for
    1024 / 2048 / 8192 / 24576 tokens); one that cannot express it is an error naming the
    config, never a setting silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effort: Literal["minimal", "low", "medium", "high"] | None = None
    budget_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _something(self) -> Reasoning:
        if self.effort is None and self.budget_tokens is None:
            raise ValueError("needs an 'effort' or a 'budget_tokens' (or both)")
        return self

    @property
    def thinking_budget(self) -> int:
        """``budget_tokens``, or the budget the effort stands for."""
        if self.budget_tokens is not None:
            return self.budget_tokens
        assert self.effort is not None  # one of the two is set (validated)
        return EFFORT_BUDGETS[self.effort]


class ModelConfig(BaseModel):
    """A chat model config: Humanloop's chat model-config fields plus where to send it.

    Unset sampling parameters are not sent, so the provider's own defaults apply. ``base_url``
    defaults to ``$<PROVIDER>_BASE_URL`` (``OPENAI_BASE_URL`` for OpenAI, as the official SDK
    does) and then to the provider's public endpoint; ``api_key_env`` names the environment
    variable holding the key (default ``OPENAI_API_KEY`` for OpenAI-compatible providers).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1)
    description: str | None = None
    provider: str = "openai"
    endpoint: Literal["chat"] = "chat"
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = None
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    chat_template: tuple[TemplateMessage, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoiceValue | None = None
    other: dict[str, Any] = Field(default_factory=dict)
    reasoning: Reasoning | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    # Escape hatches sent with every request of this config (a gateway's auth or routing
    # header, an ``api-version``): never part of the id, a recording, a report or a repr, and
    # their values are known secrets, redacted wherever one is echoed.
    headers: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)
    query: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    if TYPE_CHECKING:
        # What type checkers see: every field by name, typed as test modules write them (plain
        # dicts for messages and tools), so a misspelt field is flagged where it is written.
        # tests/docs/test_public_api.py holds these parameters to the fields.
        def __init__(
            self,
            /,
            *,
            model: str,
            name: str | None = None,
            description: str | None = None,
            provider: str = "openai",
            endpoint: Literal["chat"] = "chat",
            temperature: float | None = None,
            max_tokens: int | None = None,
            top_p: float | None = None,
            stop: str | Sequence[str] | None = None,
            presence_penalty: float | None = None,
            frequency_penalty: float | None = None,
            seed: int | None = None,
            response_format: Mapping[str, Any] | None = None,
            chat_template: Sequence[ChatMessage | Mapping[str, Any]] = (),
            tools: Sequence[Tool | Mapping[str, Any]] = (),
            tool_choice: ToolChoiceValue | Mapping[str, Any] | None = None,
            other: Mapping[str, Any] = ...,
            reasoning: Reasoning | Mapping[str, Any] | None = None,
            base_url: str | None = None,
            api_key_env: str | None = None,
            headers: Mapping[str, str] = ...,
            query: Mapping[str, str] = ...,
        ) -> None: ...

    else:

        def __init__(self, /, **data: Any) -> None:
            # Configs are mostly built in test modules: a mistake reads as one sentence naming
            # the field, not as pydantic's report.
            try:
                super().__init__(**data)
            except ValidationError as exc:
                problems = describe_validation_error(exc, known_fields=type(self).model_fields)
                raise InvalidExperimentError(f"ModelConfig: {problems}") from None

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens(cls, value: int | None) -> int | None:
        # Humanloop uses -1 for "as many as the context allows": the same as not sending it.
        if value is not None and value != -1 and value < 1:
            raise ValueError("must be a positive integer, or -1 for the provider's maximum")
        return value

    @field_validator("response_format")
    @classmethod
    def _response_format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("type"), str):
            raise ValueError("needs a 'type', e.g. {'type': 'json_object'}")
        return value

    @field_validator("response_format", "other")
    @classmethod
    def _sendable(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        check_json_value(value, str(info.field_name))
        return value

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice(
        cls, value: ToolChoiceValue | None, info: ValidationInfo
    ) -> ToolChoiceValue | None:
        if not isinstance(value, ToolChoice) or "tools" not in info.data:
            return value  # not a named tool, or the tools are invalid (reported already)
        tools: tuple[Tool, ...] = info.data["tools"]
        if not tools and info.data.get("provider") in OPAQUE_PROVIDERS:
            return value
        wanted = value.function.name
        declared = [tool.name for tool in tools]
        if wanted not in declared:
            config = info.data.get("name") or info.data.get("model") or "this config"
            known = ", ".join(f"'{name}'" for name in declared) or "none"
            raise ValueError(
                f"names the tool '{wanted}', which model config '{config}' does not declare "
                f"(tools: {known}){suggest(wanted, declared)}"
            )
        return value

    @model_validator(mode="after")
    def _thinking_fits(self) -> ModelConfig:
        # Anthropic requires max_tokens > thinking.budget_tokens: said when the config is
        # declared (collection), not by a 400 from the provider.
        if self.provider == "anthropic" and self.reasoning is not None:
            budget = self.reasoning.thinking_budget
            limit = self.max_tokens
            if limit in (None, -1):
                limit = _ANTHROPIC_DEFAULT_MAX_TOKENS
            if limit is not None and limit <= budget:
                raise ValueError(
                    f"model config '{self.name or self.model}': Anthropic requires max_tokens "
                    f"({limit}{' by default' if self.max_tokens in (None, -1) else ''}) to be "
                    f"greater than the thinking budget ({budget} tokens, from reasoning="
                    f"{self.reasoning.model_dump(exclude_none=True)}); raise max_tokens"
                )
        return self

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{value!r} is not an http(s) URL")
            try:
                parts.port  # noqa: B018  (parsed lazily: 99999 raises only when read)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
            value = value.rstrip("/")
        return value

    @property
    def display_name(self) -> str:
        """The name reports and test ids use: ``name``, or the model when unnamed."""
        return self.name or self.model

    @cached_property
    def model_config_id(self) -> str:
        """A stable id derived from everything this config sends (``config_<16 hex>``)."""
        # Cached: the config is frozen, and the id is read for every sample of every case.
        return "config_" + _digest(self.sent_fields())[:16]

    def sent_fields(self) -> dict[str, Any]:
        """The fields that shape the provider request, as canonical JSON-ready data."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude=set(_NOT_SENT))
        data["provider"] = self.provider
        if self.base_url is not None:
            data["base_url"] = endpoint_identity(self.base_url)
        return data

    @classmethod
    def for_app(cls, function: Callable[..., Any], **fields: Any) -> ModelConfig:
        """A config whose target is your own code: ``function(call: AppCall)`` gets the
        rendered messages, this config and the inputs, and returns text, a message or an
        ``AppReply``. Its HTTP calls through ``call.http_client()`` are recorded."""
        fields.setdefault("name", function.__name__)
        return cls(provider=APP_PROVIDER, model=register_app(function), **fields)

    def variant(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed, validated like a new config.

        Without a new ``name``, the variant is named after its base and its changes, for example
        ``support-v1[temperature=0.9]``, so reports tell the two apart.
        """
        if "name" not in changes:
            # Extra headers and query values may be keys: the name shows their names only.
            summary = ",".join(
                f"{key}={','.join(value) if key in ('headers', 'query') else _short(value)}"
                for key, value in changes.items()
            )
            changes["name"] = f"{self.display_name}[{summary}]"
        # Field values, not a dump: a dump would drop the tools' handlers (never sent).
        data = {name: getattr(self, name) for name in self.model_fields_set}
        data.update(changes)
        return ModelConfig(**data)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if isinstance(value, str) and "://" in value:  # a base URL: names are shown everywhere
        text = display_url(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _digest(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def model_config_from_data(data: Any, *, where: str) -> ModelConfig:
    """Validate one config given as a dict (or an existing ModelConfig) with a readable error."""
    if isinstance(data, ModelConfig):
        return data
    if not isinstance(data, Mapping):
        raise InvalidExperimentError(
            f"{where}: expected a ModelConfig, a mapping or a prompt file path, "
            f"got {type(data).__name__}"
        )
    try:
        return ModelConfig(**dict(data))
    except InvalidExperimentError as exc:
        raise InvalidExperimentError(f"{where}: {str(exc).removeprefix('ModelConfig: ')}") from None
