"""The Anthropic Messages wire format: validate a request, render an answer (or its stream).

A request is translated into the OpenAI-like body the :class:`ReplyEngine` reads (the system
prompt becomes a system message, ``tool_result`` blocks become ``tool`` messages, tools and
``tool_choice`` take OpenAI's shape), so scripted replies, rules and ``[[...]]`` directives
behave exactly as they do for OpenAI clients. ``stop_sequences`` and ``max_tokens`` are applied
here rather than by the engine, so that a stop sequence can be reported as ``stop_sequence``
(with the sequence that matched) instead of ``end_turn``.

With ``"stream": true`` the same message is sent as server-sent events in Anthropic's order:
``message_start``, ``ping``, per content block ``content_block_start``, its deltas
(``text_delta``, or ``input_json_delta`` with the arguments in a few pieces) and
``content_block_stop``, then ``message_delta`` (stop reason, output tokens) and
``message_stop``. The events assemble into exactly the non-streamed message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response, sse_event
from pytest_chatexp.testing._replies import (
    Answer,
    JsonObject,
    count_words,
    short_digest,
    stream_pieces,
    truncate,
)
from pytest_chatexp.testing._thinking import thinking_block, thinking_block_problem, thinking_deltas

__all__ = ["anthropic_error", "messages"]

# Top-level request fields the Messages API knows; anything else is rejected, as Anthropic does.
_KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
    }
)
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
# A finish reason a scripted Reply forces, in Anthropic's vocabulary; others pass through.
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str) -> Response:
    """An error in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``."""
    error_type = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json_response(
        {"type": "error", "error": {"type": error_type, "message": message}}, status
    )


def messages(request: RecordedRequest, engine: ReplyEngine) -> Response:
    """Handle ``POST /v1/messages``, streamed when the body says ``"stream": true``."""
    problem = _validation_problem(request.json)
    if problem is not None:
        return anthropic_error(400, problem)
    body: JsonObject = request.json
    answer = engine.answer(_engine_request(body))
    message = _message(body, answer)
    if body.get("stream") is True:
        return Response(
            body=_stream(message),
            content_type="text/event-stream; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )
    return json_response(message)


# --- validation -------------------------------------------------------------------------


def _validation_problem(body: object) -> str | None:
    """Why the request is unacceptable, worded like Anthropic's errors, or ``None``."""
    if not isinstance(body, dict):
        return "The request body is not a valid JSON object."
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a non-empty string"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return "max_tokens: Input should be a valid integer"
    if max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        return f"{unknown[0]}: Extra inputs are not permitted"
    return (
        _messages_problem(body["messages"])
        or _system_problem(body.get("system"))
        or _tools_problem(body.get("tools"), body.get("tool_choice"))
        or _stop_problem(body.get("stop_sequences"))
        or _output_config_problem(body.get("output_config"))
        or (
            None if body.get("stream", False) in (True, False) else "stream: Input should be a bool"
        )
    )


def _output_config_problem(value: object) -> str | None:
    if value is None:
        return None
    output_format = value.get("format") if isinstance(value, dict) else None
    if output_format is None:
        return None if isinstance(value, dict) else "output_config: Input should be an object"
    if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
        return "output_config.format.type: Input should be 'json_schema'"
    if not isinstance(output_format.get("schema"), dict):
        return "output_config.format.schema: Input should be an object"
    return None


def _messages_problem(value: object) -> str | None:
    if not isinstance(value, list):
        return "messages: Input should be a valid list"
    if not value:
        return "messages: at least one message is required"
    for position, message in enumerate(value):
        where = f"messages.{position}"
        if not isinstance(message, dict):
            return f"{where}: Input should be a valid dictionary"
        if message.get("role") not in ("user", "assistant"):
            return f"{where}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            return f"{where}.content: Input should be a valid string or list of content blocks"
        for index, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                return f"{where}.content.{index}: a content block needs a 'type'"
            problem = _block_problem(block, message["role"])
            if problem is not None:
                return f"{where}.content.{index}{problem}"
    return None


