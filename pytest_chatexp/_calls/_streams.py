"""Reading a streamed answer into its list of events, within a bound, with the time to the
first: server-sent events by default, or the framing the provider decodes itself (Bedrock's
binary event stream, ``Provider.stream_decoder``). Either way the events are JSON-ready data,
which is what gets recorded, so a replay never sees the framing."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from .._errors import ProviderError
from .._providers import Provider
from .._providers._base import StreamDecoder
from .._redaction import redact
from ._bounded import decoded_chunks, read_lines
from ._httpx import httpx
from ._retry import Transient

__all__ = ["CorruptStream", "excerpt", "read_events", "redact_key"]


class CorruptStream(Exception):
    """A frame of the stream is corrupt or too large: asking again would not help."""


async def read_events(
    response: httpx.Response, started: float, limit: int, provider: Provider
) -> tuple[list[Any], float | None]:
    """The stream's events, decoded, and the seconds from ``started`` to the first (for a
    decoded framing, the first the provider says carries output). ``limit`` bounds the whole
    stream. A stream stopped inside a frame is transient, like one without its final event."""
    decoder = provider.stream_decoder()
    if decoder is None:
        return await _read_sse(response, started, limit)
    return await _read_frames(response, started, limit, provider, decoder)


async def _read_frames(
    response: httpx.Response,
    started: float,
    limit: int,
    provider: Provider,
    decoder: StreamDecoder,
) -> tuple[list[Any], float | None]:
    events: list[Any] = []
    first: float | None = None
    async with contextlib.aclosing(decoded_chunks(response, limit)) as chunks:
        async for chunk in chunks:
            try:
                new = decoder.feed(chunk)
            except ProviderError as exc:
                raise CorruptStream(str(exc)) from None
            if first is None and any(provider.first_token(event) for event in new):
                first = time.perf_counter() - started
            events += new
    problem = decoder.end()
    if problem is not None:
        raise Transient(f"the stream ended before its final event: {problem}")
    if first is None and events:
        first = time.perf_counter() - started  # no output at all: the stream's end
    return events, first


async def _read_sse(
    response: httpx.Response, started: float, limit: int
) -> tuple[list[Any], float | None]:
    """The ``data:`` events of a server-sent-event stream, decoded, and the time to the first.

    ``[DONE]`` (OpenAI's) ends the list; an event that is not JSON is a provider error naming
    it. No provider needs ``event:``/``id:`` fields.
    """
    events: list[Any] = []
    first: float | None = None
    async with contextlib.aclosing(read_lines(response, limit)) as lines:
        async for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if first is None:
                first = time.perf_counter() - started
            if data == "[DONE]":
                break
            try:
                events.append(json.loads(data))
            except json.JSONDecodeError:
                raise Transient(f"a stream event is not JSON: {excerpt(data)}") from None
    return events, first


def excerpt(text: str, secret: str | None = None, limit: int = 200) -> str:
    # Redacted before the cut, which could leave a piece of a key too short to recognise.
    text = redact_key(" ".join(text.split())[: 2 * limit], secret)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def redact_key(text: str, secret: str | None) -> str:
    """Provider error text without the call's key, its fragments or any other known secret."""
    return redact(text, also=[secret] if secret else [])
