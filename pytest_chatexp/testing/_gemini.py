"""The Gemini API wire format: validate a request, render an answer (or its stream).

``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``. A
request is translated into the OpenAI-like body the :class:`ReplyEngine` reads (the system
instruction becomes a system message, ``functionCall`` parts tool calls and
``functionResponse`` parts tool messages, function declarations OpenAI tools and
``toolConfig`` a ``tool_choice``), so scripted replies, rules and ``[[...]]`` directives behave
as for the other formats. Gemini's calls carry no ids: the server numbers each model turn's
calls and links the results that follow to them by position.

JSON output (``responseMimeType: application/json``) is the engine's JSON mode. A
``thinkingConfig`` with a positive ``thinkingBudget`` (or ``includeThoughts``) makes the model
"think": ``thoughtsTokenCount`` is the words of its thought, and with ``includeThoughts`` the
thought is sent as a ``thought: true`` part. A scripted Reply's ``usage`` may set Gemini's
counts by name (``thoughtsTokenCount``, ``cachedContentTokenCount``...).

The key belongs in the ``x-goog-api-key`` header: a ``key`` query parameter (which would put
it in every logged URL) is refused with a 400. A stream sends one GenerateContentResponse per
event: the thought, the text in a few pieces, the calls, and usage with the finish reason last.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response, sse_event
from pytest_chatexp.testing._replies import (
    Answer,
    JsonObject,
    count_words,
    last_user_text,
    stream_pieces,
    truncate,
)

__all__ = ["GEMINI_PREFIX", "gemini_error", "gemini_fault", "generate_content"]

#: Every Gemini model route starts with it: ``/v1beta/models/{model}:{action}``.
GEMINI_PREFIX = "/v1beta/models/"
_ACTIONS = ("generateContent", "streamGenerateContent")
_KNOWN_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "labels",
    }
)
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MODES = {"AUTO": "auto", "ANY": "required", "NONE": "none"}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}


def gemini_error(status: int, message: str) -> Response:
    """An error in Google's shape: ``{"error": {"code", "message", "status"}}``."""
    code = _STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return json_response({"error": {"code": status, "message": message, "status": code}}, status)


def gemini_fault(response: Response) -> Response:
    """A fault's (or refusal's) shared error body re-shaped as Google's; others as they are."""
    if response.status < 400 or not isinstance(response.body, bytes):
        return response
    try:
        message = json.loads(response.body)["detail"]
    except (ValueError, KeyError, TypeError):
        return response
    reshaped = gemini_error(response.status, str(message))
    return Response(reshaped.status, reshaped.body, reshaped.content_type, response.headers)


