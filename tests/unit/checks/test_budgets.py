"""Token, cost and latency budgets, through whole sessions against the reference server.

The reference server counts one token per word: a prompt "[[tokens: N]]" is 2 words + 1 for the
role = 3 prompt tokens, and its reply is exactly N words = N generation tokens.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from pytest_chatexp._pricing import Price, PriceTable
from pytest_chatexp.checks._budgets import percentile, price_table
from pytest_chatexp.testing import ReferenceServer

CONFIGS = """
from pytest_chatexp import ModelConfig

TERSE = ModelConfig(name="terse", model="ref-model", chat_template=[{"role": "user", "content": "{{q}}"}])
MYSTERY = ModelConfig(name="mystery", model="mystery-model", chat_template=[{"role": "user", "content": "{{q}}"}])
INPUTS = [{"id": "brief", "q": "[[tokens: 5]]"}, {"id": "long", "q": "[[tokens: 20]]"}]
"""

PRICES = "[pytest]\nchatexp_prices =\n    ref-model 1.0 2.0\n"


# --- tokens ------------------------------------------------------------------------------------


def test_token_budgets_pass_and_return_each_units_usage(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_budget="""
        import pytest
        from configs import INPUTS, TERSE
        from pytest_chatexp.checks._budgets import assert_tokens

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS, num_samples=2)
        def test_budget(chatexp):
            usages = assert_tokens(chatexp, prompt=3, generation=20, total=23, reasoning=0)
            assert list(usages) == [
                "terse/brief sample 0", "terse/brief sample 1", "terse/long sample 0", "terse/long sample 1",
            ]
            assert usages["terse/long sample 1"].generation_tokens == 20
            by_case = assert_tokens(chatexp, generation=40, per="case")
            assert {label: u.total_tokens for label, u in by_case.items()} == {"terse/brief": 16, "terse/long": 46}
            (whole,) = assert_tokens(chatexp, total=62, per="experiment").values()
            assert whole.total_tokens == 62
            # One case, or any list of cases, is a subject too.
            assert_tokens(chatexp.case("terse", "brief"), generation=5)
            assert_tokens(chatexp.by_input["brief"], generation=10, per="case")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert len(server.requests) == 4


def test_token_budget_failures_list_each_offending_unit(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_budget="""
        import pathlib, pytest
        from configs import INPUTS, TERSE
        from pytest_chatexp.checks._budgets import assert_tokens

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS, num_samples=2)
        def test_budget(chatexp):
            texts = []
            for kwargs in (
                {"generation": 10},
                {"total": 40, "per": "case"},
                {"prompt": 10, "total": 50, "per": "experiment"},
            ):
                with pytest.raises(AssertionError) as info:
                    assert_tokens(chatexp, **kwargs)
                texts.append(str(info.value))
            pathlib.Path("failures.txt").write_text("\\n---\\n".join(texts))
            assert_tokens(chatexp, generation=10, total=20)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert (pytester.path / "failures.txt").read_text().split("\n---\n") == [
        "token budget exceeded: 2 of 4 samples over (limits per sample: generation <= 10)\n"
        "  terse/long sample 0  generation 20 > 10\n"
        "  terse/long sample 1  generation 20 > 10",
        "token budget exceeded: 1 of 2 cases over (limits per case: total <= 40)\n"
        "  terse/long  total 46 > 40",
        "token budget exceeded: 1 of 1 experiment over "
        "(limits per experiment: prompt <= 10, total <= 50)\n"
        "  experiment test_budget.py::test_budget  prompt 12 > 10, total 62 > 50",
    ]
    # As pytest reports it: the message as it is, no frame of the plugin.
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: token budget exceeded: 2 of 4 samples over (limits per sample: generation <= 10, total <= 20)",
            "E *   terse/long sample 0  generation 20 > 10, total 23 > 20",
            "E *   terse/long sample 1  generation 20 > 10, total 23 > 20",
        ]
    )
    assert "_budgets.py" not in result.stdout.str()


def test_token_budget_arguments_are_checked(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_budget="""
        import pytest
        from configs import INPUTS, TERSE
        from pytest_chatexp.checks._budgets import assert_tokens

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS[:1])
        def test_budget(chatexp):
            with pytest.raises(TypeError, match="needs a limit"):
                assert_tokens(chatexp)
            with pytest.raises(ValueError, match="per must be one of 'sample', 'case', 'experiment', got 'input'"):
                assert_tokens(chatexp, total=10, per="input")
            with pytest.raises(ValueError, match="total must be a number >= 0, got -1"):
                assert_tokens(chatexp, total=-1)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


