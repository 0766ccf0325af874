"""The OpenAI chat-completions wire format: validate a request, render an answer.

Only the translation between OpenAI JSON and the format-neutral :class:`Answer` lives
here; what to answer is the reply engine's business, and HTTP is ``_http``'s.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response, sse_event
from pytest_chatexp.testing._replies import Answer, JsonObject, short_digest, stream_pieces

#: Fixed so that whole responses, not just their text, are reproducible.
CREATED = 1700000000
SYSTEM_FINGERPRINT = "fp_reference"


def openai_error(status: int, message: str, param: str | None = None) -> Response:
    """An error in OpenAI's shape, which the official SDKs parse into typed exceptions."""
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    error = {"message": message, "type": error_type, "param": param, "code": None}
    return json_response({"error": error}, status)


def chat_completion(request: RecordedRequest, engine: ReplyEngine) -> Response:
    """Handle ``POST /v1/chat/completions`` (non-streaming)."""
    problem = _validation_problem(request.json)
    if problem is not None:
        return openai_error(400, *problem)
    body: JsonObject = request.json
    completion = _completion_object(body, engine.answer(body))
    if body.get("stream") is True:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return Response(200, _chunk_stream(completion, include_usage), "text/event-stream")
    return json_response(completion)


async def _chunk_stream(completion: JsonObject, include_usage: bool) -> AsyncIterator[bytes]:
    """The completion as OpenAI streams it: a role chunk, the text in a few deltas, each tool
    call's name then its arguments in pieces, the finish reason, the usage chunk when asked
    for, and ``[DONE]``."""
    choice = completion["choices"][0]
    message = choice["message"]
    base = {key: completion[key] for key in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: JsonObject, finish_reason: str | None = None) -> bytes:
        event = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        return sse_event(event)

    yield chunk({"role": "assistant", "content": ""})
    for piece in stream_pieces(message.get("content") or ""):
        yield chunk({"content": piece})
    for position, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        head = {"index": position, "id": call["id"], "type": "function"}
        yield chunk(
            {"tool_calls": [{**head, "function": {"name": function["name"], "arguments": ""}}]}
        )
        for piece in stream_pieces(function["arguments"]):
            yield chunk({"tool_calls": [{"index": position, "function": {"arguments": piece}}]})
    yield chunk({}, choice["finish_reason"])
    if include_usage:
        usage = {**base, "choices": [], "usage": completion["usage"]}
        yield sse_event(usage)
    yield b"data: [DONE]\n\n"


def _validation_problem(body: object) -> tuple[str, str | None] | None:
    """Why the request is unacceptable as ``(message, param)``, or ``None`` if it is fine."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request as a JSON object.", None
    if "model" not in body:
        return "Missing required parameter: 'model'.", "model"
    if not isinstance(body["model"], str) or not body["model"]:
        return "Invalid value for 'model': expected a non-empty string.", "model"
    if "messages" not in body:
        return "Missing required parameter: 'messages'.", "messages"
    if not _are_messages(body["messages"]):
        return "Invalid value for 'messages': expected a non-empty array of messages.", "messages"
    return None


def _are_messages(messages: object) -> bool:
    return (
        isinstance(messages, list)
        and bool(messages)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    )


def _completion_object(body: JsonObject, answer: Answer) -> JsonObject:
    message: JsonObject = {"role": "assistant", "content": answer.text}
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in answer.tool_calls
        ]
    return {
        "id": "chatcmpl-" + _request_digest(body),
        "object": "chat.completion",
        "created": CREATED,
        "model": body["model"],
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": answer.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(answer),
    }


def _request_digest(body: JsonObject) -> str:
    """Hash of the canonical request: equal requests get equal ids, whatever the key order."""
    return short_digest(json.dumps(body, sort_keys=True, separators=(",", ":")), 16)


def _usage(answer: Answer) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    overrides = answer.usage_overrides or {}
    usage.update(overrides)
    if "total_tokens" not in overrides:  # keep the total consistent with overridden parts
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage
