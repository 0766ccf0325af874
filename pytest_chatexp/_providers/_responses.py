"""The OpenAI Responses wire format (``POST {base_url}/responses``).

Humanloop's chat shape maps onto Responses like this:

* system messages go to the top-level ``instructions`` (joined by a blank line);
* the other messages are ``input`` items: user and assistant messages as ``{role, content}``,
  an assistant's tool calls as ``function_call`` items and ``tool`` messages as
  ``function_call_output`` items (linked by ``call_id``), so tool loops work;
* tools take Responses' flat shape ``{type: "function", name, description, parameters,
  strict}``; ``strict`` is sent as ``false`` unless the tool sets it, since Responses would
  otherwise default it to true and reject the loose schemas chat completions accept;
* ``response_format`` becomes ``text.format`` (``json_schema``'s name, schema and strict move
  up one level); ``max_tokens`` is ``max_output_tokens``;
* ``stop``, ``presence_penalty``, ``frequency_penalty`` and ``seed`` have no Responses parameter
  and are refused, as the Anthropic provider refuses what it cannot send.

Answers map back: ``message`` items' ``output_text`` parts are the output, ``function_call``
items the tool calls (``call_id`` is the id the tool result answers), ``status`` and
``incomplete_details`` the finish reason, and ``usage`` the token counts. A streamed request
(``"stream": true`` in ``other``) ends with ``response.completed``, which carries the whole
response; it is read from there (``_responses_stream``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict

from .._errors import InvalidExperimentError, ProviderError
from .._experiment._config import ModelConfig
from .._experiment._humanloop import (
    ChatMessage,
    FunctionTool,
    TextChatContent,
    TokenCount,
    ToolCall,
    ToolChoice,
    Usage,
)
from .._experiment._spec import PlannedCall
from ._base import Provider, ProviderReply, WireRequest, endpoint_url, parse_wire
from ._responses_stream import assemble_stream, error_text

__all__ = ["ResponsesProvider", "assemble_stream", "reasoning_summary"]

_UNSUPPORTED_FIELDS: Final = ("stop", "presence_penalty", "frequency_penalty", "seed")
# ``incomplete_details.reason`` in Humanloop's vocabulary.
_INCOMPLETE_REASONS: Final = {"max_output_tokens": "length", "content_filter": "content_filter"}
# The events after which a stream has nothing more to say.
_FINAL_EVENTS: Final = frozenset(
    {"response.completed", "response.incomplete", "response.failed", "error"}
)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WireContent(_Wire):
    type: str
    text: str | None = None
    refusal: str | None = None


class _WireItem(_Wire):
    type: str
    content: list[_WireContent] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    summary: list[_WireContent] | None = None


class _WireInputDetails(_Wire):
    cached_tokens: TokenCount | None = None
    cache_write_tokens: TokenCount | None = None


class _WireOutputDetails(_Wire):
    reasoning_tokens: TokenCount | None = None


class _WireUsage(_Wire):
    input_tokens: TokenCount | None = None
    output_tokens: TokenCount | None = None
    total_tokens: TokenCount | None = None
    input_tokens_details: _WireInputDetails | None = None
    output_tokens_details: _WireOutputDetails | None = None


class _WireIncomplete(_Wire):
    reason: str | None = None


class _WireResponse(_Wire):
    output: list[_WireItem]
    status: str | None = None
    incomplete_details: _WireIncomplete | None = None
    error: Any = None
    usage: _WireUsage | None = None


class ResponsesProvider(Provider):
    kind: ClassVar[str] = "openai_responses"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    default_api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    path: ClassVar[str] = "responses"

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        return WireRequest(url=self.url_for(base_url, call), body=request_body(call))

    def url_for(self, base_url: str, call: PlannedCall) -> str:
        return endpoint_url(base_url, self.path)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def parse_response(self, body: Any) -> ProviderReply:
        if isinstance(body, list):
            body = assemble_stream(body)
        response = _validated(body)
        texts: list[str] = []
        tool_calls: list[ToolCall] = []
        for item in response.output:
            if item.type == "message":
                texts += [
                    part.text or "" for part in item.content or [] if part.type == "output_text"
                ]
            elif item.type == "function_call":
                if not item.call_id or not item.name:
                    raise ProviderError(
                        "the response is not an OpenAI response: a function_call item needs "
                        "a 'call_id' and a 'name'"
                    )
                function = FunctionTool(name=item.name, arguments=item.arguments or "")
                tool_calls.append(ToolCall(id=item.call_id, type="function", function=function))
            # ``reasoning`` items: their summaries are the sample's reasoning (below).
        raw_output = "".join(texts)
        message = ChatMessage(
            role="assistant", content=raw_output if texts else None, tool_calls=tool_calls or None
        )
        return ProviderReply(
            message=message,
            raw_output=raw_output,
            finish_reason=_finish_reason(response, bool(tool_calls)),
            usage=_usage(response.usage),
            reasoning=_summary(response),
        )

    def stream_finished(self, events: list[Any]) -> bool:
        return any(
            isinstance(event, dict) and event.get("type") in _FINAL_EVENTS for event in events
        )

    def error_message(self, body: Any) -> str | None:
        return error_text(body)


# --- requests ---------------------------------------------------------------------------


def request_body(call: PlannedCall) -> dict[str, Any]:
    """The Responses request body for one call (the config's ``other`` merged last)."""
    config = call.config
    where = f"model config '{config.display_name}'"
    for name in _UNSUPPORTED_FIELDS:
        if getattr(config, name) is not None:
            raise InvalidExperimentError(
                f"{where}: '{name}' is not supported by the OpenAI Responses API "
                f"(provider '{config.provider}'); remove it, or pass a Responses parameter "
                "in 'other'"
            )
    body: dict[str, Any] = {"model": config.model}
    system = [message.text for message in call.messages if message.role == "system"]
    if system:
        body["instructions"] = "\n\n".join(system)
    body["input"] = input_items(call.messages, where=where)
    if config.temperature is not None:
        body["temperature"] = config.temperature
    if config.top_p is not None:
        body["top_p"] = config.top_p
    if config.max_tokens is not None and config.max_tokens != -1:
        body["max_output_tokens"] = config.max_tokens
    if config.tools:
        body["tools"] = [_wire_tool(tool.model_dump(exclude_none=True)) for tool in config.tools]
    if isinstance(config.tool_choice, ToolChoice):
        body["tool_choice"] = {"type": "function", "name": config.tool_choice.function.name}
    elif config.tool_choice is not None:
        body["tool_choice"] = config.tool_choice
    if config.response_format is not None:
        body["text"] = {"format": _text_format(config.response_format, where=where)}
    body.update(_reasoning_body(config))
    body.update(config.other)
    return body


def _reasoning_body(config: ModelConfig) -> dict[str, Any]:
    """The ``reasoning`` parameter for the config's reasoning setting: its effort, and a
    summary asked for so that the sample can keep it (Responses has no thinking budget)."""
    if config.reasoning is None:
        return {}
    if config.reasoning.effort is None:
        raise InvalidExperimentError(
            f"model config '{config.display_name}': reasoning sets only budget_tokens, which "
            "the Responses API cannot take (it has reasoning.effort, no thinking budget); set "
            "reasoning={'effort': 'low' / 'medium' / 'high'}"
        )
    return {"reasoning": {"effort": config.reasoning.effort, "summary": "auto"}}


def input_items(messages: tuple[ChatMessage, ...], *, where: str) -> list[dict[str, Any]]:
    """The ``input`` array: every non-system message as a Responses input item."""
    items: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        if message.role == "system":
            continue
        if message.role == "tool":
            if not message.tool_call_id:
                raise InvalidExperimentError(
                    f"{where}: messages[{position}] (role 'tool') needs a 'tool_call_id': "
                    "Responses links a function_call_output to its function_call by that id"
                )
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": message.text,
                }
            )
            continue
        calls = message.tool_calls or [] if message.role == "assistant" else []
        # Only an assistant turn that made tool calls may go without its message item.
        if not calls or (message.content is not None and message.content != ""):
            items.append({"role": message.role, "content": _content(message)})
        for tool_call in calls:
            items.append(
                {
                    "type": "function_call",
                    "call_id": tool_call.id,
                    "name": tool_call.function.name,
                    "arguments": tool_call.function.arguments or "{}",
                }
            )
    return items


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str) or message.content is None:
        return message.content or ""
    # Assistant turns replayed as input are output_text; what a user sends is input_*.
    text_type = "output_text" if message.role == "assistant" else "input_text"
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextChatContent):
            parts.append({"type": text_type, "text": part.text})
        else:
            image: dict[str, Any] = {"type": "input_image", "image_url": part.image_url.url}
            image["detail"] = part.image_url.detail or "auto"
            parts.append(image)
    return parts


