"""Prices per million tokens, and what an experiment's usage costs.

Stdlib only: the table is parsed from the ini file at configure time, so a bad line is a usage
error before collection, at no import cost.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ._errors import PricingError

__all__ = [
    "BATCH_PRICE",
    "DEFAULT_PRICES",
    "Price",
    "PriceTable",
    "PricingError",
    "TokenUsage",
]

# What a call sent through a provider's batch API costs, as a share of the same call sent
# directly: OpenAI's Batch API and Anthropic's Message Batches both charge half.
BATCH_PRICE = 0.5


class TokenUsage(Protocol):
    """What pricing reads of a usage (``Usage`` has it): counts, None when unknown."""

    @property
    def prompt_tokens(self) -> int | None: ...
    @property
    def generation_tokens(self) -> int | None: ...
    @property
    def cached_tokens(self) -> int | None: ...
    @property
    def cache_write_tokens(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million input (prompt) and output (generation) tokens, and optionally
    per million prompt tokens read from (``cache_read``) and written to (``cache_write``) the
    provider's prompt cache. Without a cache rate, those tokens cost the input rate."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def cost(
        self,
        prompt_tokens: int,
        generation_tokens: int,
        *,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """The cost of a call. ``prompt_tokens`` includes the cached and cache-write tokens
        (as ``Usage`` counts them), so only the rest is priced at the input rate."""
        read_rate = self.input if self.cache_read is None else self.cache_read
        write_rate = self.input if self.cache_write is None else self.cache_write
        uncached = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
        return (
            uncached * self.input
            + cached_tokens * read_rate
            + cache_write_tokens * write_rate
            + generation_tokens * self.output
        ) / 1_000_000


# Published list prices (USD per 1M tokens) of well-known models, as of 2026-11: input, output,
# cache read, cache write. Override or extend them with the `chatexp_prices` ini option; a model
# not listed has no known cost.
# Cache rates: OpenAI (openai.com/api/pricing, "cached input") charges no cache writes (none is
# listed: such tokens would cost the input rate) and reads at 0.5x input for the gpt-4o family,
# 0.25x for gpt-4.1, o3 and o4-mini, and 0.1x for the gpt-5 family. Anthropic
# (docs.anthropic.com, "prompt caching") charges reads at 0.1x input and 5-minute cache writes at
# 1.25x input. Google (ai.google.dev/gemini-api/docs/pricing, paid tier, text input) prices a
# cached token ("context caching") at 0.1x input for the 2.5 family and 0.25x for 2.0 Flash;
# cache storage is billed per hour, outside any call, so it is not here. Gemini 2.5 Pro is tiered
# by prompt size: these are its prices for prompts up to 200k tokens (longer ones cost 2x input,
# 1.5x output), so a longer prompt is under-priced; list it in `chatexp_prices` if that matters.
DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "o3": Price(2.00, 8.00, 0.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08, 1.00),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30, 3.75),
    "claude-opus-4": Price(15.00, 75.00, 1.50, 18.75),
    "gemini-2.5-pro": Price(1.25, 10.00, 0.125),  # prompts <= 200k tokens (see above)
    "gemini-2.5-flash": Price(0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite": Price(0.10, 0.40, 0.01),
    "gemini-2.0-flash": Price(0.10, 0.40, 0.025),
    # Embeddings (openai.com/api/pricing): input only; an embedding generates no tokens.
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
}


# What may follow a listed name in a snapshot or alias of the same model: a date
# (gpt-4o-mini-2024-07-18, claude-sonnet-4-20250514), "-latest", Anthropic's "-0", Google's
# "-001". Anything else (a preview, a "-pro" or "-mini") is another model: gpt-5-pro is not
# gpt-5, o3-mini is not o3, claude-sonnet-4-5 is not claude-sonnet-4; pricing them as such would
# under-count.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest|0|\d{3})")


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name: a listed name prices itself and its snapshots
    (``gpt-4o-mini-2024-07-18`` is ``gpt-4o-mini``); a name ending in ``*`` prices every model
    it starts (``ft:gpt-4o-mini:acme:*``). A model matching neither has no known price."""

    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def from_lines(
        cls, lines: Iterable[str], *, base: Mapping[str, Price] = DEFAULT_PRICES
    ) -> PriceTable:
        """Parse ``model input output [cache_read [cache_write]]`` lines (``#`` starts a
        comment), prices in US dollars per million tokens."""
        prices = dict(base)
        for number, raw in enumerate(lines, start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if not 3 <= len(parts) <= 5:
                raise PricingError(
                    f"line {number} {raw.strip()!r}: expected 'MODEL INPUT_PRICE OUTPUT_PRICE "
                    "[CACHE_READ_PRICE [CACHE_WRITE_PRICE]]' (US dollars per million tokens), "
                    "e.g. 'gpt-4o-mini 0.15 0.60' or 'claude-sonnet-4 3.00 15.00 0.30 3.75'"
                )
            model, *amounts = parts
            try:
                numbers = [float(amount) for amount in amounts]
            except ValueError:
                raise PricingError(
                    f"line {number} {raw.strip()!r}: prices must be numbers"
                ) from None
            if not all(math.isfinite(amount) for amount in numbers):
                raise PricingError(f"line {number} {raw.strip()!r}: prices must be finite numbers")
            if any(amount < 0 for amount in numbers):
                raise PricingError(f"line {number} {raw.strip()!r}: prices cannot be negative")
            prices[model] = Price(*numbers)
        return cls(prices)

    def price_of(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        matches = [
            name
            for name in self.prices
            if (name.endswith("*") and model.startswith(name[:-1]))
            or (model.startswith(name) and _SNAPSHOT.fullmatch(model, len(name)) is not None)
        ]
        return self.prices[max(matches, key=len)] if matches else None

    def cost(
        self, model: str, prompt_tokens: int | None, generation_tokens: int | None
    ) -> float | None:
        """The cost in US dollars of prompt and generation counts with no cache involved (a
        plan's estimate), or None when the model has no price or a count is unknown. A call's
        reported usage is priced by ``usage_cost``."""
        price = self.price_of(model)
        if price is None or prompt_tokens is None or generation_tokens is None:
            return None
        return price.cost(prompt_tokens, generation_tokens)

    def usage_cost(self, model: str, usage: TokenUsage) -> float | None:
        """What ``usage`` cost in US dollars, cache reads and writes at their own rates: the
        one place a call's reported usage is priced (checks, reports, the budget, re-records).
        None when the model has no price or the prompt or generation count is unknown."""
        price = self.price_of(model)
        if price is None or usage.prompt_tokens is None or usage.generation_tokens is None:
            return None
        return price.cost(
            usage.prompt_tokens,
            usage.generation_tokens,
            cached_tokens=usage.cached_tokens or 0,
            cache_write_tokens=usage.cache_write_tokens or 0,
        )
