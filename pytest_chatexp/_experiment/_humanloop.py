"""Result models shaped like Humanloop's v4 chat API (``ChatResponse`` and what it contains).

The field names, types and meanings follow the v4 OpenAPI schemas (4.0.1) and the
"Create Experiment" reference page, which adds ``usage.reasoning_tokens``. Every model keeps
unknown fields (``extra="allow"``) and every optional field accepts ``null``, so a Humanloop JSON
response parses and dumps back losslessly with ``model_dump(mode="json", by_alias=True,
exclude_unset=True)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatDataResponse",
    "ChatExperimentRequest",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ChatRole",
    "FunctionTool",
    "FunctionToolChoice",
    "HumanloopLog",
    "ImageChatContent",
    "ImageUrl",
    "ModelConfigChatRequest",
    "TextChatContent",
    "TokenCount",
    "ToolCall",
    "ToolChoice",
    "ToolChoiceValue",
    "ToolResultResponse",
    "Usage",
]


class _Schema(BaseModel):
    # ``protected_namespaces=()``: Humanloop names fields ``model_config_id`` and ``model``.
    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    def to_json_dict(self) -> dict[str, Any]:
        """Dump as the JSON object Humanloop would send: aliases, only the fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


ChatRole: TypeAlias = Literal["user", "assistant", "system", "tool"]


class TextChatContent(_Schema):
    type: Literal["text"] = "text"
    text: str


class ImageUrl(_Schema):
    url: str
    detail: Literal["high", "low", "auto"] | None = None


class ImageChatContent(_Schema):
    type: Literal["image_url"] = "image_url"
    image_url: ImageUrl


class FunctionTool(_Schema):
    """A function call the model asks for; ``arguments`` is the JSON text as the model wrote it."""

    name: str
    arguments: str | None = None


class ToolCall(_Schema):
    id: str
    type: Literal["function"]
    function: FunctionTool


class FunctionToolChoice(_Schema):
    name: str


class ToolChoice(_Schema):
    """The object form of ``tool_choice``: force the model to call the named function."""

    type: Literal["function"]
    function: FunctionToolChoice


ToolChoiceValue: TypeAlias = Literal["none", "auto", "required"] | ToolChoice


