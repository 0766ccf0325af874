"""The price table: parsing ``chatexp_prices`` lines, lookups, and bad lines as usage errors."""

from __future__ import annotations

import pytest

from pytest_chatexp._pricing import DEFAULT_PRICES, Price, PriceTable, PricingError


def test_price_cost_is_per_million_tokens() -> None:
    assert Price(2.0, 8.0).cost(1_000_000, 0) == 2.0
    assert Price(2.0, 8.0).cost(500, 250) == pytest.approx((500 * 2.0 + 250 * 8.0) / 1e6)
    assert Price(0.0, 0.0).cost(10, 10) == 0.0


def test_default_table_is_the_built_in_prices() -> None:
    assert PriceTable().prices == dict(DEFAULT_PRICES)
    assert PriceTable.from_lines([]) == PriceTable()


def test_comments_and_blank_lines_are_ignored() -> None:
    table = PriceTable.from_lines(
        [
            "# my models",
            "",
            "   ",
            "local-llama 0 0",
            "house-model 1.5 3  # negotiated price",
            "  # indented comment",
        ]
    )
    assert table.price_of("local-llama") == Price(0.0, 0.0)
    assert table.price_of("house-model") == Price(1.5, 3.0)
    assert table.price_of("gpt-4o") == DEFAULT_PRICES["gpt-4o"]  # the defaults stay


def test_lines_override_the_defaults_and_earlier_lines() -> None:
    table = PriceTable.from_lines(["gpt-4o-mini 1 2", "mine 1 1", "mine 3 4"])
    assert table.price_of("gpt-4o-mini") == Price(1.0, 2.0)
    assert table.price_of("mine") == Price(3.0, 4.0)
    # The defaults themselves are never changed.
    assert DEFAULT_PRICES["gpt-4o-mini"] == Price(0.15, 0.60, 0.075)


def test_base_replaces_the_defaults() -> None:
    table = PriceTable.from_lines(["mine 1 1"], base={})
    assert table.prices == {"mine": Price(1.0, 1.0)}
    assert table.price_of("gpt-4o") is None


def test_dated_snapshots_and_aliases_are_priced_as_their_model() -> None:
    table = PriceTable()
    assert table.price_of("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    assert table.price_of("gpt-4o-2024-08-06") == DEFAULT_PRICES["gpt-4o"]
    assert table.price_of("gpt-4.1-nano-2025-04-14") == DEFAULT_PRICES["gpt-4.1-nano"]
    # An exact entry beats a prefix; a snapshot of a custom model matches it too.
    custom = PriceTable.from_lines(["gpt-4o-2024-08-06 9 9", "house 1 2"])
    assert custom.price_of("gpt-4o-2024-08-06") == Price(9.0, 9.0)
    assert custom.price_of("house-2026-01-01") == Price(1.0, 2.0)
    for alias in ("claude-sonnet-4-0", "claude-sonnet-4-20250514", "claude-3-5-haiku-latest"):
        assert table.price_of(alias) is not None, alias
    assert table.price_of("gemini-2.0-flash-001") == DEFAULT_PRICES["gemini-2.0-flash"]


@pytest.mark.parametrize(
    "model",
    # Each starts with a listed name but is another model, priced differently (gpt-5-pro costs
    # 12x gpt-5): priced as the listed one, its cost would be under-counted.
    ["gpt-5-pro", "o3-mini", "o3-pro", "claude-sonnet-4-5", "gpt-4o-audio-preview", "gpt-5.1"],
)
def test_another_model_starting_with_a_listed_name_has_no_price(model: str) -> None:
    assert PriceTable().price_of(model) is None
    assert PriceTable().cost(model, 10, 10) is None


def test_a_name_ending_in_a_star_prices_every_model_it_starts() -> None:
    table = PriceTable.from_lines(["ft:gpt-4o-mini:acme:* 0.30 1.20", "ft:* 9 9"])
    assert table.price_of("ft:gpt-4o-mini:acme:support-v2") == Price(0.30, 1.20)
    assert table.price_of("ft:other") == Price(9.0, 9.0)  # the longest match wins
    assert table.price_of("gpt-4o-mini") == DEFAULT_PRICES["gpt-4o-mini"]


def test_unknown_models_have_no_price_and_no_cost() -> None:
    table = PriceTable()
    assert table.price_of("mystery-model") is None
    assert table.cost("mystery-model", 10, 10) is None
    assert table.price_of("4o") is None  # a prefix of the model, not the other way round
    assert table.cost("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["ok 1 2", "broken 1"],
            "line 2 'broken 1': expected 'MODEL INPUT_PRICE OUTPUT_PRICE [CACHE_READ_PRICE "
            "[CACHE_WRITE_PRICE]]' (US dollars per million tokens), e.g. 'gpt-4o-mini 0.15 0.60'",
        ),
        (
            ["too many 1 2 3 4 5"],
            "line 1 'too many 1 2 3 4 5': expected 'MODEL INPUT_PRICE OUTPUT_PRICE",
        ),
        (["cached 1 2 x"], "line 1 'cached 1 2 x': prices must be numbers"),
        (["cached 1 2 0.1 -1"], "line 1 'cached 1 2 0.1 -1': prices cannot be negative"),
        (["# c", "", "m one 2"], "line 3 'm one 2': prices must be numbers"),
        (["m 1 -2"], "line 1 'm 1 -2': prices cannot be negative"),
    ],
)
def test_bad_lines_name_their_line_number(lines: list[str], message: str) -> None:
    with pytest.raises(PricingError) as info:
        PriceTable.from_lines(lines)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_a_bad_ini_line_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchatexp_prices =\n    ref-model 1.0 2.0\n    ref-model-2 cheap 2\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*chatexp: ini option chatexp_prices: line 2 'ref-model-2 cheap 2': prices must be numbers"
        ]
    )
    result.stdout.no_fnmatch_line("*test_nothing*")


