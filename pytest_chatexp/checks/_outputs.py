"""Checks on what a sample says: its text, its JSON, how it finished.

Each function returns a ``SampleCheck`` for ``assert_samples``; a failing sample gets a short
reason, such as ``does not contain 'refund'`` or ``invalid JSON at line 1 column 5: Expecting
value``. Text checks read ``sample.output``.

JSON checks parse the whole output, surrounding whitespace allowed. A Markdown code fence around
the JSON fails them, because the code reading the answer would fail too; pass ``fenced=True`` when
that code strips a single ```json (or bare ```) fence first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pydantic

from .._experiment._result import Sample
from .._experiment._schema import schema_checker
from .._util import json_path as _json_path
from ._verdict import SampleCheck

__all__ = [
    "contains",
    "equals",
    "finish_reason",
    "icontains",
    "is_json",
    "json_model",
    "json_schema",
    "length",
    "matches",
    "not_contains",
    "not_truncated",
    "satisfies",
    "startswith",
]

_SHOWN = 40  # characters of a text quoted in a check's name or reason
_MESSAGE = 160  # characters of a validation message kept in a reason
_FENCE = re.compile(r"\A```(?:json)?[ \t]*\r?\n(.*?)\r?\n?[ \t]*```\Z", re.DOTALL | re.IGNORECASE)
_REGEX_FLAGS = (
    (re.ASCII, "a"),
    (re.IGNORECASE, "i"),
    (re.MULTILINE, "m"),
    (re.DOTALL, "s"),
    (re.VERBOSE, "x"),
)
# OpenAI's words for finish reasons, which samples report in Humanloop's words.
_OPENAI_FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call"}


# --- text -------------------------------------------------------------------------------


def equals(text: str, *, strip: bool = True) -> SampleCheck:
    """The output is exactly ``text`` (by default after stripping surrounding whitespace from both).

    Example: ``assert_samples(chatexp, equals("Paris"))``
    """
    expected = text.strip() if strip else text

    def check(sample: Sample) -> str | None:
        actual = sample.output.strip() if strip else sample.output
        return None if actual == expected else _difference(actual, expected)

    suffix = "" if strip else ", strip=False"
    return SampleCheck(f"equals({_shown(text)}{suffix})", check)


def contains(*texts: str, any: bool = False) -> SampleCheck:
    """The output contains every one of ``texts`` (with ``any=True``: at least one of them).

    Example: ``assert_samples(chatexp, contains("refund", "order"))``
    """
    return _containment("contains", texts, any=any, fold=False)


def icontains(*texts: str, any: bool = False) -> SampleCheck:
    """``contains``, ignoring case.

    Example: ``assert_samples(chatexp, icontains("REFUND"))``
    """
    return _containment("icontains", texts, any=any, fold=True)


def _containment(function: str, texts: tuple[str, ...], *, any: bool, fold: bool) -> SampleCheck:
    _require_texts(function, texts)
    wanted = [(text, text.casefold() if fold else text) for text in texts]
    ignoring = " (ignoring case)" if fold else ""

    def check(sample: Sample) -> str | None:
        output = sample.output.casefold() if fold else sample.output
        missing = [text for text, needle in wanted if needle not in output]
        if not missing or (any and len(missing) < len(wanted)):
            return None
        if any and len(wanted) > 1:
            return f"contains none of {_listed(missing)}{ignoring}"
        return f"does not contain {_listed(missing)}{ignoring}"

    suffix = ", any=True" if any and len(texts) > 1 else ""
    return SampleCheck(f"{function}({_listed(texts)}{suffix})", check)


def not_contains(*texts: str, ignore_case: bool = False) -> SampleCheck:
    """The output contains none of ``texts``.

    Example: ``assert_samples(chatexp, not_contains("as an AI", ignore_case=True))``
    """
    _require_texts("not_contains", texts)
    unwanted = [(text, text.casefold() if ignore_case else text) for text in texts]
    ignoring = " (ignoring case)" if ignore_case else ""

    def check(sample: Sample) -> str | None:
        output = sample.output.casefold() if ignore_case else sample.output
        found = [text for text, needle in unwanted if needle in output]
        return f"contains {_listed(found)}{ignoring}" if found else None

    suffix = ", ignore_case=True" if ignore_case else ""
    return SampleCheck(f"not_contains({_listed(texts)}{suffix})", check)


def matches(pattern: str | re.Pattern[str]) -> SampleCheck:
    """``re.search(pattern, output)`` finds a match; anchor the pattern to match all of it.

    Example: ``assert_samples(chatexp, matches(r"order #\\d+"))``
    """
    regex = re.compile(pattern)
    shown = regex_text(regex)

    def check(sample: Sample) -> str | None:
        return None if regex.search(sample.output) else f"does not match {shown}"

    return SampleCheck(f"matches({shown})", check)


def startswith(prefix: str, *, strip: bool = True) -> SampleCheck:
    """The output starts with ``prefix`` (by default ignoring leading whitespace).

    Example: ``assert_samples(chatexp, startswith("Dear customer"))``
    """
    if not prefix:
        raise ValueError("startswith(): the prefix is empty, so every output would pass")

    def check(sample: Sample) -> str | None:
        output = sample.output.lstrip() if strip else sample.output
        if output.startswith(prefix):
            return None
        if not output:
            return f"is empty, so does not start with {_shown(prefix)}"
        return f"starts with {_shown(output[: len(prefix)])}, not {_shown(prefix)}"

    suffix = "" if strip else ", strip=False"
    return SampleCheck(f"startswith({_shown(prefix)}{suffix})", check)


def length(*, min: int | None = None, max: int | None = None) -> SampleCheck:
    """The output has at least ``min`` and at most ``max`` characters (give one or both).

    Example: ``assert_samples(chatexp, length(max=280))``
    """
    if min is None and max is None:
        raise TypeError("length() needs min=, max= or both")
    for label, bound in (("min", min), ("max", max)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
            raise TypeError(f"length(): {label} must be an int, got {bound!r}")
        if bound is not None and bound < 0:
            raise ValueError(f"length(): {label} must be at least 0, got {bound}")
    if min is not None and max is not None and min > max:
        raise ValueError(f"length(): min={min} is more than max={max}")

    def check(sample: Sample) -> str | None:
        size = len(sample.output)
        if min is not None and size < min:
            return f"is {_characters(size)}, fewer than the minimum {min}"
        if max is not None and size > max:
            return f"is {_characters(size)}, more than the maximum {max}"
        return None

    bounds = ", ".join(f"{k}={v}" for k, v in (("min", min), ("max", max)) if v is not None)
    return SampleCheck(f"length({bounds})", check)


# --- JSON -------------------------------------------------------------------------------


def is_json(*, fenced: bool = False) -> SampleCheck:
    """The output is one JSON value (any type), optionally inside a ```json fence.

    Example: ``assert_samples(chatexp, is_json())``
    """

    def check(sample: Sample) -> str | None:
        try:
            parse_json(_json_text(sample.output, fenced=fenced))
        except NotJson as error:
            return str(error)
        return None

    return SampleCheck("is_json(fenced=True)" if fenced else "is_json()", check)


def json_schema(schema: Mapping[str, Any], *, fenced: bool = False) -> SampleCheck:
    """The output is JSON valid against ``schema`` (JSON Schema, Draft 2020-12 unless ``$schema``
    says otherwise; formats the ``jsonschema`` package can check, such as ``date``, are checked).

    Example: ``assert_samples(chatexp, json_schema({"type": "object", "required": ["city"]}))``
    """
    problem = schema_checker(schema, where="json_schema()")

    def check(sample: Sample) -> str | None:
        try:
            value = parse_json(_json_text(sample.output, fenced=fenced))
        except NotJson as error:
            return str(error)
        return problem(value)

    title = schema.get("title")
    shown = title if isinstance(title, str) else _truncated(compact_json(schema), _SHOWN)
    return SampleCheck(f"json_schema({shown}{_fenced_suffix(fenced)})", check)


def json_model(model: type[pydantic.BaseModel], *, fenced: bool = False) -> SampleCheck:
    """The output is JSON that validates as the pydantic ``model`` (in pydantic's JSON mode).

    Example: ``assert_samples(chatexp, json_model(Order))``
    """
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        raise TypeError(f"json_model() needs a pydantic model class, got {model!r}")

    def check(sample: Sample) -> str | None:
        text = _json_text(sample.output, fenced=fenced)
        try:
            parse_json(text)
            model.model_validate_json(text)
        except NotJson as error:
            return str(error)
        except pydantic.ValidationError as error:
            return _pydantic_problem(error)
        return None

    return SampleCheck(f"json_model({model.__name__}{_fenced_suffix(fenced)})", check)


class NotJson(ValueError):
    """Raised by ``parse_json``; the message is the failure reason."""


def parse_json(text: str) -> Any:
    """Strict JSON: ``NaN`` and ``Infinity``, which Python's ``json`` accepts, are refused."""
    if not text.strip():
        raise NotJson("empty output, not JSON")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise NotJson(
            f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None


def _refuse_constant(name: str) -> Any:
    raise NotJson(f"invalid JSON: {name} is not a JSON value")


def _json_text(output: str, *, fenced: bool) -> str:
    if fenced:
        fence = _FENCE.match(output.strip())
        if fence:
            return fence.group(1)
    return output


def _fenced_suffix(fenced: bool) -> str:
    return ", fenced=True" if fenced else ""


def _pydantic_problem(error: pydantic.ValidationError) -> str:
    details = error.errors(include_url=False)
    first = details[0]
    got = "" if first["type"] == "missing" else f" (got {_truncated(repr(first['input']), 40)})"
    message = _truncated(first["msg"], _MESSAGE)
    return f"{json_path(list(first['loc']))}: {message}{got}{_more(len(details) - 1)}"


def json_path(parts: Sequence[str | int]) -> str:
    """``$`` then keys and indexes: ``$.items[0].price``, ``$["odd key"]``."""
    return _json_path(parts, root="$")


def _more(count: int) -> str:
    if count <= 0:
        return ""
    return f" (and {count} more error{'s' if count > 1 else ''})"


# --- anything else ----------------------------------------------------------------------


Predicate = Callable[[Sample], bool | str | None]
"""What ``satisfies`` calls: True or None pass; False fails; a string fails with that reason."""


def satisfies(predicate: Predicate, *, name: str | None = None) -> SampleCheck:
    """``predicate(sample)`` holds: it returns True or None to pass, False to fail (reason
    ``predicate returned False``), or a string: the failure reason. Anything else is a TypeError.

    Example: ``assert_samples(chatexp, satisfies(lambda s: s.output.count(".") <= 3))``
    """
    label = name or f"satisfies({getattr(predicate, '__name__', type(predicate).__name__)})"

    def check(sample: Sample) -> str | None:
        result = predicate(sample)
        if result is True or result is None:
            return None
        if result is False:
            return "predicate returned False"
        if isinstance(result, str):
            return result or "predicate returned an empty reason"
        raise TypeError(
            f"{label}: the predicate returned {result!r}; return True or None to pass, "
            "False or a reason string to fail"
        )

    return SampleCheck(label, check)


def finish_reason(*allowed: str) -> SampleCheck:
    """The sample finished for one of the ``allowed`` reasons (``stop``, ``length``,
    ``tool_call``: Humanloop's words).

    Example: ``assert_samples(chatexp, finish_reason("stop"))``
    """
    _require_texts("finish_reason", allowed, what="finish reason")
    for reason in allowed:
        if reason in _OPENAI_FINISH_REASONS:
            raise ValueError(
                f"finish_reason(): samples say {_OPENAI_FINISH_REASONS[reason]!r} "
                f"(Humanloop's word), never {reason!r}"
            )
    wanted = _listed(allowed)

    def check(sample: Sample) -> str | None:
        if sample.finish_reason in allowed:
            return None
        options = wanted if len(allowed) == 1 else f"one of {wanted}"
        return f"finish_reason is {sample.finish_reason!r}, not {options}"

    return SampleCheck(f"finish_reason({wanted})", check)


def not_truncated() -> SampleCheck:
    """The model was not cut off by the token limit (``finish_reason`` is not ``length``).

    Example: ``assert_samples(chatexp, not_truncated())``
    """

    def check(sample: Sample) -> str | None:
        if sample.finish_reason != "length":
            return None
        limit = sample.config.max_tokens
        detail = "" if limit is None else f", max_tokens={limit}"
        return f"hit the token limit (finish_reason 'length'{detail})"

    return SampleCheck("not_truncated()", check)


# --- formatting -------------------------------------------------------------------------


def regex_text(regex: re.Pattern[str]) -> str:
    """A pattern as ``/pattern/flags``, the way people write regular expressions in prose."""
    flags = "".join(letter for flag, letter in _REGEX_FLAGS if regex.flags & flag)
    return f"/{regex.pattern}/{flags}"


def _require_texts(function: str, texts: Sequence[str], *, what: str = "text") -> None:
    if not texts:
        raise TypeError(f"{function}() needs at least one {what}")
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"{function}(): expected strings, got {text!r}")
        if not text:
            raise ValueError(f"{function}(): an empty text is in every output")


def _shown(text: str) -> str:
    return repr(_truncated(text, _SHOWN))


def _listed(texts: Sequence[str]) -> str:
    return ", ".join(_shown(text) for text in texts)


def _truncated(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_json(value: Any) -> str:
    """JSON without spaces (what is not JSON shown by its repr)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)


def _characters(count: int) -> str:
    return f"{count} character{'' if count == 1 else 's'}"


def _difference(actual: str, expected: str) -> str:
    if len(actual) + len(expected) <= 2 * _SHOWN:
        return f"is {actual!r}, not {expected!r}"
    at = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    start = max(0, at - 10)
    got, want = actual[start : at + 20], expected[start : at + 20]
    return f"differs from the expected text at character {at}: {got!r} vs {want!r}"
