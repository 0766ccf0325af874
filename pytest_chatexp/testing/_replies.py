"""What the reference model can answer, in no wire format: replies and how they are finished.

The types a reply is scripted with (:class:`Reply`, :class:`ToolCallReply`), the sources the
:class:`~._engine.ReplyEngine` picks from when no rule applies (directives in the last user
message, a forced ``tool_choice``, JSON mode, the echo) and the finishing every answer goes
through (``stop``, ``max_tokens``, token counts, tool call ids) into an :class:`Answer`. Agent
plans (``[[step: ...]]``) are in :mod:`._plans`.

Everything is a pure function of the request, so the same request always gets the
same answer, whatever its ``temperature``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]
"""A decoded JSON object, such as a chat request body."""


@dataclass(frozen=True, slots=True)
class ToolCallReply:
    """A tool call the reference model should make.

    ``arguments`` given as a dict is serialised compactly with sorted keys; a string is
    sent as is, so tests can exercise a client's handling of invalid JSON arguments.
    """

    name: str
    arguments: str | dict[str, Any] = "{}"
    #: The call's id; ``None`` derives one from the call (see :func:`resolve_tool_calls`).
    id: str | None = None

    def arguments_text(self) -> str:
        """The arguments exactly as they go over the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted model reply: text, tool calls, or both.

    ``finish_reason`` overrides the computed one (e.g. to simulate ``"content_filter"``);
    ``usage`` entries override the computed token usage.
    """

    text: str | None = None
    tool_calls: Sequence[ToolCallReply] = ()
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None


ReplySource = str | Reply | Callable[[JsonObject], str | Reply]
"""A fixed reply, or a function of the request JSON that builds one."""

Condition = str | Callable[[JsonObject], bool] | None
"""When a rule applies: always (None), a substring of the last user message, or a predicate."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call with its deterministic id and wire-ready arguments."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The engine's final decision, ready for a wire format to render."""

    text: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    usage_overrides: Mapping[str, Any] | None


# --- reading messages -------------------------------------------------------------------


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message: string content, or its ``{"type": "text"}`` parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    )


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Text of the last ``user`` message, or ``""`` when there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def count_words(text: str) -> int:
    """The reference tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Words across all message texts plus one per message (the role marker)."""
    return sum(count_words(message_text(message)) + 1 for message in messages)


def short_digest(text: str, length: int) -> str:
    """First ``length`` hex digits of sha256; lone surrogates (legal in JSON) are hashable."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


#: How many deltas a streamed text, or a tool call's arguments, is split into.
STREAM_PIECES = 3


def stream_pieces(text: str) -> list[str]:
    """``text`` cut into up to ``STREAM_PIECES`` consecutive deltas, as a model's tokens would
    arrive (none for empty text); every wire format streams with it."""
    size = max(1, -(-len(text) // STREAM_PIECES))
    return [text[start : start + size] for start in range(0, len(text), size)]


# --- reply sources ----------------------------------------------------------------------

_TOKENS_DIRECTIVE = re.compile(r"\[\[tokens:\s*(\d+)\s*\]\]")
_TOOL_DIRECTIVE = re.compile(r"\[\[tool:\s*([^\s\]]+)\s*")
_DIRECTIVE_END = re.compile(r"\s*\]\]")
_JSON_DECODER = json.JSONDecoder()


def directive_text(name: str, text: str) -> str | None:
    """The text of the first ``[[name: ...]]`` directive in ``text`` (stripped, ``\\n`` read as
    a line break), or ``None`` when there is none."""
    match = re.search(rf"\[\[{re.escape(name)}:(.*?)\]\]", text, re.DOTALL)
    return match.group(1).strip().replace("\\n", "\n") if match else None


def directive_reply(text: str) -> Reply | None:
    """Reply scripted by directives in the user message, or ``None`` if there are none.

    ``[[tool: ...]]`` directives win; a ``[[reply: ...]]`` next to them becomes the text
    that accompanies the tool calls. Otherwise ``[[reply: ...]]`` beats ``[[tokens: N]]``.
    """
    if "[[" not in text:
        return None
    reply_text = directive_text("reply", text)
    tool_calls = _tool_directives(text)
    if tool_calls or reply_text is not None:
        return Reply(text=reply_text, tool_calls=tool_calls)
    tokens = _TOKENS_DIRECTIVE.search(text)
    return Reply(text=filler_words(int(tokens.group(1)))) if tokens else None


def _tool_directives(text: str) -> list[ToolCallReply]:
    calls = []
    for match in _TOOL_DIRECTIVE.finditer(text):
        arguments = _directive_arguments(text, match.end())
        if arguments is not None:
            calls.append(ToolCallReply(match.group(1), arguments))
    return calls


def _directive_arguments(text: str, start: int) -> str | dict[str, Any] | None:
    """Arguments of a tool directive whose name ends at ``start``.

    A JSON object is decoded properly (it may itself contain ``]]``); anything else up to
    the closing ``]]`` is passed through verbatim, so invalid JSON can be scripted too.
    ``None`` means the directive is never closed.
    """
    if text.startswith("{", start):
        with suppress(ValueError):
            value, stop = _JSON_DECODER.raw_decode(text, start)
            if isinstance(value, dict) and _DIRECTIVE_END.match(text, stop):
                return value
    end = text.find("]]", start)
    return None if end < 0 else text[start:end].strip() or "{}"


def filler_words(count: int) -> str:
    """``count`` distinct words, for replies of a known token length."""
    return " ".join(f"w{index}" for index in range(1, count + 1))


def forced_tool_reply(request: JsonObject) -> Reply | None:
    """A call to the function that ``tool_choice`` forces, with schema-derived arguments."""
    function = _forced_function(request.get("tool_choice"), request.get("tools"))
    if function is None:
        return None
    arguments = schema_arguments(function.get("parameters"))
    return Reply(tool_calls=[ToolCallReply(function["name"], arguments)])


def _forced_function(choice: object, tools: object) -> JsonObject | None:
    if not isinstance(tools, list):
        return None
    functions = [
        tool["function"]
        for tool in tools
        if isinstance(tool, dict)
        and isinstance(tool.get("function"), dict)
        and isinstance(tool["function"].get("name"), str)
    ]
    if choice == "required":
        return functions[0] if functions else None
    if not isinstance(choice, dict) or not isinstance(choice.get("function"), dict):
        return None
    name = choice["function"].get("name")
    if not isinstance(name, str):
        return None
    # Forcing a function that is not in `tools` still calls it, just without a schema.
    return next((function for function in functions if function["name"] == name), {"name": name})


def schema_arguments(schema: object) -> dict[str, Any]:
    """Deterministic arguments for a JSON-Schema object: its required (or all) properties."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return {}
    properties: JsonObject = schema["properties"]
    required = schema.get("required")
    names = (
        [name for name in required if isinstance(name, str)]
        if isinstance(required, list)
        else list(properties)
    )
    return {name: _placeholder(name, properties.get(name)) for name in names}


