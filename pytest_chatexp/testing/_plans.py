"""Agent plans: scripted multi-step tool use whose final reply quotes the tool results.

A plan is a list of steps, each one model turn of tool calls (several calls in a step are
parallel calls), then a final text reply. It is played against the conversation: the next step
is the one after as many steps as there are assistant tool-call turns since the last user
message, so a tool loop (call, run the tools, call again) walks through it, and each user
message of a conversation can carry a plan of its own. Directives in the last user message::

    [[step: lookup_order {"order_id": "7"}]]
    [[step: get_weather {"city": "Paris"}; get_weather {"city": "Rome"}]]
    [[reply: Order: <<result:lookup_order>>. Weather: <<result:get_weather>>]]
    [[on-error: Sorry: <<error>>]]

- ``[[step: NAME {JSON object}; NAME {...}]]``: one step, its calls separated by ``;``; the
  arguments may be left out (``{}``). Steps are played in the order they are written. A step
  the server cannot read is answered with a 400 naming it.
- ``[[reply: TEXT]]``: the final reply, once every step has been answered (default
  ``<<result>>``). With ``[[step: ...]]`` present, ``[[tool: ...]]`` and ``[[tokens: N]]``
  directives are ignored.
- ``[[on-error: TEXT]]``: the reply as soon as a tool result since the last user message is an
  error (its content starts with ``Error:``, as the plugin sends a failed tool's): the plan
  stops there, its remaining steps are not played. Default ``A tool failed: <<error>>``.

Placeholders in the reply texts and in the string values of a step's arguments, filled from
the tool results since the last user message (tool names come from the calls they answer):

- ``<<result>>``: every result's content, one per line, in the order received;
  ``<<result:NAME>>``: the results of tool NAME only;
- ``<<result:NAME.key>>``: a field of NAME's latest result, read as JSON (``.key.0`` goes
  deeper, numbers index lists); an argument that is exactly this placeholder takes the
  field's JSON value (a number stays a number), anywhere else it is inserted as text;
- ``<<error>>``, ``<<error:NAME>>``: the same over the error results only.

A placeholder with nothing to fill it (no such result yet, no such field) stays as written, so
a mistake shows in the answer. From Python, a :class:`Plan` is a rule's reply
(``server.add_rule(Plan(...), when=...)``), and :func:`tool_results` gives any rule the tool
results it is answering.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pytest_chatexp.testing._replies import (
    JsonObject,
    Reply,
    ToolCallReply,
    directive_text,
    message_text,
    short_digest,
)

__all__ = ["DirectiveError", "Plan", "ReceivedToolResult", "directive_plan", "tool_results"]

#: What the content of an error tool result starts with (the plugin's failed tools send it).
ERROR_PREFIX: Final = "Error:"
DEFAULT_REPLY: Final = "<<result>>"
DEFAULT_ON_ERROR: Final = "A tool failed: <<error>>"

_PLACEHOLDER: Final = re.compile(r"<<(result|error)(?::([\w-]+)((?:\.[\w-]+)*))?>>")
_STEP: Final = re.compile(r"\[\[step:")
_CALL_NAME: Final = re.compile(r"\s*([^\s;{\]]+)\s*")
_AFTER_CALL: Final = re.compile(r"\s*(;|\]\])")
_DECODER: Final = json.JSONDecoder()
_MISSING: Final = object()


class DirectiveError(ValueError):
    """A plan directive the server cannot read; the server answers the request with a 400."""


@dataclass(frozen=True, slots=True)
class ReceivedToolResult:
    """A tool result the model is being sent, with the call it answers.

    ``name`` and ``arguments`` are those of the call with id ``call_id`` in an assistant
    message of the conversation, ``None`` when no call has that id.
    """

    call_id: str
    name: str | None
    arguments: str | None
    content: str

    @property
    def error(self) -> bool:
        """Whether the tool failed: its content starts with ``Error:``."""
        return self.content.startswith(ERROR_PREFIX)

    def json(self) -> Any:
        """The content read as JSON (``ValueError`` when it is not JSON)."""
        return json.loads(self.content)


def _messages(request: Mapping[str, Any]) -> list[JsonObject]:
    messages = request.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _since_last_user(messages: list[JsonObject]) -> list[JsonObject]:
    users = [index for index, message in enumerate(messages) if message.get("role") == "user"]
    return messages[users[-1] + 1 :] if users else messages


def _calls_of(message: Mapping[str, Any]) -> list[JsonObject]:
    calls = message.get("tool_calls") if message.get("role") == "assistant" else None
    return [call for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []


def tool_results(request: Mapping[str, Any]) -> tuple[ReceivedToolResult, ...]:
    """The tool results sent since the last user message, in order: what a rule reacts to.

    ``request`` is the request JSON a rule receives (every wire format's request is translated
    into this OpenAI-like shape, where tool results are ``tool`` messages)::

        server.add_rule(
            lambda request: f"Found {tool_results(request)[-1].content}",
            when=lambda request: bool(tool_results(request)),
        )
    """
    messages = _messages(request)
    calls: dict[str, tuple[str | None, str | None]] = {}
    for message in messages:
        for call in _calls_of(message):
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            name, arguments = function.get("name"), function.get("arguments")
            calls[str(call.get("id"))] = (
                name if isinstance(name, str) else None,
                arguments if isinstance(arguments, str) else None,
            )
    results = []
    for message in _since_last_user(messages):
        if message.get("role") != "tool":
            continue
        call_id = message.get("tool_call_id")
        call_id = call_id if isinstance(call_id, str) else ""
        name, arguments = calls.get(call_id, (None, None))
        results.append(ReceivedToolResult(call_id, name, arguments, message_text(message)))
    return tuple(results)


# --- plans ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """Scripted multi-step tool use, as a rule's reply (a function of the request).

    ``steps`` are played one per model call: a :class:`ToolCallReply` is a step of one call, a
    sequence of them a step of parallel calls. Once every step has been answered, the reply is
    ``reply``; as soon as a tool result is an error, it is ``on_error``. Both, and the string
    values of the steps' arguments, may hold ``<<result...>>`` and ``<<error...>>``
    placeholders (see the module's documentation)::

        server.add_rule(
            Plan(
                [ToolCallReply("lookup_order", {"order_id": "7"}),
                 [ToolCallReply("get_weather", {"city": "Paris"}),
                  ToolCallReply("get_weather", {"city": "Rome"})]],
                reply="Order <<result:lookup_order>>, weather <<result:get_weather>>",
            ),
            when="order 7",
        )
    """

    steps: Sequence[ToolCallReply | Sequence[ToolCallReply]] = ()
    reply: str = DEFAULT_REPLY
    on_error: str = DEFAULT_ON_ERROR
    _steps: tuple[tuple[ToolCallReply, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = []
        for position, step in enumerate(self.steps, start=1):
            calls = (step,) if isinstance(step, ToolCallReply) else tuple(step)
            if not calls or not all(isinstance(call, ToolCallReply) for call in calls):
                raise TypeError(
                    f"Plan step {position}: expected a ToolCallReply or a non-empty sequence of "
                    f"them, got {step!r}"
                )
            steps.append(calls)
        object.__setattr__(self, "_steps", tuple(steps))

    def __call__(self, request: JsonObject) -> Reply:
        """The reply for the conversation so far: the next step, or the final text."""
        results = tool_results(request)
        if any(result.error for result in results):
            return Reply(text=fill(self.on_error, results))
        answered = _tool_turns(request)
        if answered >= len(self._steps):
            return Reply(text=fill(self.reply, results))
        # Ids tell the steps (and each user message's plan) apart: a tool called again with the
        # same arguments in a later step must not answer to an id already used.
        salt = f"|{_user_count(request)}.{answered}"
        calls = []
        for position, call in enumerate(self._steps[answered]):
            arguments = _fill_arguments(call.arguments, results)
            text = ToolCallReply(call.name, arguments).arguments_text()
            call_id = call.id or "call_" + short_digest(f"{call.name}{text}{position}{salt}", 8)
            calls.append(ToolCallReply(call.name, arguments, id=call_id))
        return Reply(tool_calls=calls)


def _tool_turns(request: Mapping[str, Any]) -> int:
    """Assistant tool-call turns since the last user message: the steps already played."""
    return sum(1 for message in _since_last_user(_messages(request)) if _calls_of(message))


def _user_count(request: Mapping[str, Any]) -> int:
    return sum(1 for message in _messages(request) if message.get("role") == "user")


# --- placeholders --------------------------------------------------------------------------


def _value(match: re.Match[str], results: Sequence[ReceivedToolResult]) -> Any:
    """What a placeholder stands for, or ``_MISSING``."""
    kind, name, path = match.groups()
    pool = [
        result
        for result in results
        if (kind == "result" or result.error) and (name is None or result.name == name)
    ]
    if not pool:
        return _MISSING
    if not path:
        return "\n".join(result.content for result in pool)
    try:
        value = pool[-1].json()
    except ValueError:
        return _MISSING
    for key in path[1:].split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fill(text: str, results: Sequence[ReceivedToolResult]) -> str:
    """``text`` with its placeholders filled from ``results``; unfillable ones left as written."""

    def substitute(match: re.Match[str]) -> str:
        value = _value(match, results)
        return match.group(0) if value is _MISSING else _as_text(value)

    return _PLACEHOLDER.sub(substitute, text) if "<<" in text else text


def _fill_value(value: Any, results: Sequence[ReceivedToolResult]) -> Any:
    if isinstance(value, dict):
        return {key: _fill_value(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill_value(item, results) for item in value]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole is not None and whole.group(3):  # a field: keep its JSON type
        found = _value(whole, results)
        return value if found is _MISSING else found
    return fill(value, results)


def _fill_arguments(
    arguments: str | dict[str, Any], results: Sequence[ReceivedToolResult]
) -> str | dict[str, Any]:
    if isinstance(arguments, str):  # scripted verbatim: filled as text
        return fill(arguments, results)
    filled: dict[str, Any] = _fill_value(arguments, results)
    return filled


# --- directives ----------------------------------------------------------------------------


def directive_plan(text: str) -> Plan | None:
    """The plan the ``[[step: ...]]`` directives of a user message script, or ``None``."""
    if "[[step:" not in text:
        return None
    steps = [
        _parse_step(text, match.start(), number)
        for number, match in enumerate(_STEP.finditer(text), start=1)
    ]
    return Plan(
        steps,
        reply=directive_text("reply", text) or DEFAULT_REPLY,
        on_error=directive_text("on-error", text) or DEFAULT_ON_ERROR,
    )


def _parse_step(text: str, start: int, number: int) -> tuple[ToolCallReply, ...]:
    """The calls of the ``[[step: ...]]`` directive at ``start`` (the ``number``-th)."""
    end = text.find("]]", start)
    shown = text[start : end + 2 if end >= 0 else len(text)]
    where = f"{shown if len(shown) <= 80 else shown[:77] + '...'} (step {number})"
    calls: list[ToolCallReply] = []
    position = start + len("[[step:")
    while True:
        name = _CALL_NAME.match(text, position)
        if name is None:
            raise DirectiveError(f"{where}: expected a tool name")
        position = name.end()
        arguments: dict[str, Any] = {}
        if text.startswith("{", position):
            try:
                arguments, position = _DECODER.raw_decode(text, position)
            except json.JSONDecodeError as exc:
                raise DirectiveError(
                    f"{where}: the arguments of '{name.group(1)}' are not a JSON object: "
                    f"{exc.msg} at character {exc.pos - start} of the directive"
                ) from None
        calls.append(ToolCallReply(name.group(1), arguments))
        after = _AFTER_CALL.match(text, position)
        if after is None:
            tool = name.group(1)
            raise DirectiveError(f"{where}: expected ';' or ']]' after the call to '{tool}'")
        if after.group(1) == "]]":
            return tuple(calls)
        position = after.end()
