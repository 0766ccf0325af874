"""The AWS Bedrock Converse wire format: validate a request, render an answer (or its stream).

``POST /model/{modelId}/converse`` and ``/model/{modelId}/converse-stream`` (the model id
URL-encoded: ``anthropic.claude-3-5-sonnet-20240620-v1%3A0``). A request is translated into the
OpenAI-like body the :class:`ReplyEngine` reads (``system`` blocks become a system message,
``toolUse`` blocks tool calls, ``toolResult`` blocks tool messages, ``toolConfig`` tools and a
``tool_choice``), so scripted replies, rules and ``[[...]]`` directives behave as for the other
formats. The stream is AWS's binary event stream (``_eventstream``), not server-sent events.

Auth is required as Bedrock requires it: an ``Authorization`` header holding a bearer token (a
Bedrock API key) or an ``AWS4-HMAC-SHA256`` signature; without one the answer is Bedrock's 403.
The signature itself is not verified (the tests check it against botocore's).

``additionalModelRequestFields.thinking`` (``{"type": "enabled", "budget_tokens": N}``, as
Anthropic's models on Bedrock take it) makes the model "think": a signed ``reasoningContent``
block before the answer, which must come back (signature included) in an assistant turn with
tool calls, or the request is refused as Bedrock refuses it. A scripted Reply's ``usage`` may set
Bedrock's counts by name (``cacheReadInputTokens``, ``cacheWriteInputTokens``...).

Errors are Bedrock's: ``{"message": ...}`` with the type in the ``x-amzn-ErrorType`` header.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._eventstream import event_frame
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response
from pytest_chatexp.testing._replies import (
    Answer,
    JsonObject,
    count_words,
    last_user_text,
    short_digest,
    stream_pieces,
)

__all__ = ["BEDROCK_PREFIX", "bedrock_error", "bedrock_fault", "converse"]

#: Every Converse route starts with it: ``/model/{modelId}/converse[-stream]``.
BEDROCK_PREFIX = "/model/"
_ACTIONS = ("converse", "converse-stream")
_KNOWN_FIELDS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
    }
)
_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "content_filtered",
}
_CHOICES = {"auto": "auto", "any": "required"}


def bedrock_error(status: int, message: str, error_type: str | None = None) -> Response:
    """An error in Bedrock's shape: ``{"message"}``, the type in ``x-amzn-ErrorType``."""
    kind = error_type or _ERROR_TYPES.get(status, "InternalServerException")
    response = json_response({"message": message}, status)
    return Response(status, response.body, response.content_type, {"x-amzn-ErrorType": kind})


def bedrock_fault(response: Response) -> Response:
    """A fault's (or refusal's) shared error body re-shaped as Bedrock's; others as they are."""
    if response.status < 400 or not isinstance(response.body, bytes):
        return response
    try:
        message = json.loads(response.body)["detail"]
    except (ValueError, KeyError, TypeError):
        return response
    reshaped = bedrock_error(response.status, str(message))
    headers = {**response.headers, **reshaped.headers}
    return Response(reshaped.status, reshaped.body, reshaped.content_type, headers)


def converse(request: RecordedRequest, engine: ReplyEngine) -> Response:
    """Handle ``converse``, and ``converse-stream`` as event-stream frames."""
    model, _, action = request.path.removeprefix(BEDROCK_PREFIX).rpartition("/")
    if action not in _ACTIONS or not model:
        return bedrock_error(404, f"Unknown operation: {request.path}", "UnknownOperationException")
    authorization = request.headers.get("authorization", "")
    if not authorization.startswith(("Bearer ", "AWS4-HMAC-SHA256 ")):
        return bedrock_error(403, "Missing Authentication Token", "AccessDeniedException")
    problem = _validation_problem(request.json)
    if problem is not None:
        return bedrock_error(400, problem)
    body: JsonObject = request.json
    thinking = _thinking(body)
    if thinking is not None:
        problem = _reasoning_problem(body)
        if problem is not None:
            return bedrock_error(400, problem)
    engine_request = _engine_request(body)
    answer = engine.answer(engine_request)
    response = _response(engine_request, answer, thinking)
    if action == "converse-stream":
        return Response(
            body=_stream(response),
            content_type="application/vnd.amazon.eventstream",
            headers={"x-amzn-bedrock-model": unquote(model)},
        )
    return json_response(response)


