"""Secret detection for recording files: the session's one scanner (``pytest_chatexp._redaction``).

Recordings are committed to the repository, so a save that would write a secret is refused
(``_store``); every other writer redacts with the same scanner instead. It lives outside this
package so that reports and messages can use it without loading YAML.
"""

from __future__ import annotations

from .._redaction import SecretHit, environment_secrets, find_secrets, scan_secrets

__all__ = ["SecretHit", "environment_secrets", "find_secrets", "scan_secrets"]
