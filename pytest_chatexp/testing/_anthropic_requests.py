"""Anthropic Messages requests checked as Anthropic checks them: the reason a request is
refused, worded like Anthropic's errors, or ``None``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_chatexp.testing._thinking import thinking_block_problem

__all__ = ["validation_problem"]

# Top-level request fields the Messages API knows; anything else is rejected, as Anthropic does.
_KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
    }
)


def validation_problem(body: object) -> str | None:
    """Why the request is unacceptable, worded like Anthropic's errors, or ``None``."""
    if not isinstance(body, dict):
        return "The request body is not a valid JSON object."
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a non-empty string"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return "max_tokens: Input should be a valid integer"
    if max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        return f"{unknown[0]}: Extra inputs are not permitted"
    return (
        _messages_problem(body["messages"])
        or _system_problem(body.get("system"))
        or _tools_problem(body.get("tools"), body.get("tool_choice"))
        or _stop_problem(body.get("stop_sequences"))
        or _output_config_problem(body.get("output_config"))
        or (
            None if body.get("stream", False) in (True, False) else "stream: Input should be a bool"
        )
    )


def _output_config_problem(value: object) -> str | None:
    if value is None:
        return None
    output_format = value.get("format") if isinstance(value, dict) else None
    if output_format is None:
        return None if isinstance(value, dict) else "output_config: Input should be an object"
    if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
        return "output_config.format.type: Input should be 'json_schema'"
    if not isinstance(output_format.get("schema"), dict):
        return "output_config.format.schema: Input should be an object"
    return None


def _messages_problem(value: object) -> str | None:
    if not isinstance(value, list):
        return "messages: Input should be a valid list"
    if not value:
        return "messages: at least one message is required"
    for position, message in enumerate(value):
        where = f"messages.{position}"
        if not isinstance(message, dict):
            return f"{where}: Input should be a valid dictionary"
        if message.get("role") not in ("user", "assistant"):
            return f"{where}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            return f"{where}.content: Input should be a valid string or list of content blocks"
        for index, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                return f"{where}.content.{index}: a content block needs a 'type'"
            problem = _block_problem(block, message["role"])
            if problem is not None:
                return f"{where}.content.{index}{problem}"
    return None


def _block_problem(block: Mapping[str, Any], role: str) -> str | None:
    kind = block["type"]
    if kind == "text" and not isinstance(block.get("text"), str):
        return ".text: Field required"
    if kind == "tool_use":
        if role != "assistant":
            return ": tool_use blocks may only appear in assistant messages"
        for name in ("id", "name"):
            if not isinstance(block.get(name), str):
                return f".{name}: Field required"
        if not isinstance(block.get("input"), dict):
            return ".input: Input should be a valid dictionary"
    if kind == "thinking":
        return thinking_block_problem(block, role)
    if kind == "tool_result":
        if role != "user":
            return ": tool_result blocks may only appear in user messages"
        if not isinstance(block.get("tool_use_id"), str):
            return ".tool_use_id: Field required"
    return None


def _system_problem(system: object) -> str | None:
    if system is None or isinstance(system, str):
        return None
    if isinstance(system, list) and all(
        isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
        for block in system
    ):
        return None
    return "system: Input should be a valid string or a list of text blocks"


def _tools_problem(tools: object, choice: object) -> str | None:
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for position, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                return f"tools.{position}.name: Field required"
            if "type" not in tool and not isinstance(tool.get("input_schema"), dict):
                return f"tools.{position}.input_schema: Field required"
    if choice is None:
        return None
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "none", "tool"):
        return "tool_choice: Input should be an object with type 'auto', 'any', 'none' or 'tool'"
    if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
        return "tool_choice.name: Field required"
    return None


def _stop_problem(stops: object) -> str | None:
    if stops is None or (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        return None
    return "stop_sequences: Input should be a valid list of strings"
