"""Checks on the tool calls a sample makes: which tools, how often, in what order, with what
arguments.

A failing sample's reason lists what the model actually called, with its arguments, e.g.
``called lookup_order({"order_id":"7"}), not issue_refund``. Expected arguments are a subset:
``called("issue_refund", {"order_id": ANY})`` passes for any call to ``issue_refund`` with an
``order_id`` argument, whatever else it passes.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from .._experiment._config import Tool
from .._experiment._humanloop import ToolCall
from .._experiment._result import Sample
from .._experiment._schema import SchemaProblem, schema_checker
from ._outputs import NotJson, compact_json, json_path, parse_json, regex_text
from ._verdict import SampleCheck

__all__ = [
    "ANY",
    "OneOf",
    "Regex",
    "called",
    "called_in_any_order",
    "called_in_order",
    "called_times",
    "no_tool_calls",
    "not_called",
    "valid_tool_arguments",
]

_CALL_SHOWN = 80  # characters of one call in a reason
_CALLS_SHOWN = 5


# --- argument matchers ------------------------------------------------------------------


class _Matcher(ABC):
    """An expected argument value that decides itself what it equals."""

    @abstractmethod
    def matches(self, value: object) -> bool: ...

    def __eq__(self, other: object) -> bool:
        return self.matches(other)


class _Any(_Matcher):
    def matches(self, value: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()
"""Equal to any value: ``{"order_id": ANY}`` requires the argument, whatever its value.

Example: ``called("lookup_order", {"order_id": ANY})``
"""


class OneOf(_Matcher):
    """Matches any of ``values`` (each compared the way ``called`` compares arguments).

    Example: ``called("set_status", {"status": OneOf("open", "pending")})``
    """

    def __init__(self, *values: Any) -> None:
        if not values:
            raise TypeError("OneOf() needs at least one value")
        self.values = values

    def matches(self, value: object) -> bool:
        return any(_mismatch(expected, value, ()) is None for expected in self.values)

    def __repr__(self) -> str:
        return f"OneOf({', '.join(_render(value) for value in self.values)})"


class Regex(_Matcher):
    """Matches strings in which ``re.search`` finds ``pattern`` (anchor it for the whole value).

    Example: ``called("lookup_order", {"order_id": Regex(r"^\\d+$")})``
    """

    def __init__(self, pattern: str | re.Pattern[str]) -> None:
        self.regex = re.compile(pattern)

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and self.regex.search(value) is not None

    def __repr__(self) -> str:
        return f"Regex({regex_text(self.regex)})"


def _mismatch(expected: Any, actual: Any, path: tuple[str | int, ...]) -> str | None:
    """Where ``actual`` fails to match ``expected`` (None when it matches).

    Objects match as subsets, recursively; lists match item by item and must be as long;
    anything else by ``==`` with the expected value first, so matchers decide, and booleans
    never equal numbers (JSON tells ``true`` from ``1``).
    """
    where = json_path(path)
    if isinstance(expected, Mapping):
        if not isinstance(actual, dict):
            return f"{where} is {_render(actual)}, not an object"
        for key, value in expected.items():
            if key not in actual:
                return f"{json_path((*path, key))} is missing"
            problem = _mismatch(value, actual[key], (*path, key))
            if problem:
                return problem
        return None
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where} is {_render(actual)}, not {_render(expected)}"
        for index, (item, actual_item) in enumerate(zip(expected, actual, strict=True)):
            problem = _mismatch(item, actual_item, (*path, index))
            if problem:
                return problem
        return None
    if isinstance(expected, _Matcher):
        equal = expected.matches(actual)
    else:
        equal = isinstance(expected, bool) == isinstance(actual, bool) and expected == actual
    return None if equal else f"{where} is {_render(actual)}, not {_render(expected)}"


# --- checks -----------------------------------------------------------------------------


def called(name: str, arguments: Mapping[str, Any] | None = None) -> SampleCheck:
    """Some call to ``name`` has (at least) ``arguments``; nested objects match as subsets.

    Example: ``assert_samples(chatexp, called("issue_refund", {"order_id": "7"}))``
    """
    _require_names("called", (name,))
    if arguments is not None and not isinstance(arguments, Mapping):
        raise TypeError(f"called(): arguments must be a mapping, got {arguments!r}")

    def check(sample: Sample) -> str | None:
        calls = [call for call in sample.trajectory if call.function.name == name]
        if not calls:
            return f"{_called(sample)}, not {name}"
        if arguments is None:
            return None
        problems = [_arguments_problem(call, arguments) for call in calls]
        if None in problems:
            return None
        return f"{_called(sample)}, not with {_render(arguments)}: {problems[0]}"

    shown = "" if arguments is None else f", {_render(arguments)}"
    return SampleCheck(f"called({name!r}{shown})", check)


def not_called(name: str) -> SampleCheck:
    """No call to ``name``.

    Example: ``assert_samples(chatexp, not_called("delete_account"))``
    """
    _require_names("not_called", (name,))

    def check(sample: Sample) -> str | None:
        calls = [call for call in sample.trajectory if call.function.name == name]
        return f"called {_calls_text(calls)}" if calls else None

    return SampleCheck(f"not_called({name!r})", check)


def called_times(name: str, n: int) -> SampleCheck:
    """Exactly ``n`` calls to ``name``.

    Example: ``assert_samples(chatexp, called_times("search", 1))``
    """
    _require_names("called_times", (name,))
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"called_times(): n must be an int of at least 0, got {n!r}")

    def check(sample: Sample) -> str | None:
        count = sum(call.function.name == name for call in sample.trajectory)
        if count == n:
            return None
        return f"{_called(sample)}: {name} {_times(count)}, not {n}"

    return SampleCheck(f"called_times({name!r}, {n})", check)


def called_in_order(*names: str) -> SampleCheck:
    """Calls to ``names`` happen in this order (other calls may come before, between, after).

    Example: ``assert_samples(chatexp, called_in_order("lookup_order", "issue_refund"))``
    """
    _require_names("called_in_order", names)

    def check(sample: Sample) -> str | None:
        found = 0
        for call in sample.trajectory:
            if found < len(names) and call.function.name == names[found]:
                found += 1
        if found == len(names):
            return None
        after = f" after {names[found - 1]}" if found else ""
        return f"{_called(sample)}: no {names[found]}{after}"

    return SampleCheck(f"called_in_order({_names(names)})", check)


def called_in_any_order(*names: str) -> SampleCheck:
    """Every one of ``names`` is called, in any order; a name given twice needs two calls.

    Example: ``assert_samples(chatexp, called_in_any_order("get_weather", "get_time"))``
    """
    _require_names("called_in_any_order", names)
    needed = Counter(names)

    def check(sample: Sample) -> str | None:
        made = Counter(call.function.name for call in sample.trajectory)
        missing = [
            name if made[name] == 0 else f"{name} (called {made[name]} of {count} times)"
            for name, count in needed.items()
            if made[name] < count
        ]
        return f"{_called(sample)}: missing {', '.join(missing)}" if missing else None

    return SampleCheck(f"called_in_any_order({_names(names)})", check)


def no_tool_calls() -> SampleCheck:
    """The sample calls no tool.

    Example: ``assert_samples(chatexp, no_tool_calls())``
    """

    def check(sample: Sample) -> str | None:
        return _called(sample) if sample.trajectory else None

    return SampleCheck("no_tool_calls()", check)


def valid_tool_arguments() -> SampleCheck:
    """Every call is to a tool of ``sample.config.tools``, with arguments that are a JSON object
    valid against that tool's ``parameters`` schema (empty arguments are not an object). A tool
    that declares an invalid schema is a ``ValueError`` naming the tool.

    Example: ``assert_samples(chatexp, valid_tool_arguments())``
    """
    compiled: dict[str, SchemaProblem] = {}

    def schema_of(tool: Tool) -> SchemaProblem | None:
        if tool.parameters is None:
            return None
        key = f"{tool.name}\0{compact_json(tool.parameters)}"
        if key not in compiled:
            where = f"the parameters of tool {tool.name!r}"
            compiled[key] = schema_checker(tool.parameters, where=where)
        return compiled[key]

    def check(sample: Sample) -> str | None:
        tools = {tool.name: tool for tool in sample.config.tools}
        problems = []
        for call in sample.trajectory:
            tool = tools.get(call.function.name)
            if tool is None:
                declared = ", ".join(tools) or "none"
                problems.append(f"{_call_text(call)}: not a declared tool (declared: {declared})")
                continue
            arguments = _parsed_arguments(call)
            problem = arguments if isinstance(arguments, str) else None
            schema = schema_of(tool)
            if problem is None and schema is not None:
                problem = schema(arguments)
            if problem is not None:
                problems.append(f"{_call_text(call)}: {problem}")
        if not problems:
            return None
        more = len(problems) - 1
        return problems[0] + (f" (and {more} more invalid call{'s' * (more > 1)})" if more else "")

    return SampleCheck("valid_tool_arguments()", check)


# --- helpers ----------------------------------------------------------------------------


def _parsed_arguments(call: ToolCall) -> dict[str, Any] | str:
    """The call's arguments as an object, or why they are not one."""
    text = call.function.arguments or ""
    try:
        value = parse_json(text)
    except NotJson as error:
        if not text.strip():
            return "empty arguments, not a JSON object"
        return f"arguments are {error}"
    if not isinstance(value, dict):
        return f"arguments are {_render(value)}, not a JSON object"
    return value


