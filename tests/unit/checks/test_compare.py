"""Comparing two model configs of one experiment, through whole sessions.

Config ``v1`` answers 5 words to both inputs; ``v2`` answers 5 words to ``same`` and 20 to
``wordy``. Every prompt is "[[tokens: N]]": 3 prompt tokens (2 words + 1 for the role).
"""

from __future__ import annotations

import pytest

from pytest_chatexp.testing import ReferenceServer

CONFIGS = """
from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import SampleCheck

V1 = ModelConfig(name="v1", model="ref-model", chat_template=[{"role": "user", "content": "[[tokens: {{v1}}]]"}])
V2 = ModelConfig(name="v2", model="ref-model", chat_template=[{"role": "user", "content": "[[tokens:  {{v2}}]]"}])
INPUTS = [{"id": "same", "v1": 5, "v2": 5}, {"id": "wordy", "v1": 5, "v2": 20}]

def _short(sample):
    words = len(sample.output.split())
    return None if words <= 10 else f"{words} words"

SHORT = SampleCheck("short", _short)
"""

PRICES = "[pytest]\nchatexp_prices =\n    ref-model 1.0 2.0\n"


def test_candidate_no_worse_passes_and_returns_both_configs(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makeini(PRICES)
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_ab="""
        import pytest
        from configs import INPUTS, SHORT, V1, V2
        from pytest_chatexp.checks._compare import assert_not_worse

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=INPUTS, num_samples=2)
        def test_ab(chatexp):
            result = assert_not_worse(
                chatexp, candidate="v2", baseline="v1", checks=[SHORT],
                max_pass_rate_drop=0.5, max_token_increase=1.0, max_cost_increase=1.2,
            )
            assert result.worse == ()
            assert (result.baseline.name, result.candidate.name) == ("v1", "v2")
            assert (result.baseline.passed, result.candidate.passed) == (4, 2)
            assert result.candidate.pass_rate == 0.5
            assert (result.baseline.mean_total_tokens, result.candidate.mean_total_tokens) == (8.0, 15.5)
            # v1: (3 x $1 + 5 x $2) per 1M tokens per sample; v2 averages that and 3 x $1 + 20 x $2.
            assert result.baseline.mean_cost_usd == pytest.approx(13e-6)
            assert result.candidate.mean_cost_usd == pytest.approx(28e-6)
            # The other way round, the candidate is better on every count.
            better = assert_not_worse(chatexp, candidate="v1", baseline="v2", checks=[SHORT],
                                      max_token_increase=0.0, max_cost_increase=0.0)
            assert better.candidate.pass_rate == 1.0
            # Without a cost limit, no price is needed.
            assert assert_not_worse(chatexp, candidate="v1", baseline="v2", max_token_increase=0.0).candidate.cost_usd is None
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert len(server.requests) == 8


def test_worse_candidate_fails_with_both_configs_side_by_side(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makeini(PRICES)
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_ab="""
        import pathlib, pytest
        from configs import INPUTS, SHORT, V1, V2
        from pytest_chatexp.checks._compare import assert_not_worse

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=INPUTS, num_samples=2)
        def test_ab(chatexp):
            with pytest.raises(AssertionError) as info:
                assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[SHORT], max_token_increase=0.5)
            pathlib.Path("failure.txt").write_text(str(info.value))
            assert_not_worse(
                chatexp, candidate="v2", baseline="v1", checks=[SHORT],
                max_pass_rate_drop=0.5, max_token_increase=1.0, max_cost_increase=1.0,
            )
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert (pytester.path / "failure.txt").read_text() == (
        "candidate 'v2' is worse than baseline 'v1' on 2 of 2 metrics (4 samples each)\n"
        "  metric                   baseline 'v1'  candidate 'v2'  change  allowed\n"
        "  pass rate [short]        100% (4/4)     50% (2/4)       -50 pp  >= 100%  WORSE\n"
        "  total tokens per sample  8.0            15.5            +93.8%  <= +50%  WORSE"
    )
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: candidate 'v2' is worse than baseline 'v1' on 1 of 3 metrics (4 samples each)",
            "E *   metric * baseline 'v1' * candidate 'v2' * change * allowed",
            "E *   pass rate [[]short[]] * 100% (4/4) * 50% (2/4) * -50 pp * >= 50% * ok",
            "E *   total tokens per sample * 8.0 * 15.5 * +93.8% * <= +100% * ok",
            "E *   cost per sample * $0.000013 * $0.000028 * +115.4% * <= +100% * WORSE",
        ]
    )
    assert "_compare.py" not in result.stdout.str()


def test_unknown_config_names_and_bad_arguments_are_clear_errors(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_ab="""
        import pytest
        from configs import INPUTS, SHORT, V1, V2
        from pytest_chatexp.checks._compare import assert_not_worse

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=INPUTS[:1])
        def test_arguments(chatexp):
            with pytest.raises(TypeError, match="nothing to compare"):
                assert_not_worse(chatexp, candidate="v2", baseline="v1")
            with pytest.raises(ValueError, match="candidate and baseline are both 'v1'"):
                assert_not_worse(chatexp, candidate="v1", baseline="v1", checks=[SHORT])
            with pytest.raises(ValueError, match="max_pass_rate_drop must be between 0 and 1"):
                assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[SHORT], max_pass_rate_drop=2)

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=INPUTS[:1])
        def test_unknown(chatexp):
            assert_not_worse(chatexp, candidate="v3", baseline="V1", checks=[SHORT])
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * ValueError: assert_not_worse(): no model config named 'v3' and 'V1' in this experiment (known model configs: 'v1', 'v2')"
        ]
    )


def test_checks_that_prepare_see_both_configs_at_once(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        test_ab="""
        import pytest
        from configs import INPUTS, V1, V2
        from pytest_chatexp.checks import SampleCheck
        from pytest_chatexp.checks._compare import assert_not_worse

        seen = []
        GRADER = SampleCheck("graded", lambda sample: None, prepare=lambda samples: seen.append(len(samples)))

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=INPUTS, num_samples=3)
        def test_ab(chatexp):
            assert assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[GRADER]).worse == ()
            assert seen == [12]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
