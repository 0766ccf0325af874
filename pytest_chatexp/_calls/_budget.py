"""Cost control: plan a run before spending anything, and hold the session to a budget.

The plan asks each test's recorder, without calling anyone, which calls would replay and which
would go live, and estimates what the live ones cost. The budget is a cap: before each live call
it reserves that same estimate in the session's ledger, and refuses the call (and every later
one) when the reservation would take spending past ``--chatexp-max-tokens`` or
``--chatexp-max-cost``; the answer settles the reservation to what the call really used. Under
pytest-xdist the workers share one ledger file, so the budget is the session's, not each
worker's. The meter (``Meter``) wraps every call of an experiment run: it counts replays, live
calls, failures and retries per model config, whether or not the run succeeds.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .._errors import BudgetExhausted, ChatexpError, PricingError
from .._pricing import BATCH_PRICE, PriceTable
from .._providers._batches import batch_api_of
from ._breaker import EndpointDown
from ._exchange import base_url_for, provider_for
from ._metering import CallTally, Ledger, LedgerState, counting_attempts
from ._recorder import TestRecorder, recorded_call_of
from ._target import AppHttp, CallOutcome, Exchange, Via

if TYPE_CHECKING:
    from .._experiment._humanloop import Usage
    from .._experiment._spec import ExperimentSpec, PlannedCall
    from .._providers import ProviderReply, WireRequest

__all__ = [
    "BudgetExhausted",
    "Ledger",
    "Meter",
    "PlanRecord",
    "SessionBudget",
    "UnpricedModelError",
    "estimate_call",
    "plan_experiment",
]

# What a live call is assumed to generate when its config sets no max_tokens.
ASSUMED_GENERATION_TOKENS = 256
_CHARACTERS_PER_TOKEN = 4


class UnpricedModelError(PricingError):
    """A cost cap is set and a live call's model has no price: it cannot be held to the cap."""

    takes_precedence = True  # over the other calls of the experiment it stopped


def estimate_call(call: PlannedCall, wire: WireRequest) -> tuple[int, int]:
    """A live call's (prompt, generation) tokens, estimated before sending it: the messages at
    ~4 characters a token, the answer at the config's ``max_tokens`` (256 when unset; none for
    a format that generates nothing, embeddings). The plan
    and the budget's reservations both use it."""
    messages = wire.body.get("messages") if isinstance(wire.body, dict) else None
    if messages is None:  # an app's own HTTP call: its sample's messages stand for it
        messages = [m.model_dump(mode="json", exclude_none=True) for m in call.messages]
    prompt = math.ceil(len(json.dumps(messages)) / _CHARACTERS_PER_TOKEN)
    generation = call.config.max_tokens
    if not provider_for(call).generates:  # an embedding: its prompt is all it costs
        generation = 0
    elif generation is None or generation < 0:
        generation = ASSUMED_GENERATION_TOKENS
    return prompt, generation


