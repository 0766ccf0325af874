"""Prices per million tokens, and what an experiment's usage costs.

Stdlib only: the table is parsed from the ini file at configure time, so a bad line is a usage
error before collection, at no import cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._errors import PricingError

__all__ = ["DEFAULT_PRICES", "Price", "PriceTable", "PricingError"]


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million input (prompt) and output (generation) tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, generation_tokens: int) -> float:
        return (prompt_tokens * self.input + generation_tokens * self.output) / 1_000_000


# Published list prices (USD per 1M tokens) of well-known models, as of 2026-11. Override or
# extend them with the `chatexp_prices` ini option; a model not listed has no known cost.
DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o3": Price(2.00, 8.00),
    "o4-mini": Price(1.10, 4.40),
    "claude-3-5-haiku-latest": Price(0.80, 4.00),
    "claude-sonnet-4-0": Price(3.00, 15.00),
    "claude-opus-4-0": Price(15.00, 75.00),
}


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name; exact names first, then the longest listed prefix (so a dated
    snapshot such as ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``)."""

    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def from_lines(
        cls, lines: Iterable[str], *, base: Mapping[str, Price] = DEFAULT_PRICES
    ) -> PriceTable:
        """Parse ``model input_price output_price`` lines (``#`` starts a comment)."""
        prices = dict(base)
        for number, raw in enumerate(lines, start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3:
                raise PricingError(
                    f"line {number} {raw.strip()!r}: expected 'MODEL INPUT_PRICE OUTPUT_PRICE' "
                    "(US dollars per million tokens), e.g. 'gpt-4o-mini 0.15 0.60'"
                )
            model, *amounts = parts
            try:
                input_price, output_price = (float(amount) for amount in amounts)
            except ValueError:
                raise PricingError(
                    f"line {number} {raw.strip()!r}: prices must be numbers"
                ) from None
            if not (math.isfinite(input_price) and math.isfinite(output_price)):
                raise PricingError(f"line {number} {raw.strip()!r}: prices must be finite numbers")
            if input_price < 0 or output_price < 0:
                raise PricingError(f"line {number} {raw.strip()!r}: prices cannot be negative")
            prices[model] = Price(input_price, output_price)
        return cls(prices)

    def price_of(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        prefixes = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def cost(
        self, model: str, prompt_tokens: int | None, generation_tokens: int | None
    ) -> float | None:
        """The cost in US dollars, or None when the model has no price or a count is unknown."""
        price = self.price_of(model)
        if price is None or prompt_tokens is None or generation_tokens is None:
            return None
        return price.cost(prompt_tokens, generation_tokens)
