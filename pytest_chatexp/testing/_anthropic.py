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
from collections.abc import AsyncIterator
from typing import Any

from pytest_chatexp.testing._anthropic_requests import validation_problem
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
from pytest_chatexp.testing._thinking import thinking_block, thinking_deltas

__all__ = ["anthropic_error", "messages"]

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
    problem = validation_problem(request.json)
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
