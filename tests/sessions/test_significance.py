"""Significance-tested comparisons through whole sessions: ``assert_not_worse(alpha=)`` and
``assert_better``.

Configs ``v1`` and ``v2`` ask the same two inputs ten times each, one call at a time; the
reference server answers each case from a script ("ok" or "bad"), the i-th call the i-th
answer, so sample ``i`` of an input pairs with sample ``i`` under the other config.
"""

from __future__ import annotations

import re

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite
from tests.sessions._scripted import answers, script

CONFIGS = """
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

V1 = ModelConfig(name="v1", model="ref-model", chat_template=[{"role": "user", "content": "<v1-{{q}}>"}])
V2 = ModelConfig(name="v2", model="ref-model", chat_template=[{"role": "user", "content": "<v2-{{q}}>"}])
INPUTS = [{"id": "a", "q": "a"}, {"id": "b", "q": "b"}]
OK = c.contains("ok")
"""


def test_a_significantly_worse_candidate_fails_with_the_effect_and_p_value(
    suite: Suite, server: ReferenceServer
) -> None:
    # v2 fails 4 samples of each input that v1 passes: 8 discordant pairs, all one way.
    script(
        server,
        {
            "<v1-a>": answers([]),
            "<v1-b>": answers([]),
            "<v2-a>": answers([1, 3, 5, 7]),
            "<v2-b>": answers([0, 2, 4, 6]),
        },
    )
    suite.write(**{"configs.py": CONFIGS})
    suite.write(
        """
        import pathlib, pytest
        from configs import INPUTS, OK, V1, V2
        from pytest_chatexp import checks as c

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=INPUTS, num_samples=10, concurrency=1)
        def test_ab(chatexp):
            with pytest.raises(AssertionError) as info:
                c.assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[OK], alpha=0.05)
            pathlib.Path("failure.txt").write_text(str(info.value))
            # A tolerated drop of 50 points: significant, but within it.
            result = c.assert_not_worse(
                chatexp, candidate="v2", baseline="v1", checks=[OK], alpha=0.05,
                max_pass_rate_drop=0.5,
            )
            assert result.p_value == pytest.approx(0.5 ** 8)
            assert result.interval.high < 0
            assert result.pairs.only_baseline == 8 and result.pairs.unpaired == 0
            # The other way round, v1 is significantly better than v2, and not worse.
            assert c.assert_better(chatexp, candidate="v1", baseline="v2", checks=[OK]).p_value < 0.05
            c.assert_better(chatexp, candidate="v2", baseline="v1", checks=[OK])
        """,
        name="test_ab.py",
    )
    run = suite.run().assert_outcomes(failed=1)
    failure = (suite.path / "failure.txt").read_text()
    lines = failure.splitlines()
    assert (
        lines[0] == "candidate 'v2' is worse than baseline 'v1' on 1 of 1 metric (20 samples each)"
    )
    assert lines[2].split()[:6] == ["pass", "rate", "[contains('ok')]", "100%", "(20/20)", "60%"]
    assert "-40 pp (90% CI " in lines[2] and "p=0.004" in lines[2]
    assert lines[2].endswith("not significantly worse (alpha 0.05)  WORSE")
    assert lines[3] == (
        "  20 paired samples: both pass 12, only baseline 8, only candidate 0, neither 0"
    )
    run.fnmatch(
        "E * AssertionError: candidate 'v2' is not significantly better than baseline 'v1' "
        "(20 samples each)",
        "E *pass rate * 100% (20/20) * 60% (12/20) * -40 pp * p=1.000 * significantly better "
        "(alpha 0.05)  NOT BETTER",
        "E *20 paired samples: both pass 12, only baseline 8, only candidate 0, neither 0",
    )
    assert "_compare.py" not in run.text


def test_a_wobble_is_not_significant_where_a_plain_comparison_fails(
    suite: Suite, server: ReferenceServer
) -> None:
    script(
        server,
        {
            "<v1-a>": answers([]),
            "<v1-b>": answers([9]),
            "<v2-a>": answers([2]),
            "<v2-b>": answers([5]),
        },
    )
    suite.write(**{"configs.py": CONFIGS})
    suite.write(
        """
        import pytest
        from configs import INPUTS, OK, V1, V2
        from pytest_chatexp import checks as c

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=INPUTS, num_samples=10, concurrency=1)
        def test_ab(chatexp):
            # 19/20 against 18/20: the plain comparison calls it worse...
            with pytest.raises(AssertionError, match="WORSE"):
                c.assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[OK])
            # ...the paired test sees 2 discordant pairs against 1: chance.
            result = c.assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[OK], alpha=0.05)
            assert result.worse == ()
            assert (result.pairs.only_baseline, result.pairs.only_candidate) == (2, 1)
            assert result.p_value == pytest.approx(0.5)
            assert result.interval.low < 0 < result.interval.high
            with pytest.raises(AssertionError, match="not significantly better"):
                c.assert_better(chatexp, candidate="v1", baseline="v2", checks=[OK])
        """,
        name="test_ab.py",
    )
    suite.run().assert_outcomes(passed=1)


