"""AWS event-stream framing (``application/vnd.amazon.eventstream``): what Bedrock's
``converse-stream`` answers instead of server-sent events, decoded piece by piece.

A frame is a 12-byte prelude (total length, headers length, both big-endian u32, and the CRC32
of those 8 bytes), the headers (each a length-prefixed name, a type byte and a typed value),
the payload (here JSON), and the CRC32 of everything before it. The decoder is bounded: a
frame claiming more than ``MAX_FRAME_BYTES`` is refused before anything is buffered, and a
checksum that does not match stops the stream, since nothing after a corrupt frame can be
trusted to start where it claims.

Each frame becomes one JSON-ready event, the shape botocore gives its callers and the one the
recordings keep (so a replay reads no binary): an event message as ``{event-type: payload}``
(``{"contentBlockDelta": {...}}``), an exception as ``{exception-type: payload}``
(``{"throttlingException": {"message": ...}}``), an error message as
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any, Final

from .._errors import ProviderError

__all__ = ["MAX_FRAME_BYTES", "EventStreamDecoder", "decode_headers"]

#: The largest frame accepted: AWS caps a payload at 16 MiB and the headers at 128 KiB.
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024 + 128 * 1024 + 16
_PRELUDE: Final = struct.Struct(">III")
_MIN_FRAME: Final = _PRELUDE.size + 4  # a frame with no headers and no payload
# Header value types with a fixed size (0/1 are true/false and carry no bytes).
_FIXED: Final = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


class EventStreamDecoder:
    """Frames in, events out: ``feed`` takes bytes as they arrive and returns the events of
    the frames they complete; ``end`` says whether the stream stopped inside a frame."""

    def __init__(self, *, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max_frame = max_frame
        self.frames = 0

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        events: list[Any] = []
        while len(self._buffer) >= _PRELUDE.size:
            total, headers_length, prelude_crc = _PRELUDE.unpack_from(self._buffer)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise ProviderError(
                    f"event-stream frame {self.frames}: its prelude checksum does not match "
                    "(the stream is corrupt or not an AWS event stream)"
                )
            if total > self._max_frame or total < _MIN_FRAME + headers_length:
                raise ProviderError(
                    f"event-stream frame {self.frames} claims {total} bytes with "
                    f"{headers_length} bytes of headers: not a valid frame (the limit is "
                    f"{self._max_frame} bytes)"
                )
            if len(self._buffer) < total:
                break
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = struct.unpack_from(">I", frame, total - 4)
            if zlib.crc32(frame[:-4]) != message_crc:
                raise ProviderError(
                    f"event-stream frame {self.frames}: its message checksum does not match "
                    "(the frame is corrupt)"
                )
            headers = decode_headers(frame[12 : 12 + headers_length], self.frames)
            payload = frame[12 + headers_length : -4]
            events.append(_event(headers, payload, self.frames))
            self.frames += 1
        return events

    def end(self) -> str | None:
        """Why the stream ended badly (inside a frame), or None when it ended between frames."""
        if not self._buffer:
            return None
        return f"it stopped inside event-stream frame {self.frames} ({len(self._buffer)} bytes)"


def decode_headers(data: bytes, frame: int) -> dict[str, Any]:
    """A frame's headers by name (strings decoded; other values as Python values)."""
    headers: dict[str, Any] = {}
    position = 0
    try:
        while position < len(data):
            length = data[position]
            name = data[position + 1 : position + 1 + length].decode("utf-8")
            position += 1 + length
            kind = data[position]
            position += 1
            if kind in (6, 7):  # bytes, string: a u16 length, then the value
                (size,) = struct.unpack_from(">H", data, position)
                raw = data[position + 2 : position + 2 + size]
                if len(raw) != size:
                    raise IndexError
                headers[name] = raw.decode("utf-8") if kind == 7 else raw
                position += 2 + size
            elif kind in _FIXED:
                size = _FIXED[kind]
                raw = data[position : position + size]
                if len(raw) != size:
                    raise IndexError
                headers[name] = kind == 0 if kind < 2 else int.from_bytes(raw, "big", signed=True)
                position += size
            else:
                raise ProviderError(
                    f"event-stream frame {frame}: header '{name}' has unknown type {kind}"
                )
    except (IndexError, struct.error, UnicodeDecodeError):
        raise ProviderError(f"event-stream frame {frame}: its headers are malformed") from None
    return headers


def _event(headers: dict[str, Any], payload: bytes, frame: int) -> dict[str, Any]:
    kind = headers.get(":message-type")
    if kind == "error":
        error = {"code": headers.get(":error-code"), "message": headers.get(":error-message")}
        return {"error": error}
    name = headers.get(":event-type" if kind == "event" else ":exception-type")
    if kind not in ("event", "exception") or not isinstance(name, str):
        raise ProviderError(
            f"event-stream frame {frame}: message type {kind!r} with no event or exception type"
        )
    try:
        body = json.loads(payload) if payload else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProviderError(
            f"event-stream frame {frame} ({name}): its payload is not JSON"
        ) from None
    return {name: body}
