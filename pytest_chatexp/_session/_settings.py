"""Session settings from the command line and the ini file (command line wins).

Stdlib only: parsed in ``pytest_configure`` of every run, so a bad value is a usage error before
collection, at no import cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from .._errors import DEFAULT_MAX_RESPONSE_BYTES
from .._pricing import PriceTable, PricingError

if TYPE_CHECKING:
    from .._calls._runner import ExperimentRunner

__all__ = ["INCONCLUSIVE_POLICIES", "RECORD_MODES", "Settings"]

_T = TypeVar("_T")


RECORD_MODES = ("none", "once", "new", "all", "off")
# What an inconclusive case does to its test; ``checks._verdict.POLICIES`` (not imported here:
# a run without chatexp tests imports no checks).
INCONCLUSIVE_POLICIES = ("fail", "pass", "xfail")


@dataclass(frozen=True, slots=True)
class Settings:
    concurrency: int = 16
    timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5
    deadline: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    breaker: int = 3  # connection failures in a row that open an endpoint's breaker; 0: never
    batch: bool = False  # live calls through the providers' batch APIs (``_calls/_batch``)
    batch_poll: float = 30.0
    batch_timeout: float = 24 * 3600.0
    record_mode: str = "none"
    prune: bool = False
    adopt: bool = False  # move a renamed test's recording to it
    prices: PriceTable = field(default_factory=PriceTable)
    plan: bool = False
    max_tokens: int | None = None
    max_cost: float | None = None
    json_report: str | None = None
    markdown_report: str | None = None
    html_report: str | None = None
    inconclusive: str = "fail"
    baseline: str | None = None  # the committed baseline report's path
    baseline_option: str = "--chatexp-baseline"  # how the user named it, for messages
    baseline_alpha: float = 0.05
    baseline_max_increase: float = 0.10
    baseline_update: bool = False
    subsample: int | None = None  # --chatexp-subsample: inputs each experiment keeps at most
    subsample_seed: int | None = None
    shard: tuple[int, int] | None = None  # --chatexp-shard I/N: (I, N), 1-based

    @property
    def reports_requested(self) -> bool:
        return bool(self.json_report or self.markdown_report or self.html_report)

    @property
    def records_cases(self) -> bool:
        """Tests' records carry every case: for the reports, and for a baseline comparison."""
        return self.reports_requested or self.baseline is not None

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        return cls(
            concurrency=_read(config, "concurrency", int, lambda v: v >= 1, "a whole number >= 1"),
            timeout=_read(
                config, "timeout", float, lambda v: 0 < v < float("inf"), "a number of seconds > 0"
            ),
            retries=_read(config, "retries", int, lambda v: v >= 0, "a whole number >= 0"),
            backoff=_read(config, "backoff", float, lambda v: v >= 0, "a number of seconds >= 0"),
            deadline=_optional(config, "deadline", float, "a number of seconds > 0"),
            max_response_bytes=_read(
                config, "max_response_bytes", int, lambda v: v >= 1, "a whole number of bytes >= 1"
            ),
            breaker=_read(config, "breaker", int, lambda v: v >= 0, "a whole number >= 0"),
            batch=bool(config.getoption("chatexp_batch") or config.getini("chatexp_batch")),
            batch_poll=_read(
                config, "batch_poll", float, lambda v: v > 0, "a number of seconds > 0"
            ),
            batch_timeout=_read(
                config, "batch_timeout", float, lambda v: v > 0, "a number of seconds > 0"
            ),
            record_mode=_read(
                config,
                "record",
                str,
                lambda v: v in RECORD_MODES,
                "one of " + ", ".join(RECORD_MODES),
            ),
            prune=bool(config.getoption("chatexp_prune")),
            adopt=bool(config.getoption("chatexp_adopt")),
            prices=_prices(config),
            plan=bool(config.getoption("chatexp_plan")),
            max_tokens=_optional(config, "max_tokens", int, "a whole number of tokens > 0"),
            max_cost=_optional(config, "max_cost", float, "a number of US dollars > 0"),
            json_report=config.getoption("chatexp_json"),
            markdown_report=config.getoption("chatexp_markdown"),
            html_report=config.getoption("chatexp_html"),
            inconclusive=_read(
                config,
                "inconclusive",
                str,
                lambda v: v in INCONCLUSIVE_POLICIES,
                "one of " + ", ".join(INCONCLUSIVE_POLICIES),
            ),
            **_baseline(config),
            **_datasets(config),
        )

    def make_runner(self) -> ExperimentRunner:
        """The session's runner, with these settings."""
        # Imported here for start-up cost: the runner loads asyncio and httpx, which a session
        # without live calls never needs.
        from .._calls._batch import BatchOptions
        from .._calls._runner import ExperimentRunner

        return ExperimentRunner(
            concurrency=self.concurrency,
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
            deadline=self.deadline,
            max_response_bytes=self.max_response_bytes,
            breaker=self.breaker,
            batch=(
                BatchOptions(self.batch_poll, self.batch_timeout, self.max_response_bytes)
                if self.batch
                else None
            ),
        )