def test_samples_without_a_pair_are_left_out_and_said(
    suite: Suite, server: ReferenceServer
) -> None:
    script(server, {"<v1-a>": answers([], 4), "<v2-a>": answers([0, 1, 2], 4), "<v1-b>": ["ok"]})
    suite.write(**{"configs.py": CONFIGS})
    suite.write(
        """
        import pytest
        from configs import OK, V1, V2
        from pytest_chatexp import checks as c

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=[{"id": "a", "q": "a"}], num_samples=4, concurrency=1)
        def test_ab(chatexp, chatexp_runner):
            extra = chatexp_runner.run(model_configs=[V1], inputs=[{"id": "b", "q": "b"}], num_samples=1)
            cases = [*chatexp.cases, *extra.cases]
            with pytest.raises(AssertionError) as info:
                c.assert_not_worse(cases, candidate="v2", baseline="v1", checks=[OK], alpha=0.2)
            assert info.value.args[0].splitlines()[-1] == (
                "  4 paired samples: both pass 1, only baseline 3, only candidate 0, neither 0; "
                "1 sample without a pair left out"
            )
        """,
        name="test_ab.py",
    )
    suite.run().assert_outcomes(passed=1)


def test_bad_alpha_and_arguments_are_clear_errors(suite: Suite, server: ReferenceServer) -> None:
    suite.write(**{"configs.py": CONFIGS})
    suite.write(
        """
        import pytest
        from configs import INPUTS, OK, V1, V2
        from pytest_chatexp import checks as c

        @pytest.mark.chatexp(model_configs=[V1, V2], inputs=INPUTS[:1])
        def test_arguments(chatexp):
            with pytest.raises(ValueError, match=r"alpha must be strictly between 0 and 1 .*got 1.5"):
                c.assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[OK], alpha=1.5)
            with pytest.raises(ValueError, match=r"alpha must be below 0.5 .*got 0.5"):
                c.assert_better(chatexp, candidate="v2", baseline="v1", checks=[OK], alpha=0.5)
            with pytest.raises(TypeError, match="alpha must be a number"):
                c.assert_better(chatexp, candidate="v2", baseline="v1", checks=[OK], alpha="5%")
            with pytest.raises(TypeError, match="alpha= tests the pass rate of checks="):
                c.assert_not_worse(chatexp, candidate="v2", baseline="v1", max_token_increase=0.1, alpha=0.05)
            with pytest.raises(TypeError, match="assert_better.. has nothing to compare"):
                c.assert_better(chatexp, candidate="v2", baseline="v1", checks=[])
            with pytest.raises(ValueError, match="candidate and baseline are both 'v1'"):
                c.assert_better(chatexp, candidate="v1", baseline="v1", checks=[OK])
            with pytest.raises(ValueError, match=r"assert_better\\(\\): no model config named 'v3'"):
                c.assert_better(chatexp, candidate="v3", baseline="v1", checks=[OK])
        """,
        name="test_ab.py",
    )
    suite.run().assert_outcomes(passed=1)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_same_verdicts_under_xdist(suite: Suite, server: ReferenceServer, workers: str) -> None:
    # Each test asks its own inputs: the script answers in call order, and two workers would
    # interleave the calls of two tests sharing a queue.
    script(
        server,
        {
            **{f"<v1-{q}{run}>": answers([]) for q in "ab" for run in (1, 2)},
            **{f"<v2-a{run}>": answers([1, 3, 5, 7]) for run in (1, 2)},
            **{f"<v2-b{run}>": answers([0, 2, 4, 6]) for run in (1, 2)},
        },
    )
    suite.write(**{"configs.py": CONFIGS})
    suite.write(
        """
        import pytest
        from configs import OK, V1, V2
        from pytest_chatexp import checks as c

        def verdicts(chatexp):
            c.assert_better(chatexp, candidate="v1", baseline="v2", checks=[OK])
            c.assert_not_worse(chatexp, candidate="v2", baseline="v1", checks=[OK], alpha=0.05)

        @pytest.mark.chatexp(model_configs=[V1, V2], num_samples=10, concurrency=1,
                             inputs=[{"id": "a", "q": "a1"}, {"id": "b", "q": "b1"}])
        def test_ab1(chatexp):
            verdicts(chatexp)

        @pytest.mark.chatexp(model_configs=[V1, V2], num_samples=10, concurrency=1,
                             inputs=[{"id": "a", "q": "a2"}, {"id": "b", "q": "b2"}])
        def test_ab2(chatexp):
            verdicts(chatexp)
        """,
        name="test_ab.py",
    )
    run = suite.run("-p", "xdist", "-n", workers).assert_outcomes(failed=2)
    # Counted in the failure sections only: the short summary repeats the message in full when
    # it has room (CI=true lifts its truncation).
    failures = re.findall(
        r"^E +AssertionError: candidate 'v2' is worse than baseline 'v1'", run.text, re.M
    )
    assert len(failures) == 2
