"""Small pure helpers shared across stages: summary statistics (the checks and the reports),
canonical JSON (config ids and recording fingerprints), JSON paths (schema and check messages),
endpoint identities (config ids and recordings).
Kept apart so that writing a report does not import every check, nor a config the recordings."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

__all__ = ["canonical_json", "endpoint_identity", "json_path", "percentile"]

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with ``percent``% of values at or below it.

    Example: ``percentile([0.1, 0.2, 0.9], 50) == 0.2``
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def canonical_json(value: Any) -> str:
    """``value`` as one canonical JSON text: sorted keys, no whitespace, unescaped unicode."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_path(parts: Sequence[str | int]) -> str:
    """``$`` then keys and indexes: ``$.items[0].price``, ``$["odd key"]``."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def endpoint_identity(base_url: str) -> str:
    """The part of a base URL that identifies the endpoint: scheme-less host and path.

    Local servers (llama.cpp, Ollama, the reference server) listen on whatever port is free, so
    for loopback hosts the port is dropped and the host normalised: the same local model on
    another port is the same endpoint.
    """
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK_HOSTS or host.startswith("127."):
        return "localhost" + parts.path.rstrip("/")
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return netloc + parts.path.rstrip("/")
