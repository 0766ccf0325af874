"""Inputs: the cases an experiment runs, inline or from dataset files (read in ``_files``).

A row is either *flat* -- every key is a template variable -- or *structured* -- the keys are
among ``id``, ``inputs``, ``messages``, ``turns`` and ``metadata``. A flat row's ``id`` key, if
any, is both a variable and the case id, so ``{{id}}`` keeps working in templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .._errors import InvalidExperimentError
from .._validation import describe_validation_error
from ._config import TemplateMessage

__all__ = ["Input", "input_from_row"]

_STRUCTURED_KEYS = frozenset({"id", "inputs", "messages", "turns", "metadata"})


def _user_messages(value: Any) -> Any:
    # A scripted turn written as text is the user's message.
    if isinstance(value, list | tuple):
        return [
            {"role": "user", "content": item} if isinstance(item, str) else item for item in value
        ]
    return value


class Input(BaseModel):
    """One case: template variables, extra messages sent after the chat template, and an id.

    ``turns`` scripts a conversation: each is a user message (text, or a message), the first
    sent with ``messages``, each next one once the model has answered the one before.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    messages: tuple[TemplateMessage, ...] = ()
    turns: Annotated[tuple[TemplateMessage, ...], BeforeValidator(_user_messages)] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)


def input_from_row(row: Any, *, where: str) -> Input:
    """Validate one row (an Input, a flat mapping of variables, or a structured mapping)."""
    if isinstance(row, Input):
        return row
    if not isinstance(row, Mapping):
        raise InvalidExperimentError(
            f"{where}: expected a mapping of template variables, got {type(row).__name__}"
        )
    is_structured = ("inputs" in row or "messages" in row or "turns" in row) and set(
        row
    ) <= _STRUCTURED_KEYS
    data: dict[str, Any] = dict(row) if is_structured else {"inputs": dict(row)}
    if not is_structured and "id" in row:
        data["id"] = row["id"]
    if data.get("id") is not None and not isinstance(data["id"], str):
        data["id"] = str(data["id"])
    try:
        return Input.model_validate(data)
    except ValidationError as exc:
        problems = describe_validation_error(exc, known_fields=Input.model_fields)
        raise InvalidExperimentError(f"{where}: {problems}") from None
