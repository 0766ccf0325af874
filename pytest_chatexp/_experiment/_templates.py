"""Strict ``{{var}}`` rendering for chat templates and messages.

Strict means a placeholder with no value is an error, never an empty string: a silently blank
variable would send a different prompt than the one under test and still pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from .._errors import TemplateError
from .._validation import suggest

__all__ = ["check_all_used", "placeholders", "referenced", "render"]

# Humanloop's syntax: {{name}}, whitespace inside the braces allowed.
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_VALID_NAME = re.compile(r"[A-Za-z_][\w.-]*\Z")
# Any opening of a placeholder, closed or not: what a template refers to.
_OPENING = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)")
# Once placeholders are taken out, "{{name" with no "}}" before the next "{{": a placeholder
# left open. Braces not opening a name ({{"json": 1}}) or closed ({{a b}}) stay literal text.
_UNCLOSED = re.compile(r"\{\{\s*[A-Za-z_][\w.-]*(?!(?:(?!\{\{).)*\}\})", re.DOTALL)


def placeholders(text: str) -> list[str]:
    """The variable names ``text`` refers to, in order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(text)))


def referenced(text: str) -> set[str]:
    """The variable names ``text`` opens a placeholder for, even one left unclosed (which
    rendering reports): used, as far as an unused-variable check is concerned."""
    return set(_OPENING.findall(text))


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

    _check_closed(_PLACEHOLDER.sub("", text), where)
    return _PLACEHOLDER.sub(substitute, text)


def _check_closed(rest: str, where: str) -> None:
    unclosed = _UNCLOSED.search(rest)
    if unclosed is not None:
        opening = unclosed.group(0)
        name = opening[2:].strip()
        raise TemplateError(
            f"{where}: '{opening}' is an unclosed placeholder; write '{{{{{name}}}}}'"
        )


def check_all_used(variables: Collection[str], used: Collection[str], *, where: str) -> None:
    """Fail on a variable no template or message refers to: most often a typo, or a
    placeholder forgotten in the prompt, and either way the prompt sent is not the one meant.
    ``id`` is exempt: in a flat row it names the case."""
    for name in variables:
        if name != "id" and name not in used:
            known = ", ".join(sorted(used)) or "none"
            raise TemplateError(
                f"{where}: the variable '{name}' is used by no template or message "
                f"(placeholders: {known}){suggest(name, used)}; use it as '{{{{{name}}}}}', "
                "remove it, or move data meant for checks to the row's 'metadata'"
            )
