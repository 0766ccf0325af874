"""The same inputs against two providers in one experiment: OpenAI and Anthropic, side by side.

Each config speaks its own wire format (chat completions, messages); the results share one shape,
so the same checks, budgets and snapshot cover both.
"""

import pytest

from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp import checks as c

WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TEMPLATE = [
    {
        "role": "system",
        "content": "You are a travel assistant. Use get_weather for weather questions.",
    },
    {"role": "user", "content": "{{question}}"},
]

GPT = ModelConfig(
    name="gpt-4o-mini",
    model="gpt-4o-mini",
    temperature=0.2,
    chat_template=TEMPLATE,
    tools=[WEATHER],
)
CLAUDE = ModelConfig(
    name="claude-haiku",
    provider="anthropic",
    model="claude-3-5-haiku-latest",
    temperature=0.2,
    max_tokens=300,
    chat_template=TEMPLATE,
    tools=[WEATHER],
)

QUESTIONS = [
    {
        "id": "weather",
        "question": 'Is it raining in Lisbon? [[tool: get_weather {"city": "Lisbon"}]]',
    },
    {"id": "packing", "question": "What should I pack for a weekend in Lisbon?"},
]


@pytest.mark.chatexp(model_configs=[GPT, CLAUDE], inputs=QUESTIONS, num_samples=2)
def test_both_providers_answer_alike(chatexp, chatexp_snapshot):
    c.assert_samples(
        chatexp.by_input["weather"],
        c.called("get_weather", {"city": "Lisbon"}),
        c.valid_tool_arguments(),
    )
    c.assert_samples(chatexp.by_input["packing"], c.no_tool_calls(), c.icontains("lisbon"))
    c.assert_tokens(chatexp, total=200, per="sample")
    c.assert_not_worse(
        chatexp, candidate="claude-haiku", baseline="gpt-4o-mini", checks=[c.not_truncated()]
    )
    assert chatexp == chatexp_snapshot