# --- cost --------------------------------------------------------------------------------------


def test_cost_with_prices_from_the_ini_file(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makeini(PRICES)
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_cost="""
        import pytest
        from configs import INPUTS, TERSE
        from pytest_chatexp._pricing import Price, PriceTable
        from pytest_chatexp.checks._budgets import assert_cost, cost_of, price_table

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS)
        def test_cost(chatexp):
            assert price_table().price_of("ref-model") == Price(1.0, 2.0)
            # brief: 3 prompt x $1 + 5 generation x $2; long: 3 x $1 + 20 x $2 (per 1M tokens)
            assert cost_of(chatexp) == pytest.approx(56e-6)
            assert cost_of(chatexp.case("terse", "long")) == pytest.approx(43e-6)
            assert assert_cost(chatexp, max_usd=0.0001) == pytest.approx(56e-6)
            assert assert_cost(chatexp, max_usd=0.00005, per="case") == pytest.approx(56e-6)
            assert assert_cost(chatexp, max_usd=0.00005, per="sample") == pytest.approx(56e-6)
            # An explicit table wins over the session's.
            assert cost_of(chatexp, prices=PriceTable.from_lines(["ref-model 10 20"])) == pytest.approx(560e-6)

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS)
        def test_over_budget(chatexp):
            assert_cost(chatexp, max_usd=0.00002, per="case")

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS, num_samples=2)
        def test_over_budget_in_total(chatexp):
            assert_cost(chatexp, max_usd=0.0001)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: cost budget exceeded: 1 of 2 cases over $0.000020 (per case)",
            "E *   terse/long  $0.000043 > $0.000020  (prompt 3, generation 20 tokens)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: cost budget exceeded: 1 of 1 experiment over $0.000100 (per experiment)",
            "E *   experiment test_cost.py::test_over_budget_in_total  $0.000112 > $0.000100  (prompt 12, generation 50 tokens)",
        ]
    )


def test_cost_of_a_model_without_a_price_says_how_to_add_one(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makeini(PRICES)
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_cost="""
        import pytest
        from configs import INPUTS, MYSTERY, TERSE
        from pytest_chatexp.checks._budgets import cost_of

        @pytest.mark.chatexp(model_configs=[TERSE, MYSTERY], inputs=INPUTS)
        def test_cost(chatexp):
            assert cost_of(chatexp.by_config["terse"]) == pytest.approx(56e-6)
            cost_of(chatexp)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *PricingError: cannot compute the cost: no price for model 'mystery-model' (model config 'mystery'). Add it to the ini file * as 'chatexp_prices = <model> <input> <output>', prices in US dollars per million input and output tokens:",
            "E *     [[]pytest[]]",
            "E *     chatexp_prices =",
            "E *         mystery-model <input> <output>",
        ]
    )
    assert "_budgets.py" not in result.stdout.str()


