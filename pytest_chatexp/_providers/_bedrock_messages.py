"""Converse's ``messages``: the conversation as Bedrock's content blocks (see ``_bedrock``)."""

from __future__ import annotations

import json
from typing import Any

from .._errors import InvalidExperimentError
from .._experiment._humanloop import ChatMessage, ImageChatContent, TextChatContent, ToolCall
from ._base import arguments_object

__all__ = ["REASONING_BLOCKS_FIELD", "wire_messages"]

#: The assistant message's extra field holding its reasoning blocks (sent back in tool loops).
REASONING_BLOCKS_FIELD = "bedrock_reasoning_blocks"
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def wire_messages(messages: tuple[ChatMessage, ...], *, where: str) -> list[dict[str, Any]]:
    """The ``messages`` array: every non-system message in Converse's shape."""
    wire: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        here = f"{where}: messages[{position}]"
        if message.role == "system":
            continue
        if message.role == "tool":
            if not message.tool_call_id:
                raise InvalidExperimentError(
                    f"{here} (role 'tool') needs a 'tool_call_id': Converse links a toolResult "
                    "to its toolUse by that id"
                )
            role, blocks = "user", [{"toolResult": _tool_result(message)}]
        else:
            role = message.role
            blocks = []
            kept = (message.model_extra or {}).get(REASONING_BLOCKS_FIELD)
            if message.role == "assistant" and isinstance(kept, list):
                blocks += [dict(block) for block in kept]
            blocks += _content_blocks(message.content, where=here)
            for call in message.tool_calls or []:
                blocks.append({"toolUse": _tool_use(call, where=here)})
        previous = wire[-1] if wire else None
        if previous is not None and previous["role"] == role:
            previous["content"] += blocks  # Converse requires the roles to alternate
        else:
            wire.append({"role": role, "content": blocks})
    return wire


def _content_blocks(
    content: str | list[TextChatContent | ImageChatContent] | None, *, where: str
) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextChatContent):
            blocks.append({"text": part.text})
            continue
        url = part.image_url.url
        mime, _, data = url[5:].partition(";base64,") if url.startswith("data:") else ("", "", "")
        if mime not in _IMAGE_FORMATS or not data:
            raise InvalidExperimentError(
                f"{where}: Converse takes images as bytes: give a data: URL of a png, jpeg, "
                f"gif or webp image (base64), not {url[:40]!r}"
            )
        blocks.append({"image": {"format": _IMAGE_FORMATS[mime], "source": {"bytes": data}}})
    return blocks


def _tool_use(call: ToolCall, *, where: str) -> dict[str, Any]:
    value = arguments_object(call, where=where, field="Converse's toolUse input")
    return {"toolUseId": call.id, "name": call.function.name, "input": value}


def _tool_result(message: ChatMessage) -> dict[str, Any]:
    text = message.text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    content = [{"json": value}] if isinstance(value, dict) else [{"text": text}]
    result: dict[str, Any] = {"toolUseId": message.tool_call_id, "content": content}
    if message.is_error:
        result["status"] = "error"
    return result
