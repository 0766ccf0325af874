"""Failing fast: a circuit breaker per endpoint (``scheme://host:port``).

A provider that is down costs every call all of its retries and their backoff: 128 calls to a
refused port took 40 s to fail, each with its own copy of the same message. After ``threshold``
connection failures in a row to one endpoint (refused, DNS, connect timeout) the breaker opens:
calls not yet sent fail at once, naming the endpoint, and retries stop. Only a failure to
connect counts: a 429, a 5xx or a read that timed out came from a server that was reached, and
such an answer closes the breaker as a success does (throttling is the AIMD window's business,
in ``_retry.Endpoint``).

While open, one attempt per ``cooldown`` goes out anyway (half-open), so an endpoint that comes
back mid-session is used again: its first answer closes the breaker.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from .._errors import ProviderError

__all__ = ["Breaker", "EndpointDown", "endpoint_name"]

_LOG = logging.getLogger("pytest_chatexp")
COOLDOWN = 10.0  # seconds between half-open attempts to an endpoint that is down
_DEFAULT_PORTS = {"http": 80, "https": 443}


def endpoint_name(url: str) -> str:
    """``scheme://host:port`` of ``url``: never its userinfo, path or query (where keys go)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port if port is not None else _DEFAULT_PORTS.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


class EndpointDown(ProviderError):
    """A call that was not sent: its endpoint's breaker is open."""

    def __init__(self, label: str, breaker: Breaker) -> None:
        self.endpoint = breaker.endpoint
        self.why = breaker.why()
        super().__init__(f"{label}: not sent: {self.why}")


class Breaker:
    """One endpoint's breaker. No lock: the runner's loop runs one task at a time, and nothing
    here awaits."""

    def __init__(self, endpoint: str, threshold: int, cooldown: float = COOLDOWN) -> None:
        self.endpoint = endpoint
        self.threshold = threshold  # 0: never opens
        self.cooldown = cooldown
        self.failures = 0  # connection failures in a row
        self.last = ""  # the last one's message
        self.skipped = 0  # calls failed without being sent, this session
        self._open_until: float | None = None  # None: closed; else when the next probe may go

    @property
    def open(self) -> bool:
        return self._open_until is not None

    def admit(self, label: str, *, first: bool) -> None:
        """Let an attempt go out, or raise EndpointDown (``first``: the call's first attempt,
        so the call is counted as skipped). While open, one attempt per cooldown goes out."""
        if self._open_until is None:
            return
        now = time.monotonic()
        if now >= self._open_until:
            self._open_until = now + self.cooldown  # this attempt probes; the others wait
            return
        if first:
            self.skipped += 1
        raise EndpointDown(label, self)

    def unreachable(self, message: str) -> None:
        """An attempt could not connect."""
        self.failures += 1
        self.last = message
        if self.threshold and self.failures >= self.threshold:
            if self._open_until is None:
                _LOG.warning("chatexp: %s", self._down())
            self._open_until = time.monotonic() + self.cooldown

    def reached(self) -> None:
        """An attempt connected (whatever the answer): the endpoint is up."""
        if self._open_until is not None:
            _LOG.warning("chatexp: %s answers again; calls to it go out again", self.endpoint)
        self.failures = 0
        self._open_until = None

    def why(self) -> str:
        count = self.skipped
        return f"{self._down()}; {count} {'call' if count == 1 else 'calls'} skipped so far"

    def _down(self) -> str:
        return (
            f"{self.endpoint} cannot be reached: {self.failures} connection attempts in a row "
            f"failed (the last: {self.last}), so calls to it fail at once without being sent "
            f"(--chatexp-breaker={self.threshold}; 0 turns this off)"
        )
