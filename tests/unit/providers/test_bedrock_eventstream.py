"""The AWS event-stream decoder Bedrock's stream is read with: frames as botocore's own
``EventStreamBuffer`` reads them, and hostile input (bad checksums, a truncated stream, an
oversized or malformed frame) refused with a clear error, never read past."""

from __future__ import annotations

import struct
import zlib

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from hypothesis import given
from hypothesis import strategies as st

from pytest_chatexp._errors import ProviderError
from pytest_chatexp._providers._eventstream import EventStreamDecoder, decode_headers
from pytest_chatexp.testing._eventstream import event_frame, exception_frame, frame

DELTA = event_frame("contentBlockDelta", {"delta": {"text": "héllo"}, "contentBlockIndex": 0})


def _botocore(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def test_frames_decode_as_botocore_decodes_them() -> None:
    data = DELTA + exception_frame("validationException", "bad input")
    ((headers, payload), (error_headers, _)) = _botocore(data)
    assert headers[":event-type"] == "contentBlockDelta"
    assert error_headers[":exception-type"] == "validationException"
    assert decode_headers(DELTA[12 : 12 + struct.unpack(">I", DELTA[4:8])[0]], 0) == headers
    assert EventStreamDecoder().feed(data) == [
        {"contentBlockDelta": {"delta": {"text": "héllo"}, "contentBlockIndex": 0}},
        {"validationException": {"message": "bad input"}},
    ]
    assert payload == b'{"delta":{"text":"h\\u00e9llo"},"contentBlockIndex":0}'


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1))
def test_any_split_of_the_bytes_gives_the_same_events(cuts: list[int]) -> None:
    data = DELTA * 3
    decoder, events, start = EventStreamDecoder(), [], 0
    for cut in cuts:
        events += decoder.feed(data[start : start + cut])
        start += cut
    events += decoder.feed(data[start:])
    assert len(events) == 3 and decoder.end() is None


def test_an_error_message_frame_is_an_error_event() -> None:
    data = frame({":message-type": "error", ":error-code": "E1", ":error-message": "boom"}, b"")
    assert EventStreamDecoder().feed(data) == [{"error": {"code": "E1", "message": "boom"}}]


def test_a_bad_message_checksum_is_refused_as_botocore_refuses_it() -> None:
    corrupt = bytearray(DELTA)
    corrupt[-10] ^= 0x01  # a payload byte
    with pytest.raises(ChecksumMismatch):
        _botocore(bytes(corrupt))
    with pytest.raises(ProviderError, match="frame 0: its message checksum does not match"):
        EventStreamDecoder().feed(bytes(corrupt))


def test_a_bad_prelude_checksum_is_refused_before_the_length_is_trusted() -> None:
    corrupt = bytearray(DELTA)
    corrupt[3] ^= 0x40  # the total length: now far larger than what follows
    with pytest.raises(ChecksumMismatch):
        _botocore(bytes(corrupt))
    with pytest.raises(ProviderError, match="its prelude checksum does not match"):
        EventStreamDecoder().feed(bytes(corrupt))


def test_an_oversized_frame_is_refused_before_anything_is_buffered() -> None:
    prelude = struct.pack(">II", 2**31, 0)
    hostile = prelude + struct.pack(">I", zlib.crc32(prelude))
    with pytest.raises(ProviderError, match=r"claims 2147483648 bytes .* not a valid frame"):
        EventStreamDecoder().feed(hostile)
    with pytest.raises(ProviderError, match=f"claims {len(DELTA)} bytes"):
        EventStreamDecoder(max_frame=100).feed(DELTA)


def test_a_frame_shorter_than_its_headers_is_refused() -> None:
    prelude = struct.pack(">II", 20, 50)
    with pytest.raises(ProviderError, match="not a valid frame"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)) + b"\0" * 8)


def test_a_truncated_stream_says_where_it_stopped() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(DELTA + DELTA[:30]) != []
    assert decoder.end() == "it stopped inside event-stream frame 1 (30 bytes)"


@pytest.mark.parametrize(
    ("headers", "payload", "problem"),
    [
        (b"\x05:abc\x07\x00\x09ab", b"", "its headers are malformed"),  # a string cut short
        (b"\x02ab\x0a", b"", "header 'ab' has unknown type 10"),
        (b"", b"{}", "message type None with no event or exception type"),
    ],
)
def test_malformed_headers_and_payloads_are_refused(
    headers: bytes, payload: bytes, problem: str
) -> None:
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    data = message + struct.pack(">I", zlib.crc32(message))
    with pytest.raises(ProviderError, match=problem):
        EventStreamDecoder().feed(data)


def test_a_payload_that_is_not_json_is_refused() -> None:
    data = frame({":message-type": "event", ":event-type": "messageStart"}, b"{not json")
    with pytest.raises(ProviderError, match=r"frame 0 \(messageStart\): its payload is not JSON"):
        EventStreamDecoder().feed(data)
