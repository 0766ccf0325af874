"""Session settings from the command line and the ini file (command line wins).

Stdlib only: parsed in ``pytest_configure`` of every run, so a bad value is a usage error before
collection, at no import cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from .._errors import DEFAULT_MAX_RESPONSE_BYTES
from .._pricing import PriceTable, PricingError

__all__ = ["Settings", "add_options"]

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
    record_mode: str = "none"
    prune: bool = False
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
            record_mode=_read(
                config,
                "record",
                str,
                lambda v: v in RECORD_MODES,
                "one of " + ", ".join(RECORD_MODES),
            ),
            prune=bool(config.getoption("chatexp_prune")),
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
    for kind, what in (
        ("json", "the full results (Humanloop ChatResponse shapes), mergeable across CI shards"),
        ("markdown", "a summary for a PR comment or $GITHUB_STEP_SUMMARY"),
        ("html", "a self-contained page: the experiment matrix, outputs side by side"),
    ):
        group.addoption(
            f"--chatexp-{kind}",
            dest=f"chatexp_{kind}",
            metavar="PATH",
            default=None,
            help=f"Write a {kind.upper() if kind != 'markdown' else 'Markdown'} report: {what}.",
        )
    group.addoption(
        "--chatexp-plan",
        dest="chatexp_plan",
        action="store_true",
        default=False,
        help="Spend nothing: print how many calls each chatexp test would make, how many replay "
        "and how many go live, and the estimated tokens and cost; the tests are skipped.",
    )
    group.addoption(
        "--chatexp-max-tokens",
        dest="chatexp_max_tokens",
        metavar="N",
        help="Session budget: once live calls used N tokens, make no more; skip what remains.",
    )
    group.addoption(
        "--chatexp-max-cost",
        dest="chatexp_max_cost",
        metavar="USD",
        help="Session budget in US dollars (from the price table), like --chatexp-max-tokens.",
    )
    parser.addini(
        "chatexp_max_tokens", "Default for --chatexp-max-tokens.", _ini_type(int), default=""
    )
    parser.addini(
        "chatexp_max_cost", "Default for --chatexp-max-cost.", _ini_type(float), default=""
    )
    parser.addini("chatexp_record", "Default for --chatexp-record.", default="none")
    group.addoption(
        "--chatexp-inconclusive",
        dest="chatexp_inconclusive",
        metavar="POLICY",
        help="What a case does to its test when assert_samples(confidence=...) can neither pass "
        "nor fail it (the bar lies inside its pass rate's interval): fail (default), pass (the "
        "test passes, the case is reported inconclusive) or xfail.",
    )
    parser.addini("chatexp_inconclusive", "Default for --chatexp-inconclusive.", default="fail")
    parser.addini(
        "chatexp_prices",
        "Model prices for cost estimates and budgets, one 'MODEL INPUT_USD OUTPUT_USD' line per "
        "model, in US dollars per million tokens; adds to and overrides the built-in table.",
        type="linelist",
        default=[],
    )
    group.addoption(
        "--chatexp-retries",
        dest="chatexp_retries",
        metavar="N",
        help="Retries of a call on 429, 5xx, timeouts and dropped connections (default 3).",
    )
    group.addoption(
        "--chatexp-backoff",
        dest="chatexp_backoff",
        metavar="SECONDS",
        help="Base delay of the exponential backoff between retries (default 0.5); a "
        "Retry-After header wins.",
    )
    group.addoption(
        "--chatexp-deadline",
        dest="chatexp_deadline",
        metavar="SECONDS",
        help="Most time one experiment may take, retries included (default: no limit).",
    )
    group.addoption(
        "--chatexp-max-response-bytes",
        dest="chatexp_max_response_bytes",
        metavar="N",
        help="Largest answer read from a provider, decoded, in bytes (default 16 MiB); reading "
        "stops past it and the call fails.",
    )
    group.addoption(
        "--chatexp-breaker",
        dest="chatexp_breaker",
        metavar="N",
        help="Fail fast: after N connection failures in a row to one endpoint (refused, DNS, "
        "connect timeout; not 429 or 5xx answers), calls to it fail at once without being sent "
        "until it answers again (default 3; 0 turns this off).",
    )
    group.addoption(
        "--chatexp-baseline",
        dest="chatexp_baseline",
        metavar="PATH",
        default=None,
        help="Compare this run's pass rates, tokens and cost per case with a JSON report an "
        "earlier run wrote (a committed baseline, for live runs): a significant regression "
        "fails the run.",
    )
    group.addoption(
        "--chatexp-baseline-alpha",
        dest="chatexp_baseline_alpha",
        metavar="ALPHA",
        help="Significance level of the baseline comparison, Holm-corrected across cases "
        "(default 0.05).",
    )
    group.addoption(
        "--chatexp-baseline-max-increase",
        dest="chatexp_baseline_max_increase",
        metavar="FRACTION",
        help="Largest increase of tokens or cost per sample over the baseline (default 0.1: 10%%).",
    )
    group.addoption(
        "--chatexp-baseline-update",
        dest="chatexp_baseline_update",
        action="store_true",
        default=False,
        help="Write this run's JSON report to the --chatexp-baseline path instead of comparing.",
    )
    group.addoption(
        "--chatexp-subsample",
        dest="chatexp_subsample",
        metavar="N",
        help="A quick run: each experiment runs at most N of its inputs, the same N on every "
        "machine (stratified as its marker's stratify= says); overrides the marker's subsample=.",
    )
    group.addoption(
        "--chatexp-subsample-seed",
        dest="chatexp_subsample_seed",
        metavar="SEED",
        help="The seed choosing the subsample's inputs (default: the marker's, else 0).",
    )
    group.addoption(
        "--chatexp-shard",
        dest="chatexp_shard",
        metavar="I/N",
        help="Run shard I of N (1-based) of the chatexp tests, for a CI matrix: each test's "
        "shard is fixed by a hash of its id; tests without chatexp run in shard 1.",
    )
    parser.addini("chatexp_baseline", "Default for --chatexp-baseline (relative to the ini file).")
    numbers: tuple[tuple[str, type[int] | type[float], str], ...] = (
        ("baseline_alpha", float, "0.05"),
        ("baseline_max_increase", float, "0.1"),
        ("retries", int, "3"),
        ("breaker", int, "3"),
        ("backoff", float, "0.5"),
        ("deadline", float, ""),
        ("concurrency", int, "16"),
        ("timeout", float, "60"),
        ("max_response_bytes", int, str(DEFAULT_MAX_RESPONSE_BYTES)),
    )
    for setting, number, default in numbers:
        help_text = f"Default for --chatexp-{setting}."
        parser.addini(f"chatexp_{setting}", help_text, _ini_type(number), default)


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


def _ini_type(kind: type[int] | type[float]) -> Any:
    """The ini type of a numeric setting, so that pytest 9's native ``[tool.pytest]`` TOML table
    takes ``chatexp_concurrency = 4`` (a string-typed setting refuses a TOML number).

    pytest >= 9.2 takes ``int | str``: a number from TOML, and an ini text that is not one stays a
    string, for ``_read`` to refuse with a message naming the setting. pytest 8.4 to 9.1 know the
    ``"int"``/``"float"`` tags only (pytest itself then refuses a malformed ini text, which
    ``_read`` names); older ones know strings only, and have no native table.
    """
    if pytest.version_tuple >= (9, 2):
        return kind | str
    if pytest.version_tuple >= (8, 4):
        return kind.__name__
    return "string"


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
