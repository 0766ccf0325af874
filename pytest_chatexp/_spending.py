"""Cost control: plan a run before spending anything, and stop at a session budget.

The plan asks each test's recorder, without calling anyone, which calls would replay and which
would go live, and estimates what the live ones cost. The budget wraps every live call: once the
session has spent its tokens or dollars, no further call is made and the remaining chatexp tests
are skipped. Under pytest-xdist the workers share one ledger file, so the budget is the
session's, not each worker's.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from ._errors import BudgetExhausted, ChatexpError
from ._experiment import ExperimentSpec, PlannedCall
from ._pricing import PriceTable
from ._providers import Provider, WireRequest
from ._recorder import TestRecorder, recorded_call_of
from ._replay import CallOutcome, Exchange, base_url_for, provider_for

__all__ = ["BudgetExhausted", "Ledger", "SessionBudget", "plan_experiment"]

# What a live call is assumed to generate when its config sets no max_tokens.
ASSUMED_GENERATION_TOKENS = 256
_CHARACTERS_PER_TOKEN = 4


class Ledger:
    """Live spend so far: in memory, or in a JSON file shared (under a lock) by xdist workers."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._tokens = 0
        self._cost = 0.0
        self._lock = threading.Lock()

    def spent(self) -> tuple[int, float]:
        with self._locked() as state:
            return int(state["tokens"]), float(state["cost"])

    def add(self, tokens: int, cost: float) -> None:
        with self._locked() as state:
            state["tokens"] = int(state["tokens"]) + tokens
            state["cost"] = float(state["cost"]) + cost

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            if self.path is None:
                state: dict[str, Any] = {"tokens": self._tokens, "cost": self._cost}
                yield state
                self._tokens, self._cost = state["tokens"], state["cost"]
                return
            import fcntl

            with self.path.open("a+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.seek(0)
                text = handle.read()
                state = json.loads(text) if text.strip() else {"tokens": 0, "cost": 0.0}
                yield state
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(state))
                handle.flush()


class SessionBudget:
    """``--chatexp-max-tokens`` / ``--chatexp-max-cost`` over the live calls of a session."""

    def __init__(
        self,
        *,
        max_tokens: int | None,
        max_cost: float | None,
        ledger: Ledger,
        prices: PriceTable,
    ) -> None:
        self.max_tokens = max_tokens
        self.max_cost = max_cost
        self.ledger = ledger
        self.prices = prices

    def exhausted(self) -> str | None:
        """Why no further live call may be made, or None while budget remains."""
        tokens, cost = self.ledger.spent()
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return (
                f"the session's token budget is spent ({tokens:,} of --chatexp-max-tokens "
                f"{self.max_tokens:,}); no further live calls are made"
            )
        if self.max_cost is not None and cost >= self.max_cost:
            return (
                f"the session's cost budget is spent (${cost:.4f} of --chatexp-max-cost "
                f"${self.max_cost:.4f}); no further live calls are made"
            )
        return None

    def guard(self, inner: Exchange) -> Exchange:
        """``inner`` with every live call checked against, and charged to, the budget."""

        async def exchange(
            call: PlannedCall,
            provider: Provider,
            wire: WireRequest,
            send: Callable[[], Awaitable[CallOutcome]],
        ) -> CallOutcome:
            async def charged_send() -> CallOutcome:
                reason = self.exhausted()
                if reason is not None:
                    raise BudgetExhausted(reason)
                outcome = await send()
                with contextlib.suppress(ChatexpError):  # unreadable: the runner says so
                    usage = provider.parse_response(outcome.body).usage
                    cost = self.prices.cost(
                        call.config.model, usage.prompt_tokens, usage.generation_tokens
                    )
                    self.ledger.add(usage.total_tokens, cost or 0.0)
                return outcome

            return await inner(call, provider, wire, charged_send)

        return exchange


def plan_experiment(
    spec: ExperimentSpec, recorder: TestRecorder | None, prices: PriceTable
) -> dict[str, Any]:
    """What running ``spec`` would do, without calling anyone: replays, live calls, and the
    estimated tokens and cost of the live ones (the prompt at ~4 characters a token, the
    answer at ``max_tokens``, or 256 tokens when unset)."""
    replayed = live = missing = tokens = 0
    cost = 0.0
    unpriced: set[str] = set()
    for call in spec.calls:
        provider = provider_for(call)
        wire = provider.build_request(call, base_url=base_url_for(call, provider))
        if recorder is not None and recorder.lookup(recorded_call_of(call, provider, wire)):
            replayed += 1
            continue
        if recorder is not None and not recorder.may_record():
            missing += 1  # the record mode forbids the call: the test would fail, not spend
            continue
        live += 1
        prompt = math.ceil(len(json.dumps(wire.body["messages"])) / _CHARACTERS_PER_TOKEN)
        generation = call.config.max_tokens
        if generation is None or generation < 0:
            generation = ASSUMED_GENERATION_TOKENS
        tokens += prompt + generation
        price = prices.cost(call.config.model, prompt, generation)
        if price is None:
            unpriced.add(call.config.model)
        cost += price or 0.0
    return {
        "test": spec.name,
        "calls": replayed + live + missing,
        "replayed": replayed,
        "live": live,
        "missing": missing,
        "estimated_tokens": tokens,
        "estimated_cost_usd": None if unpriced else round(cost, 6),
        "unpriced_models": sorted(unpriced),
    }
