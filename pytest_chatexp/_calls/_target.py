"""The target seam: whatever answers a planned call implements ``Target.handle``, as every
httpx transport implements one ``handle_request``. The runner neither knows nor asks what it
is talking to: a model endpoint over HTTP (``_http.HttpTarget``) or your own code in-process
(``_app.AppTarget``).

Also the seam recording plugs into (``Exchange``: a call goes through it with its provider,
or as ``APP_HTTP`` for an app's own HTTP request) and the record of one answer
(``CallOutcome``). Which target serves a config is ``_exchange.target_for``. Replay runs
through here too, so this module imports no event loop and no HTTP client.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from .._experiment._spec import PlannedCall
from .._providers import Provider, ProviderReply, WireRequest

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "APP_HTTP",
    "AppHttp",
    "CallOutcome",
    "Exchange",
    "Replay",
    "Target",
    "TargetCall",
    "Via",
    "send_directly",
    "start_next",
]


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """The answer to one call: the decoded body (for a stream, its list of event objects), how
    long the provider took, and for a stream how long until its first event."""

    body: Any
    latency_s: float
    replayed: bool = False
    first_token_s: float | None = None
    retries: int = 0
    # Where a replayed answer came from, for an error about its content.
    source: str | None = None
    # The provider's reading of ``body``, when the runner already made it to check the answer
    # before anything recorded it: read once, not twice.
    reply: ProviderReply | None = None
    # Answered through a provider's batch API (``_batch``): priced at ``BATCH_PRICE``.
    batch: bool = False


@dataclass(frozen=True, slots=True)
class AppHttp:
    """What an app's own HTTP request (``_app``) goes through the exchange as, where a model
    call names its provider. Its answer is the app's to read, not a model reply: it reports no
    usage (the meter charges a live one at its estimate), a re-recorded one is kept as it came,
    new ids and all (the app may send them back in its next request, which must then match its
    recording), and no setting decides its endpoint (a moved one has no fix to suggest)."""

    # What the recording names as the request's provider.
    kind: ClassVar[str] = "http"


APP_HTTP: Final = AppHttp()

# Whom a call going through the exchange is answered by: a model, in its provider's wire
# format, or whatever an app's own HTTP request reaches.
Via = Provider | AppHttp

# The seam recording plugs into: (call, via, wire request, send) -> outcome.
Exchange = Callable[
    [PlannedCall, Via, WireRequest, Callable[[], Awaitable[CallOutcome]]],
    Awaitable[CallOutcome],
]


# The synchronous seam: (call, provider, wire request) -> a recorded outcome, or None.
Replay = Callable[[PlannedCall, Provider, WireRequest], CallOutcome | None]


async def send_directly(
    call: PlannedCall,
    via: Via,
    wire: WireRequest,
    send: Callable[[], Awaitable[CallOutcome]],
) -> CallOutcome:
    return await send()


@dataclass(frozen=True, slots=True)
class TargetCall:
    """One call as a target receives it: the planned call, the format its request was built in
    and its answer is read in, the request, the exchange its HTTP requests go through (recording
    and replay), and the runner's limits for it."""

    call: PlannedCall
    provider: Provider
    wire: WireRequest
    exchange: Exchange
    timeout: float
    max_response_bytes: int
    # When the experiment's deadline (--chatexp-deadline) falls, on ``time.perf_counter``.
    ends_at: float | None = None
    # For a worker's first call: resolved (``start_next``) once its request is out or it has
    # to wait for anything else, so the runner starts the next worker (``_start_one_by_one``).
    first_out: asyncio.Future[None] | None = None


class Target(ABC):
    """What answers planned calls."""

    @abstractmethod
    async def handle(self, request: TargetCall) -> CallOutcome:
        """The outcome of one call, its HTTP requests made through ``request.exchange``."""


def start_next(first_out: asyncio.Future[None] | None) -> None:
    """Tell the runner a worker's first call no longer needs the CPU until its answer."""
    if first_out is not None and not first_out.done():
        first_out.set_result(None)