@dataclass(frozen=True)
class Reservation:
    tokens: int
    cost: float


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

    def reserve(self, call: PlannedCall, wire: WireRequest) -> Reservation:
        """Set aside the call's estimate, or raise BudgetExhausted (and stop every later live
        call) when spent + reserved + estimate would pass a cap."""
        prompt, generation = estimate_call(call, wire)
        cost = self.prices.cost(call.config.model, prompt, generation)
        if cost is None and self.max_cost is not None:
            raise UnpricedModelError(
                f"model config '{call.config.display_name}': model '{call.config.model}' has no "
                "price, so --chatexp-max-cost cannot hold its calls to the budget; add it to the "
                "ini option chatexp_prices ('MODEL INPUT_USD OUTPUT_USD', per million tokens) "
                "or run without a cost budget"
            )
        wanted = Reservation(prompt + generation, cost or 0.0)
        with self.ledger.locked() as state:
            if state.stopped:
                # Once stopped, stopped for good; the reason names the call that stopped it,
                # which may belong to another test, so say which call this refusal is for.
                state.refused += 1
                raise BudgetExhausted(f"{call.label} was not sent: {state.stopped}")
            reason = self._refusal(state, wanted, call)
            if reason is not None:
                state.refused += 1
                state.stopped = reason
                raise BudgetExhausted(reason)
            state.reserved_tokens += wanted.tokens
            state.reserved_cost += wanted.cost
        return wanted

    def settle(
        self,
        reservation: Reservation,
        call: PlannedCall,
        usage: Usage | None,
        model: str | None = None,
    ) -> None:
        """Replace a reservation with what the call used; unknown usage (None, or counts the
        provider did not report) is charged at the reservation, its estimate. ``model`` is the
        model the provider reports answering (Humanloop's stored configs), priced instead of
        the config's own when given."""
        tokens = usage.total_tokens if usage is not None and usage.known else None
        cost = reservation.cost
        if usage is not None and tokens is not None:
            # None only for an unpriced model under a token cap alone: no dollars to count.
            priced = self.prices.usage_cost(model or call.config.model, usage)
            cost = priced if priced is not None else 0.0
        with self.ledger.locked() as state:
            self._unreserve(state, reservation)
            state.calls += 1
            state.unknown_usage += tokens is None
            state.spent_tokens += reservation.tokens if tokens is None else tokens
            state.spent_cost += cost

    def release(self, reservation: Reservation) -> None:
        """A call that got no answer: its reservation is freed, nothing is charged."""
        with self.ledger.locked() as state:
            self._unreserve(state, reservation)
            state.calls += 1

    @staticmethod
    def _unreserve(state: LedgerState, reservation: Reservation) -> None:
        state.reserved_tokens = max(0, state.reserved_tokens - reservation.tokens)
        state.reserved_cost = max(0.0, state.reserved_cost - reservation.cost)

    def _refusal(self, state: LedgerState, wanted: Reservation, call: PlannedCall) -> str | None:
        if self.max_tokens is not None:
            if state.spent_tokens + state.reserved_tokens + wanted.tokens > self.max_tokens:
                return (
                    f"the session's token budget would be exceeded: {call.label} needs "
                    f"~{wanted.tokens:,} tokens ({self._spent(state)})"
                )
        if self.max_cost is not None:
            if state.spent_cost + state.reserved_cost + wanted.cost > self.max_cost:
                return (
                    f"the session's cost budget would be exceeded: {call.label} needs "
                    f"~${wanted.cost:.4f} ({self._spent(state)})"
                )
        return None

    def _spent(self, state: LedgerState) -> str:
        parts = []
        if self.max_tokens is not None:
            parts.append(
                f"{state.spent_tokens:,} spent and {state.reserved_tokens:,} reserved of "
                f"--chatexp-max-tokens {self.max_tokens:,}"
            )
        if self.max_cost is not None:
            parts.append(
                f"${state.spent_cost:.4f} spent and ${state.reserved_cost:.4f} reserved of "
                f"--chatexp-max-cost ${self.max_cost:.4f}"
            )
        return "; ".join(parts) + "; no further live calls are made"


class Meter:
    """Wraps one experiment run's exchange: counts every call into ``tally`` and, with a
    budget, reserves before each live call and settles on its answer."""

    def __init__(self, tally: CallTally, budget: SessionBudget | None) -> None:
        self.tally = tally
        self.budget = budget

    def guard(self, inner: Exchange) -> Exchange:
        async def exchange(
            call: PlannedCall,
            via: Via,
            wire: WireRequest,
            send: Callable[[], Awaitable[CallOutcome]],
        ) -> CallOutcome:
            counts = self.tally.of(call.case_config.display_name)

            async def metered_send() -> CallOutcome:
                budget = self.budget
                reservation = budget.reserve(call, wire) if budget is not None else None
                with counting_attempts() as attempts:
                    try:
                        outcome = await send()
                    except BaseException as exc:
                        if attempts.count:  # else it failed before any request went out
                            counts.live += 1
                            counts.failed += 1
                            counts.retries += attempts.count - 1
                        elif isinstance(exc, EndpointDown):
                            counts.skipped += 1
                        if budget is not None and reservation is not None:
                            budget.release(reservation)
                        raise
                counts.live += 1
                counts.retries += max(0, attempts.count - 1)
                counts.batched += outcome.batch
                if budget is not None and reservation is not None:
                    reply = _reply_of(via, outcome)
                    usage = reply.usage if reply is not None else None
                    budget.settle(reservation, call, usage, _reported_model(reply))
                return outcome

            outcome = await inner(call, via, wire, metered_send)
            counts.replayed += outcome.replayed
            counts.answers.append(functools.partial(_tokens_of, via, outcome))
            return outcome

        return exchange


def _reply_of(via: Via, outcome: CallOutcome) -> ProviderReply | None:
    """The runner's reading of the answer when it made one, else this one; None when it cannot
    be read (the runner says why) or is no model reply (an app's own HTTP request: its
    sample's tokens are what the app reports)."""
    if outcome.reply is not None:
        return outcome.reply
    if isinstance(via, AppHttp):
        return None
    try:
        return via.parse_response(outcome.body)
    except ChatexpError:
        return None


def _usage_of(via: Via, outcome: CallOutcome) -> Usage | None:
    reply = _reply_of(via, outcome)
    return reply.usage if reply is not None else None