def test_cost_without_an_ini_table_names_every_unpriced_model(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_cost="""
        import pytest
        from configs import INPUTS, MYSTERY, TERSE
        from pytest_chatexp._pricing import PricingError
        from pytest_chatexp.checks._budgets import assert_cost

        @pytest.mark.chatexp(model_configs=[TERSE, MYSTERY], inputs=INPUTS)
        def test_cost(chatexp):
            with pytest.raises(PricingError) as info:
                assert_cost(chatexp, max_usd=1.0)
            message = str(info.value)
            assert "no price for models 'ref-model' (model config 'terse'), 'mystery-model' (model config 'mystery')" in message
            assert message.endswith("ref-model <input> <output>\\n        mystery-model <input> <output>")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_outside_a_chatexp_test_prices_are_the_built_in_table() -> None:
    assert price_table() == PriceTable()
    assert price_table().price_of("gpt-4o-mini") == Price(0.15, 0.60, 0.075)
    custom = PriceTable.from_lines(["x 1 1"], base={})
    assert price_table(custom) is custom


# --- latency -----------------------------------------------------------------------------------


def test_nearest_rank_percentiles() -> None:
    assert percentile([0.3, 0.1, 0.2], 50) == 0.2
    assert percentile([0.1, 0.2, 0.3, 0.4], 50) == 0.2
    assert percentile([0.1, 0.2, 0.3], 95) == 0.3
    values = [float(n) for n in range(1, 21)]
    assert percentile(values, 95) == 19.0
    assert percentile(values, 100) == 20.0
    assert percentile(values, 0) == 1.0
    assert percentile([7.0], 50) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_p95_passes_and_fails_per_case(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.latency = 0.2  # inline pytester sessions call the same server object
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_latency="""
        import pytest
        from configs import INPUTS, TERSE
        from pytest_chatexp.checks._budgets import assert_latency

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS[:1], num_samples=3)
        def test_within(chatexp):
            stats = assert_latency(chatexp, p50=10.0, p95=10.0, max=10.0)
            (brief,) = stats.values()
            assert list(stats) == ["terse/brief"]
            assert brief.samples == 3 and brief.replayed == 0
            assert 0.2 <= brief.p50 <= brief.p95 <= brief.max < 10.0
            with pytest.raises(TypeError, match="needs a limit"):
                assert_latency(chatexp)

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS[:1], num_samples=3)
        def test_over(chatexp):
            assert_latency(chatexp, p95=0.05)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: latency budget exceeded: 1 of 1 case over (limits per case: p95 <= 0.050s)",
            "E *   case         samples      p50      p95      max  over",
            "E *   terse/brief        3  * *.???s * *.???s * *.???s  p95 *.???s > 0.050s",
        ]
    )
    assert "were replayed" not in result.stdout.str()


def test_replayed_latency_is_the_recorded_one(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_latency="""
        import os, pytest
        from configs import INPUTS, TERSE
        from pytest_chatexp.checks._budgets import assert_latency

        @pytest.mark.chatexp(model_configs=TERSE, inputs=INPUTS[:1])
        def test_latency(chatexp):
            assert_latency(chatexp, max=float(os.environ["LATENCY_MAX"]))
        """
    )
    server.latency = 0.3
    monkeypatch.setenv("LATENCY_MAX", "10")
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    assert len(server.requests) == 1
    recording = pytester.path / "__recordings__" / "test_latency" / "test_latency.yaml"
    (interaction,) = yaml.safe_load(recording.read_text())["interactions"]
    recorded = interaction["response"]["latency_s"]
    assert recorded >= 0.3

    # Replay with the server gone: no call, and the budget judges the recorded 0.3 s.
    server.latency = 0.0
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LATENCY_MAX", "0.1")
    result = pytester.runpytest("--chatexp-record=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: latency budget exceeded: 1 of 1 case over (limits per case: max <= 0.100s)",
            f"E *   terse/brief        1  * {recorded:.3f}s * {recorded:.3f}s * {recorded:.3f}s  max {recorded:.3f}s > 0.100s",
            "E *   (1 of these 1 samples were replayed: their latency is the one recorded)",
        ]
    )
    assert len(server.requests) == 1


# --- cache hit rate ------------------------------------------------------------------------------


def _with_usage(usage: object) -> Any:
    """A stand-in sample: the cache check reads only its usage."""
    return SimpleNamespace(usage=usage)


def test_cache_hit_rate_passes_at_or_above_min_and_says_why_below() -> None:
    from pytest_chatexp import Usage
    from pytest_chatexp.checks import cache_hit_rate

    check = cache_hit_rate(min=0.5)
    assert check.name == "cache_hit_rate(min=0.5)"
    half = Usage.of(1000, 5).model_copy(update={"cached_tokens": 500})
    assert check(_with_usage(half)) is None
    low = Usage.of(1000, 5).model_copy(update={"cached_tokens": 100})
    assert check(_with_usage(low)) == (
        "cache hit rate 0.10 < 0.5 (100 of 1000 prompt tokens cached)"
    )
    # Unknown is a failure that says so, never a pass.
    for unknown in (Usage.of(1000, 5), Usage()):
        assert "cache hit rate unknown" in (check(_with_usage(unknown)) or "")
    with pytest.raises(ValueError, match="from 0 to 1"):
        cache_hit_rate(min=1.5)