# --- validation -------------------------------------------------------------------------


def _validation_problem(body: object) -> str | None:
    """Why the request is unacceptable, worded like Bedrock's ValidationException, or None."""
    if not isinstance(body, dict):
        return "The request body is not a JSON object."
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        return f"1 validation error detected: unknown field '{unknown[0]}'"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "A conversation must start with a user message."
    previous = None
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{position}.role: must be 'user' or 'assistant'"
        if message["role"] == previous:
            return "A conversation must alternate between user and assistant roles."
        previous = message["role"]
        content = message.get("content")
        if (
            not isinstance(content, list)
            or not content
            or not all(isinstance(block, dict) and len(block) == 1 for block in content)
        ):
            return f"messages.{position}.content: a list of content blocks, each of one kind"
    if messages[0]["role"] != "user":
        return "A conversation must start with a user message."
    for name in ("inferenceConfig", "toolConfig", "additionalModelRequestFields"):
        if name in body and not isinstance(body[name], dict):
            return f"{name}: expected an object"
    if not isinstance(body.get("system", []), list):
        return "system: expected a list of content blocks"
    if "outputConfig" in body:
        return _output_config_problem(body["outputConfig"])
    return None


def _output_config_problem(output: object) -> str | None:
    """Structured output: a JSON schema given as a string, as Converse takes it."""
    text_format = output.get("textFormat") if isinstance(output, dict) else None
    structure = text_format.get("structure") if isinstance(text_format, dict) else None
    spec = structure.get("jsonSchema") if isinstance(structure, dict) else None
    if not isinstance(text_format, dict) or text_format.get("type") != "json_schema":
        return "outputConfig.textFormat.type: expected 'json_schema'"
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), str):
        return "outputConfig.textFormat.structure.jsonSchema.schema: expected a JSON string"
    try:
        json.loads(spec["schema"])
    except json.JSONDecodeError:
        return "outputConfig.textFormat.structure.jsonSchema.schema: not valid JSON"
    return None


def _thinking(body: JsonObject) -> JsonObject | None:
    fields = body.get("additionalModelRequestFields") or {}
    thinking = fields.get("thinking")
    return thinking if isinstance(thinking, dict) and thinking.get("type") == "enabled" else None


def _reasoning_problem(body: JsonObject) -> str | None:
    """With thinking on, an assistant turn with tool calls must start with its signed
    reasoning, as Anthropic's models on Bedrock require."""
    for position, message in enumerate(body["messages"]):
        blocks = message["content"]
        if message["role"] != "assistant" or not any("toolUse" in b for b in blocks):
            continue
        first = blocks[0].get("reasoningContent")
        text = first.get("reasoningText") if isinstance(first, dict) else None
        if not isinstance(text, dict) or not isinstance(text.get("signature"), str):
            return (
                f"messages.{position}.content.0.type: Expected `thinking` or "
                "`redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final "
                "`assistant` message must start with a thinking block."
            )
    return None


# --- translation to the engine's request ------------------------------------------------


def _engine_request(body: JsonObject) -> JsonObject:
    messages: list[JsonObject] = []
    system = [b["text"] for b in body.get("system", []) if isinstance(b.get("text"), str)]
    if system:
        messages.append({"role": "system", "content": "\n".join(system)})
    for message in body["messages"]:
        blocks = message["content"]
        for block in blocks:
            result = block.get("toolResult")
            if isinstance(result, dict):
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": result.get("toolUseId"),
                        "content": _result_text(result.get("content")),
                    }
                )
        texts = [b["text"] for b in blocks if isinstance(b.get("text"), str)]
        calls = [b["toolUse"] for b in blocks if isinstance(b.get("toolUse"), dict)]
        if texts or calls:
            wire: JsonObject = {"role": message["role"], "content": "\n".join(texts)}
            if calls:
                wire["tool_calls"] = [
                    {
                        "id": call.get("toolUseId"),
                        "type": "function",
                        "function": {
                            "name": call.get("name"),
                            "arguments": json.dumps(call.get("input") or {}),
                        },
                    }
                    for call in calls
                ]
            messages.append(wire)
    request: JsonObject = {"model": "bedrock", "messages": messages}
    tool_config = body.get("toolConfig") or {}
    tools = [
        {
            "type": "function",
            "function": {
                "name": spec.get("name"),
                "description": spec.get("description", ""),
                "parameters": (spec.get("inputSchema") or {}).get("json") or {},
            },
        }
        for tool in tool_config.get("tools") or []
        if isinstance(spec := tool.get("toolSpec"), dict)
    ]
    if tools:
        request["tools"] = tools
    choice = tool_config.get("toolChoice") or {}
    if isinstance(choice.get("tool"), dict):
        request["tool_choice"] = {"type": "function", "function": choice["tool"]}
    elif len(choice) == 1 and next(iter(choice)) in _CHOICES:
        request["tool_choice"] = _CHOICES[next(iter(choice))]
    inference = body.get("inferenceConfig") or {}
    if "maxTokens" in inference:
        request["max_tokens"] = inference["maxTokens"]
    if "stopSequences" in inference:
        request["stop"] = inference["stopSequences"]
    if "outputConfig" in body:  # structured output: the reference model's JSON mode
        request["response_format"] = {"type": "json_object"}
    return request


