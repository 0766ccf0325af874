"""Turn pydantic validation errors into the one-line, field-naming sentences users read."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import ValidationError

__all__ = ["describe_validation_error", "suggest"]

_UNION_MEMBER_LABELS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def suggest(name: str, known: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" when ``name`` looks like a typo of a known name, else ""."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe_validation_error(exc: ValidationError, *, known_fields: Iterable[str] = ()) -> str:
    """One sentence per problem, joined with '; ', each naming the field path."""
    known = list(known_fields)
    problems: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        location = _location(error["loc"])
        if error["type"] == "extra_forbidden":
            field = str(error["loc"][-1]) if error["loc"] else location
            problems.setdefault(f"unknown field '{location}'{suggest(field, known)}", [])
        elif error["type"] == "missing":
            problems.setdefault(f"'{location}' is required", [])
        else:
            received = repr(error.get("input"))
            if len(received) > 60:
                received = received[:57] + "..."
            received = received.replace("{", "{{").replace("}", "}}")  # the key is a format string
            # A union reports one error per member: merge them into one sentence per field.
            key = f"'{location}': {{}} (got {received})"
            problems.setdefault(key, []).append(error["msg"][0].lower() + error["msg"][1:])
    return "; ".join(
        key.format(", or ".join(dict.fromkeys(msgs))) if msgs else key
        for key, msgs in problems.items()
    )


def _location(loc: tuple[int | str, ...]) -> str:
    # Drop pydantic's union-branch labels ("function-after[...]", "str", "list[str]") from paths.
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif "[" in part or part[:1].isupper() or part in _UNION_MEMBER_LABELS:
            continue
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "(root)"
