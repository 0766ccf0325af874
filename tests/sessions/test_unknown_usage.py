"""Unknown usage is not zero: an answer without token counts (llama.cpp's streams) reads as unknown
in results, checks, snapshots, the summary and the budget; a count that is not a whole number
>= 0 is the provider's error, naming the call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import Usage
from tests.sessions._stub_openai import completion, serving, stream_without_usage

THIRTY_WORDS = " ".join(f"word{i}" for i in range(30))

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import assert_cost, assert_not_worse, assert_tokens

CONFIG = ModelConfig(name="llama", model="smollm2", base_url="{url}", other={{"stream": {stream}}},
                     chat_template=[{{"role": "user", "content": "tell me"}}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{}}])
def test_tokens(chatexp):
    assert_tokens(chatexp, generation=5)

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{}}])
def test_cost(chatexp):
    assert_cost(chatexp, max_usd=1.0)

@pytest.mark.chatexp(model_configs=[CONFIG, CONFIG.model_copy(update={{"name": "v2", "temperature": 0.5}})],
                     inputs=[{{}}])
def test_compare(chatexp):
    assert_not_worse(chatexp, candidate="v2", baseline="llama", max_token_increase=0.1)

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{}}])
def test_unknown(chatexp):
    assert chatexp.samples[0].usage.total_tokens is None

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{}}])
def test_snapshot(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot
"""


def llama(number: int, body: dict[str, Any]) -> tuple[int, Any]:
    """llama.cpp's server: a stream of thirty words and no usage chunk."""
    return 200, stream_without_usage(THIRTY_WORDS)


def test_a_stream_without_usage_fails_token_and_cost_checks_as_unknown(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nchatexp_prices =\n    smollm2 1.0 1.0\n")
    with serving(llama) as (stub, url):
        pytester.makepyfile(test_suite=SUITE.format(url=url, stream=True))
        result = pytester.runpytest(
            "--chatexp-record=off", "-k", "tokens or cost", "-p", "no:randomly"
        )
    assert stub.count == 2 and stub.bodies[0]["stream"] is True
    # 0 generation tokens passed generation=5 on a thirty-word answer.
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*token budget exceeded: 1 of 1 sample over (limits per sample: generation <= 5)",
            "*llama/input-0 sample 0  generation tokens unknown (the provider reported no usage)",
            "*cannot compute the cost: the token usage of 1 sample is unknown (the provider "
            "reported no usage): llama/input-0 sample 0",
        ]
    )
    # The summary says unknown, not 0.
    result.stdout.fnmatch_lines(
        [
            "test_suite.py::test_cost",
            "  llama * 1 * unknown * cost unknown *1 live",
            "total: 2 experiments, 2 calls (0 replayed, 2 live), tokens unknown, cost unknown",
        ]
    )


def test_a_token_comparison_on_unknown_usage_fails(pytester: pytest.Pytester) -> None:
    with serving(llama) as (_, url):
        pytester.makepyfile(test_suite=SUITE.format(url=url, stream=True))
        result = pytester.runpytest("--chatexp-record=off", "-k", "compare")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*total tokens per sample * unknown * unknown * usage unknown*"])


def test_a_snapshot_shows_unknown_usage_as_unknown(pytester: pytest.Pytester) -> None:
    with serving(llama) as (_, url):
        pytester.makepyfile(test_suite=SUITE.format(url=url, stream=True))
        pytester.runpytest(
            "--chatexp-record=off", "-k", "snapshot", "--snapshot-update"
        ).assert_outcomes(passed=1)
    (snapshot,) = Path(pytester.path, "__snapshots__").rglob("*.chatexp")
    text = snapshot.read_text()
    assert "unknown prompt + unknown generation tokens" in text
    assert "0 prompt" not in text


def test_the_budget_charges_unknown_usage_at_the_estimate(pytester: pytest.Pytester) -> None:
    with serving(llama) as (_, url):
        pytester.makepyfile(test_suite=SUITE.format(url=url, stream=True))
        result = pytester.runpytest(
            "--chatexp-record=off", "-k", "unknown", "--chatexp-max-tokens=1000"
        )
    result.assert_outcomes(passed=1)
    # '[{"role": "user", "content": "tell me"}]' is 40 characters (10 tokens), plus the 256
    # tokens assumed for a config without max_tokens: charged 266, not 0.
    result.stdout.fnmatch_lines(
        [
            "chatexp budget: 1,000 tokens; spent 266 tokens on 1 call (1 reported no usage and "
            "was charged at the estimate)"
        ]
    )


@pytest.mark.parametrize("count", [-3, "12", 1.5, "many", True], ids=repr)
def test_a_token_count_that_is_not_a_whole_number_is_a_provider_error(
    pytester: pytest.Pytester, count: object
) -> None:
    usage = {"prompt_tokens": count, "completion_tokens": 4, "total_tokens": 9}
    with serving(lambda n, body: (200, completion("hi", usage))) as (_, url):
        pytester.makepyfile(test_suite=SUITE.format(url=url, stream=False))
        result = pytester.runpytest("--chatexp-record=off", "-k", "unknown")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*chatexp: test_suite.py::test_unknown: model config 'llama', input 'input-0', "
            "sample 0: the response is not an OpenAI chat completion: *usage.prompt_tokens*"
        ]
    )


def test_a_sum_with_an_unknown_part_is_unknown() -> None:
    known = Usage.of(3, 4)
    assert (known.total_tokens, known.known) == (7, True)
    total = Usage.combined([known, Usage.of(5, None)])
    assert (total.prompt_tokens, total.generation_tokens, total.total_tokens) == (8, None, None)
    assert not total.known
