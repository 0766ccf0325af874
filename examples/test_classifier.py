"""A sentiment classifier gated on its accuracy over a labelled dataset.

Each row of ``data/reviews.jsonl`` holds a review (the template's variable) and its label in
``metadata`` (where data for checks goes: a column no template uses would be an error).
``expected("label")`` compares every sample with its own row's label, and ``assert_pass_rate``
pools them over the dataset: each model config must classify at least 80% of the reviews
right. Here the model answers in one word; its tool-calling variant answers with a
``classify`` call, and the check reads the call's argument instead.
"""

import pytest

from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp import checks as c

SENTIMENT = ModelConfig(
    name="sentiment-v1",
    model="gpt-4o-mini",
    temperature=0,
    max_tokens=5,
    chat_template=[
        {
            "role": "system",
            "content": "Classify the sentiment of the customer review. "
            "Answer with one word: positive, negative or neutral.",
        },
        {"role": "user", "content": "{{review}}"},
    ],
)

CLASSIFY = Tool(
    name="classify",
    description="Record the sentiment of the review.",
    parameters={
        "type": "object",
        "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]}},
        "required": ["sentiment"],
    },
)
SENTIMENT_TOOL = SENTIMENT.variant(
    name="sentiment-tool",
    max_tokens=50,
    chat_template=[
        {"role": "system", "content": "Classify the sentiment of the customer review."},
        {"role": "user", "content": "{{review}}"},
    ],
    tools=[CLASSIFY],
    tool_choice={"type": "function", "function": {"name": "classify"}},
)

pytestmark = pytest.mark.chatexp(inputs="data/reviews.jsonl")


@pytest.mark.chatexp(model_configs=[SENTIMENT])
def test_sentiment_accuracy(chatexp):
    # The model capitalises its answer ("Positive"); the label is lower case.
    [accuracy] = c.assert_pass_rate(
        chatexp, c.expected("label", ignore_case=True), min_pass_rate=0.8
    )
    assert accuracy.total == 12


@pytest.mark.chatexp(model_configs=[SENTIMENT_TOOL])
def test_sentiment_by_tool_call(chatexp):
    c.assert_pass_rate(
        chatexp,
        c.called("classify"),
        c.expected("label", tool="classify", argument="sentiment"),
        min_pass_rate=0.8,
    )
