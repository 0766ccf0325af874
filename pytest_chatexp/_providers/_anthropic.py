"""The Anthropic Messages wire format (``POST {base_url}/v1/messages``).

Humanloop's chat shape differs from Anthropic's in a few places, all mapped here:

* system messages go to the top-level ``system`` field (joined by a blank line);
* an assistant's ``tool_calls`` become ``tool_use`` content blocks, and ``tool`` messages
  become ``tool_result`` blocks of a user message (consecutive results share one message);
* tools are ``{name, description, input_schema}``; ``tool_choice`` is an object
  (``"required"`` is ``{"type": "any"}``, a named function ``{"type": "tool", "name": ...}``);
* ``max_tokens`` is required by Anthropic, so it defaults to 1024 when the config leaves it
  unset (or sets Humanloop's ``-1``);
* ``stop`` is ``stop_sequences``;
* a ``json_schema`` ``response_format`` is structured output, ``output_config.format``.

Answers map back: text blocks joined are the output, ``tool_use`` blocks are tool calls whose
``arguments`` are the input object as compact JSON, ``stop_reason`` is translated to Humanloop's
finish reasons and ``input_tokens``/``output_tokens`` are the prompt/generation tokens. A
streamed request (``"stream": true`` in ``other``) is assembled from its event list into the
same reply.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .._errors import InvalidExperimentError, ProviderError
from .._experiment._humanloop import (
    ChatMessage,
    FunctionTool,
    ImageChatContent,
    TextChatContent,
    TokenCount,
    ToolCall,
    ToolChoice,
    Usage,
)
from .._experiment._spec import PlannedCall
from ._anthropic_stream import assemble_stream, error_text
from ._base import (
    Provider,
    ProviderReply,
    WireRequest,
    arguments_object,
    endpoint_url,
    humanloop_finish_reason,
    parse_wire,
)

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "THINKING_BLOCKS_FIELD",
    "AnthropicMessagesProvider",
]

ANTHROPIC_VERSION = "2023-06-01"
#: Sent when a config sets no ``max_tokens``: Anthropic requires one.
DEFAULT_MAX_TOKENS = 1024

# Anthropic's stop reasons in Humanloop's vocabulary; others (e.g. "refusal") pass through.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
}
# Content blocks of the model's thinking: never output text, sent back only in tool loops.
_THINKING_BLOCKS = ("thinking", "redacted_thinking")
#: The assistant message's extra field holding its thinking blocks (see ``wire_messages``).
THINKING_BLOCKS_FIELD = "anthropic_thinking_blocks"
# Humanloop config fields the Messages API has no parameter for: refused, not silently dropped
# (dropping them would also make two different configs replay each other's recordings).
_UNSUPPORTED_FIELDS = ("presence_penalty", "frequency_penalty", "seed")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WireBlock(_Wire):
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None


class _WireUsage(_Wire):
    input_tokens: TokenCount | None = None
    output_tokens: TokenCount | None = None
    cache_creation_input_tokens: TokenCount | None = None
    cache_read_input_tokens: TokenCount | None = None


class _WireMessage(_Wire):
    content: list[_WireBlock]
    stop_reason: str | None = None
    usage: _WireUsage | None = None


class AnthropicMessagesProvider(Provider):
    kind: ClassVar[str] = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    default_api_key_env: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    base_url_env: ClassVar[str | None] = "ANTHROPIC_BASE_URL"

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        config = call.config
        where = f"model config '{config.display_name}'"
        for name in _UNSUPPORTED_FIELDS:
            if getattr(config, name) is not None:
                raise InvalidExperimentError(
                    f"{where}: '{name}' is not supported by the Anthropic Messages API "
                    "(provider 'anthropic'); remove it, or pass an Anthropic parameter in 'other'"
                )
        max_tokens = config.max_tokens
        body: dict[str, Any] = {
            "model": config.model,
            "max_tokens": DEFAULT_MAX_TOKENS if max_tokens in (None, -1) else max_tokens,
        }
        system = [message.text for message in call.messages if message.role == "system"]
        if system:
            body["system"] = "\n\n".join(system)
        body["messages"] = wire_messages(call.messages, where=where)
        if config.temperature is not None:
            body["temperature"] = config.temperature
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.stop is not None:
            body["stop_sequences"] = [config.stop] if isinstance(config.stop, str) else config.stop
        if config.tools:
            body["tools"] = [
                _wire_tool(tool.model_dump(exclude_none=True)) for tool in config.tools
            ]
        if config.tool_choice is not None:
            body["tool_choice"] = _wire_tool_choice(config.tool_choice)
        if config.reasoning is not None:
            # An effort alone stands for a documented budget (Reasoning.thinking_budget); the
            # config checked max_tokens > budget when it was declared.
            budget = config.reasoning.thinking_budget
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if config.response_format is not None:
            output_format = _output_format(config.response_format, where)
            if output_format is not None:
                body["output_config"] = {"format": output_format}
        body.update(config.other)
        return WireRequest(
            url=endpoint_url(base_url, "v1/messages"),
            body=body,
            headers={"anthropic-version": ANTHROPIC_VERSION},
        )

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key}

    def parse_response(self, body: Any) -> ProviderReply:
        if isinstance(body, list):
            body = assemble_stream(body)
        message = parse_wire(_WireMessage, body, "an Anthropic message")
        texts: list[str] = []
        thoughts: list[str] = []
        thinking_blocks: list[dict[str, Any]] = []
        tool_calls: list[ToolCall] = []
        for block in message.content:
            if block.type in _THINKING_BLOCKS:
                thinking_blocks.append(block.model_dump(exclude_none=True))
                thought = (block.model_extra or {}).get("thinking")
                if isinstance(thought, str):
                    thoughts.append(thought)
            elif block.type == "text":
                texts.append(block.text or "")
            elif block.type == "tool_use":
                if block.id is None or block.name is None:
                    raise ProviderError(
                        "the response is not an Anthropic message: a tool_use block needs "
                        "an 'id' and a 'name'"
                    )
                tool_calls.append(
                    ToolCall(
                        id=block.id,
                        type="function",
                        function=FunctionTool(name=block.name, arguments=_arguments(block.input)),
                    )
                )
            # Other blocks (thinking, server tool results) carry no output text.
        raw_output = "".join(texts)
        reply = ChatMessage(
            role="assistant",
            content=raw_output if texts else None,
            tool_calls=tool_calls or None,
        )
        if tool_calls and thinking_blocks:
            # With thinking on, Anthropic requires the turn's thinking blocks (signatures
            # included) back before its tool results: kept on the message for wire_messages.
            reply = reply.model_copy(update={THINKING_BLOCKS_FIELD: thinking_blocks})
        return ProviderReply(
            message=reply,
            raw_output=raw_output,
            finish_reason=humanloop_finish_reason(message.stop_reason, _FINISH_REASONS),
            usage=_usage(message.usage),
            reasoning="\n\n".join(thoughts) if thoughts else None,
        )

    def stream_finished(self, events: list[Any]) -> bool:
        # An error event ends the stream too: parse_response then reports the provider's words.
        return any(
            isinstance(event, dict) and event.get("type") in ("message_stop", "error")
            for event in events
        )

    def error_message(self, body: Any) -> str | None:
        return error_text(body)


# --- requests ---------------------------------------------------------------------------


def wire_messages(messages: tuple[ChatMessage, ...], *, where: str) -> list[dict[str, Any]]:
    """The ``messages`` array: every non-system message in Anthropic's shape."""
    wire: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        if message.role == "system":
            continue
        if message.role == "tool":
            if not message.tool_call_id:
                raise InvalidExperimentError(
                    f"{where}: messages[{position}] (role 'tool') needs a 'tool_call_id': "
                    "Anthropic links a tool result to its tool_use block by that id"
                )
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.text,
            }
            if message.is_error:
                result["is_error"] = True
            previous = wire[-1] if wire else None
            if (
                previous is not None
                and previous["role"] == "user"
                and isinstance(previous["content"], list)
                and all(block["type"] == "tool_result" for block in previous["content"])
            ):
                previous["content"].append(result)  # parallel results: one user turn
            else:
                wire.append({"role": "user", "content": [result]})
            continue
        if message.role == "assistant" and message.tool_calls:
            kept = (message.model_extra or {}).get(THINKING_BLOCKS_FIELD)
            blocks = [dict(block) for block in kept] if isinstance(kept, list) else []
            blocks += _content_blocks(message.content)
            blocks += [
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.function.name,
                    "input": arguments_object(
                        call,
                        where=f"{where}: messages[{position}]",
                        field="Anthropic's tool_use input",
                    ),
                }
                for call in message.tool_calls
            ]
            wire.append({"role": "assistant", "content": blocks})
            continue
        content = message.content
        wire.append(
            {
                "role": message.role,
                "content": content if isinstance(content, str) else _content_blocks(content),
            }
        )
    return wire


