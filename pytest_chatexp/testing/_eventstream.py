"""AWS event-stream frames (``application/vnd.amazon.eventstream``), encoded: what Bedrock's
``converse-stream`` answers. The server's own encoder (the reference server imports nothing of
the plugin, so the plugin's decoder is checked against an independent writer, and both against
botocore's in the tests)."""

from __future__ import annotations

import json
import struct
import zlib

__all__ = ["event_frame", "exception_frame", "frame"]

_STRING = 7


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One frame: prelude (total and headers lengths, their CRC32), string headers, the
    payload, and the CRC32 of all of it."""
    encoded = b"".join(
        bytes([len(name)])
        + name.encode()
        + bytes([_STRING])
        + struct.pack(">H", len(value))
        + value.encode()
        for name, value in ((n, v) for n, v in headers.items())
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, payload: object) -> bytes:
    """An event message, as Bedrock sends each stream event."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, json.dumps(payload, separators=(",", ":")).encode())


def exception_frame(exception_type: str, message: str) -> bytes:
    """An exception message (``throttlingException``, ...) ending a stream."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())