class ChatMessage(_Schema):
    """Humanloop's ``ChatMessageWithToolCall``: one message sent to or returned by a model."""

    role: ChatRole
    content: str | list[TextChatContent | ImageChatContent] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call: FunctionTool | None = None
    # A tool message whose tool failed (it raised, was unknown, or got invalid arguments), for
    # the providers with an error flag (Anthropic's is_error, Bedrock's status, Gemini's
    # "error"). Carried, not read back from the "Error: " text; never part of Humanloop's shape.
    is_error: bool = Field(default=False, exclude=True)

    @property
    def text(self) -> str:
        """The message's text: the string content, or its text parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextChatContent))


class ToolResultResponse(_Schema):
    id: str
    name: str
    signature: str
    result: str


# A token count as a provider reports it: a whole number >= 0. Strict, so that "12", 12.5 or
# true from a provider is an error naming the field rather than a number it never sent.
TokenCount: TypeAlias = Annotated[int, Field(strict=True, ge=0)]


class Usage(_Schema):
    """Token counts. ``generation_tokens`` is what OpenAI calls ``completion_tokens``.

    ``None`` means unknown: the provider did not report it (llama.cpp's streams, an answer
    without ``usage``). Unknown is not zero: a sum with an unknown part is unknown.
    ``reasoning_tokens`` stays None when the model does no reasoning a provider reports.

    ``cached_tokens`` (prompt tokens read from the provider's prompt cache) and
    ``cache_write_tokens`` (prompt tokens written to it: Anthropic's
    ``cache_creation_input_tokens``) are parts of ``prompt_tokens``, None when the provider
    does not report them. They are set only when known, so a dump (``to_json_dict``, the
    Humanloop-shaped ``ChatResponse``) shows them only then: the seed's usage shape is kept.
    Like ``reasoning_tokens``, a sum counts the parts that report them and is None only when
    none does (an unreported cache read prices at the input rate: a cost never under-counted).
    """

    prompt_tokens: TokenCount | None = None
    generation_tokens: TokenCount | None = None
    total_tokens: TokenCount | None = None
    reasoning_tokens: TokenCount | None = None
    cached_tokens: TokenCount | None = None
    cache_write_tokens: TokenCount | None = None

    @classmethod
    def of(cls, prompt: int | None, generation: int | None) -> Usage:
        """Prompt and generation counts, with their total when both are known."""
        return cls(
            prompt_tokens=prompt,
            generation_tokens=generation,
            total_tokens=_add(prompt, generation),
        )

    @classmethod
    def combined(cls, usages: Iterable[Usage]) -> Usage:
        """The sum of ``usages``: zero for none, unknown where any part is unknown."""
        return sum(usages, cls(prompt_tokens=0, generation_tokens=0, total_tokens=0))

    @property
    def known(self) -> bool:
        """Whether the prompt, generation and total counts are all known."""
        return None not in (self.prompt_tokens, self.generation_tokens, self.total_tokens)

    def __add__(self, other: Usage) -> Usage:
        # The cache counts are passed only when known: an unset field stays out of dumps.
        caches = {
            name: value
            for name in ("cached_tokens", "cache_write_tokens")
            if (value := _add_reported(getattr(self, name), getattr(other, name))) is not None
        }
        return Usage(
            prompt_tokens=_add(self.prompt_tokens, other.prompt_tokens),
            generation_tokens=_add(self.generation_tokens, other.generation_tokens),
            total_tokens=_add(self.total_tokens, other.total_tokens),
            reasoning_tokens=_add_reported(self.reasoning_tokens, other.reasoning_tokens),
            **caches,
        )


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _add_reported(a: int | None, b: int | None) -> int | None:
    """A count only some providers report: the reported parts summed, None if none is."""
    return None if a is None and b is None else (a or 0) + (b or 0)


class ChatDataResponse(_Schema):
    """One sampled generation (an item of ``ChatResponse.data``)."""

    id: str
    index: int
    output: str
    raw_output: str
    model_config_id: str
    output_message: ChatMessage
    inputs: dict[str, Any] | None = None
    finish_reason: str | None = None
    tool_results: list[ToolResultResponse] | None = None
    messages: list[ChatMessage] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call: FunctionTool | None = None


class ChatResponse(_Schema):
    """The response of ``POST /v4/chat-experiment`` (and of ``/v4/chat``)."""

    data: list[ChatDataResponse]
    provider_responses: list[Any]
    project_id: str | None = None
    num_samples: int | None = 1
    logprobs: int | None = None
    suffix: str | None = None
    user: str | None = None
    usage: Usage | None = None
    metadata: dict[str, Any] | None = None
    provider_request: dict[str, Any] | None = None
    session_id: str | None = None
    tool_choice: ToolChoiceValue | None = None


class HumanloopLog(_Schema):
    """What Humanloop answered about one call beyond the model's message: where it logged it
    and what it exchanged with the model (``provider_request`` is the request it sent to the
    model, ``provider_responses`` the model's raw answers), the messages as it rendered them and
    the inputs it echoed. Kept on the sample so ``Case.to_chat_response()`` shows Humanloop's
    answer, not our own ``/v4`` exchange (the recording keeps that)."""

    project_id: str | None = None
    session_id: str | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None
    provider_request: dict[str, Any] | None = None
    provider_responses: list[Any] = Field(default_factory=list)
    messages: list[ChatMessage] | None = None
    inputs: dict[str, Any] | None = None

    @property
    def model(self) -> str | None:
        """The model Humanloop called, as its provider request or the model's answer names it:
        what the call is priced by (a stored config's local ``model`` is only a label)."""
        named = (self.provider_request or {}).get("model")
        if isinstance(named, str) and named:
            return named
        for response in self.provider_responses:
            if isinstance(response, dict) and isinstance(response.get("model"), str):
                return str(response["model"])
        return None


class ModelConfigChatRequest(_Schema):
    """Humanloop's inline chat model config, as sent to ``/v4/chat``."""

    model: str
    name: str | None = None
    description: str | None = None
    provider: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    other: dict[str, Any] | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    endpoint: Literal["complete", "chat", "edit"] | None = None
    chat_template: list[ChatMessage] | None = None
    tools: list[dict[str, Any]] | None = None


class _ChatRequestBase(_Schema):
    messages: list[ChatMessage] | None = None
    inputs: dict[str, Any] | None = None
    project: str | None = None
    project_id: str | None = None
    session_id: str | None = None
    session_reference_id: str | None = None
    parent_id: str | None = None
    parent_reference_id: str | None = None
    source: str | None = None
    metadata: dict[str, Any] | None = None
    save: bool | None = None
    source_datapoint_id: str | None = None
    provider_api_keys: dict[str, str] | None = None
    num_samples: int | None = None
    stream: bool | None = None
    user: str | None = None
    seed: int | None = None
    return_inputs: bool | None = None
    tool_choice: ToolChoiceValue | None = None
    tool_call: str | dict[str, str] | None = None
    response_format: dict[str, Any] | None = None


class ChatRequest(_ChatRequestBase):
    """The body of ``POST /v4/chat``. Its ``model_config`` field is ``model_config_`` here,
    because pydantic reserves ``model_config``; it is read and written under its real name."""

    model_config_: ModelConfigChatRequest | None = Field(default=None, alias="model_config")


class ChatExperimentRequest(_ChatRequestBase):
    """The body of ``POST /v4/chat-experiment``."""

    experiment_id: str