def generate_content(request: RecordedRequest, engine: ReplyEngine) -> Response:
    """Handle ``generateContent``, and ``streamGenerateContent`` as server-sent events."""
    model, _, action = request.path.removeprefix(GEMINI_PREFIX).partition(":")
    query = parse_qs(request.query)
    if action not in _ACTIONS or not model:
        return gemini_error(404, f"Method not found: {request.path}")
    if "key" in query:
        return gemini_error(400, "send the API key in the x-goog-api-key header, not the URL")
    stream = action == "streamGenerateContent"
    if stream and query.get("alt") != ["sse"]:
        return gemini_error(400, "the reference server streams only with ?alt=sse")
    problem = _validation_problem(request.json)
    if problem is not None:
        return gemini_error(400, problem)
    body: JsonObject = request.json
    engine_request = _engine_request(body)
    answer = engine.answer(engine_request)
    response = _response(model, body, engine_request, answer)
    if stream:
        return Response(
            body=_stream(response),
            content_type="text/event-stream; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )
    return json_response(response)


# --- validation -------------------------------------------------------------------------


def _validation_problem(body: object) -> str | None:
    """Why the request is unacceptable, worded like Google's errors, or ``None``."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. The body is not a JSON object."
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for position, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
            return f"* GenerateContentRequest.contents[{position}].role: 'user' or 'model'"
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
            return f"* GenerateContentRequest.contents[{position}].parts: must not be empty"
    for name in ("systemInstruction", "toolConfig", "generationConfig"):
        if name in body and not isinstance(body[name], dict):
            return f"Invalid value at '{name}': expected an object"
    tools = body.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        return "Invalid value at 'tools': expected a list of objects"
    return None


# --- translation to the engine's request ------------------------------------------------


def _engine_request(body: JsonObject) -> JsonObject:
    messages: list[JsonObject] = []
    system = _texts((body.get("systemInstruction") or {}).get("parts"))
    if system:
        messages.append({"role": "system", "content": "\n".join(system)})
    pending: list[tuple[str, str]] = []  # (id, name) of the last model turn's calls
    for turn, content in enumerate(body["contents"]):
        parts = content["parts"]
        results = [p["functionResponse"] for p in parts if "functionResponse" in p]
        for index, result in enumerate(results):
            call_id = pending[index][0] if index < len(pending) else f"gemini_{turn}_{index}"
            output = result.get("response")
            text = (
                (output.get("output") or output.get("error")) if isinstance(output, dict) else None
            )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": text if isinstance(text, str) else json.dumps(output),
                }
            )
        calls = [p["functionCall"] for p in parts if isinstance(p.get("functionCall"), dict)]
        if calls:
            pending = [(f"gemini_{turn}_{n}", str(c.get("name"))) for n, c in enumerate(calls)]
        texts = _texts(parts)
        if texts or calls or not results:
            role = "assistant" if content["role"] == "model" else "user"
            message: JsonObject = {"role": role, "content": "\n".join(texts)}
            if calls:
                message["tool_calls"] = [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(c.get("args") or {})},
                    }
                    for (call_id, name), c in zip(pending, calls, strict=True)
                ]
            messages.append(message)
    request: JsonObject = {"model": "gemini", "messages": messages}
    tools = [
        {"type": "function", "function": declaration}
        for tool in body.get("tools", [])
        for declaration in tool.get("functionDeclarations") or []
        if isinstance(declaration, dict)
    ]
    if tools:
        request["tools"] = tools
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode, allowed = calling.get("mode"), calling.get("allowedFunctionNames")
    if mode == "ANY" and isinstance(allowed, list) and len(allowed) == 1:
        request["tool_choice"] = {"type": "function", "function": {"name": allowed[0]}}
    elif mode in _MODES:
        request["tool_choice"] = _MODES[mode]
    generation = body.get("generationConfig") or {}
    if generation.get("responseMimeType") == "application/json":
        request["response_format"] = {"type": "json_object"}
    return request


def _texts(parts: object) -> list[str]:
    items = parts if isinstance(parts, list) else []
    return [
        part["text"]
        for part in items
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    ]


# --- rendering --------------------------------------------------------------------------


def _response(model: str, body: JsonObject, request: JsonObject, answer: Answer) -> JsonObject:
    generation = body.get("generationConfig") or {}
    text, cut_by = (None, None)
    if answer.text is not None:
        limits = {
            "stop": generation.get("stopSequences"),
            "max_tokens": generation.get("maxOutputTokens"),
        }
        text, cut_by = truncate(answer.text, limits)
    thinking = generation.get("thinkingConfig") or {}
    thinks = (thinking.get("thinkingBudget") or 0) > 0 or thinking.get("includeThoughts") is True
    thought = f"Thinking about: {last_user_text(request['messages'])}" if thinks else ""
    parts: list[JsonObject] = []
    if thought and thinking.get("includeThoughts") is True:
        parts.append({"text": thought, "thought": True})
    if text is not None and (text or not answer.tool_calls):
        parts.append({"text": text})
    for call in answer.tool_calls:
        try:
            args = json.loads(call.arguments)
        except ValueError:
            args = call.arguments  # scripted invalid JSON: sent as is, to exercise a client
        parts.append({"functionCall": {"name": call.name, "args": args}})
    candidates = count_words(text or "") + sum(
        count_words(call.name) + count_words(call.arguments) for call in answer.tool_calls
    )
    usage: JsonObject = {
        "promptTokenCount": answer.prompt_tokens,
        "candidatesTokenCount": candidates,
    }
    if thought:
        usage["thoughtsTokenCount"] = count_words(thought)
    renamed = {"prompt_tokens": "promptTokenCount", "completion_tokens": "candidatesTokenCount"}
    for key, value in (answer.usage_overrides or {}).items():
        usage[renamed.get(key, key)] = value
    counted = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount")
    usage["totalTokenCount"] = sum(usage.get(name) or 0 for name in counted)
    finish = answer.finish_reason
    if finish in ("stop", "tool_calls") and cut_by is not None:
        finish = "length" if cut_by == "length" else "stop"
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": _FINISH.get(finish, finish.upper()),
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": model,
    }


def stream_events(response: JsonObject) -> list[JsonObject]:
    """The chunks that deliver ``response``: each part (text in a few pieces), then the
    finish reason with the usage."""
    candidate = response["candidates"][0]
    chunks: list[JsonObject] = []
    for part in candidate["content"]["parts"]:
        pieces = stream_pieces(part["text"]) if "text" in part else [None]
        for piece in pieces:
            sent = part if piece is None else {**part, "text": piece}
            chunks.append(
                {
                    "candidates": [{"content": {"role": "model", "parts": [sent]}, "index": 0}],
                    "modelVersion": response["modelVersion"],
                }
            )
    last: JsonObject = {
        "candidates": [
            {
                "content": {"role": "model", "parts": []},
                "finishReason": candidate["finishReason"],
                "index": 0,
            }
        ],
        "usageMetadata": response["usageMetadata"],
        "modelVersion": response["modelVersion"],
    }
    return [*chunks, last]


async def _stream(response: JsonObject) -> AsyncIterator[bytes]:
    for event in stream_events(response):
        yield sse_event(event)
