"""A small OpenAI-style chat server of the tests' own (not the reference server), for counting
requests and controlling what each answer reports as usage.

Stdlib only (``http.server`` in a thread), so tests that count money and calls do not share the
plugin's or the reference server's assumptions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What a test's answer function returns: (HTTP status, JSON body or a list of SSE events).
Answer = tuple[int, Any]


def completion(text: str, usage: Any = "omit") -> dict[str, Any]:
    """An OpenAI chat completion answering ``text``; ``usage`` as given, or left out."""
    body: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
    }
    if usage != "omit":
        body["usage"] = usage
    return body


def stream_without_usage(text: str) -> list[dict[str, Any]]:
    """Stream chunks as llama.cpp's server sends them: the words, a finish, and no usage."""
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": word + " "}}]}
        for word in text.split()
    ]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return chunks


class StubServer:
    """Answers every POST with ``answer(number, request_body)``; counts what it received."""

    def __init__(self, answer: Callable[[int, dict[str, Any]], Answer], delay: float = 0.0):
        self.answer = answer
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.bodies)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        with self._lock:
            self.bodies.append(body)
            number = len(self.bodies)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            status, payload = self.answer(number, body)
            if isinstance(payload, list):  # a stream
                data = b"".join(
                    b"data: " + json.dumps(event).encode() + b"\n\n" for event in payload
                )
                data += b"data: [DONE]\n\n"
                content_type = "text/event-stream"
            else:
                data = json.dumps(payload).encode()
                content_type = "application/json"
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        finally:
            with self._lock:
                self.in_flight -= 1


@contextmanager
def serving(
    answer: Callable[[int, dict[str, Any]], Answer], *, delay: float = 0.0
) -> Iterator[tuple[StubServer, str]]:
    """The stub server on 127.0.0.1, with its base URL (``.../v1``)."""
    stub = StubServer(answer, delay)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            stub._handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
