"""Answers a run reuses: a request whose provider always gives the same answer to it (an
embedding: ``Provider.answers_repeat``) is sent once per process, however many tests ask it.

The layer sits inside the recorder (``AnswerReuse.around(recorder.exchange)``), between it and
the meter's send: a reused answer is written to the asking test's own recording like a live
one (so that test replays alone, in CI or on another xdist worker), but no request goes out, so
the meter counts it as replayed and the budget neither reserves nor charges for it. Each xdist
worker keeps its own answers: a text is embedded at most once per worker. The answers kept are
bounded (``limit``, the least recently used dropped first), so a long run's memory is too: a
dropped answer is asked again when a later test needs it.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from .._experiment._spec import PlannedCall
from .._providers import WireRequest
from .._util import canonical_json, endpoint_identity
from ._target import CallOutcome, Exchange, Via

__all__ = ["ANSWERS_KEPT", "AnswerReuse"]

# About 100 MB of 1536-float vectors held as Python lists, at most.
ANSWERS_KEPT = 2048


class AnswerReuse:
    """The answers of one process's repeatable requests, by what the request asks."""

    def __init__(self, limit: int = ANSWERS_KEPT) -> None:
        self._answers: OrderedDict[tuple[str, str, str], CallOutcome] = OrderedDict()
        self.limit = limit
        self.reused = 0  # requests answered here instead of sent (for tests and reports)

    def around(self, inner: Exchange) -> Exchange:
        """``inner`` (the recorder's exchange), its repeatable requests sent once per process."""

        async def exchange(
            call: PlannedCall,
            via: Via,
            wire: WireRequest,
            send: Callable[[], Awaitable[CallOutcome]],
        ) -> CallOutcome:
            if not getattr(via, "answers_repeat", False):
                return await inner(call, via, wire, send)
            key = (via.kind, endpoint_identity(wire.url), canonical_json(wire.body))

            async def send_once() -> CallOutcome:
                known = self._answers.get(key)
                if known is not None:
                    self._answers.move_to_end(key)
                    self.reused += 1
                    return dataclasses.replace(known, replayed=True, retries=0, batch=False)
                outcome = await send()
                self._answers[key] = outcome
                if len(self._answers) > self.limit:
                    self._answers.popitem(last=False)
                return outcome

            return await inner(call, via, wire, send_once)

        return exchange
