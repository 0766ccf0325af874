"""The session budget is a cap: each live call reserves its estimate before it goes out, so calls
in flight together cannot overshoot it, under xdist too. A run the budget stopped fails, writes
none of the stopped test's answers, and its summary says what was spent and stopped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.sessions._stub_openai import completion, serving

# Every answer reports 50 tokens. A call is estimated (before it goes out) at its messages'
# JSON, 36 characters: 9 tokens, plus max_tokens 50: 59 tokens.
USAGE = {"prompt_tokens": 9, "completion_tokens": 41, "total_tokens": 50}
ESTIMATE = 59

SUITE = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="{model}", base_url="{url}", max_tokens=50,
                     chat_template=[{{"role": "user", "content": "{{{{q}}}}"}}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"q": f"q{{i}}"}} for i in range({inputs})],
                     num_samples={samples}, concurrency=64)
def test_{name}(chatexp):
    assert len(chatexp.samples) == {inputs} * {samples}
"""


def suite(
    url: str, *, name: str = "spend", inputs: int = 10, samples: int = 2, model: str = "stub-model"
) -> str:
    """A test of inputs q0..q9 (at most 10: every message is the same 36 characters)."""
    return SUITE.format(url=url, name=name, inputs=inputs, samples=samples, model=model)


def answered(number: int, body: dict[str, Any]) -> tuple[int, Any]:
    return 200, completion(f"answer {number}", USAGE)


def spent_tokens(output: str) -> int:
    match = re.search(r"chatexp budget: .*; spent ([\d,]+) tokens", output)
    assert match, output
    return int(match.group(1).replace(",", ""))


def test_token_cap_holds_with_64_calls_in_flight(pytester: pytest.Pytester) -> None:
    # 20 calls, all allowed in flight at once, against 200 tokens. Checking the spend before
    # each call let all 20 out (1,000 tokens); reserving lets 3 out (3 x 59 <= 200 < 4 x 59).
    with serving(answered, delay=0.3) as (stub, url):
        pytester.makepyfile(test_suite=suite(url))
        result = pytester.runpytest("--chatexp-record=off", "--chatexp-max-tokens=200")
    spent = stub.count * USAGE["total_tokens"]
    assert stub.count == 3 and spent <= 200
    assert spent_tokens(result.stdout.str()) == spent
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # stopped by the budget: not green
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*the session's token budget would be exceeded: model config 'c', input *, sample * needs "
            f"~{ESTIMATE} tokens (* spent and * reserved of --chatexp-max-tokens 200; no further"
            " live calls are made)",
            "chatexp budget: 200 tokens; spent 150 tokens on 3 calls",
            "chatexp budget: STOPPED: * 1 test failed for it: test_suite.py::test_spend",
        ]
    )


def test_cost_cap_holds_across_xdist_workers(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makeini("[pytest]\nchatexp_prices =\n    stub-model 1.0 1.0\n")
    with serving(answered, delay=0.2) as (stub, url):
        pytester.makepyfile(
            test_one=suite(url, name="one"), test_two=suite(url, name="two", inputs=9)
        )
        result = pytester.runpytest_subprocess(
            "-n", "2", "--chatexp-record=off", "--chatexp-max-cost=0.0002"
        )
    # $1 per million tokens: an answer costs $0.00005, an estimate $0.000059. Both workers
    # share the ledger, so together they never pass $0.0002.
    assert 1 <= stub.count <= 4
    assert stub.count * 0.00005 <= 0.0002
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["chatexp budget: $0.0002; spent * tokens ($0.000*) on * calls"])
    assert spent_tokens(result.stdout.str()) == stub.count * 50


def test_a_budget_stopped_record_run_leaves_the_recording_as_it_was(
    pytester: pytest.Pytester,
) -> None:
    with serving(answered) as (stub, url):
        pytester.makepyfile(test_suite=suite(url, inputs=2))
        pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
        (recording,) = Path(pytester.path, "__recordings__").rglob("*.yaml")
        before = recording.read_bytes()
        # Re-recording the 4 calls with 130 tokens: 2 are answered (anew, with new text),
        # then the budget refuses the third. Nothing of the stopped test may be written.
        result = pytester.runpytest(
            "--chatexp-record=all", "--chatexp-max-tokens=130", "--chatexp-concurrency=1"
        )
        assert stub.count == 4 + 2
    assert recording.read_bytes() == before
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["chatexp budget: STOPPED: *"])
    # The recording still replays offline.
    pytester.runpytest("--chatexp-record=none").assert_outcomes(passed=1)


def test_an_unpriced_model_is_refused_under_a_cost_cap(pytester: pytest.Pytester) -> None:
    with serving(answered) as (stub, url):
        pytester.makepyfile(test_suite=suite(url, model="my-local-model"))
        result = pytester.runpytest("--chatexp-record=off", "--chatexp-max-cost=1")
    assert stub.count == 0
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*model config 'c': model 'my-local-model' has no price, so --chatexp-max-cost "
            "cannot hold its calls to the budget; add it to the ini option chatexp_prices*"
        ]
    )