def _block_problem(block: Mapping[str, Any], role: str) -> str | None:
    kind = block["type"]
    if kind == "text" and not isinstance(block.get("text"), str):
        return ".text: Field required"
    if kind == "tool_use":
        if role != "assistant":
            return ": tool_use blocks may only appear in assistant messages"
        for name in ("id", "name"):
            if not isinstance(block.get(name), str):
                return f".{name}: Field required"
        if not isinstance(block.get("input"), dict):
            return ".input: Input should be a valid dictionary"
    if kind == "thinking":
        return thinking_block_problem(block, role)
    if kind == "tool_result":
        if role != "user":
            return ": tool_result blocks may only appear in user messages"
        if not isinstance(block.get("tool_use_id"), str):
            return ".tool_use_id: Field required"
    return None


def _system_problem(system: object) -> str | None:
    if system is None or isinstance(system, str):
        return None
    if isinstance(system, list) and all(
        isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
        for block in system
    ):
        return None
    return "system: Input should be a valid string or a list of text blocks"


def _tools_problem(tools: object, choice: object) -> str | None:
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for position, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                return f"tools.{position}.name: Field required"
            if "type" not in tool and not isinstance(tool.get("input_schema"), dict):
                return f"tools.{position}.input_schema: Field required"
    if choice is None:
        return None
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "none", "tool"):
        return "tool_choice: Input should be an object with type 'auto', 'any', 'none' or 'tool'"
    if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
        return "tool_choice.name: Field required"
    return None


def _stop_problem(stops: object) -> str | None:
    if stops is None or (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        return None
    return "stop_sequences: Input should be a valid list of strings"


# --- translation to the engine's request ------------------------------------------------


def _engine_request(body: JsonObject) -> JsonObject:
    """The OpenAI-like body the reply engine reads; ``stop``/``max_tokens`` are left out."""
    chat: list[JsonObject] = []
    system = _system_text(body.get("system"))
    if system is not None:
        chat.append({"role": "system", "content": system})
    for message in body["messages"]:
        chat.extend(_engine_messages(message))
    request: JsonObject = {"model": body["model"], "messages": chat}
    tools = body.get("tools")
    if tools:
        request["tools"] = [_engine_tool(tool) for tool in tools]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        request["tool_choice"] = (
            {"type": "function", "function": {"name": choice["name"]}}
            if choice["type"] == "tool"
            else _TOOL_CHOICES[choice["type"]]
        )
    for name in ("temperature", "top_p", "metadata"):
        if name in body:
            request[name] = body[name]
    output_config = body.get("output_config")
    if isinstance(output_config, dict) and output_config.get("format"):
        request["response_format"] = {"type": "json_object"}  # structured output: JSON mode
    return request


def _system_text(system: object) -> str | None:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(block["text"] for block in system)
    return None


def _engine_messages(message: JsonObject) -> list[JsonObject]:
    """One Anthropic message as OpenAI-style messages: tool results first, then the rest."""
    role, content = message["role"], message["content"]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    texts: list[str] = []
    tool_calls: list[JsonObject] = []
    results: list[JsonObject] = []
    for block in content:
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = json.dumps(block["input"], separators=(",", ":"), ensure_ascii=False)
            tool_calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": arguments},
                }
            )
        elif kind == "tool_result":
            results.append(
                {
                    "role": "tool",
                    "tool_call_id": block["tool_use_id"],
                    "content": _result_text(block.get("content")),
                }
            )
    converted = list(results)
    if texts or tool_calls or not results:
        rest: JsonObject = {"role": role, "content": "\n".join(texts)}
        if tool_calls:
            rest["tool_calls"] = tool_calls
        converted.append(rest)
    return converted


def _result_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            block["text"]
            for block in content
            if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
    return ""


def _engine_tool(tool: JsonObject) -> JsonObject:
    function: JsonObject = {"name": tool["name"]}
    if "description" in tool:
        function["description"] = tool["description"]
    if "input_schema" in tool:
        function["parameters"] = tool["input_schema"]
    return {"type": "function", "function": function}


