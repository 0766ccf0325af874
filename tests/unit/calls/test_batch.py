"""The runner with batches (``_calls/_batch``), without a pytest session: a queue bigger than a
batch takes is sent as several, and every answer is the one a direct call gets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_chatexp import ExperimentRunner, ExperimentSpec, Input, ModelConfig
from pytest_chatexp._calls import _batch
from pytest_chatexp._calls._batch import BatchOptions
from pytest_chatexp._errors import ProviderError
from pytest_chatexp.testing import ReferenceServer


@pytest.fixture
def server(chatexp_server: ReferenceServer) -> Iterator[ReferenceServer]:
    chatexp_server.batches.reset()
    chatexp_server.requests.clear()
    yield chatexp_server
    chatexp_server.batches.reset()


def _spec(server: ReferenceServer) -> ExperimentSpec:
    config = ModelConfig(
        name="oa",
        model="m",
        base_url=server.base_url,
        chat_template=[{"role": "user", "content": "say {{word}}"}],
    )
    inputs = tuple(Input(id=f"w{i}", inputs={"word": f"word{i}"}) for i in range(5))
    return ExperimentSpec(name="batched", model_configs=(config,), inputs=inputs)


def test_a_queue_bigger_than_a_batch_goes_as_several(
    server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_batch._MOST_LINES, "openai", 2)
    direct_runner = ExperimentRunner()
    batch_runner = ExperimentRunner(batch=BatchOptions(poll=0.01))
    try:
        direct = direct_runner.run(_spec(server))
        batched = batch_runner.run(_spec(server))
    finally:
        direct_runner.close()
        batch_runner.close()
    sizes = sorted(len(batch.lines) for batch in server.batches.batches.values())
    assert sizes == [1, 2, 2]
    for plain, by_batch in zip(direct.cases, batched.cases, strict=True):
        (one,), (other,) = plain.samples, by_batch.samples
        assert other.provider_response == one.provider_response
        assert other.provider_request == one.provider_request
        assert other.turns[0].batch and not one.turns[0].batch


def test_a_results_file_past_the_answer_bound_fails_its_calls_unread(
    server: ReferenceServer,
) -> None:
    # Bounded as every answer is: the limit per call times the batch's calls. The statuses fit
    # (5 x 300 bytes); the five answers, some 500 bytes each, do not.
    runner = ExperimentRunner(batch=BatchOptions(poll=0.01, max_response_bytes=300))
    try:
        with pytest.raises(ProviderError) as info:
            runner.run(_spec(server))
    finally:
        runner.close()
    message = str(info.value)
    assert (
        "/content: the answer is larger than 1500 bytes decoded; reading stopped there" in message
    )
    assert "--chatexp-max-response-bytes" in message
    assert "model config 'oa', input 'w0', sample 0" in message
