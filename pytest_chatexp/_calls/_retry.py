"""Retrying: which failures are worth another attempt, how long to wait before it (backoff, or
the server's Retry-After), and how many attempts one endpoint may have in flight (AIMD).

The HTTP target (``_http``) decides what failed; this decides what to do about it.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging
import random
import time
from collections import deque

from .._errors import ProviderError
from .._experiment._spec import PlannedCall
from .._redaction import display_url

__all__ = [
    "RETRYABLE_STATUS",
    "Endpoint",
    "Transient",
    "retry_after_seconds",
    "retry_delay",
    "timed_out",
]

_LOG = logging.getLogger("pytest_chatexp")
RETRYABLE_STATUS = frozenset({408, 409, 429})
_MAX_BACKOFF = 20.0
_NOTED_WAIT = 2.0  # a Retry-After wait at least this long is logged


class Transient(Exception):
    """A failure worth another attempt; becomes a ProviderError when the attempts run out."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        throttled: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
        self.throttled = throttled
        # No connection was made (refused, DNS, connect timeout): what the breaker counts.
        self.unreachable = unreachable


def timed_out(url: str, timeout: float, *, unreachable: bool = False) -> Transient:
    return Transient(
        f"no answer from {display_url(url)} within {timeout:g} s "
        "(raise the timeout with --chatexp-timeout or the marker's timeout=)",
        unreachable=unreachable,
    )


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds: a number, or an HTTP-date from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class Endpoint:
    """Concurrency for one endpoint that adapts like TCP (AIMD): halved on a 429, then grown
    back additively, up to the session's limit. A rate-limited run slows down instead of
    failing.

    Halved once per window, as TCP does once per round trip: entering returns the window the
    attempt started in, and a 429 from an attempt that started before the last decrease says
    nothing new (it was sent at the old, higher limit). Halving on every 429 took the limit
    from 64 to 1 on one burst of rejected calls that were all in flight together.

    Grown by one per success back up to the limit it had before the last decrease, then by one
    per ``limit`` successes (as CUBIC returns quickly to where it last saw loss, then probes
    slowly). Growing slowly all the way, a 429 from every round trip's calls, as 30% random
    429s give, halved the limit faster than it grew: it settled near 2 of 64.

    No lock: the loop runs one task at a time and nothing awaits between checking and counting,
    so entering under the limit costs no suspension (it is entered per attempt). Waiters are
    served first in, first out, each handed its slot on waking so nobody can take it first.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.window = 0  # how many times the limit was decreased
        self._before_decrease = self.limit

    async def __aenter__(self) -> int:
        if not self._waiters and self._in_flight < max(1, int(self.limit)):
            self._in_flight += 1
            return self.window
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._in_flight -= 1  # handed a slot, then cancelled: pass it on
                self._wake()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return self.window

    async def __aexit__(self, *exc_info: object) -> None:
        self._in_flight -= 1
        self._wake()

    @property
    def saturated(self) -> bool:
        """Whether entering now would wait."""
        return bool(self._waiters) or self._in_flight >= max(1, int(self.limit))

    def _wake(self) -> None:
        while self._waiters and self._in_flight < max(1, int(self.limit)):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)

    def throttled(self, window: int) -> None:
        """A 429 to an attempt that entered in ``window``."""
        if window == self.window:
            self._before_decrease = self.limit
            self.limit = max(1.0, self.limit / 2)
            self.window += 1

    def succeeded(self) -> None:
        step = 1.0 if self.limit < self._before_decrease else 1 / self.limit
        self.limit = min(float(self.maximum), self.limit + step)


def retry_delay(
    call: PlannedCall,
    attempt: int,
    failure: Transient,
    *,
    backoff: float,
    timeout: float,
    deadline: float | None,
    ends_at: float | None,
) -> float:
    """Exponential backoff with full jitter, or the server's Retry-After. A Retry-After
    longer than the call's timeout or the experiment's time left fails the call at once
    (waiting out a day's Retry-After helps nobody), and a long one is logged, not waited
    out in silence."""
    retry_after = failure.retry_after
    if retry_after is None:
        return random.uniform(0, min(backoff * 2**attempt, _MAX_BACKOFF))
    left = None if ends_at is None else ends_at - time.perf_counter()
    if retry_after > timeout or (left is not None and retry_after > left):
        limit = (
            f"the per-call timeout of {timeout:g} s (--chatexp-timeout or the marker's timeout=)"
            if retry_after > timeout
            else f"the {max(left or 0.0, 0.0):.1f} s left before the experiment deadline "
            f"of {deadline:g} s (--chatexp-deadline)"
        )
        raise ProviderError(
            f"{call.label}: {failure}; the server asks to retry after {retry_after:g} s "
            f"(Retry-After), longer than {limit}: not waiting",
            status_code=failure.status_code,
        )
    if retry_after >= _NOTED_WAIT:
        _LOG.warning(
            "chatexp: %s: waiting %g s before retrying, as the server's Retry-After asks (%s)",
            call.label,
            retry_after,
            failure,
        )
    return retry_after
