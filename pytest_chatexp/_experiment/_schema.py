"""JSON Schema compilation, shared by a config's tool parameters (checked when declared) and
the checks that validate answers against a schema (``json_schema``, tool-call arguments)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._util import json_path

__all__ = ["SchemaProblem", "schema_checker"]

_MESSAGE = 160  # characters of a validation message kept in a reason

SchemaProblem = Callable[[Any], str | None]
"""A compiled JSON schema: the most relevant error (``$.path: message``) or None when valid."""


def schema_checker(schema: Mapping[str, Any], *, where: str) -> SchemaProblem:
    """Compile ``schema``; an invalid schema is a ``ValueError`` naming where it is wrong."""
    # Imported here: jsonschema takes a tenth of a second to import. It has no type hints.
    from jsonschema.exceptions import SchemaError, best_match  # type: ignore[import-untyped]
    from jsonschema.validators import (  # type: ignore[import-untyped]
        Draft202012Validator,
        validator_for,
    )

    if not isinstance(schema, Mapping):
        raise TypeError(f"{where}: the schema must be a mapping, got {schema!r}")
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as error:
        at = json_path(list(error.absolute_path), root="$")
        raise ValueError(f"{where}: invalid JSON schema at {at}: {error.message}") from None
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def problem(value: Any) -> str | None:
        errors = list(validator.iter_errors(value))
        if not errors:
            return None
        error = best_match(errors)
        message = error.message
        message = message if len(message) <= _MESSAGE else message[: _MESSAGE - 1] + "…"
        more = len(errors) - 1
        also = f" (and {more} more error{'s' if more > 1 else ''})" if more > 0 else ""
        at = json_path(list(error.absolute_path), root="$")
        return f"{at}: {message}{also}"

    return problem