def _content_blocks(
    content: str | list[TextChatContent | ImageChatContent] | None,
) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextChatContent):
            blocks.append({"type": "text", "text": part.text})
        else:
            blocks.append({"type": "image", "source": _image_source(part.image_url.url)})
    return blocks


def _image_source(url: str) -> dict[str, Any]:
    # ``data:image/png;base64,AAAA`` is inline data; anything else is fetched by Anthropic.
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _wire_tool(tool: dict[str, Any]) -> dict[str, Any]:
    wire: dict[str, Any] = {"name": tool["name"]}
    if "description" in tool:
        wire["description"] = tool["description"]
    # Anthropic requires a schema; a tool without parameters takes an empty object.
    wire["input_schema"] = tool.get("parameters") or {"type": "object", "properties": {}}
    if "strict" in tool:
        wire["strict"] = tool["strict"]
    return wire


def _output_format(response_format: dict[str, Any], where: str) -> dict[str, Any] | None:
    """Anthropic's structured output (``output_config.format``) takes a JSON schema only."""
    kind = response_format.get("type")
    if kind == "text":
        return None
    spec = response_format.get("json_schema")
    if (
        kind != "json_schema"
        or not isinstance(spec, dict)
        or not isinstance(spec.get("schema"), dict)
    ):
        raise InvalidExperimentError(
            f"{where}: the Anthropic Messages API takes a response_format of type 'json_schema' "
            f"with a 'json_schema' object holding a 'schema' (got type {kind!r}); it has no JSON "
            "mode without a schema"
        )
    return {"type": "json_schema", "schema": spec["schema"]}


