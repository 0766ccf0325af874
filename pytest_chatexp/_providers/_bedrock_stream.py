"""Bedrock's ``converse-stream`` events read as one Converse response, and Bedrock's error
shape: what ``_bedrock`` reads besides a plain answer.

The events are the decoded frames (``_eventstream``), each ``{event-type: payload}``:
``messageStart``, then per content block ``contentBlockStart`` (a tool call's id and name),
``contentBlockDelta`` (text, a fragment of a tool call's input JSON, reasoning text or its
signature) and ``contentBlockStop``, then ``messageStop`` (the stop reason) and ``metadata``
(usage, metrics). An exception frame (``throttlingException``...) or an error message ends the
stream with the service's words.
"""

from __future__ import annotations

import json
from typing import Any

from .._errors import ProviderError

__all__ = ["assemble_stream", "error_text", "is_first_token", "stream_finished"]


def error_text(body: Any) -> str | None:
    """Bedrock's ``{"message": ...}`` (``Message`` from some services) as text."""
    if isinstance(body, dict):
        for key in ("message", "Message"):
            if isinstance(body.get(key), str):
                message: str = body[key]
                return message
    return None


def is_first_token(event: Any) -> bool:
    return isinstance(event, dict) and "contentBlockDelta" in event


def _failure(event: Any) -> str | None:
    """The exception or error an event reports, as text, or None."""
    if not isinstance(event, dict) or len(event) != 1:
        return None
    ((name, payload),) = event.items()
    if name == "error" and isinstance(payload, dict):
        return f"{payload.get('code')}: {payload.get('message')}"
    if name.endswith("Exception"):
        return f"{name}: {error_text(payload) or json.dumps(payload)}"
    return None


def stream_finished(events: list[Any]) -> bool:
    # The usage comes last, after messageStop; an exception ends the stream too (and
    # parse_response then reports it).
    return any(
        isinstance(event, dict) and ("metadata" in event or _failure(event) is not None)
        for event in events
    )


def assemble_stream(events: list[Any]) -> dict[str, Any]:
    """The Converse response a stream's events describe."""
    role = "assistant"
    blocks: dict[int, dict[str, Any]] = {}
    fragments: dict[int, list[str]] = {}
    response: dict[str, Any] = {}
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            raise ProviderError(f"stream event {position} is not a JSON object: {event!r:.80}")
        failure = _failure(event)
        if failure is not None:
            raise ProviderError(f"the stream reported {failure}")
        if isinstance(event.get("messageStart"), dict):
            role = str(event["messageStart"].get("role") or role)
        elif isinstance(event.get("contentBlockStart"), dict):
            start = event["contentBlockStart"]
            tool_use = (start.get("start") or {}).get("toolUse")
            if isinstance(tool_use, dict):
                blocks[_index(start, position)] = {"toolUse": {**tool_use, "input": {}}}
        elif isinstance(event.get("contentBlockDelta"), dict):
            delta_event = event["contentBlockDelta"]
            index = _index(delta_event, position)
            delta = delta_event.get("delta")
            if isinstance(delta, dict):
                _apply(blocks, fragments, index, delta, position)
        elif isinstance(event.get("messageStop"), dict):
            stop = event["messageStop"]
            response["stopReason"] = stop.get("stopReason")
            if "additionalModelResponseFields" in stop:
                response["additionalModelResponseFields"] = stop["additionalModelResponseFields"]
        elif isinstance(event.get("metadata"), dict):
            response.update(event["metadata"])  # usage, metrics, trace
    for index, parts in fragments.items():
        text = "".join(parts)
        try:
            blocks[index]["toolUse"]["input"] = json.loads(text) if text else {}
        except json.JSONDecodeError:
            blocks[index]["toolUse"]["input"] = text
    content = [blocks[index] for index in sorted(blocks)]
    return {"output": {"message": {"role": role, "content": content}}, **response}


def _apply(
    blocks: dict[int, dict[str, Any]],
    fragments: dict[int, list[str]],
    index: int,
    delta: dict[str, Any],
    position: int,
) -> None:
    if isinstance(delta.get("text"), str):
        block = blocks.setdefault(index, {"text": ""})
        block["text"] = str(block.get("text") or "") + delta["text"]
    elif isinstance(delta.get("toolUse"), dict):
        if "toolUse" not in blocks.get(index, {}):
            raise ProviderError(
                f"stream event {position}: tool input for content block {index}, which no "
                "contentBlockStart opened"
            )
        fragments.setdefault(index, []).append(str(delta["toolUse"].get("input") or ""))
    elif isinstance(delta.get("reasoningContent"), dict):
        piece = delta["reasoningContent"]
        reasoning = blocks.setdefault(index, {"reasoningContent": {}})["reasoningContent"]
        if "redactedContent" in piece:
            reasoning["redactedContent"] = piece["redactedContent"]
            return
        text = reasoning.setdefault("reasoningText", {})
        for name in ("text", "signature"):
            if isinstance(piece.get(name), str):
                text[name] = str(text.get(name) or "") + piece[name]


def _index(event: dict[str, Any], position: int) -> int:
    index = event.get("contentBlockIndex")
    if not isinstance(index, int):
        raise ProviderError(f"stream event {position} has no contentBlockIndex")
    return index
