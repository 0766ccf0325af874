"""Lenient reads of a JSON report's values, for ``_entries``: a report may come from another
version of the plugin, so a missing or mistyped value reads as empty or unknown, never fails."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._format import number as float_

__all__ = ["float_", "int_", "list_", "map_", "str_", "text_or_none"]


def map_(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def list_(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def str_(value: Any) -> str:
    return "" if value is None else str(value)


def text_or_none(value: Any) -> str | None:
    """A text field that may be absent: None unless it is a string."""
    return value if isinstance(value, str) else None


def int_(value: Any) -> int | None:
    if type(value) is int:
        return value
    number = float_(value)
    return None if number is None else int(number)
