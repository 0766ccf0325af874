"""Strict ``{{var}}`` rendering for chat templates and messages.

Strict means a placeholder with no value is an error, never an empty string: a silently blank
variable would send a different prompt than the one under test and still pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ._errors import TemplateError

__all__ = ["placeholders", "render"]

# Humanloop's syntax: {{name}}, whitespace inside the braces allowed.
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_VALID_NAME = re.compile(r"[A-Za-z_][\w.-]*\Z")


def placeholders(text: str) -> list[str]:
    """The variable names ``text`` refers to, in order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(text)))


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    # Structured values go in as JSON, the form a model reads best and a reviewer can diff.
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def render(text: str, variables: Mapping[str, Any], *, where: str) -> str:
    """Replace every ``{{name}}`` in ``text`` with ``variables[name]``.

    ``where`` describes the text's place for error messages, for example
    ``"model config 'support-v1', chat_template[0].content"``.
    """
    if "{{" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _VALID_NAME.match(name):
            raise TemplateError(f"{where}: '{{{{{name}}}}}' is not a valid placeholder name")
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none"
            raise TemplateError(
                f"{where}: no value for template variable '{name}' "
                f"(variables given: {known}). Add '{name}' to the input, or remove "
                f"'{{{{{name}}}}}' from the template."
            )
        return _as_text(variables[name])

    return _PLACEHOLDER.sub(substitute, text)
