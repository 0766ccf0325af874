"""Summaries judged by meaning: embedding similarity to a reference summary, per ticket.

``embedding_similar`` embeds the reference and each sample's answer with an embeddings model
and compares them by cosine similarity: no grader prompt, no score to parse, one cheap call per
distinct text (the same text is embedded once per run, and its answer is reused by every test
that asks for it, each recording holding its own copy). The calls are recorded and replayed like
the model's, so CI replays these verdicts offline.

The embeddings here were recorded from pytest-chatexp's reference server (the examples'
stand-in: its deterministic bag-of-words ``/v1/embeddings`` plays a local embeddings model), as
were the summaries. To record them from a real embeddings model, serve one with llama.cpp and
point ``EMBEDDINGS_BASE_URL`` at it (docs/how-to/local-models.md, "Embeddings"):

    llama-server -m nomic-embed-text-v1.5.Q8_0.gguf --embeddings --port 8080
    EMBEDDINGS_BASE_URL=http://127.0.0.1:8080/v1 \
        pytest -m chatexp examples/test_semantic_summaries.py --chatexp-record=all

Either way the calls replay with nothing listening: the port is not part of a recording's key.
A real model's similarities differ from the stand-in's (paraphrases score about 0.8-0.9 with
nomic-embed-text, unrelated texts 0.3-0.5): set ``min_score`` from what it records.
"""

import os

import pytest

from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

SUMMARISER = ModelConfig(
    name="summariser",
    model="gpt-4o-mini",
    temperature=0,
    chat_template=[
        {"role": "system", "content": "You summarise support tickets in two short sentences."},
        {"role": "user", "content": "{{ticket}}"},
    ],
)

# Unset, the embedder's calls go where the OpenAI ones do (OPENAI_BASE_URL: the stand-in while
# recording). A local server such as llama.cpp's needs no key.
EMBEDDER = ModelConfig(
    name="nomic-embed",
    model="nomic-embed-text-v1.5",
    base_url=os.environ.get("EMBEDDINGS_BASE_URL"),
)

REFERENCES = {
    "damaged-parcel": "Parcel arrived damaged, order #1042. The customer wants a replacement.",
    "charged-twice": "Charged twice for one order, order #2210. The customer wants a refund.",
    "password-reset": "The password reset link always says it expired. The customer needs help.",
}


@pytest.mark.chatexp(model_configs=[SUMMARISER], inputs="data/tickets.jsonl", num_samples=2)
def test_summaries_mean_what_the_reference_says(chatexp):
    for ticket, reference in REFERENCES.items():
        close = c.embedding_similar(reference, embedder=EMBEDDER, min_score=0.6)
        c.assert_samples(chatexp.by_input[ticket], close)
