"""Every call that went out is in the summary: calls of experiments that raised, failed calls,
and retries (extra HTTP attempts), counted as data from the runner. The counts are checked
against the requests a server of the tests' own received."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from tests.sessions._stub_openai import completion, serving

USAGE = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}

SUITE = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="stub-model", base_url="{url}",
                     chat_template=[{{"role": "user", "content": "{{{{q}}}}"}}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"q": "fine"}}, {{"q": "flaky"}},
                                                     {{"q": "refuse"}}])
def test_raises(chatexp):
    pass

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"q": "down"}}])
def test_down(chatexp):
    pass
"""


def scripted() -> Any:
    """'refuse' gets a 400 (not retried), 'down' a 503 every time, 'flaky' two 500s and then
    an answer; anything else an answer."""
    seen: Counter[str] = Counter()

    def answer(number: int, body: dict[str, Any]) -> tuple[int, Any]:
        text = body["messages"][-1]["content"]
        seen[text] += 1
        if text == "refuse":
            return 400, {"error": {"message": "bad request"}}
        if text == "down" or (text == "flaky" and seen[text] <= 2):
            return 500 if text == "flaky" else 503, {"error": {"message": "try again"}}
        return 200, completion("ok", USAGE)

    return answer


TOTAL = re.compile(
    r"total: (\d+) experiments? \((\d+) raised\), (\d+) calls? \((\d+) replayed, (\d+) live "
    r"\((\d+) failed\), (\d+) retries\)"
)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_calls_of_experiments_that_raised_and_their_retries_are_counted(
    pytester: pytest.Pytester, workers: str
) -> None:
    if workers != "0":
        pytest.importorskip("xdist")
    with serving(scripted()) as (stub, url):
        pytester.makepyfile(test_suite=SUITE.format(url=url))
        result = pytester.runpytest_subprocess(
            "-n", workers, "--chatexp-record=off", "--chatexp-retries=2", "--chatexp-backoff=0"
        )
    result.assert_outcomes(errors=2)
    # fine 1 + flaky 3 (two 500s, then an answer) + refuse 1 + down 3 (503, retried twice).
    assert stub.count == 8
    match = TOTAL.search(result.stdout.str())
    assert match, result.stdout.str()
    experiments, raised, calls, replayed, live, failed, retries = map(int, match.groups())
    assert (experiments, raised, calls, replayed, live, failed, retries) == (2, 2, 4, 0, 4, 2, 4)
    assert live + retries == stub.count
    result.stdout.fnmatch_lines(
        [
            "test_suite.py::test_down (raised: no samples; its calls are counted)",
            "  c * 0 * - * 0 * - * - *1 live (1 failed), 2 retries",
            "test_suite.py::test_raises (raised: no samples; its calls are counted)",
            "  c * 0 * - * 20 * - * - *3 live (1 failed), 2 retries",
        ]
    )


def test_a_row_with_replays_and_live_calls_shows_both(pytester: pytest.Pytester) -> None:
    suite = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="c", model="stub-model", base_url="{url}",
                     chat_template=[{{"role": "user", "content": "{{{{q}}}}"}}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs={inputs})
def test_mixed(chatexp):
    pass
"""
    with serving(lambda n, body: (200, completion("ok", USAGE))) as (stub, url):
        pytester.makepyfile(test_suite=suite.format(url=url, inputs='[{"q": "a"}]'))
        first = pytester.runpytest("--chatexp-record=all")
        first.stdout.fnmatch_lines(["total: 1 experiment, 1 call (0 replayed, 1 live), 10 tokens*"])
        pytester.makepyfile(test_suite=suite.format(url=url, inputs='[{"q": "a"}, {"q": "b"}]'))
        result = pytester.runpytest("--chatexp-record=new")
    assert stub.count == 2
    result.stdout.fnmatch_lines(
        [
            "  c * 2 * - * 20 * 1 replayed, 1 live",
            "total: 1 experiment, 2 calls (1 replayed, 1 live), 20 tokens*",
        ]
    )


def test_a_call_refused_before_any_request_is_not_counted_as_live(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHATEXP_NO_SUCH_KEY", raising=False)
    suite = SUITE.replace(
        'model="stub-model",', 'model="stub-model", api_key_env="CHATEXP_NO_SUCH_KEY",'
    )
    with serving(scripted()) as (stub, url):
        pytester.makepyfile(test_suite=suite.format(url=url))
        result = pytester.runpytest("--chatexp-record=off", "-k", "down")
    result.assert_outcomes(errors=1, deselected=1)
    result.stdout.fnmatch_lines(["*CHATEXP_NO_SUCH_KEY (api_key_env) is not set*"])
    assert stub.count == 0
    assert " live" not in result.stdout.str()  # nothing went out: no call to count
