"""Reading an HTTP answer with a bound on its decoded size.

httpx decodes gzip and deflate without bounding the output (a few megabytes of gzip inflate
to gigabytes) and splits server-sent-event lines without bounding a line. So answers are read
raw here and inflated with zlib's ``max_length``: no more than the limit (plus one byte, to
tell) is ever produced, whatever the compression ratio. Only the encodings asked for in
``ACCEPT_ENCODING`` are decoded; brotli and zstd have no such bound in their Python bindings.

Written against the httpx ``Response`` API, which httpx2 shares, so the app target's recording
transport reads through it too.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

__all__ = [
    "ACCEPT_ENCODING",
    "AnswerTooLarge",
    "UndecodableAnswer",
    "decoded_chunks",
    "read_body",
    "read_lines",
]

# What requests ask for: the encodings read_body can inflate within a bound.
ACCEPT_ENCODING = "gzip, deflate"


class AnswerTooLarge(Exception):
    """The decoded answer went past the limit; reading stopped there."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the answer is larger than {_describe_size(limit)} decoded; reading stopped there. "
            "If such an answer is expected, raise the limit with --chatexp-max-response-bytes "
            "or the ini option chatexp_max_response_bytes"
        )
        self.limit = limit


class UndecodableAnswer(Exception):
    """The answer's content encoding is unknown or its compressed data is corrupt."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        # Corrupt data may be a connection's fault and read fine next time; an encoding that
        # was not asked for is the server's choice and would come again.
        self.transient = transient


def _describe_size(size: int) -> str:
    mib = size / 2**20
    return f"{mib:g} MiB ({size} bytes)" if mib >= 1 else f"{size} bytes"


class _Inflater:
    """zlib inflation that never produces more than the room left under the limit (plus one)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._zlib = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error as exc:
            if self._started or self._wbits != zlib.MAX_WBITS:
                raise UndecodableAnswer(
                    f"its compressed body is corrupt: {exc}", transient=True
                ) from None
            # "deflate" sent raw, without the zlib header the standard asks for (as httpx allows).
            self._wbits = -zlib.MAX_WBITS
            self._zlib = zlib.decompressobj(self._wbits)
            return self.feed(data, room)
        self._started = True
        return out


def _inflater(content_encoding: str) -> _Inflater | None:
    codings = [part.strip().lower() for part in content_encoding.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return None
    if codings in (["gzip"], ["x-gzip"]):
        return _Inflater(zlib.MAX_WBITS | 16)
    if codings == ["deflate"]:
        return _Inflater(zlib.MAX_WBITS)
    raise UndecodableAnswer(
        f"it is sent with Content-Encoding {content_encoding!r}; "
        f"only {ACCEPT_ENCODING} was asked for",
        transient=False,
    )


async def decoded_chunks(response: Any, limit: int) -> AsyncGenerator[bytes, None]:
    """The body's bytes as they arrive, decoded; AnswerTooLarge past ``limit`` of them."""
    inflater = _inflater(response.headers.get("content-encoding", ""))
    size = 0
    # Closed here, not left to the garbage collector: an answer read only in part would leave
    # httpx's and httpcore's generators suspended, to be finalized on a loop that may be closing.
    async with aclosing(response.aiter_raw()) as raws:
        async for raw in raws:
            chunk = raw if inflater is None else inflater.feed(raw, limit - size)
            size += len(chunk)
            if size > limit:
                raise AnswerTooLarge(limit)
            if chunk:
                yield chunk


async def read_body(response: Any, limit: int) -> bytes:
    return b"".join([chunk async for chunk in decoded_chunks(response, limit)])


async def read_lines(response: Any, limit: int) -> AsyncGenerator[str, None]:
    """The body's lines (a server-sent-event stream's), the whole stream bounded by ``limit``,
    so no line, however endless, holds more."""
    pending: list[bytes] = []  # a line's parts, joined once it ends: no quadratic copying
    async with aclosing(decoded_chunks(response, limit)) as chunks:
        async for chunk in chunks:
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                pending.append(chunk[start:end])
                yield _line(pending)
                pending.clear()
                start = end + 1
            if start < len(chunk):
                pending.append(chunk[start:])
    if pending:
        yield _line(pending)


def _line(parts: list[bytes]) -> str:
    return b"".join(parts).rstrip(b"\r").decode("utf-8", "replace")
