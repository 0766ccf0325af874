"""JSON paths like ``messages[0].content``, shared by corrupt-file, secret and diff messages."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final

__all__ = ["json_path"]

_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def json_path(parts: Sequence[str | int]) -> str:
    """Join keys and indexes; keys that would read ambiguously are quoted (``["a.b"]``)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text