def _baseline(config: pytest.Config) -> dict[str, Any]:
    """The baseline settings: its path (an ini value is relative to the ini file), level and
    tolerance, and whether to update it."""
    path: str | None = config.getoption("chatexp_baseline")
    option = "--chatexp-baseline"
    if path is None:
        ini = str(config.getini("chatexp_baseline") or "").strip()
        if ini:
            folder = config.inipath.parent if config.inipath is not None else config.rootpath
            path, option = str(folder / ini), "ini option chatexp_baseline"
    update = bool(config.getoption("chatexp_baseline_update"))
    if update and path is None:
        raise pytest.UsageError(
            "chatexp: --chatexp-baseline-update writes this run's report to the baseline: "
            "name it with --chatexp-baseline PATH (or the ini option chatexp_baseline)"
        )
    return {
        "baseline": path,
        "baseline_option": option,
        "baseline_alpha": _read(
            config,
            "baseline_alpha",
            float,
            lambda v: 0 < v < 1,
            "a significance level between 0 and 1 (for example 0.05)",
        ),
        "baseline_max_increase": _read(
            config,
            "baseline_max_increase",
            float,
            lambda v: 0 <= v < float("inf"),
            "a fraction >= 0 (0.1 = 10%)",
        ),
        "baseline_update": update,
    }


def _datasets(config: pytest.Config) -> dict[str, Any]:
    """The quick-run settings: a subsample of every experiment's inputs, and a CI shard."""
    settings: dict[str, Any] = {}
    for name, valid, expected in (
        ("subsample", lambda v: v >= 1, "a whole number of inputs >= 1"),
        ("subsample_seed", lambda v: True, "a whole number"),
    ):
        if config.getoption(f"chatexp_{name}") is not None:
            settings[name] = _read(config, name, int, valid, expected)
    shard: str | None = config.getoption("chatexp_shard")
    if shard is not None:
        index, _, count = shard.strip().partition("/")
        if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
            raise pytest.UsageError(
                "chatexp: --chatexp-shard must be I/N, this job's shard I of N shards with "
                f"1 <= I <= N (for example 2/4), got {shard!r}"
            )
        settings["shard"] = (int(index), int(count))
    return settings


def _optional(
    config: pytest.Config, name: str, convert: Callable[[str], _T], expected: str
) -> _T | None:
    raw = config.getoption(f"chatexp_{name}")
    if raw is None and not str(_getini(config, name, expected)).strip():
        return None
    return _read(config, name, convert, lambda value: value > 0, expected)  # type: ignore[operator]


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
    where = f"--chatexp-{name.replace('_', '-')}"
    if raw is None:
        raw, where = _getini(config, name, expected), f"ini option chatexp_{name}"
    # A TOML number arrives as a number: its text is what the user wrote.
    text = str(raw)
    try:
        value = convert(text.strip())
    except ValueError:
        raise pytest.UsageError(f"chatexp: {where} must be {expected}, got {text!r}") from None
    if not valid(value):
        raise pytest.UsageError(f"chatexp: {where} must be {expected}, got {text!r}")
    return value


def _getini(config: pytest.Config, name: str, expected: str) -> Any:
    """``config.getini``, whose own errors (a TOML value of the wrong type, or on pytest < 9.2 an
    ini text that is not a number) are given the setting's name and what it must be."""
    try:
        return config.getini(f"chatexp_{name}")
    except (pytest.UsageError, TypeError, ValueError) as exc:
        raise pytest.UsageError(
            f"chatexp: ini option chatexp_{name} must be {expected}: {exc}"
        ) from None
