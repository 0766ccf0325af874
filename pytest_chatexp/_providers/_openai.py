"""The OpenAI chat-completions wire format (``POST {base_url}/chat/completions``).

One format covers OpenAI itself, Azure-style gateways, Ollama, vLLM, llama.cpp's server, LiteLLM
and most hosted models.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .._errors import InvalidExperimentError, ProviderError
from .._experiment._humanloop import (
    ChatMessage,
    FunctionTool,
    TokenCount,
    ToolCall,
    ToolChoice,
    Usage,
)
from .._experiment._spec import PlannedCall
from ._base import (
    Provider,
    ProviderReply,
    WireRequest,
    any_event_item_has,
    endpoint_url,
    humanloop_finish_reason,
    parse_wire,
)

__all__ = ["OpenAIChatProvider"]

_SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "response_format",
)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WireFunction(_Wire):
    name: str
    arguments: str | None = None


class _WireToolCall(_Wire):
    id: str
    type: str = "function"
    function: _WireFunction


class _WireMessage(_Wire):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[_WireToolCall] | None = None


class _WireChoice(_Wire):
    message: _WireMessage
    finish_reason: str | None = None


class _WireTokenDetails(_Wire):
    reasoning_tokens: TokenCount | None = None


class _WirePromptDetails(_Wire):
    cached_tokens: TokenCount | None = None


class _WireUsage(_Wire):
    prompt_tokens: TokenCount | None = None
    completion_tokens: TokenCount | None = None
    total_tokens: TokenCount | None = None
    completion_tokens_details: _WireTokenDetails | None = None
    prompt_tokens_details: _WirePromptDetails | None = None


class _WireCompletion(_Wire):
    choices: list[_WireChoice]
    usage: _WireUsage | None = None


class OpenAIChatProvider(Provider):
    kind: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    default_api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        config = call.config
        body: dict[str, Any] = {
            "model": config.model,
            "messages": [_wire_message(message) for message in call.messages],
        }
        for name in _SAMPLING_FIELDS:
            value = getattr(config, name)
            if value is not None:
                body[name] = value
        if config.max_tokens is not None and config.max_tokens != -1:
            body["max_tokens"] = config.max_tokens
        if config.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": tool.model_dump(exclude_none=True),
                }
                for tool in config.tools
            ]
        if isinstance(config.tool_choice, ToolChoice):
            body["tool_choice"] = config.tool_choice.model_dump(mode="json")
        elif config.tool_choice is not None:
            body["tool_choice"] = config.tool_choice
        if config.reasoning is not None:
            if config.reasoning.effort is None:
                raise InvalidExperimentError(
                    f"model config '{config.display_name}': reasoning sets only budget_tokens, "
                    "which OpenAI chat completions cannot take (they have reasoning_effort, no "
                    "thinking budget); set reasoning={'effort': 'low' / 'medium' / 'high'}"
                )
            body["reasoning_effort"] = config.reasoning.effort
        body.update(config.other)
        if body.get("stream") is True:
            # Usage arrives in a final chunk only when asked for.
            body.setdefault("stream_options", {"include_usage": True})
        return WireRequest(url=endpoint_url(base_url, "chat/completions"), body=body)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def parse_response(self, body: Any) -> ProviderReply:
        if isinstance(body, list):
            body = assemble_stream(body)
        completion = parse_wire(_WireCompletion, body, "an OpenAI chat completion")
        if not completion.choices:
            raise ProviderError("the response is not an OpenAI chat completion: 'choices' is empty")
        choice = completion.choices[0]
        tool_calls = [
            ToolCall(
                id=call.id,
                type="function",
                function=FunctionTool(name=call.function.name, arguments=call.function.arguments),
            )
            for call in choice.message.tool_calls or []
        ]
        raw_output = choice.message.content or ""
        message = ChatMessage(
            role="assistant", content=choice.message.content, tool_calls=tool_calls or None
        )
        return ProviderReply(
            message=message,
            raw_output=raw_output,
            finish_reason=humanloop_finish_reason(choice.finish_reason),
            usage=_usage(completion.usage),
        )

    def stream_finished(self, events: list[Any]) -> bool:
        return any_event_item_has(events, "choices", "finish_reason")

    def error_message(self, body: Any) -> str | None:
        if isinstance(body, dict):
            error = body.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            if isinstance(message, str):
                return message
            if isinstance(error, str):
                return error
        return None


def assemble_stream(chunks: list[Any]) -> dict[str, Any]:
    """The ``chat.completion`` a stream of ``chat.completion.chunk`` events adds up to: content
    deltas joined, tool calls assembled by their index (id and name once, arguments in pieces),
    the last finish reason, and the usage chunk's counts."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish_reason: str | None = None
    usage: Any = None
    for position, chunk in enumerate(chunks):
        if not isinstance(chunk, dict):
            raise ProviderError(f"stream event {position} is not an object: {chunk!r:.80}")
        usage = chunk.get("usage") or usage
        for choice in _objects(chunk.get("choices"), f"stream event {position}: choices"):
            delta = _object(choice.get("delta") or {}, f"stream event {position}: delta")
            if isinstance(delta.get("content"), str):
                content.append(delta["content"])
            for part in _objects(delta.get("tool_calls"), f"stream event {position}: tool_calls"):
                index = part.get("index", 0)
                if not isinstance(index, int) or isinstance(index, bool):
                    raise ProviderError(f"stream event {position}: a tool call index is {index!r}")
                call = calls.setdefault(
                    index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] = _text(part.get("id"), position) or call["id"]
                function = _object(part.get("function") or {}, f"stream event {position}: function")
                call["function"]["name"] += _text(function.get("name"), position)
                call["function"]["arguments"] += _text(function.get("arguments"), position)
            reason = choice.get("finish_reason")
            finish_reason = reason if isinstance(reason, str) and reason else finish_reason
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    completion: dict[str, Any] = {
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]
    }
    if usage is not None:
        completion["usage"] = usage
    return completion


def _objects(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ProviderError(f"{where} is not a list of objects: {value!r:.80}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderError(f"{where} is not an object: {value!r:.80}")
    return value


def _text(value: Any, position: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProviderError(f"stream event {position}: expected text, got {value!r:.80}")
    return value


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    # ``tool_call`` is Humanloop's deprecated single-call field; OpenAI rejects it.
    return message.model_dump(mode="json", exclude_none=True, exclude={"tool_call"})


def _usage(usage: _WireUsage | None) -> Usage:
    if usage is None:
        return Usage()  # not reported (llama.cpp streams): unknown, not zero
    details = usage.completion_tokens_details
    counted = Usage.of(usage.prompt_tokens, usage.completion_tokens)
    update: dict[str, int | None] = {
        "total_tokens": usage.total_tokens
        if usage.total_tokens is not None
        else counted.total_tokens,
        "reasoning_tokens": details.reasoning_tokens if details is not None else None,
    }
    # Part of prompt_tokens; set only when reported, so dumps keep the seed's usage shape.
    cached = usage.prompt_tokens_details
    if cached is not None and cached.cached_tokens is not None:
        update["cached_tokens"] = cached.cached_tokens
    return counted.model_copy(update=update)
