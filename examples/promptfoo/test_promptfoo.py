"""Store FAQ answers

Imported from promptfooconfig.yaml by `python -m pytest_chatexp.migrate promptfoo`.

Each prompt x provider is a model config of prompts.yaml (4); each promptfoo test is a row of
dataset.jsonl (2) and a pytest item of its own (split="inputs"), checked with DEFAULT_CHECKS
(defaultTest) and its CHECKS. Record once, then replay offline:

    pytest test_promptfoo.py --chatexp-record=new

TODO, not carried over (also marked where it belongs below):
- promptfooconfig.yaml: tests[1].assert[1]: javascript code to port by hand, e.g. as
  c.satisfies(lambda sample: ...): output.length < 300
"""

import pytest

from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

pytestmark = pytest.mark.chatexp(
    model_configs="prompts.yaml",
    inputs="dataset.jsonl",
    split="inputs",
)

# The model grading llm-rubric and similar assertions.
GRADER = ModelConfig(
    name="grader",
    provider="openai",
    model="gpt-4o-mini",
)

# Checked on every row (promptfoo's defaultTest).
DEFAULT_CHECKS: list[c.SampleCheck] = [
    c.not_contains("as an AI", ignore_case=True),  # defaultTest.assert[0] not-icontains
]

# Checked on one row each, by the row's id in the dataset.
CHECKS: dict[str, list[c.SampleCheck]] = {
    "sunday-opening-hours": [
        c.icontains("sunday"),  # tests[0].assert[0] icontains
        c.judge("Answers the question about opening hours", grader=GRADER),  # tests[0].assert[1] llm-rubric
    ],
    "worn-shoes": [
        c.contains("return", "refund", any=True),  # tests[1].assert[0] contains-any
        # TODO(tests[1].assert[1] javascript): javascript code to port by hand, e.g. as
        # c.satisfies(lambda sample: ...): output.length < 300
    ],
}

# Per-call cost (US dollars) and latency (seconds) limits, by row.
LIMITS: dict[str, dict[str, float]] = {
    "sunday-opening-hours": {"max_latency_s": 5.0},
    "worn-shoes": {"max_cost_usd": 0.001, "max_latency_s": 5.0},
}


def test_promptfoo(chatexp):
    (input_id,) = {case.input.id for case in chatexp.cases}
    checks = [*DEFAULT_CHECKS, *CHECKS[input_id]]
    if checks:
        c.assert_samples(chatexp, *checks)
    limits = LIMITS.get(input_id, {})
    if "max_cost_usd" in limits:
        c.assert_cost(chatexp, max_usd=limits["max_cost_usd"], per="sample")
    if "max_latency_s" in limits:
        c.assert_latency(chatexp, max=limits["max_latency_s"])
