"""One redaction path for everything the plugin writes or prints.

Known secrets: the values of credential-named environment variables (``*_API_KEY``,
``*_TOKEN``, ...) and the credentials in URLs they hold, plus what the session remembered of the
configs in use: each one's key (``api_key_env`` or the provider's default) and the credentials in
its ``base_url`` (userinfo; query values named or shaped like credentials).

``scan_secrets`` finds, in any text: a known value (8 characters or longer), whole; a fragment
of one, any run of 8 or more consecutive characters of its secret part, widened to all it shares
with the value (the secret part follows the key's label, the lowercase segments every key of its
kind starts with: ``sk-proj-``, ``sk-ant-api03-``; values whose secret part is under 16
characters are matched whole only, their runs being too likely words); a masked copy, 3 or more
``*`` or ``•`` after the label and 3 or more characters of a value, or before its last 4 or more
(``Incorrect API key provided: sk-abc1****wxyz``); well-known key shapes; credential-named
fields (``api_key: ...``); URL credentials (a userinfo password, a credential-named query value).

Recordings are committed, so a save with a hit is refused (``_recording._store``); every other
writer and message replaces each hit with ``[REDACTED]`` (``redact``). URLs the plugin shows on
purpose go through ``display_url``: no userinfo, no query values.

False positives would make recording unusable, so each shape must look like a credential, not
prose: a long run of token characters that contains a digit or mixes upper and lower case. That
lets "sk-learn", "sk-learn-is-a-great-library" and "Bearer YOUR_TOKEN_HERE" through. Hits are
described by their first few characters and their kind; the secret itself is never repeated.

The scanner is in ``_scan``, the known values in ``_known``, redaction for writers in
``_writers``; this module is the interface the rest of the plugin imports (whole, since every
user needs the scanner: re-exporting costs nothing).
"""

from __future__ import annotations

from ._known import environment_secrets, known_secrets, remember_secrets, url_secrets
from ._scan import REDACTED, SecretHit, find_secrets, scan_secrets
from ._writers import RedactingFilter, display_url, redact, redact_data, redact_report

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "SecretHit",
    "display_url",
    "environment_secrets",
    "find_secrets",
    "known_secrets",
    "redact",
    "redact_data",
    "redact_report",
    "remember_secrets",
    "scan_secrets",
    "url_secrets",
]
