"""The command-line options and ini settings the plugin adds to pytest (``pytest --help``).

Stdlib only, as ``_settings``, which reads them: registered in every run.
"""

from __future__ import annotations

from typing import Any

import pytest

from .._errors import DEFAULT_MAX_RESPONSE_BYTES

__all__ = ["add_options"]


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
    group.addoption(
        "--chatexp-adopt",
        dest="chatexp_adopt",
        action="store_true",
        default=False,
        help=(
            "A test with no recording takes over the recording of a test of its module that no "
            "longer exists when it holds the test's requests (a renamed test)."
        ),
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
    parser.addini("chatexp_batch", "Default for --chatexp-batch.", "bool", default=False)
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
        "--chatexp-batch",
        dest="chatexp_batch",
        action="store_true",
        default=False,
        help="Send the live calls a provider's batch API can carry (OpenAI chat and Responses, "
        "Anthropic Messages; not streamed) through it, at half price, and record their answers "
        "as direct calls would be; every other call goes direct. See the README.",
    )
    group.addoption(
        "--chatexp-batch-poll",
        dest="chatexp_batch_poll",
        metavar="SECONDS",
        help="With --chatexp-batch: seconds between two polls of a batch (default 30).",
    )
    group.addoption(
        "--chatexp-batch-timeout",
        dest="chatexp_batch_timeout",
        metavar="SECONDS",
        help="With --chatexp-batch: seconds a batch may take before it is cancelled and its "
        "calls fail (default 86400: the providers' 24 h window).",
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
        ("batch_poll", float, "30"),
        ("batch_timeout", float, "86400"),
        ("backoff", float, "0.5"),
        ("deadline", float, ""),
        ("concurrency", int, "16"),
        ("timeout", float, "60"),
        ("max_response_bytes", int, str(DEFAULT_MAX_RESPONSE_BYTES)),
    )
    for setting, number, default in numbers:
        help_text = f"Default for --chatexp-{setting}."
        parser.addini(f"chatexp_{setting}", help_text, _ini_type(number), default)


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