def _wire_tool(tool: dict[str, Any]) -> dict[str, Any]:
    wire: dict[str, Any] = {"type": "function", "name": tool["name"]}
    if "description" in tool:
        wire["description"] = tool["description"]
    wire["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
    wire["strict"] = tool.get("strict", False)
    return wire


def _text_format(response_format: dict[str, Any], *, where: str) -> dict[str, Any]:
    kind = response_format["type"]
    if kind != "json_schema":
        return dict(response_format)  # {"type": "json_object"} or {"type": "text"}
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise InvalidExperimentError(
            f"{where}: response_format of type 'json_schema' needs a 'json_schema' object with "
            "a 'name' and a 'schema', as chat completions take it"
        )
    return {"type": "json_schema", **spec}


# --- responses --------------------------------------------------------------------------


def _validated(body: Any) -> _WireResponse:
    if isinstance(body, dict) and body.get("status") == "failed":
        detail = error_text(body) or "no error message"
        raise ProviderError(f"the response failed: {detail}")
    return parse_wire(_WireResponse, body, "an OpenAI response")


def _finish_reason(response: _WireResponse, called: bool) -> str | None:
    if response.status == "incomplete":
        reason = response.incomplete_details.reason if response.incomplete_details else None
        return _INCOMPLETE_REASONS.get(reason or "", reason or "length")
    if called:
        return "tool_call"
    return "stop" if response.status in ("completed", None) else response.status


def _usage(usage: _WireUsage | None) -> Usage:
    if usage is None:
        return Usage()  # not reported: unknown, not zero
    counted = Usage.of(usage.input_tokens, usage.output_tokens)
    details = usage.output_tokens_details
    cache = usage.input_tokens_details or _WireInputDetails()
    update: dict[str, Any] = {}
    # Both are part of input_tokens, as OpenAI counts them; kept only when reported.
    if cache.cached_tokens is not None:
        update["cached_tokens"] = cache.cached_tokens
    if cache.cache_write_tokens is not None:
        update["cache_write_tokens"] = cache.cache_write_tokens
    return counted.model_copy(
        update={
            "total_tokens": counted.total_tokens
            if usage.total_tokens is None
            else usage.total_tokens,
            "reasoning_tokens": details.reasoning_tokens if details is not None else None,
            **update,
        }
    )


def reasoning_summary(body: Any) -> str | None:
    """The text of a response's ``reasoning`` items' summaries (a stream's too)."""
    if isinstance(body, list):
        body = assemble_stream(body)
    return _summary(_validated(body))


def _summary(response: _WireResponse) -> str | None:
    texts = [
        part.text or ""
        for item in response.output
        if item.type == "reasoning"
        for part in item.summary or []
        if part.type == "summary_text"
    ]
    return "\n\n".join(texts) if texts else None
