"""The OpenAI Responses wire format, and Azure OpenAI's routes: validate, translate, render.

A Responses request is translated into the OpenAI-like chat body the :class:`ReplyEngine`
reads (``instructions`` become a system message, ``function_call`` items an assistant's tool
calls, ``function_call_output`` items ``tool`` messages, flat function tools OpenAI's nested
ones, ``text.format`` the ``response_format``), so scripted replies, rules and ``[[...]]``
directives behave as they do for chat clients. A request with ``reasoning`` gets a
``reasoning`` output item (with a summary when one is asked for) and :data:`REASONING_TOKENS`
reasoning tokens. With ``"stream": true`` the response is sent as Responses' typed events (a
reasoning summary as ``response.reasoning_summary_*`` events), ending with
``response.completed`` carrying the whole response.

Azure: :func:`azure_guard` wraps a wire format so that it answers only requests carrying an
``api-key`` header (or a bearer token) and, for deployment URLs, an ``api-version``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response, sse_event
from pytest_chatexp.testing._openai import CREATED, openai_error
from pytest_chatexp.testing._replies import Answer, JsonObject, short_digest, stream_pieces

__all__ = ["REASONING_TOKENS", "azure_guard", "responses"]

#: Reasoning tokens reported for a request that asks for ``reasoning``.
REASONING_TOKENS = 7
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}

WireFormat = Callable[[RecordedRequest, ReplyEngine], Response]


def responses(request: RecordedRequest, engine: ReplyEngine) -> Response:
    """Handle ``POST /v1/responses``, streamed when the body says ``"stream": true``."""
    problem = _validation_problem(request.json)
    if problem is not None:
        return openai_error(400, *problem)
    body: JsonObject = request.json
    response = _response_object(body, engine.answer(_engine_request(body)))
    if body.get("stream") is True:
        return Response(200, _stream(response), "text/event-stream")
    return json_response(response)


def azure_guard(wire_format: WireFormat, *, needs_version: bool) -> WireFormat:
    """``wire_format`` answering only what Azure would: a key or token, and the api-version."""

    def guarded(request: RecordedRequest, engine: ReplyEngine) -> Response:
        headers = request.headers
        if not headers.get("api-key") and not headers.get("authorization", "").startswith(
            "Bearer "
        ):
            return openai_error(
                401,
                "Access denied due to missing subscription key. Make sure to include "
                "subscription key when making requests to an API.",
            )
        if needs_version and not parse_qs(request.query).get("api-version"):
            return openai_error(404, "Resource not found (no api-version query parameter)")
        return wire_format(request, engine)

    return guarded


def azure_deployment(path: str) -> str | None:
    """The deployment a ``/openai/deployments/{name}/chat/completions`` path names, or None."""
    prefix, suffix = "/openai/deployments/", "/chat/completions"
    if path.startswith(prefix) and path.endswith(suffix):
        name = path[len(prefix) : -len(suffix)]
        return name if name and "/" not in name else None
    return None


def with_deployment_model(request: RecordedRequest) -> RecordedRequest:
    """The request with its body's ``model`` defaulting to the deployment in its path, as
    Azure serves the deployment whatever the body says."""
    if isinstance(request.json, dict) and "model" not in request.json:
        deployment = azure_deployment(request.path) or ""
        return replace(request, json={**request.json, "model": deployment})
    return request


# --- requests ---------------------------------------------------------------------------


def _validation_problem(body: object) -> tuple[str, str | None] | None:
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request as a JSON object.", None
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "Missing required parameter: 'model'.", "model"
    items = body.get("input")
    if not isinstance(items, str) and not (
        isinstance(items, list) and items and all(isinstance(item, dict) for item in items)
    ):
        return "Invalid value for 'input': expected a string or a list of items.", "input"
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict) or (tool.get("type") == "function" and "function" in tool):
            return "Invalid 'tools': function tools are flat here ({type, name, ...}).", "tools"
    if "messages" in body:
        return "Unknown parameter: 'messages'.", "messages"
    return None


def _engine_request(body: JsonObject) -> JsonObject:
    messages: list[JsonObject] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body["input"]
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items:
        kind = item.get("type", "message")
        if kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": output}
            )
        elif kind == "message":
            messages.append({"role": item.get("role"), "content": _text(item.get("content"))})
    request: JsonObject = {"model": body["model"], "messages": messages}
    tools = [tool for tool in body.get("tools") or [] if tool.get("type") == "function"]
    if tools:
        request["tools"] = [
            {"type": "function", "function": {k: v for k, v in t.items() if k != "type"}}
            for t in tools
        ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        request["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        request["tool_choice"] = choice
    text_format = (body.get("text") or {}).get("format")
    if isinstance(text_format, dict):
        request["response_format"] = text_format
    if isinstance(body.get("max_output_tokens"), int):
        request["max_tokens"] = body["max_output_tokens"]
    return request


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        part["text"]
        for part in content
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )


# --- responses --------------------------------------------------------------------------


def _response_object(body: JsonObject, answer: Answer) -> JsonObject:
    digest = short_digest(json.dumps(body, sort_keys=True, separators=(",", ":")), 16)
    output: list[JsonObject] = []
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        summary = []
        if reasoning.get("summary"):
            summary = [{"type": "summary_text", "text": "Considered the request step by step."}]
        output.append({"id": f"rs_{digest}", "type": "reasoning", "summary": summary})
    if answer.text is not None:
        output.append(
            {
                "id": f"msg_{digest}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": answer.text, "annotations": []}],
            }
        )
    for call in answer.tool_calls:
        output.append(
            {
                "id": f"fc_{call.id.removeprefix('call_')}",
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "status": "completed",
            }
        )
    incomplete = _INCOMPLETE.get(answer.finish_reason)
    return {
        "id": f"resp_{digest}",
        "object": "response",
        "created_at": CREATED,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "error": None,
        "model": body["model"],
        "instructions": body.get("instructions"),
        "output": output,
        "parallel_tool_calls": True,
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "metadata": {},
        "usage": _usage(answer, reasoning_tokens=REASONING_TOKENS if reasoning else 0),
    }


def _usage(answer: Answer, *, reasoning_tokens: int) -> JsonObject:
    output_tokens = answer.completion_tokens + reasoning_tokens
    usage: JsonObject = {
        "input_tokens": answer.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": answer.prompt_tokens + output_tokens,
    }
    overrides: dict[str, Any] = dict(answer.usage_overrides or {})
    usage.update(overrides)
    if "total_tokens" not in overrides:
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    return usage


async def _stream(response: JsonObject) -> AsyncIterator[bytes]:
    """The response as Responses streams it: created, each item added, its deltas, done, and
    ``response.completed`` (or ``response.incomplete``) with the whole response."""
    sequence = 0

    def event(kind: str, **fields: Any) -> bytes:
        nonlocal sequence
        sequence += 1
        return sse_event({"type": kind, "sequence_number": sequence, **fields}, event=kind)

    started = {**response, "status": "in_progress", "output": [], "usage": None}
    yield event("response.created", response=started)
    for index, item in enumerate(response["output"]):
        at = {"output_index": index, "item_id": item["id"]}
        if item["type"] == "message":
            yield event(
                "response.output_item.added", output_index=index, item={**item, "content": []}
            )
            text = item["content"][0]["text"]
            for piece in stream_pieces(text):
                yield event(
                    "response.output_text.delta", **at, content_index=0, delta=piece, logprobs=[]
                )
            yield event("response.output_text.done", **at, content_index=0, text=text, logprobs=[])
        elif item["type"] == "function_call":
            yield event(
                "response.output_item.added", output_index=index, item={**item, "arguments": ""}
            )
            for piece in stream_pieces(item["arguments"]):
                yield event("response.function_call_arguments.delta", **at, delta=piece)
            yield event("response.function_call_arguments.done", **at, arguments=item["arguments"])
        elif item["type"] == "reasoning" and item.get("summary"):
            # As OpenAI streams a summary: the item added empty, each part added, its text in
            # deltas, then the text and the part done.
            yield event(
                "response.output_item.added", output_index=index, item={**item, "summary": []}
            )
            for place, part in enumerate(item["summary"]):
                at_part = {**at, "summary_index": place}
                empty = {"type": "summary_text", "text": ""}
                yield event("response.reasoning_summary_part.added", **at_part, part=empty)
                for piece in stream_pieces(part["text"]):
                    yield event("response.reasoning_summary_text.delta", **at_part, delta=piece)
                yield event("response.reasoning_summary_text.done", **at_part, text=part["text"])
                yield event("response.reasoning_summary_part.done", **at_part, part=part)
        else:
            yield event("response.output_item.added", output_index=index, item=item)
        yield event("response.output_item.done", output_index=index, item=item)
    final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    yield event(final, response=response)
