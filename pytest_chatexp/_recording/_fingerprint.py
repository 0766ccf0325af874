"""Request fingerprints: the key a recorded response is found by when a test replays.

A fingerprint hashes exactly what decides the provider's answer and nothing else: the provider
kind, the credential-free endpoint (host and path), the JSON body, the sample index (samples of
one request are separate recordings) and a later turn's number. Headers never take part, so no
key can leak into it and rotating a key does not invalidate recordings. Hashing canonical JSON
makes key order and whitespace irrelevant, so only real request changes cause a replay miss.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from .._util import canonical_json

__all__ = ["canonical_json", "fingerprint"]

# 24 hex digits (96 bits) is far beyond collision range for the calls of one test, and short
# enough to read in a recording file and an error message.
_LENGTH: Final = 24


def fingerprint(
    *, provider: str, endpoint: str, body: Mapping[str, Any], sample_index: int, turn: int = 0
) -> str:
    """The replay key of one call, as ``_LENGTH`` hex digits of a SHA-256.

    ``endpoint`` must already be credential-free (``endpoint_identity`` of the base URL).
    ``turn`` (a later model call of the same sample) takes part only when it is not 0, so the
    keys of single calls are those recorded before turns existed.
    """
    document: dict[str, Any] = {
        "provider": provider,
        "endpoint": endpoint,
        "body": body,
        "sample": sample_index,
    }
    if turn:
        document["turn"] = turn
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()[:_LENGTH]
