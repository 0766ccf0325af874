"""Judging free text: answers whose wording changes from one sample to the next.

A help-centre assistant answers two questions, three samples each, at a temperature above 0:
each sample words the answer differently. An exact comparison would fail on every rewording, so
the test checks what the answers mean, three ways:

- ``embedding_similar``: each answer's embedding is close to a reference answer's;
- a voting judge: ``judge(..., votes=3, confirm_on_fail=True)`` asks the grader once, and only
  when that vote fails asks twice more and decides by the majority, so one noisy FAIL does not
  fail the sample;
- a semantic snapshot: the answers a reviewer approved (``__snapshots__/test_support_answers/``),
  a new answer passing when its embedding is close to one of them.

Recorded from the examples' stand-in (``stand_in.py``), which rewords its answers per sample and
whose grader fails a number written in words on its first vote ("five business days") and
passes it when asked again: the recording holds those three votes, and the sample passes by 2 of
3. Re-record (and re-approve) with:

    pytest -m chatexp examples/test_support_answers.py --chatexp-record=all --snapshot-update
"""

import pytest

from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

ASSISTANT = ModelConfig(
    name="help-centre",
    model="gpt-4o-mini",
    temperature=0.7,
    chat_template=[
        {
            "role": "system",
            "content": "You are Acme's help-centre assistant. Answer in one sentence.",
        },
        {"role": "user", "content": "{{question}}"},
    ],
)
# A grader above temperature 0 is noisy: its votes can differ, which is why it votes.
GRADER = ModelConfig(name="grader", model="gpt-4o-mini", temperature=0.7)
EMBEDDER = ModelConfig(name="embedder", model="text-embedding-3-small")

QUESTIONS = [
    {"id": "refund-time", "question": "How long does a refund take?"},
    {"id": "return-window", "question": "How long do I have to return an item?"},
]
REFERENCES = {
    "refund-time": "A refund reaches your card within 5 business days of receiving the return.",
    "return-window": "Items can be returned within 30 days of delivery for a full refund.",
}
SAYS_HOW_LONG = c.judge(
    "Says how many days it takes, as a number", grader=GRADER, votes=3, confirm_on_fail=True
)


@pytest.mark.chatexp(model_configs=[ASSISTANT], inputs=QUESTIONS, num_samples=3)
def test_answers_mean_the_same_however_worded(chatexp, chatexp_snapshot):
    for question, reference in REFERENCES.items():
        close = c.embedding_similar(reference, embedder=EMBEDDER, min_score=0.6)
        c.assert_samples(chatexp.by_input[question], close, SAYS_HOW_LONG)
    assert chatexp == chatexp_snapshot.semantic(
        lambda approved: c.embedding_similar(approved, embedder=EMBEDDER, min_score=0.6)
    )