def _arguments_problem(call: ToolCall, expected: Mapping[str, Any]) -> str | None:
    arguments = _parsed_arguments(call)
    if isinstance(arguments, str):
        return arguments
    return _mismatch(expected, arguments, ())


def _called(sample: Sample) -> str:
    """``called a(...), b(...)``, or ``made no tool calls``."""
    return f"called {_calls_text(sample.trajectory)}" if sample.trajectory else "made no tool calls"


def _calls_text(calls: list[ToolCall]) -> str:
    shown = [_call_text(call) for call in calls[:_CALLS_SHOWN]]
    if len(calls) > _CALLS_SHOWN:
        shown.append(f"and {len(calls) - _CALLS_SHOWN} more")
    return ", ".join(shown)


def _call_text(call: ToolCall) -> str:
    """``name({"compact":"json"})``; arguments that are not JSON are shown as sent."""
    text = call.function.arguments or ""
    try:
        arguments = compact_json(parse_json(text))
    except NotJson:
        arguments = " ".join(text.split())
    shown = f"{call.function.name}({arguments})"
    return shown if len(shown) <= _CALL_SHOWN else shown[: _CALL_SHOWN - 2] + "…)"


def _render(value: Any) -> str:
    """Compact JSON, with matchers shown by their repr."""
    if isinstance(value, _Matcher):
        return repr(value)
    if isinstance(value, Mapping):
        items = (f"{compact_json(str(key))}:{_render(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_render(item) for item in value) + "]"
    return compact_json(value)


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(repr(name) for name in names)


def _require_names(function: str, names: tuple[str, ...]) -> None:
    if not names:
        raise TypeError(f"{function}() needs at least one tool name")
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{function}(): tool names are non-empty strings, got {name!r}")
