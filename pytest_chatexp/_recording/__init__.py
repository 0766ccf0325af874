"""Record provider calls to files next to the tests, and replay them offline.

The runner's exchange seam uses this library: ``Call`` and its ``fingerprint`` to look a call
up in a ``RecordingFile``, ``Interaction.record`` and ``update`` to store answers, and
``explain_miss`` to say why a replay found nothing.
"""

from __future__ import annotations

from ._diff import Wanted, describe_request, explain_miss, moved_endpoint
from ._files import experiment_locked
from ._fingerprint import canonical_json, fingerprint
from ._secrets import SecretHit, environment_secrets, find_secrets, scan_secrets
from ._store import (
    Call,
    CorruptRecordingError,
    Interaction,
    Label,
    RecordedRequest,
    RecordingError,
    RecordingFile,
    SecretInRecordingError,
    check_writable,
    recording_path,
    update,
)

__all__ = [
    "Call",
    "CorruptRecordingError",
    "Interaction",
    "Label",
    "RecordedRequest",
    "RecordingError",
    "RecordingFile",
    "SecretHit",
    "SecretInRecordingError",
    "Wanted",
    "canonical_json",
    "check_writable",
    "describe_request",
    "environment_secrets",
    "experiment_locked",
    "explain_miss",
    "find_secrets",
    "fingerprint",
    "moved_endpoint",
    "recording_path",
    "scan_secrets",
    "update",
]
