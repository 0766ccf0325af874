"""Bedrock embeddings: ``POST {base_url}/model/{modelId}/invoke`` with the model's own body.

- Amazon Titan text embeddings (``amazon.titan-embed-text-v2:0``, ``...-v1``): ``{"inputText"}``,
  answered ``{"embedding": [...], "inputTextTokenCount"}``.
- Cohere Embed (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``...): ``{"texts":
  [<the text>], "input_type": "search_document"}``, answered ``{"embeddings": [[...]]}`` (or
  ``{"embeddings": {"float": [[...]]}}`` when ``embedding_types`` is asked for), with no token
  count: its usage is unknown.

A model id naming neither family is read as Titan. ``other`` is merged into the body (Titan's
``dimensions`` / ``normalize``, Cohere's ``input_type`` / ``truncate``). Key, signing, base URL
and errors are Bedrock Converse's.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from .._errors import ProviderError
from .._experiment._humanloop import TokenCount, Usage
from .._experiment._spec import PlannedCall
from ._base import ProviderReply, WireRequest, endpoint_url, parse_wire
from ._bedrock import BedrockConverseProvider
from ._embeddings import EmbeddingsProvider, call_text, checked_vector, embedding_reply

__all__ = ["BedrockEmbeddingsProvider"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WireTitan(_Wire):
    embedding: list[float]
    inputTextTokenCount: TokenCount | None = None


class _WireCohereTypes(_Wire):
    float: list[list[float]]


class _WireCohere(_Wire):
    embeddings: list[list[float]] | _WireCohereTypes


def _is_cohere(model: str) -> bool:
    # A cross-region inference profile prefixes the id: "us.cohere.embed-english-v3".
    return "cohere." in model


class BedrockEmbeddingsProvider(BedrockConverseProvider, EmbeddingsProvider):
    kind: ClassVar[str] = "bedrock_embeddings"
    answers_repeat: ClassVar[bool] = True
    generates: ClassVar[bool] = False

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        config = call.config
        text = call_text(call)
        body: dict[str, Any]
        if _is_cohere(config.model):
            body = {"texts": [text], "input_type": "search_document"}
        else:
            body = {"inputText": text}
        body.update(config.other)
        model = quote(config.model, safe="")
        return WireRequest(url=endpoint_url(base_url, f"model/{model}/invoke"), body=body)

    def parse_response(self, body: Any) -> ProviderReply:
        self.vector(body)  # a wrong shape fails here, before anything records it
        if isinstance(body, dict) and "embeddings" in body:
            return embedding_reply(Usage())  # Cohere reports no token count: unknown
        prompt = parse_wire(_WireTitan, body, "a Titan embeddings answer").inputTextTokenCount
        return embedding_reply(Usage.of(prompt, 0) if prompt is not None else Usage())

    def vector(self, body: Any) -> tuple[float, ...]:
        if isinstance(body, dict) and "embeddings" in body:
            cohere = parse_wire(_WireCohere, body, "a Cohere embeddings answer").embeddings
            vectors = cohere.float if isinstance(cohere, _WireCohereTypes) else cohere
            if len(vectors) != 1:
                raise ProviderError(
                    f"the embeddings answer holds {len(vectors)} vectors for one text: {body!r:.80}"
                )
            return checked_vector(vectors[0], "vector")
        titan = parse_wire(_WireTitan, body, "a Titan embeddings answer")
        return checked_vector(titan.embedding, "embedding")

    def stream_finished(self, events: list[Any]) -> bool:
        return True