def _result_text(content: object) -> str:
    parts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif isinstance(block, dict) and "json" in block:
            parts.append(json.dumps(block["json"]))
    return "\n".join(parts)


# --- rendering --------------------------------------------------------------------------


def _response(request: JsonObject, answer: Answer, thinking: JsonObject | None) -> JsonObject:
    content: list[JsonObject] = []
    reasoning_words = 0
    if thinking is not None:
        text = (
            f"Thinking within {thinking.get('budget_tokens')} tokens about: "
            f"{last_user_text(request['messages'])}"
        )
        signature = "sig_" + short_digest(text, 16)
        content.append(
            {"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}}
        )
        reasoning_words = count_words(text)
    if answer.text is not None and (answer.text or not answer.tool_calls):
        content.append({"text": answer.text})
    for call in answer.tool_calls:
        try:
            arguments: Any = json.loads(call.arguments)
        except ValueError:
            arguments = call.arguments  # scripted invalid JSON: sent as is, to exercise a client
        content.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments}})
    usage: JsonObject = {
        "inputTokens": answer.prompt_tokens,
        "outputTokens": answer.completion_tokens + reasoning_words,
    }
    renamed = {"prompt_tokens": "inputTokens", "completion_tokens": "outputTokens"}
    for key, value in (answer.usage_overrides or {}).items():
        usage[renamed.get(key, key)] = value
    counted = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    usage["totalTokens"] = sum(usage.get(name) or 0 for name in counted)
    finish = answer.finish_reason
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _STOP_REASONS.get(finish, finish),
        "usage": usage,
        "metrics": {"latencyMs": 1},
    }


def stream_events(response: JsonObject) -> list[tuple[str, JsonObject]]:
    """The events that deliver ``response``, as ``(event type, payload)``: each content
    block started, its deltas (text in a few pieces, a tool call's input JSON in fragments,
    reasoning text then its signature) and stopped; the stop reason; the usage last."""
    events: list[tuple[str, JsonObject]] = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(response["output"]["message"]["content"]):
        deltas: list[JsonObject] = []
        if "text" in block:
            deltas = [{"text": piece} for piece in stream_pieces(block["text"])]
        elif "toolUse" in block:
            call = block["toolUse"]
            start = {"toolUse": {"toolUseId": call["toolUseId"], "name": call["name"]}}
            events.append(("contentBlockStart", {"start": start, "contentBlockIndex": index}))
            arguments = call["input"]
            text = arguments if isinstance(arguments, str) else json.dumps(arguments)
            deltas = [{"toolUse": {"input": piece}} for piece in stream_pieces(text)]
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]["reasoningText"]
            deltas = [{"reasoningContent": {"text": p}} for p in stream_pieces(reasoning["text"])]
            deltas.append({"reasoningContent": {"signature": reasoning["signature"]}})
        for delta in deltas:
            events.append(("contentBlockDelta", {"delta": delta, "contentBlockIndex": index}))
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    events.append(("messageStop", {"stopReason": response["stopReason"]}))
    events.append(("metadata", {"usage": response["usage"], "metrics": response["metrics"]}))
    return events


async def _stream(response: JsonObject) -> AsyncIterator[bytes]:
    for event_type, payload in stream_events(response):
        yield event_frame(event_type, payload)
