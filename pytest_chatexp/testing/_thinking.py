"""Anthropic extended thinking on the reference server: a ``thinking`` block before the answer
when the request enables it, streamed as ``thinking_delta`` then ``signature_delta`` events, and
thinking blocks sent back (a tool loop) checked for their signature, as Anthropic does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_chatexp.testing._replies import JsonObject, short_digest, stream_pieces

__all__ = ["thinking_block", "thinking_block_problem", "thinking_deltas"]


def thinking_block(body: Mapping[str, Any]) -> JsonObject | None:
    """The thinking block answering ``body``, or None when it does not enable thinking. Its text
    names the budget and the last message, so a test can tell whose thinking it is."""
    thinking = body.get("thinking")
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled":
        return None
    last = body["messages"][-1]["content"] if body.get("messages") else ""
    about = last if isinstance(last, str) else f"{len(last)} blocks"
    text = f"Thinking within {thinking.get('budget_tokens')} tokens about: {about}"
    return {"type": "thinking", "thinking": text, "signature": "sig_" + short_digest(text, 16)}


def thinking_deltas(block: Mapping[str, Any]) -> list[JsonObject]:
    """A thinking block's stream deltas: its text in pieces, then its signature."""
    deltas: list[JsonObject] = [
        {"type": "thinking_delta", "thinking": piece} for piece in stream_pieces(block["thinking"])
    ]
    deltas.append({"type": "signature_delta", "signature": block["signature"]})
    return deltas


def thinking_block_problem(block: Mapping[str, Any], role: str) -> str | None:
    """What is wrong with a thinking block sent back, or None."""
    if role != "assistant":
        return ": thinking blocks may only appear in assistant messages"
    if not isinstance(block.get("signature"), str):
        return ".signature: Field required"
    return None
