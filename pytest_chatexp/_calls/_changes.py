"""What re-recording changed, call by call: tokens and cost before and after.

The recorder makes one ``ChangeRecord`` per call it answered anew, where the model, both answers'
usage and the price table are known, so the reports show cost deltas as computed, never
recovered from totals. It crosses to the xdist controller and into the JSON report as
``to_json``'s builtins (the keys of reports before costs were added, plus new ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._pricing import PriceTable

if TYPE_CHECKING:  # the reports read changes without loading the experiment's models
    from .._experiment._humanloop import Usage

__all__ = ["Answer", "ChangeRecord"]

_TOKENS = ("prompt", "generation", "total")


@dataclass(frozen=True)
class ChangeRecord:
    """One call answered anew. ``new`` says it had no previous answer (then every ``old_``
    value is None). Token counts and costs are None when unknown (no usage reported, no price
    for the model), never 0; prices are US dollars per million tokens."""

    config: str
    input: str
    sample: int
    new: bool
    model: str | None = None
    old_prompt_tokens: int | None = None
    old_generation_tokens: int | None = None
    old_total_tokens: int | None = None
    new_prompt_tokens: int | None = None
    new_generation_tokens: int | None = None
    new_total_tokens: int | None = None
    old_cost_usd: float | None = None
    new_cost_usd: float | None = None
    prompt_price_usd: float | None = None
    generation_price_usd: float | None = None
    # A later model call of the sample (a tool loop, a conversation); 0 for its first.
    turn: int = 0
    # The answers themselves, for the reports' before/after view: the text the model wrote and
    # its tool calls as ``name(arguments)``. None when unknown (a report from before they were
    # carried); ``old_`` is None for a new call.
    old_output: str | None = None
    new_output: str | None = None
    old_tool_calls: tuple[str, ...] = ()
    new_tool_calls: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        *,
        config: str,
        input: str,
        sample: int,
        model: str,
        old: Usage | None,
        new: Usage,
        prices: PriceTable,
        turn: int = 0,
        old_answer: Answer | None = None,
        new_answer: Answer | None = None,
    ) -> ChangeRecord:
        price = prices.price_of(model)

        def cost(usage: Usage | None) -> float | None:
            if usage is None:
                return None
            value = prices.usage_cost(model, usage)
            return None if value is None else round(value, 10)

        return cls(
            config=config,
            input=input,
            sample=sample,
            new=old is None,
            model=model,
            old_prompt_tokens=old.prompt_tokens if old else None,
            old_generation_tokens=old.generation_tokens if old else None,
            old_total_tokens=old.total_tokens if old else None,
            new_prompt_tokens=new.prompt_tokens,
            new_generation_tokens=new.generation_tokens,
            new_total_tokens=new.total_tokens,
            old_cost_usd=cost(old),
            new_cost_usd=cost(new),
            prompt_price_usd=price.input if price else None,
            generation_price_usd=price.output if price else None,
            turn=turn,
            old_output=old_answer.text if old_answer else None,
            new_output=new_answer.text if new_answer else None,
            old_tool_calls=old_answer.tool_calls if old_answer else (),
            new_tool_calls=new_answer.tool_calls if new_answer else (),
        )

    @property
    def call(self) -> str:
        """The sample, and the turn past its first: ``2`` or ``2, turn 1``."""
        return f"{self.sample:,}, turn {self.turn}" if self.turn else f"{self.sample:,}"

    def tokens(self, which: str, kind: str) -> int | None:
        """``old`` or ``new`` tokens of ``kind`` (prompt, generation, total)."""
        value = getattr(self, f"{which}_{kind}_tokens")
        return value if isinstance(value, int) else None

    @property
    def cost_delta(self) -> float | None:
        """New cost less old, for a re-recorded call whose both costs are known."""
        if self.new or self.old_cost_usd is None or self.new_cost_usd is None:
            return None
        return self.new_cost_usd - self.old_cost_usd

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if not self.turn:  # a first call: as reports before turns wrote it
            del data["turn"]
        for which in ("old", "new"):  # only what is known: older reports' keys stay as they were
            if data[f"{which}_output"] is None:
                del data[f"{which}_output"]
            calls = data.pop(f"{which}_tool_calls")
            if calls:
                data[f"{which}_tool_calls"] = list(calls)
        return data

    @classmethod
    def from_json(cls, data: Any) -> ChangeRecord | None:
        """A change as a report holds it; missing or mistyped fields read as unknown (a
        report written before costs were recorded has none)."""
        if not isinstance(data, Mapping):
            return None
        sample = data.get("sample")
        old_total = data.get("old_total_tokens")
        return cls(
            config=str(data.get("config") or ""),
            input=str(data.get("input") or ""),
            sample=_int(sample) or 0,
            # Reports before ``new`` was written: a change without old tokens had no answer.
            new=bool(data["new"]) if "new" in data else old_total is None,
            model=None if data.get("model") is None else str(data.get("model")),
            **{
                f"{which}_{kind}_tokens": _int(data.get(f"{which}_{kind}_tokens"))
                for which in ("old", "new")
                for kind in _TOKENS
            },
            old_cost_usd=_float(data.get("old_cost_usd")),
            new_cost_usd=_float(data.get("new_cost_usd")),
            prompt_price_usd=_float(data.get("prompt_price_usd")),
            generation_price_usd=_float(data.get("generation_price_usd")),
            turn=_int(data.get("turn")) or 0,
            old_output=_text(data.get("old_output")),
            new_output=_text(data.get("new_output")),
            old_tool_calls=_texts(data.get("old_tool_calls")),
            new_tool_calls=_texts(data.get("new_tool_calls")),
        )


@dataclass(frozen=True)
class Answer:
    """What a model answered, as the before/after view shows it: its text, and its tool calls
    as ``name(arguments)``."""

    text: str
    tool_calls: tuple[str, ...] = ()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))
