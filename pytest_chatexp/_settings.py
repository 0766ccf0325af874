"""Session settings from the command line and the ini file (command line wins).

Stdlib only: parsed in ``pytest_configure`` of every run, so a bad value is a usage error before
collection, at no import cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from ._pricing import PriceTable, PricingError

__all__ = ["Settings", "add_options"]

_T = TypeVar("_T")


RECORD_MODES = ("none", "once", "new", "all", "off")


@dataclass(frozen=True, slots=True)
class Settings:
    concurrency: int = 16
    timeout: float = 60.0
    record_mode: str = "none"
    prune: bool = False
    prices: PriceTable = field(default_factory=PriceTable)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        return cls(
            concurrency=_read(config, "concurrency", int, lambda v: v >= 1, "a whole number >= 1"),
            timeout=_read(config, "timeout", float, lambda v: v > 0, "a number of seconds > 0"),
            record_mode=_read(
                config,
                "record",
                str,
                lambda v: v in RECORD_MODES,
                "one of " + ", ".join(RECORD_MODES),
            ),
            prune=bool(config.getoption("chatexp_prune")),
            prices=_prices(config),
        )


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("chatexp", "chatexp: regression-test LLM prompts and model configs")
    group.addoption(
        "--chatexp-concurrency",
        dest="chatexp_concurrency",
        metavar="N",
        help="Most provider calls in flight at once, across the session (default 16).",
    )
    group.addoption(
        "--chatexp-timeout",
        dest="chatexp_timeout",
        metavar="SECONDS",
        help="Seconds one provider call may take (default 60).",
    )
    group.addoption(
        "--chatexp-record",
        dest="chatexp_record",
        metavar="MODE",
        help=(
            "How provider calls use recordings: none (default: replay only, a missing recording "
            "fails), once (record tests that have no recording yet), new (replay what matches, "
            "record what changed), all (re-record everything), off (call providers live, never "
            "read or write recordings)."
        ),
    )
    group.addoption(
        "--chatexp-prune",
        dest="chatexp_prune",
        action="store_true",
        default=False,
        help="Delete recordings no test used in this run (only after a full run).",
    )
    parser.addini("chatexp_record", "Default for --chatexp-record.", default="none")
    parser.addini(
        "chatexp_prices",
        "Model prices for cost estimates and budgets, one 'MODEL INPUT_USD OUTPUT_USD' line per "
        "model, in US dollars per million tokens; adds to and overrides the built-in table.",
        type="linelist",
        default=[],
    )
    parser.addini("chatexp_concurrency", "Default for --chatexp-concurrency.", default="16")
    parser.addini("chatexp_timeout", "Default for --chatexp-timeout.", default="60")


def _prices(config: pytest.Config) -> PriceTable:
    try:
        return PriceTable.from_lines(config.getini("chatexp_prices"))
    except PricingError as exc:
        raise pytest.UsageError(f"chatexp: ini option chatexp_prices: {exc}") from None


def _read(
    config: pytest.Config,
    name: str,
    convert: Callable[[str], _T],
    valid: Callable[[_T], bool],
    expected: str,
) -> _T:
    raw: Any = config.getoption(f"chatexp_{name}")
    where = f"--chatexp-{name}"
    if raw is None:
        raw, where = config.getini(f"chatexp_{name}"), f"ini option chatexp_{name}"
    try:
        value = convert(str(raw).strip())
    except ValueError:
        raise pytest.UsageError(f"chatexp: {where} must be {expected}, got {raw!r}") from None
    if not valid(value):
        raise pytest.UsageError(f"chatexp: {where} must be {expected}, got {raw!r}")
    return value
