"""The batch APIs' wire formats (``_providers/_batches``) and the reference server's batch
routes, refereed by the official SDKs: the ``openai`` and ``anthropic`` clients drive the
reference server's batches and read its objects into their own types, the create requests the
plugin builds are valid SDK params, and the plugin reads the objects the SDKs' types describe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from anthropic.types.messages import batch_create_params as anthropic_params
from openai.types import Batch, BatchCreateParams, FileObject
from pydantic import TypeAdapter

from pytest_chatexp._providers import get_provider
from pytest_chatexp._providers._base import WireRequest
from pytest_chatexp._providers._batches import (
    anthropic_request,
    anthropic_results,
    anthropic_state,
    batch_api_of,
    openai_create,
    openai_jsonl,
    openai_results,
    openai_state,
)
from pytest_chatexp.testing import Fault, ReferenceServer

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
MESSAGE = {"model": "m", "max_tokens": 32, "messages": [{"role": "user", "content": "hi you"}]}


@pytest.fixture
def server(chatexp_server: ReferenceServer) -> Iterator[ReferenceServer]:
    chatexp_server.batches.reset()
    yield chatexp_server
    chatexp_server.batches.reset()
    chatexp_server.faults.clear()


def test_the_openai_sdk_runs_a_batch_on_the_reference_server(server: ReferenceServer) -> None:
    server.batches.polls = 2
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    lines = [("a", "/v1/chat/completions", CHAT), ("b", "/v1/chat/completions", {"model": ""})]
    uploaded = client.files.create(file=("in.jsonl", openai_jsonl(lines)), purpose="batch")
    assert isinstance(uploaded, FileObject) and uploaded.purpose == "batch"
    created = client.batches.create(**openai_create(uploaded.id, "/v1/chat/completions"))  # type: ignore[arg-type]
    assert isinstance(created, Batch) and created.status == "in_progress"
    assert openai_state(created.model_dump()).ended is False
    assert client.batches.retrieve(created.id).status == "in_progress"  # the first poll
    done = client.batches.retrieve(created.id)
    assert done.status == "completed" and done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 1)
    state = openai_state(done.model_dump())
    assert state.ended and (state.done, state.total) == (2, 2)
    assert state.results == (done.output_file_id, done.error_file_id)
    provider = get_provider("openai")
    assert provider is not None
    results: dict[str, Any] = {}
    for file_id in state.results:
        text = client.files.content(file_id).text
        results.update(openai_results(text, {"a": provider, "b": provider}))
    assert results["a"].body["choices"][0]["message"]["content"]
    assert results["a"].body["object"] == "chat.completion"
    assert results["b"].error == "HTTP 400: Invalid value for 'model': expected a non-empty string."
    cancelled = client.batches.cancel(
        client.batches.create(**openai_create(uploaded.id, "/v1/chat/completions")).id
    )  # type: ignore[arg-type]
    assert cancelled.status == "cancelled"


def test_the_anthropic_sdk_runs_a_message_batch_on_the_reference_server(
    server: ReferenceServer,
) -> None:
    server.batches.expire = "expire me"
    server.faults.add(Fault.status(400, message="no"), when="refuse me")
    client = anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)
    body = anthropic_request(
        [
            ("ok", MESSAGE),
            ("late", {**MESSAGE, "messages": [{"role": "user", "content": "expire me"}]}),
            ("bad", {**MESSAGE, "messages": [{"role": "user", "content": "refuse me"}]}),
        ]
    )
    created = client.messages.batches.create(**body)
    assert isinstance(created, MessageBatch) and created.processing_status == "in_progress"
    assert anthropic_state(created.model_dump(mode="json")).ended is False
    done = client.messages.batches.retrieve(created.id)
    assert done.processing_status == "ended" and done.results_url
    state = anthropic_state(done.model_dump(mode="json"))
    assert (state.done, state.total, state.results) == (3, 3, (done.results_url,))
    read = list(client.messages.batches.results(created.id))
    assert all(isinstance(item, MessageBatchIndividualResponse) for item in read)
    assert [item.result.type for item in read] == ["succeeded", "expired", "errored"]
    text = "\n".join(json.dumps(item.model_dump(mode="json")) for item in read)
    provider = get_provider("anthropic")
    assert provider is not None
    results = anthropic_results(text, provider)
    assert results["ok"].body["type"] == "message"
    assert results["late"].error == "the request was expired"
    assert results["bad"].error == "errored: invalid_request_error: no"
    cancel = client.messages.batches.cancel(client.messages.batches.create(**body).id)
    assert cancel.processing_status == "ended" and cancel.cancel_initiated_at is not None


def test_the_create_requests_are_valid_sdk_params() -> None:
    TypeAdapter(BatchCreateParams).validate_python(openai_create("file-1", "/v1/responses"))
    request = anthropic_request([("chatexp-0", MESSAGE)])
    TypeAdapter(anthropic_params.BatchCreateParams).validate_python(request)
    line = json.loads(openai_jsonl([("chatexp-0", "/v1/chat/completions", CHAT)]))
    assert line == {
        "custom_id": "chatexp-0",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": CHAT,
    }


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("openai", CHAT, ("openai", "/v1/chat/completions")),
        ("openai_responses", {"model": "m", "input": "x"}, ("openai", "/v1/responses")),
        ("anthropic", MESSAGE, ("anthropic", "/v1/messages")),
        ("openai", {**CHAT, "stream": True}, None),  # a batch answers whole bodies only
        ("gemini", {}, None),  # no batch API: direct
        ("azure_openai", CHAT, None),  # its batch API takes deployments: direct
        ("openai_compatible", CHAT, None),  # llama.cpp, vLLM...: no batch API
        ("python", CHAT, None),  # an app target
    ],
)
def test_which_requests_a_batch_can_carry(
    name: str, body: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    assert batch_api_of(name, WireRequest(url="http://x/v1/y", body=body)) == expected