def _placeholder(name: str, schema: object) -> Any:
    """A value for one property; ``const``/``enum`` win so that the value stays schema-valid."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = _schema_type(schema)
    placeholders: dict[str | None, Any] = {
        "string": f"<{name}>",
        "integer": 1,
        "number": 1.0,
        "boolean": True,
        "array": [],
        "object": {},
    }
    return placeholders.get(kind)


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # e.g. ["string", "null"]: the first non-null type
        kind = next((item for item in kind if item != "null"), None)
    return kind if isinstance(kind, str) else None


def json_object_reply(request: JsonObject, user_text: str) -> Reply | None:
    """JSON mode: a JSON object echoing the user, so clients can ``json.loads`` it."""
    response_format = request.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_object":
        return None
    return Reply(text=json.dumps({"echo": user_text}, separators=(",", ":"), ensure_ascii=False))


def echo_reply(request: JsonObject, user_text: str) -> Reply:
    """The default: echo the user, prefixed by the start of the system prompt if any."""
    system = _system_text(request["messages"])
    prefix = "" if system is None else f"[system: {system[:40]}] "
    return Reply(text=f"{prefix}echo: {user_text}")


def _system_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    for message in messages:
        if message.get("role") in ("system", "developer"):
            return message_text(message)
    return None


# --- finishing --------------------------------------------------------------------------

_WORD = re.compile(r"\S+")


def finish(request: JsonObject, reply: Reply) -> Answer:
    """Apply ``stop``/``max_tokens``, settle the finish reason, count completion tokens."""
    text, truncated_by = (None, None) if reply.text is None else truncate(reply.text, request)
    calls = resolve_tool_calls(reply.tool_calls)
    prompt = prompt_tokens(request["messages"])
    finish_reason = reply.finish_reason or truncated_by or ("tool_calls" if calls else "stop")
    completion = count_words(text or "") + sum(
        count_words(call.name) + count_words(call.arguments) for call in calls
    )
    return Answer(text, calls, finish_reason, prompt, completion, reply.usage)


def resolve_tool_calls(calls: Sequence[ToolCallReply]) -> tuple[ToolCall, ...]:
    """Give each call its wire arguments and, unless it has one, a deterministic id
    (``call_`` + 8 hex of its name, arguments and position)."""
    resolved = []
    for position, call in enumerate(calls):
        arguments = call.arguments_text()
        call_id = call.id or "call_" + short_digest(f"{call.name}{arguments}{position}", 8)
        resolved.append(ToolCall(call_id, call.name, arguments))
    return tuple(resolved)


def truncate(text: str, request: Mapping[str, Any]) -> tuple[str, str | None]:
    """Cut ``text`` at the first stop string, then to the token limit.

    Returns the text and the finish reason the cut implies (``None`` if uncut).
    """
    reason = None
    cut = _first_stop(text, request.get("stop"))
    if cut is not None:
        text, reason = text[:cut], "stop"
    limit = _token_limit(request)
    if limit is not None and count_words(text) > limit:
        text = text[: _end_of_word(text, limit)]
        reason = "length"
    return text, reason


def _first_stop(text: str, stop: object) -> int | None:
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    positions = (text.find(item) for item in stops if isinstance(item, str) and item)
    return min((position for position in positions if position >= 0), default=None)


def _token_limit(request: Mapping[str, Any]) -> int | None:
    # `max_completion_tokens` supersedes the deprecated `max_tokens` in the OpenAI API.
    for key in ("max_completion_tokens", "max_tokens"):
        value = request.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _end_of_word(text: str, count: int) -> int:
    """Index just past the ``count``-th word (0 for no words), keeping inner whitespace."""
    end = 0
    for _, match in zip(range(count), _WORD.finditer(text), strict=False):
        end = match.end()
    return end
