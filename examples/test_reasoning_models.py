"""Two providers' reasoning models side by side (three: Gemini too), on the same puzzles.

One reasoning setting, translated per provider: OpenAI's Responses API takes an effort (and
returns a reasoning summary), Anthropic a thinking budget (and returns its thinking), Gemini a
thinking budget (and returns its thoughts). The samples share one shape, so the same checks,
budgets and snapshot cover all three; the reasoning is recorded, replayed and snapshotted.
"""

import pytest

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp import checks as c

TEMPLATE = [
    {"role": "system", "content": "Solve the puzzle. End with 'Answer: <answer>'."},
    {"role": "user", "content": "{{puzzle}}"},
]

GPT = ModelConfig(
    name="gpt-5-mini",
    provider="openai_responses",
    model="gpt-5-mini",
    reasoning={"effort": "low"},
    max_tokens=2000,
    chat_template=TEMPLATE,
)
CLAUDE = ModelConfig(
    name="claude-sonnet-4",
    provider="anthropic",
    model="claude-sonnet-4-0",
    reasoning={"budget_tokens": 2000},
    max_tokens=4000,  # Anthropic: above the thinking budget
    chat_template=TEMPLATE,
)
GEMINI = ModelConfig(
    name="gemini-2.5-flash",
    provider="gemini",
    model="gemini-2.5-flash",
    reasoning={"budget_tokens": 1024},
    max_tokens=2000,
    chat_template=TEMPLATE,
)

PUZZLES = [
    Input(
        id="train",
        inputs={"puzzle": "A train leaves at 14:05 and arrives at 16:50. How long is the trip?"},
        metadata={"answer": "165 minutes"},
    ),
    Input(id="product", inputs={"puzzle": "What is 17 x 23?"}, metadata={"answer": "391"}),
    Input(
        id="pens",
        inputs={"puzzle": "If 3 pens cost $4.50, what do 7 pens cost?"},
        metadata={"answer": "$10.50"},
    ),
]


@pytest.mark.chatexp(model_configs=[GPT, CLAUDE, GEMINI], inputs=PUZZLES, num_samples=2)
def test_reasoning_models_side_by_side(chatexp, chatexp_snapshot):
    # Every model gets every puzzle right, and says so in the asked-for shape.
    c.assert_samples(chatexp, c.expected("answer", compare="contains"), c.matches(r"Answer: "))
    # Each returned its reasoning (a summary, thinking, thoughts): kept on the sample.
    assert all(sample.reasoning for sample in chatexp.samples)
    # Reasoning tokens where the provider reports them (Anthropic counts thinking inside its
    # output tokens and reports no figure: unknown, not zero).
    for case in chatexp.cases:
        reported = [s.usage.reasoning_tokens is not None for s in case.samples]
        assert all(reported) == (case.config.provider != "anthropic"), case.config.name
    # Budgets over all three: tokens and cost per sample (built-in prices), latency.
    c.assert_tokens(chatexp, total=300, per="sample")
    c.assert_cost(chatexp, max_usd=0.001, per="sample")
    c.assert_latency(chatexp, p95=30.0)
    # The cheaper model holds its own against the pricier one on the same checks.
    c.assert_not_worse(
        chatexp,
        candidate="gemini-2.5-flash",
        baseline="claude-sonnet-4",
        checks=[c.expected("answer", compare="contains")],
        max_cost_increase=0.0,
    )
    assert chatexp == chatexp_snapshot
