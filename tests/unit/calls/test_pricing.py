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
    assert DEFAULT_PRICES["gpt-4o-mini"] == Price(0.15, 0.60)


def test_base_replaces_the_defaults() -> None:
    table = PriceTable.from_lines(["mine 1 1"], base={})
    assert table.prices == {"mine": Price(1.0, 1.0)}
    assert table.price_of("gpt-4o") is None


def test_dated_snapshots_match_the_longest_listed_prefix() -> None:
    table = PriceTable()
    assert table.price_of("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    assert table.price_of("gpt-4o-2024-08-06") == DEFAULT_PRICES["gpt-4o"]
    assert table.price_of("gpt-4.1-nano-2025-04-14") == DEFAULT_PRICES["gpt-4.1-nano"]
    # An exact entry beats a prefix; a snapshot of a custom model matches it too.
    custom = PriceTable.from_lines(["gpt-4o-2024-08-06 9 9", "house 1 2"])
    assert custom.price_of("gpt-4o-2024-08-06") == Price(9.0, 9.0)
    assert custom.price_of("house-2026-01-01") == Price(1.0, 2.0)


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
            "line 2 'broken 1': expected 'MODEL INPUT_PRICE OUTPUT_PRICE' (US dollars per million "
            "tokens), e.g. 'gpt-4o-mini 0.15 0.60'",
        ),
        (["too many 1 2 3"], "line 1 'too many 1 2 3': expected 'MODEL INPUT_PRICE OUTPUT_PRICE'"),
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
            assert prices.price_of("gpt-4o-mini") == Price(0.15, 0.60)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