def _wire_tool_choice(choice: str | ToolChoice) -> dict[str, Any]:
    if isinstance(choice, ToolChoice):
        return {"type": "tool", "name": choice.function.name}
    return {"type": "any" if choice == "required" else choice}


# --- responses --------------------------------------------------------------------------


def _arguments(value: Any) -> str:
    """A tool_use input as the arguments text: compact JSON, keys in the model's order.

    A string input (only a stream whose partial JSON did not decode produces one) is kept
    as the model wrote it, so the checks can report invalid arguments.
    """
    if isinstance(value, str):
        return value
    return json.dumps({} if value is None else value, separators=(",", ":"), ensure_ascii=False)


def _usage(usage: _WireUsage | None) -> Usage:
    if usage is None:
        return Usage()  # not reported: unknown, not zero
    # Anthropic's input_tokens excludes the tokens read from and written to the cache: like
    # OpenAI's prompt_tokens, the prompt count here includes both (fields Anthropic leaves out
    # when no cache is involved), and cached_tokens / cache_write_tokens say how many were
    # which. Anthropic reports no separate count of thinking tokens (they are part of
    # output_tokens), so reasoning_tokens stays None: unknown, not zero.
    prompt = (
        None
        if usage.input_tokens is None
        else usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )
    counted = Usage.of(prompt, usage.output_tokens)
    caches = {
        name: value
        for name, value in (
            ("cached_tokens", usage.cache_read_input_tokens),
            ("cache_write_tokens", usage.cache_creation_input_tokens),
        )
        if value is not None
    }
    return counted.model_copy(update=caches) if caches else counted