# --- rendering --------------------------------------------------------------------------


def _message(body: JsonObject, answer: Answer) -> JsonObject:
    """The Messages API response object for ``answer``."""
    stops: list[str] = body.get("stop_sequences") or []
    text, cut_by = (None, None)
    if answer.text is not None:
        text, cut_by = truncate(answer.text, {"stop": stops, "max_tokens": body["max_tokens"]})
    stop_sequence = None
    if cut_by == "stop" and answer.text is not None and text is not None:
        stop_sequence = next((s for s in stops if s and answer.text.startswith(s, len(text))), None)
    thought = thinking_block(body)
    content: list[JsonObject] = [thought] if thought is not None else []
    if text is not None and (text or not answer.tool_calls):
        content.append({"type": "text", "text": text})
    for call in answer.tool_calls:
        content.append(
            {
                "type": "tool_use",
                "id": "toolu_" + short_digest(call.id, 24),
                "name": call.name,
                "input": _tool_input(call.arguments),
            }
        )
    output_tokens = count_words(text or "") + sum(
        count_words(call.name) + count_words(call.arguments) for call in answer.tool_calls
    )
    return {
        "id": "msg_" + _request_digest(body),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": _stop_reason(answer, cut_by),
        "stop_sequence": stop_sequence,
        "usage": _usage(answer, output_tokens),
    }


def _tool_input(arguments: str) -> Any:
    """The ``input`` object; arguments scripted as invalid JSON are sent as the raw string,
    so a client's handling of a malformed tool call can still be exercised."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    return value if isinstance(value, dict) else arguments


def _stop_reason(answer: Answer, cut_by: str | None) -> str:
    if answer.finish_reason not in ("stop", "tool_calls"):  # forced by a scripted Reply
        return _STOP_REASONS.get(answer.finish_reason, answer.finish_reason)
    if cut_by == "length":
        return "max_tokens"
    if cut_by == "stop":
        return "stop_sequence"
    return "tool_use" if answer.tool_calls else "end_turn"


def _usage(answer: Answer, output_tokens: int) -> JsonObject:
    usage: JsonObject = {"input_tokens": answer.prompt_tokens, "output_tokens": output_tokens}
    # Scripted overrides may use OpenAI's names (as for the OpenAI route) or Anthropic's.
    renamed = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens"}
    for key, value in (answer.usage_overrides or {}).items():
        if key in renamed:
            usage[renamed[key]] = value
        elif key in usage or key.startswith("cache_"):
            usage[key] = value
    return usage


def _request_digest(body: JsonObject) -> str:
    """Equal requests get equal ids; a streamed request gets the id of its non-streamed twin."""
    canonical = {key: value for key, value in body.items() if key != "stream"}
    return short_digest(json.dumps(canonical, sort_keys=True, separators=(",", ":")), 24)


# --- streaming --------------------------------------------------------------------------


def stream_events(message: JsonObject) -> list[JsonObject]:
    """The server-sent events that deliver ``message``, in Anthropic's order."""
    usage: JsonObject = message["usage"]
    start_usage = {**usage, "output_tokens": min(1, usage["output_tokens"])}
    events: list[JsonObject] = [
        {
            "type": "message_start",
            "message": {
                **message,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
        {"type": "ping"},
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            start: JsonObject = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": piece} for piece in stream_pieces(block["text"])
            ]
        elif block["type"] == "thinking":
            start, deltas = {"type": "thinking", "thinking": ""}, thinking_deltas(block)
        else:
            start = {**block, "input": {}}
            raw = block["input"]
            arguments = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"))
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in ["", *stream_pieces(arguments)]
            ]
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events.extend(
            {"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas
        )
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message["stop_reason"],
                "stop_sequence": message["stop_sequence"],
            },
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


async def _stream(message: JsonObject) -> AsyncIterator[bytes]:
    for event in stream_events(message):
        yield sse_event(event, event=event["type"])
