"""Embeddings wire formats: one text in, one vector out.

- OpenAI-compatible ``POST {base_url}/embeddings`` (OpenAI, and the servers that copy it:
  llama.cpp's ``llama-server --embeddings``, Ollama's ``/v1/embeddings``, vLLM, LiteLLM):
  ``{"model", "input": <the text>}``, answered ``{"data": [{"embedding": [...]}], "usage":
  {"prompt_tokens", "total_tokens"}}``. An ``encoding_format: "base64"`` set in the config's
  ``other`` is read too (little-endian float32, as the API sends it).
- Gemini ``POST {base_url}/v1beta/models/{model}:embedContent``: ``{"content": {"parts":
  [{"text"}]}}``, answered ``{"embedding": {"values": [...]}}``, with no token counts (so
  its usage is unknown, never zero).
- Bedrock ``InvokeModel`` with Titan or Cohere embedding bodies: ``_bedrock_embeddings.py``.

A call's text is its last message's (the embedding check's template is one user message
holding it). The reply carries no message: the vector is read from the recorded answer by
``vector`` (the same reading whether the answer came live or from a recording), and the usage
is the prompt's tokens with no generation (an embedding generates none: zero, not unknown).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from abc import abstractmethod
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from .._errors import ProviderError
from .._experiment._humanloop import ChatMessage, TokenCount, Usage
from .._experiment._spec import PlannedCall
from ._base import ProviderReply, WireRequest, endpoint_url, parse_wire
from ._gemini import GeminiProvider
from ._openai import OpenAIChatProvider

__all__ = [
    "EmbeddingsProvider",
    "GeminiEmbeddingsProvider",
    "OpenAIEmbeddingsProvider",
    "call_text",
    "checked_vector",
    "embedding_reply",
]

_SHOWN = 80  # characters of a wrong answer shown in an error


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class _WireItem(_Wire):
    embedding: list[float] | str
    index: int = 0


class _WireUsage(_Wire):
    prompt_tokens: TokenCount | None = None
    total_tokens: TokenCount | None = None


class _WireList(_Wire):
    data: list[_WireItem]
    usage: _WireUsage | None = None


class _WireValues(_Wire):
    values: list[float]


class _WireEmbedContent(_Wire):
    embedding: _WireValues


class EmbeddingsProvider:
    """What the embedding check needs of a wire format beside ``Provider``'s: the vector of an
    answer, checked (one vector, numbers, finite, not empty)."""

    @abstractmethod
    def vector(self, body: Any) -> tuple[float, ...]:
        """The answer's one vector; a ProviderError saying what is wrong with it."""


def call_text(call: PlannedCall) -> str:
    """The text a call embeds: its last message's."""
    return call.messages[-1].text if call.messages else ""


def embedding_reply(usage: Usage) -> ProviderReply:
    """An embeddings answer as a reply: no message, the usage given."""
    return ProviderReply(
        message=ChatMessage(role="assistant", content=""),
        raw_output="",
        finish_reason="stop",
        usage=usage,
    )


def checked_vector(values: list[float], where: str) -> tuple[float, ...]:
    if not values:
        raise ProviderError(f"the embeddings answer's {where} is empty")
    if not all(math.isfinite(value) for value in values):
        raise ProviderError(f"the embeddings answer's {where} holds a value that is not finite")
    return tuple(values)


class OpenAIEmbeddingsProvider(OpenAIChatProvider, EmbeddingsProvider):
    """OpenAI-compatible ``/embeddings``; key, base URL and errors as OpenAI chat's."""

    kind: ClassVar[str] = "openai_embeddings"
    answers_repeat: ClassVar[bool] = True
    generates: ClassVar[bool] = False

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        body: dict[str, Any] = {"model": call.config.model, "input": call_text(call)}
        body.update(call.config.other)  # e.g. {"dimensions": 256}
        return WireRequest(url=endpoint_url(base_url, "embeddings"), body=body)

    def parse_response(self, body: Any) -> ProviderReply:
        answer = self._answer(body)
        usage = answer.usage
        prompt = usage.prompt_tokens if usage is not None else None
        if prompt is None and usage is not None:
            prompt = usage.total_tokens  # an embedding's total is its prompt
        self.vector(body)  # a wrong shape fails here, before anything records it
        return embedding_reply(Usage.of(prompt, 0) if prompt is not None else Usage())

    def vector(self, body: Any) -> tuple[float, ...]:
        data = self._answer(body).data
        if len(data) != 1:
            raise ProviderError(
                f"the embeddings answer holds {len(data)} vectors for one text: {body!r:.{_SHOWN}}"
            )
        embedding = data[0].embedding
        if isinstance(embedding, str):  # encoding_format "base64": little-endian float32
            try:
                raw = base64.b64decode(embedding, validate=True)
            except (binascii.Error, ValueError):
                raise ProviderError("the embeddings answer's base64 vector is not base64") from None
            if len(raw) % 4:
                raise ProviderError(
                    f"the embeddings answer's base64 vector is {len(raw)} bytes, not float32s"
                )
            return checked_vector(list(struct.unpack(f"<{len(raw) // 4}f", raw)), "vector")
        return checked_vector(embedding, "vector")

    def stream_finished(self, events: list[Any]) -> bool:
        return True

    @staticmethod
    def _answer(body: Any) -> _WireList:
        return parse_wire(_WireList, body, "an OpenAI embeddings list")


class GeminiEmbeddingsProvider(GeminiProvider, EmbeddingsProvider):
    """Gemini ``embedContent``; key, base URL and errors as Gemini's."""

    kind: ClassVar[str] = "gemini_embeddings"
    answers_repeat: ClassVar[bool] = True
    generates: ClassVar[bool] = False

    def build_request(self, call: PlannedCall, *, base_url: str) -> WireRequest:
        config = call.config
        body: dict[str, Any] = {"content": {"parts": [{"text": call_text(call)}]}}
        body.update(config.other)  # e.g. {"taskType": "SEMANTIC_SIMILARITY"}
        model = quote(config.model.removeprefix("models/"), safe="")
        return WireRequest(
            url=endpoint_url(base_url, f"v1beta/models/{model}:embedContent"), body=body
        )

    def parse_response(self, body: Any) -> ProviderReply:
        self.vector(body)
        return embedding_reply(Usage())  # embedContent reports no token counts: unknown

    def vector(self, body: Any) -> tuple[float, ...]:
        answer = parse_wire(_WireEmbedContent, body, "a Gemini EmbedContentResponse")
        return checked_vector(answer.embedding.values, "embedding.values")

    def stream_finished(self, events: list[Any]) -> bool:
        return True
