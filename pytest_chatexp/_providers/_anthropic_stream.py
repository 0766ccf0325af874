"""Anthropic's server-sent events read as one message, and Anthropic's error shape: what
``_anthropic`` reads besides a plain answer."""

from __future__ import annotations

import json
from typing import Any

from .._errors import ProviderError

__all__ = ["assemble_stream", "error_text"]


def error_text(body: Any) -> str | None:
    """Anthropic's ``{"error": {"type", "message"}}`` (an error body or stream event) as text."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            kind = error.get("type")
            message: str = error["message"]
            return f"{kind}: {message}" if isinstance(kind, str) and kind else message
        if isinstance(error, str):
            return error
    return None


def assemble_stream(events: list[Any]) -> dict[str, Any]:
    """The message a stream's events describe, in the shape of a non-streamed answer.

    ``message_start`` carries the message (and the input tokens), content blocks are built by
    index from their start and deltas (``text_delta``, ``input_json_delta``), and
    ``message_delta`` brings the stop reason and the final output token count. An ``error``
    event raises ProviderError with Anthropic's message.
    """
    message: dict[str, Any] | None = None
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, list[str]] = {}
    usage: dict[str, Any] = {}
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            raise ProviderError(f"stream event {position} is not a JSON object: {event!r}")
        kind = event.get("type")
        if kind == "error":
            detail = error_text(event) or json.dumps(event)
            raise ProviderError(f"the stream reported an error: {detail}")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = dict(event["message"])
            if isinstance(message.get("usage"), dict):
                usage.update(message["usage"])
        elif kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            blocks[_index(event, position)] = dict(event["content_block"])
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            index = _index(event, position)
            block = blocks.get(index)
            if block is None:
                raise ProviderError(
                    f"stream event {position}: a delta for content block {index}, "
                    "which was never started"
                )
            delta = event["delta"]
            if delta.get("type") == "text_delta":
                block["text"] = str(block.get("text") or "") + str(delta.get("text") or "")
            elif delta.get("type") in ("thinking_delta", "signature_delta"):
                name = "thinking" if delta["type"] == "thinking_delta" else "signature"
                block[name] = str(block.get(name) or "") + str(delta.get(name) or "")
            elif delta.get("type") == "input_json_delta":
                partial_json.setdefault(index, []).append(str(delta.get("partial_json") or ""))
        elif kind == "message_delta":
            if message is None:
                raise ProviderError(f"stream event {position}: message_delta before message_start")
            delta = event.get("delta")
            if isinstance(delta, dict):
                message.update(delta)
            if isinstance(event.get("usage"), dict):
                # Cumulative counts: the last one wins, but a null (the SDK's MessageDeltaUsage
                # leaves what it does not repeat None) keeps what message_start said.
                usage.update({k: v for k, v in event["usage"].items() if v is not None})
    if message is None:
        raise ProviderError("the stream has no message_start event")
    for index, parts in partial_json.items():
        text = "".join(parts)
        try:
            blocks[index]["input"] = json.loads(text) if text else {}
        except json.JSONDecodeError:
            blocks[index]["input"] = text
    message["content"] = [blocks[index] for index in sorted(blocks)]
    message["usage"] = usage
    return message


def _index(event: dict[str, Any], position: int) -> int:
    index = event.get("index")
    if not isinstance(index, int):
        raise ProviderError(f"stream event {position} ({event.get('type')}) has no block index")
    return index
