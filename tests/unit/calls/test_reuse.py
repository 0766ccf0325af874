"""The run's reuse of repeatable answers (``_calls/_reuse.py``): counted by the sends it saves."""

from __future__ import annotations

import asyncio

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._calls._reuse import AnswerReuse
from pytest_chatexp._calls._target import CallOutcome, send_directly
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider


def _ask(reuse: AnswerReuse, provider_name: str, text: str, sent: list[str]) -> CallOutcome:
    provider = get_provider(provider_name)
    assert provider is not None
    config = ModelConfig(name="e", provider=provider_name, model="m")
    call = PlannedCall(config, Input(id="x"), (ChatMessage(role="user", content=text),), 0)
    wire = provider.build_request(call, base_url="http://127.0.0.1:1/v1")

    async def send() -> CallOutcome:
        sent.append(text)
        return CallOutcome(body={"data": [{"embedding": [1.0]}]}, latency_s=0.5)

    return asyncio.run(reuse.around(send_directly)(call, provider, wire, send))


def test_an_embedding_is_sent_once_and_then_reused_as_replayed() -> None:
    reuse, sent = AnswerReuse(), []
    first = _ask(reuse, "openai_embeddings", "hello", sent)
    again = _ask(reuse, "openai_embeddings", "hello", sent)
    assert sent == ["hello"] and reuse.reused == 1
    assert not first.replayed and again.replayed and again.latency_s == 0.5


def test_chat_answers_are_never_reused() -> None:
    reuse, sent = AnswerReuse(), []
    for _ in range(3):
        _ask(reuse, "openai", "hello", sent)
    assert sent == ["hello"] * 3 and reuse.reused == 0


def test_the_answers_kept_are_bounded_least_recently_used_first() -> None:
    reuse, sent = AnswerReuse(limit=2), []
    for text in ("a", "b", "a", "c", "a", "b"):  # "b" is the least recently used when "c" comes
        _ask(reuse, "openai_embeddings", text, sent)
    assert sent == ["a", "b", "c", "b"]
    assert len(reuse._answers) == 2
