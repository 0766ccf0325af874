"""A logged Humanloop answer as the provider's own response body, the body a recording holds.

Each body is read back with the plugin's provider (``parse_response``) before it is used: the
text and the tool calls must come back exactly as logged, or the import stops.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..._providers import get_provider
from .._records import MigrationError
from ._data import LogRecord

__all__ = ["answer_body"]


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {}


def _openai(log: LogRecord, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": log.output or None}
    if log.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in log.tool_calls
        ]
    finish = "tool_calls" if log.tool_calls else _finish(log, "stop", "length")
    return {
        "id": log.id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": log.prompt_tokens or 0,
            "completion_tokens": log.output_tokens or 0,
            "total_tokens": (log.prompt_tokens or 0) + (log.output_tokens or 0),
        },
    }


def _anthropic(log: LogRecord, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": log.output}] if log.output else []
    content += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c.arguments)}
        for c in log.tool_calls
    ]
    return {
        "id": log.id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if log.tool_calls else _finish(log, "end_turn", "max_tokens"),
        "stop_sequence": None,
        "usage": {"input_tokens": log.prompt_tokens or 0, "output_tokens": log.output_tokens or 0},
    }


def _gemini(log: LogRecord, model: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": log.output}] if log.output else []
    parts += [
        {"functionCall": {"name": c.name, "args": _arguments(c.arguments)}} for c in log.tool_calls
    ]
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": _finish(log, "STOP", "MAX_TOKENS"),
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": log.prompt_tokens or 0,
            "candidatesTokenCount": log.output_tokens or 0,
            "totalTokenCount": (log.prompt_tokens or 0) + (log.output_tokens or 0),
        },
        "modelVersion": model,
        "responseId": log.id,
    }


def _bedrock(log: LogRecord, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"text": log.output}] if log.output else []
    content += [
        {"toolUse": {"toolUseId": c.id, "name": c.name, "input": _arguments(c.arguments)}}
        for c in log.tool_calls
    ]
    tokens_in, tokens_out = log.prompt_tokens or 0, log.output_tokens or 0
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if log.tool_calls else _finish(log, "end_turn", "max_tokens"),
        "usage": {
            "inputTokens": tokens_in,
            "outputTokens": tokens_out,
            "totalTokens": tokens_in + tokens_out,
        },
        "metrics": {"latencyMs": round((log.latency_s or 0) * 1000)},
    }


def _finish(log: LogRecord, done: str, cut: str) -> str:
    return cut if log.finish_reason in ("length", "max_tokens") else done


_BODIES: Mapping[str, Callable[[LogRecord, str], dict[str, Any]]] = {
    "openai": _openai,
    "azure_openai": _openai,
    "groq": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "bedrock": _bedrock,
}


def answer_body(log: LogRecord, provider: str, model: str) -> dict[str, Any]:
    """The response ``provider`` would have sent for ``log``'s answer, checked by reading it
    back with the plugin's provider."""
    body = _BODIES[provider](log, model)
    wire = get_provider(provider)
    assert wire is not None, provider
    reply = wire.parse_response(body)
    calls = reply.message.tool_calls or []
    got = (reply.raw_output.strip(), [(c.function.name, _arguments(c.function.arguments or "{}"))
                                      for c in calls])  # fmt: skip
    want = (log.output.strip(), [(c.name, _arguments(c.arguments)) for c in log.tool_calls])
    if got != want:
        raise MigrationError(
            f"{log.where}: the logged answer does not read back through the {provider} "
            "provider as logged (internal error: please report it)"
        )
    return body
