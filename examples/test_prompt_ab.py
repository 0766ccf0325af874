"""A prompt A/B experiment in Humanloop's style: two chat templates x one dataset x samples."""

import pytest

from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONCISE = ModelConfig(
    name="concise",
    model="gpt-4o-mini",
    temperature=0.7,
    chat_template=[
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "{{question}}"},
    ],
)
FRIENDLY = CONCISE.variant(
    name="friendly",
    chat_template=[
        {"role": "system", "content": "You are a friendly tutor. Answer warmly, in one sentence."},
        {"role": "user", "content": "{{question}}"},
    ],
)

QUESTIONS = [
    {"id": "photosynthesis", "question": "What is photosynthesis?"},
    {"id": "tides", "question": "Why are there tides?"},
]


@pytest.mark.chatexp(model_configs=[CONCISE, FRIENDLY], inputs=QUESTIONS, num_samples=3)
def test_both_templates_answer_every_question(chatexp, chatexp_snapshot):
    assert list(chatexp.by_config) == ["concise", "friendly"]
    c.assert_samples(chatexp, c.length(min=1), c.finish_reason("stop"))
    # The reviewer's view: change a template, re-record, and the snapshot diff shows what
    # each question now gets, case by case.
    assert chatexp == chatexp_snapshot


@pytest.mark.chatexp(model_configs=[CONCISE, FRIENDLY], inputs=QUESTIONS, split="cases")
def test_one_item_per_case(chatexp):
    # split="cases" gives one pytest item per config x input: `-k friendly-tides` runs one.
    (case,) = chatexp.cases
    assert case.input.inputs["question"] in case.outputs[0]


def test_humanloop_shaped_results(chatexp_runner):
    result = chatexp_runner.run(model_configs=[CONCISE], inputs=QUESTIONS[:1], num_samples=2)
    response = result.case("concise", "photosynthesis").to_chat_response()
    assert response.num_samples == 2
    assert [data.index for data in response.data] == [0, 1]
    assert response.data[0].model_config_id == CONCISE.model_config_id
