"""Deterministic embeddings: OpenAI's ``POST /v1/embeddings``, Gemini's ``embedContent`` /
``batchEmbedContents``, and Bedrock's ``InvokeModel`` for Titan and Cohere embedding models.

A text's vector is a hashed bag of its words: each lower-cased word adds +1 or -1 (by its
hash) at a position chosen by its hash, and the sum is scaled to unit length. Texts sharing
most words are close (cosine near 1), texts sharing none are far (near 0), and the same text
always gets the same vector, on any machine: enough to test similarity checks end to end with
no model. ``dimensions`` (OpenAI) / ``outputDimensionality`` (Gemini) sets the length (64 by
default); ``encoding_format: "base64"`` answers little-endian float32s, as OpenAI does.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from typing import Any

from pytest_chatexp.testing._bedrock import BEDROCK_PREFIX, bedrock_error, converse
from pytest_chatexp.testing._engine import ReplyEngine
from pytest_chatexp.testing._gemini import GEMINI_PREFIX, gemini_error, generate_content
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response
from pytest_chatexp.testing._openai import openai_error

__all__ = ["DIMENSIONS", "bedrock_actions", "embed", "embeddings", "gemini_actions"]

#: The length of a vector when the request names none.
DIMENSIONS = 64
_MAX_DIMENSIONS = 4096
_WORD = re.compile(r"\w+")


def embed(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """The reference vector of ``text``: a unit-length hashed bag of its words."""
    words = _WORD.findall(text.lower()) or [text]
    vector = [0.0] * dimensions
    for word in words:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "big")
        vector[number % dimensions] += 1.0 if number >> 63 else -1.0
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:  # every word cancelled out: still a unit vector, the same for the text
        vector[0], norm = 1.0, 1.0
    return [round(value / norm, 6) for value in vector]


def _tokens(text: str) -> int:
    return max(1, len(_WORD.findall(text)))


def embeddings(request: RecordedRequest, engine: ReplyEngine) -> Response:
    """Handle ``POST /v1/embeddings``: a string or a list of strings."""
    body = request.json
    if not isinstance(body, dict):
        return openai_error(
            400, "We could not parse the JSON body of your request as a JSON object."
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return openai_error(400, "Missing required parameter: 'model'.", "model")
    given = body.get("input")
    texts = [given] if isinstance(given, str) else given
    if (
        not isinstance(texts, list)
        or not texts
        or not all(isinstance(text, str) and text for text in texts)
    ):
        return openai_error(
            400, "'input' must be a non-empty string or a list of non-empty strings.", "input"
        )
    dimensions = body.get("dimensions", DIMENSIONS)
    if isinstance(dimensions, bool) or not isinstance(dimensions, int):
        return openai_error(400, "'dimensions' must be an integer.", "dimensions")
    if not 1 <= dimensions <= _MAX_DIMENSIONS:
        return openai_error(400, f"'dimensions' must be 1 to {_MAX_DIMENSIONS}.", "dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return openai_error(
            400, "'encoding_format' must be 'float' or 'base64'.", "encoding_format"
        )
    data = []
    for index, text in enumerate(texts):
        vector: Any = embed(text, dimensions)
        if encoding == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(_tokens(text) for text in texts)
    return json_response(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def gemini_actions(request: RecordedRequest, engine: ReplyEngine) -> Response:
    """Gemini's model routes: ``embedContent`` and ``batchEmbedContents`` here, the rest to
    ``generateContent``'s handler."""
    _, _, action = request.path.removeprefix(GEMINI_PREFIX).partition(":")
    if action == "embedContent":
        values = _gemini_values(request.json)
        if isinstance(values, str):
            return gemini_error(400, values)
        return json_response({"embedding": {"values": values}})
    if action == "batchEmbedContents":
        requests = request.json.get("requests") if isinstance(request.json, dict) else None
        if not isinstance(requests, list) or not requests:
            return gemini_error(400, "'requests' must be a non-empty list")
        answers = [_gemini_values(item) for item in requests]
        for answer in answers:
            if isinstance(answer, str):
                return gemini_error(400, answer)
        return json_response({"embeddings": [{"values": values} for values in answers]})
    return generate_content(request, engine)


def _gemini_values(body: Any) -> list[float] | str:
    """The vector of an ``EmbedContentRequest``, or why it cannot be read."""
    content = body.get("content") if isinstance(body, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        return "'content.parts' must be a non-empty list"
    texts = [part.get("text") for part in parts if isinstance(part, dict)]
    words = [text for text in texts if isinstance(text, str)]
    if len(words) != len(parts):
        return "every part of 'content.parts' must have a 'text'"
    dimensions = body.get("outputDimensionality", DIMENSIONS)
    if isinstance(dimensions, bool) or not isinstance(dimensions, int):
        return "'outputDimensionality' must be an integer"
    if not 1 <= dimensions <= _MAX_DIMENSIONS:
        return f"'outputDimensionality' must be 1 to {_MAX_DIMENSIONS}"
    text = " ".join(words)
    if not text:
        return "the content has no text"
    return embed(text, dimensions)


def bedrock_actions(request: RecordedRequest, engine: ReplyEngine) -> Response:
    """Bedrock's model routes: ``invoke`` of an embeddings model here (a Cohere body, else
    Titan's), the rest to Converse's handler."""
    model, _, action = request.path.removeprefix(BEDROCK_PREFIX).rpartition("/")
    if action != "invoke":
        return converse(request, engine)
    authorization = request.headers.get("authorization", "")
    if not authorization.startswith(("Bearer ", "AWS4-HMAC-SHA256 ")):
        return bedrock_error(403, "Missing Authentication Token", "AccessDeniedException")
    body = request.json if isinstance(request.json, dict) else {}
    if "cohere." in model:
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return bedrock_error(400, "texts must be a non-empty list of strings")
        if body.get("input_type") not in _COHERE_INPUT_TYPES:
            return bedrock_error(400, f"input_type must be one of {sorted(_COHERE_INPUT_TYPES)}")
        return json_response(
            {
                "id": "emb-reference",
                "response_type": "embeddings_floats",
                "texts": texts,
                "embeddings": [embed(text) for text in texts],
            }
        )
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        return bedrock_error(400, "inputText must be a non-empty string")
    dimensions = body.get("dimensions", DIMENSIONS)
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
        return bedrock_error(400, "dimensions must be a positive integer")
    return json_response(
        {"embedding": embed(text, dimensions), "inputTextTokenCount": _tokens(text)}
    )


_COHERE_INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering"})
