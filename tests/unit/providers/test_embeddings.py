"""The embeddings wire formats: OpenAI-compatible ``/embeddings`` checked against the official
SDK's own types (``openai.types``), Gemini's ``embedContent``, and every wrong answer a
ProviderError saying what is wrong."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import httpx
import pytest
from openai.types import CreateEmbeddingResponse, Embedding, EmbeddingCreateParams
from openai.types.create_embedding_response import Usage as SdkUsage
from pydantic import TypeAdapter

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._calls._budget import estimate_call
from pytest_chatexp._errors import ProviderError
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider, provider_names
from pytest_chatexp._providers._base import embeddings_kind
from pytest_chatexp._providers._bedrock_embeddings import BedrockEmbeddingsProvider
from pytest_chatexp._providers._embeddings import (
    GeminiEmbeddingsProvider,
    OpenAIEmbeddingsProvider,
)
from pytest_chatexp.testing import ReferenceServer
from pytest_chatexp.testing._embeddings import embed

OPENAI = OpenAIEmbeddingsProvider()
GEMINI = GeminiEmbeddingsProvider()
PARAMS: TypeAdapter[EmbeddingCreateParams] = TypeAdapter(EmbeddingCreateParams)


def _call(provider: str, model: str, text: str, **other: Any) -> PlannedCall:
    config = ModelConfig(name="e", provider=provider, model=model, other=other)
    message = ChatMessage(role="user", content=text)
    return PlannedCall(config, Input(id="x"), (message,), 0)


def _sdk_answer(vector: list[float], tokens: int = 4) -> dict[str, Any]:
    answer = CreateEmbeddingResponse(
        object="list",
        model="text-embedding-3-small",
        data=[Embedding(object="embedding", index=0, embedding=vector)],
        usage=SdkUsage(prompt_tokens=tokens, total_tokens=tokens),
    )
    return answer.model_dump(mode="json")


def test_the_openai_request_is_an_sdk_embedding_create_params() -> None:
    call = _call("openai_embeddings", "text-embedding-3-small", "Open 9 to 5", dimensions=256)
    wire = OPENAI.build_request(call, base_url="https://api.openai.com/v1")
    assert wire.url == "https://api.openai.com/v1/embeddings"
    assert wire.body == {
        "model": "text-embedding-3-small",
        "input": "Open 9 to 5",
        "dimensions": 256,
    }
    assert PARAMS.validate_python(wire.body) == wire.body
    assert not wire.streams


def test_an_sdk_embedding_response_is_read_with_its_usage() -> None:
    body = _sdk_answer([0.6, -0.8], tokens=4)
    reply = OPENAI.read_answer(body, streamed=False)
    assert (reply.usage.prompt_tokens, reply.usage.generation_tokens) == (4, 0)
    assert OPENAI.vector(body) == (0.6, -0.8)


def test_a_base64_vector_reads_as_the_float32s_it_packs() -> None:
    values = embed("the store opens at nine", 8)
    packed = base64.b64encode(struct.pack("<8f", *values)).decode()
    body = {"data": [{"embedding": packed, "index": 0}], "usage": {"total_tokens": 5}}
    assert OPENAI.vector(body) == pytest.approx(values, abs=1e-6)
    assert OPENAI.parse_response(body).usage.prompt_tokens == 5  # total stands for the prompt


def test_no_usage_is_unknown_not_zero() -> None:
    reply = OPENAI.parse_response({"data": [{"embedding": [1.0]}]})
    assert reply.usage.prompt_tokens is None and reply.usage.total_tokens is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": []}, "holds 0 vectors for one text"),
        ({"data": [{"embedding": [1.0]}, {"embedding": [2.0]}]}, "holds 2 vectors for one text"),
        ({"data": [{"embedding": []}]}, "vector is empty"),
        ({"data": [{"embedding": [1.0, math.nan]}]}, "not finite"),
        ({"data": [{"embedding": ["a"]}]}, "is not an OpenAI embeddings list"),
        ({"data": [{"embedding": "!!"}]}, "base64 vector is not base64"),
        ({"data": [{"embedding": "AAA="}]}, "is 2 bytes, not float32s"),
        ({"object": "list"}, "is not an OpenAI embeddings list"),
    ],
)
def test_a_wrong_answer_says_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        OPENAI.parse_response(body)


def test_gemini_embed_content_request_and_answer() -> None:
    call = _call("gemini_embeddings", "models/text-embedding-004", "Open 9 to 5")
    wire = GEMINI.build_request(call, base_url="https://generativelanguage.googleapis.com")
    assert wire.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/text-embedding-004:embedContent"
    )
    assert wire.body == {"content": {"parts": [{"text": "Open 9 to 5"}]}}
    assert GEMINI.vector({"embedding": {"values": [0.5, 0.5]}}) == (0.5, 0.5)
    assert GEMINI.parse_response({"embedding": {"values": [1.0]}}).usage.prompt_tokens is None
    with pytest.raises(ProviderError, match="not a Gemini EmbedContentResponse"):
        GEMINI.parse_response({"embeddings": [{"values": [1.0]}]})


def test_the_reference_server_embeds_for_gemini_too() -> None:
    with ReferenceServer() as server:
        url = f"{server.url}/v1beta/models/text-embedding-004"
        one = httpx.post(f"{url}:embedContent", json={"content": {"parts": [{"text": "a b"}]}})
        batch = httpx.post(
            f"{url}:batchEmbedContents",
            json={
                "requests": [{"content": {"parts": [{"text": "a b"}]}, "outputDimensionality": 8}]
            },
        )
    assert one.json() == {"embedding": {"values": embed("a b")}}
    assert batch.json() == {"embeddings": [{"values": embed("a b", 8)}]}


def test_reference_vectors_are_close_for_shared_words_and_far_otherwise() -> None:
    def cosine(a: str, b: str) -> float:
        return sum(x * y for x, y in zip(embed(a), embed(b), strict=True))

    assert cosine("The store opens at 9", "the STORE opens at 9!") == pytest.approx(1.0, abs=1e-5)
    assert cosine("The store opens at 9 and closes at 5", "The store opens at 9") > 0.7
    assert abs(cosine("The store opens at 9", "Bananas are yellow fruit")) < 0.3
    assert embed("x") == embed("x")  # deterministic


def test_embedding_formats_follow_chat_providers_and_are_not_chat_providers() -> None:
    assert embeddings_kind("openai") == embeddings_kind("openai_compatible") == "openai_embeddings"
    assert embeddings_kind("gemini") == "gemini_embeddings"
    assert embeddings_kind("bedrock") == "bedrock_embeddings"
    assert embeddings_kind("anthropic") is None and embeddings_kind("azure_openai") is None
    assert "openai_embeddings" not in provider_names()
    assert isinstance(get_provider("openai_embeddings"), OpenAIEmbeddingsProvider)


def test_an_embedding_call_reserves_its_prompt_and_no_generation() -> None:
    call = _call("openai_embeddings", "text-embedding-3-small", "x" * 400)
    wire = OPENAI.build_request(call, base_url="https://api.openai.com/v1")
    prompt, generation = estimate_call(call, wire)
    assert generation == 0 and 100 <= prompt <= 120


BEDROCK = BedrockEmbeddingsProvider()
RUNTIME = "https://bedrock-runtime.us-east-1.amazonaws.com"


def test_bedrock_titan_invoke_body_and_answer() -> None:
    call = _call(
        "bedrock_embeddings", "amazon.titan-embed-text-v2:0", "Open 9 to 5", dimensions=256
    )
    wire = BEDROCK.build_request(call, base_url=RUNTIME)
    assert wire.url == f"{RUNTIME}/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert wire.body == {"inputText": "Open 9 to 5", "dimensions": 256}
    answer = {"embedding": [0.6, 0.8], "inputTextTokenCount": 4}
    assert BEDROCK.vector(answer) == (0.6, 0.8)
    usage = BEDROCK.parse_response(answer).usage
    assert (usage.prompt_tokens, usage.generation_tokens) == (4, 0)


def test_bedrock_cohere_invoke_body_and_answers() -> None:
    call = _call("bedrock_embeddings", "us.cohere.embed-english-v3", "Open 9 to 5")
    wire = BEDROCK.build_request(call, base_url=RUNTIME)
    assert wire.body == {"texts": ["Open 9 to 5"], "input_type": "search_document"}
    assert BEDROCK.vector({"embeddings": [[0.5, 0.5]]}) == (0.5, 0.5)
    assert BEDROCK.vector({"embeddings": {"float": [[1.0]]}}) == (1.0,)  # embedding_types
    assert BEDROCK.parse_response({"embeddings": [[1.0]]}).usage.prompt_tokens is None
    with pytest.raises(ProviderError, match="holds 2 vectors for one text"):
        BEDROCK.parse_response({"embeddings": [[1.0], [2.0]]})
    with pytest.raises(ProviderError, match="not a Titan embeddings answer"):
        BEDROCK.parse_response({"vector": [1.0]})
