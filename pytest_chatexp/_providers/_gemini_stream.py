"""Gemini's server-sent events (``:streamGenerateContent?alt=sse``) read as one response, and
Google's error shape: what ``_gemini`` reads besides a plain answer."""

from __future__ import annotations

import json
from typing import Any

from .._errors import ProviderError

__all__ = ["assemble_stream", "error_text"]


def error_text(body: Any) -> str | None:
    """Google's ``{"error": {"code", "message", "status"}}`` as ``STATUS: message``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        status = error.get("status")
        message: str = error["message"]
        return f"{status}: {message}" if isinstance(status, str) and status else message
    return None


def assemble_stream(events: list[Any]) -> dict[str, Any]:
    """The response a stream's chunks describe, as one GenerateContentResponse.

    Each event is a GenerateContentResponse holding the next parts of the first candidate;
    the parts are concatenated (adjacent text parts of the same kind merged), the last
    ``finishReason`` and ``usageMetadata`` win (Gemini's counts are cumulative). An
    ``error`` event raises ProviderError with Google's message.
    """
    parts: list[dict[str, Any]] = []
    merged: dict[str, Any] = {}
    finish: str | None = None
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            raise ProviderError(f"stream event {position} is not a JSON object: {event!r:.80}")
        if "error" in event:
            detail = error_text(event) or json.dumps(event)
            raise ProviderError(f"the stream reported an error: {detail}")
        for key in ("usageMetadata", "promptFeedback", "modelVersion", "responseId"):
            if key in event:
                merged[key] = event[key]
        candidates = event.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            continue
        candidate = candidates[0]
        if not isinstance(candidate, dict):
            raise ProviderError(f"stream event {position}: a candidate is not a JSON object")
        finish = candidate.get("finishReason") or finish
        content = candidate.get("content")
        for part in content.get("parts") or [] if isinstance(content, dict) else []:
            previous = parts[-1] if parts else None
            if _same_text_kind(previous, part):
                previous["text"] += part["text"]  # type: ignore[index]
            else:
                parts.append(dict(part) if isinstance(part, dict) else part)
    if parts or finish is not None:
        candidate_out: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
        if finish is not None:
            candidate_out["finishReason"] = finish
        merged["candidates"] = [candidate_out]
    return merged


def _same_text_kind(previous: Any, part: Any) -> bool:
    """Whether two streamed parts are pieces of one text (both thought, or both not)."""
    return all(
        isinstance(item, dict)
        and set(item) <= {"text", "thought"}
        and isinstance(item.get("text"), str)
        for item in (previous, part)
    ) and bool(part.get("thought")) == bool(previous.get("thought"))