def test_a_good_ini_table_is_the_running_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchatexp_prices =\n    # local\n    ref-model 1.0 2.0\n")
    pytester.makepyfile(
        """
        from pytest_chatexp.checks._running import active_test
        from pytest_chatexp._pricing import Price

        def test_prices(chatexp_runner):
            prices = active_test("this test").prices
            assert prices.price_of("ref-model") == Price(1.0, 2.0)
            assert prices.price_of("gpt-4o-mini") == Price(0.15, 0.60, 0.075)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_cache_columns_are_optional_and_priced_at_their_rates() -> None:
    table = PriceTable.from_lines(["plain 1 2", "reads 1 2 0.1", "both 1 2 0.1 1.25"])
    assert table.price_of("plain") == Price(1.0, 2.0)
    assert table.price_of("reads") == Price(1.0, 2.0, 0.1)
    assert table.price_of("both") == Price(1.0, 2.0, 0.1, 1.25)
    # 1000 prompt tokens of which 600 read from the cache and 300 written to it.
    both = table.prices["both"].cost(1000, 10, cached_tokens=600, cache_write_tokens=300)
    assert both == pytest.approx((100 * 1 + 600 * 0.1 + 300 * 1.25 + 10 * 2) / 1e6)
    # No cache rates: cached and written tokens cost the input rate.
    plain = table.prices["plain"].cost(1000, 10, cached_tokens=600, cache_write_tokens=300)
    assert plain == pytest.approx((1000 * 1 + 10 * 2) / 1e6)
    # A read rate alone: writes at the input rate.
    reads = table.prices["reads"].cost(1000, 10, cached_tokens=600, cache_write_tokens=300)
    assert reads == pytest.approx((400 * 1 + 600 * 0.1 + 10 * 2) / 1e6)


def test_usage_cost_prices_a_usage_with_its_cache_counts() -> None:
    from pytest_chatexp import Usage

    table = PriceTable.from_lines(["m 3 15 0.30 3.75"])
    cached = Usage.of(1000, 100).model_copy(update={"cached_tokens": 900})
    assert table.usage_cost("m", cached) == pytest.approx((100 * 3 + 900 * 0.3 + 100 * 15) / 1e6)
    assert table.usage_cost("m", Usage.of(1000, 100)) == table.cost("m", 1000, 100)
    assert table.usage_cost("m", Usage.of(None, 100)) is None
    assert table.usage_cost("unpriced", cached) is None


def test_built_in_cache_rates_follow_the_providers_ratios() -> None:
    for model in ("claude-3-5-haiku", "claude-sonnet-4", "claude-opus-4"):
        price = DEFAULT_PRICES[model]
        assert price.cache_read == pytest.approx(price.input * 0.1)
        assert price.cache_write == pytest.approx(price.input * 1.25)
    for model in ("gpt-4o", "gpt-4o-mini"):
        assert DEFAULT_PRICES[model].cache_read == pytest.approx(DEFAULT_PRICES[model].input / 2)
    for model in ("gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini"):
        assert DEFAULT_PRICES[model].cache_read == pytest.approx(DEFAULT_PRICES[model].input / 4)
        assert DEFAULT_PRICES[model].cache_write is None  # OpenAI charges no cache writes


def test_gemini_and_gpt5_models_are_priced_by_their_own_line() -> None:
    table = PriceTable()
    # Flash-Lite is not priced as Flash, nor gpt-5-mini as gpt-5; a preview is its own model.
    assert table.price_of("gemini-2.5-flash-lite") == Price(0.10, 0.40, 0.01)
    assert table.price_of("gemini-2.5-flash-preview-09-2025") is None
    assert table.price_of("gpt-5-mini-2025-08-07") == Price(0.25, 2.00, 0.025)
    assert table.price_of("gpt-5-2025-08-07") == Price(1.25, 10.00, 0.125)
    # Every built-in OpenAI and Gemini line has a cache-read rate below its input rate.
    for name, price in DEFAULT_PRICES.items():
        if name.startswith(("gpt-", "o3", "o4", "gemini-")):
            assert price.cache_read is not None and price.cache_read < price.input, name