def _reported_model(reply: ProviderReply | None) -> str | None:
    """The model the provider says answered (Humanloop names the one its config called)."""
    log = reply.humanloop if reply is not None else None
    return log.model if log is not None else None


def _tokens_of(via: Via, outcome: CallOutcome) -> tuple[int | None, int | None]:
    usage = _usage_of(via, outcome)
    return (None, None) if usage is None else (usage.prompt_tokens, usage.generation_tokens)


@dataclass(frozen=True)
class PlanRecord:
    """What running one experiment would do: its calls replayed, live, and missing (without a
    recording, under a mode that forbids recording: they would fail), and the live calls'
    estimated tokens and cost (None: a model in ``unpriced_models`` has no price)."""

    test: str
    calls: int
    replayed: int
    live: int
    missing: int
    estimated_tokens: int
    estimated_cost_usd: float | None
    unpriced_models: tuple[str, ...] = ()
    # Samples of tool loops and conversations: what their later turns send depends on the
    # answers and the tools, so only their first call is planned; each may make up to
    # ``max_turns`` model calls.
    multi_turn_samples: int = 0
    max_turns: int = 0
    # Of the live calls, those --chatexp-batch sends through a batch API (at half price).
    batched: int = 0
    # A shared experiment (its scope's node id) and how many tests share it: each member has
    # this plan, and the plan's totals count it once.
    shared: str = ""
    members: int = 0

    def describe(self) -> str:
        cost = self.estimated_cost_usd
        money = f"~${cost:.4f}" if cost is not None else "cost unknown"
        missing = f", {self.missing} without a recording" if self.missing else ""
        loops = self.multi_turn_samples
        later = (
            f"; {loops} sample{'s are' if loops != 1 else ' is'} a tool loop or conversation: "
            f"only first calls are counted, each may make up to {self.max_turns} model calls"
            if loops
            else ""
        )
        batched = f" ({self.batched} by batch, at half price)" if self.batched else ""
        sharing = (
            f"shared experiment {self.shared}, shared with {self.members} tests, counted once: "
            if self.shared
            else ""
        )
        return (
            f"{sharing}{self.calls} call{'s' if self.calls != 1 else ''}: {self.replayed} "
            f"replayed, {self.live} live{batched}{missing}; "
            f"~{self.estimated_tokens:,} tokens live, {money}{later}"
        )

    def to_json(self) -> dict[str, Any]:
        """Builtins only: a plan crosses to the xdist controller on the test's report."""
        return {**asdict(self), "unpriced_models": list(self.unpriced_models)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanRecord:
        cost = data.get("estimated_cost_usd")
        return cls(
            test=str(data.get("test") or ""),
            calls=int(data.get("calls") or 0),
            replayed=int(data.get("replayed") or 0),
            live=int(data.get("live") or 0),
            missing=int(data.get("missing") or 0),
            estimated_tokens=int(data.get("estimated_tokens") or 0),
            estimated_cost_usd=None if cost is None else float(cost),
            unpriced_models=tuple(str(model) for model in data.get("unpriced_models") or ()),
            multi_turn_samples=int(data.get("multi_turn_samples") or 0),
            max_turns=int(data.get("max_turns") or 0),
            batched=int(data.get("batched") or 0),
            shared=str(data.get("shared") or ""),
            members=int(data.get("members") or 0),
        )


def plan_experiment(
    spec: ExperimentSpec, recorder: TestRecorder | None, prices: PriceTable, *, batch: bool = False
) -> PlanRecord:
    """What running ``spec`` would do, without calling anyone: replays, live calls, and the
    estimated tokens and cost of the live ones (see ``estimate_call``); with ``batch``
    (--chatexp-batch), the live calls a batch API carries, priced at ``BATCH_PRICE``."""
    replayed = live = missing = tokens = batched = 0
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
        prompt, generation = estimate_call(call, wire)
        tokens += prompt + generation
        price = prices.cost(call.config.model, prompt, generation)
        if price is None:
            unpriced.add(call.config.model)
        by_batch = batch and batch_api_of(call.config.provider, wire) is not None
        batched += by_batch
        cost += (price or 0.0) * (BATCH_PRICE if by_batch else 1.0)
    return PlanRecord(
        test=spec.name,
        calls=replayed + live + missing,
        replayed=replayed,
        live=live,
        missing=missing,
        estimated_tokens=tokens,
        estimated_cost_usd=None if unpriced else round(cost, 6),
        unpriced_models=tuple(sorted(unpriced)),
        multi_turn_samples=sum(call.loop.active for call in spec.calls),
        max_turns=spec.max_turns,
        batched=batched,
    )
