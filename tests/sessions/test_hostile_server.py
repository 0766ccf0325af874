"""Answers no well-behaved provider sends, from a server of our own (not the reference server):
raw HTTP/1.1 over a socket, each connection answered by a script and then closed.

What the plugin must do with them: read no more than ``--chatexp-max-response-bytes`` of an
answer, decoded (a gzip bomb, an endless chunked body, an endless event-stream line), refuse and
never record an answer its provider cannot read (``[]``), not take a redirect for an answer, and
not wait out a day's Retry-After.
"""

from __future__ import annotations

import functools
import gzip
import json
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests._suite import assert_clean, glob, recording_files

# One script per connection: (the server, to count what is sent, and the connection).
Script = Callable[["Hostile", socket.socket], None]

LIMIT = 2**20  # the inner sessions' --chatexp-max-response-bytes: 1 MiB
HUGE = 64 * 2**20  # what the hostile answers grow to (a fixed size, so even old code ends)
SECRET = "sk-hostile-9f8e7d6c5b4a"

SUITE = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="hostile", model="m", base_url=BASE_URL, other=OTHER,
    chat_template=[{"role": "user", "content": "{{q}}"}],
)

@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"id": "only", "q": "hi"}])
def test_it(chatexp):
    assert chatexp.samples[0].output == "fine"
"""


@dataclass
class Hostile:
    """The server: who connected, what it managed to send, and whether the client hung up."""

    script: Script
    base_url: str = ""
    requests: int = 0
    heads: list[bytes] = field(default_factory=list)  # each request's head, lowercased
    sent: int = 0
    hung_up: bool = False
    finished: threading.Event = field(default_factory=threading.Event)

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.sent += len(data)


# Every answer here through both HTTP transports: aiohttp's (pytest-chatexp[fast]) and httpx's.
@pytest.fixture(params=["aiohttp", "httpx"])
def hostile(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    monkeypatch.setenv("CHATEXP_HTTP_TRANSPORT", request.param)
    server_state = Hostile(script=lambda server, connection: None)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            connection: socket.socket = self.request
            server_state.heads.append(_read_request(connection))
            server_state.requests += 1
            try:
                server_state.script(server_state, connection)
            except (BrokenPipeError, ConnectionResetError):
                server_state.hung_up = True
            finally:
                server_state.finished.set()

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        server_state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        yield server_state
        server.shutdown()


def _read_request(connection: socket.socket) -> bytes:
    """Read one request; return its head, lowercased."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head.lower()


def head(status: str, *headers: str) -> bytes:
    return "\r\n".join([f"HTTP/1.1 {status}", *headers, "Connection: close", "", ""]).encode()


def completion(text: str = "fine") -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def chunked(piece: bytes, total: int) -> Script:
    """A chunked body of ``piece`` repeated up to ``total`` bytes, then its end."""

    def script(server: Hostile, connection: socket.socket) -> None:
        content_type = "text/event-stream" if piece.startswith(b"data:") else "application/json"
        server.send(
            connection,
            head("200 OK", f"Content-Type: {content_type}", "Transfer-Encoding: chunked"),
        )
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        for _ in range(total // len(piece)):
            server.send(connection, frame)
        server.send(connection, b"0\r\n\r\n")

    return script


def run(
    pytester: pytest.Pytester, hostile: Hostile, *args: str, stream: bool = False
) -> pytest.RunResult:
    other = {"stream": True} if stream else {}
    pytester.makepyfile(
        test_hostile=SUITE.replace("BASE_URL", repr(hostile.base_url)).replace("OTHER", repr(other))
    )
    return pytester.runpytest(
        "--chatexp-record=new", "--chatexp-retries=0", "--chatexp-timeout=20", *args
    )


CALL = "model config 'hostile', input 'only', sample 0"


# --- item 9: bounded answers --------------------------------------------------------------


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * HUGE, compresslevel=9)  # 64 MiB in about 64 KB


def gzip_bomb(server: Hostile, connection: socket.socket) -> None:
    bomb = _bomb()
    server.send(
        connection,
        head("200 OK", "Content-Encoding: gzip", f"Content-Length: {len(bomb)}") + bomb,
    )


@pytest.mark.parametrize(
    "script, stream",
    [
        pytest.param(gzip_bomb, False, id="gzip-bomb"),
        pytest.param(chunked(b"x" * 65536, HUGE), False, id="endless-chunked-body"),
        pytest.param(chunked(b"data: " + b"x" * 65530, HUGE), True, id="endless-sse-line"),
    ],
)
def test_an_answer_past_the_limit_stops_the_read_and_names_the_call(
    pytester: pytest.Pytester, hostile: Hostile, script: Script, stream: bool
) -> None:
    hostile.script = script
    started = time.perf_counter()
    result = run(pytester, hostile, f"--chatexp-max-response-bytes={LIMIT}", stream=stream)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"chatexp: *::test_it: {CALL}: http://127.0.0.1:*/v1/chat/completions: the answer "
            "is larger than 1 MiB (1048576 bytes) decoded; reading stopped there. If such an "
            "answer is expected, raise the limit with --chatexp-max-response-bytes or the ini "
            "option chatexp_max_response_bytes"
        ]
    )
    assert_clean(result)
    assert recording_files(pytester.path) == []
    assert hostile.requests == 1  # not retried: the same answer would come back
    assert time.perf_counter() - started < 15
    assert hostile.finished.wait(10)
    if script is not gzip_bomb:
        # The client hung up well before the 64 MiB were out (socket buffers hold a few MiB).
        assert hostile.hung_up
        assert hostile.sent < HUGE / 2


def test_the_limit_is_an_ini_option_and_16_mib_by_default(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    hostile.script = chunked(b"x" * 65536, 32 * 2**20)
    result = run(pytester, hostile)
    result.stdout.fnmatch_lines(["*: the answer is larger than 16 MiB (16777216 bytes) decoded;*"])
    pytester.makeini("[pytest]\nchatexp_max_response_bytes = 1000\n")
    result = run(pytester, hostile)
    result.stdout.fnmatch_lines(["*: the answer is larger than 1000 bytes decoded;*"])
    result = run(pytester, hostile, "--chatexp-max-response-bytes=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--chatexp-max-response-bytes must be a whole number of bytes >= 1, got '0'*"]
    )


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    "encoding, encode",
    [
        pytest.param("gzip", gzip.compress, id="gzip"),
        pytest.param("deflate", zlib.compress, id="deflate"),
        pytest.param("deflate", _raw_deflate, id="raw-deflate"),
        pytest.param("identity", lambda data: data, id="identity"),
    ],
)
def test_a_compressed_answer_under_the_limit_is_read_and_recorded(
    pytester: pytest.Pytester,
    hostile: Hostile,
    encoding: str,
    encode: Callable[[bytes], bytes],
) -> None:
    packed = encode(completion())

    def script(server: Hostile, connection: socket.socket) -> None:
        connection.sendall(
            head(
                "200 OK",
                "Content-Type: application/json",
                f"Content-Encoding: {encoding}",
                f"Content-Length: {len(packed)}",
            )
            + packed
        )

    hostile.script = script
    result = run(pytester, hostile, "--chatexp-max-response-bytes=1000")
    result.assert_outcomes(passed=1)
    assert len(recording_files(pytester.path)) == 1
    # Only the encodings inflated within the bound are asked for (never br or zstd).
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in hostile.heads[0]


def test_an_encoding_that_was_not_asked_for_is_refused(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    def script(server: Hostile, connection: socket.socket) -> None:
        connection.sendall(
            head("200 OK", "Content-Encoding: br", "Content-Length: 4") + b"\x0b\x00\x80\x03"
        )

    hostile.script = script
    result = run(pytester, hostile, "--chatexp-retries=2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"chatexp: *::test_it: {CALL}: http://127.0.0.1:*/v1/chat/completions answered a "
            "body that cannot be read: it is sent with Content-Encoding 'br'; only gzip, "
            "deflate was asked for"
        ]
    )
    assert recording_files(pytester.path) == []
    assert hostile.requests == 1  # the server's choice, not a fault: a retry gets it again


# --- item 12: malformed answers, redirects, Retry-After ----------------------------------


def answer(status: str, body: bytes, *headers: str) -> Script:
    def script(server: Hostile, connection: socket.socket) -> None:
        connection.sendall(
            head(
                status,
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                *headers,
            )
            + body
        )

    return script


@pytest.mark.parametrize(
    "body, problem",
    [
        pytest.param(b"[]", "the answer is not a JSON object: []", id="empty-list"),
        pytest.param(
            b'{"choices": []}',
            "the response is not an OpenAI chat completion: 'choices' is empty",
            id="no-choices",
        ),
        pytest.param(b'"fine"', "the answer is not a JSON object: 'fine'", id="a-string"),
    ],
)
def test_a_malformed_200_fails_naming_the_call_and_is_not_recorded(
    pytester: pytest.Pytester, hostile: Hostile, body: bytes, problem: str
) -> None:
    hostile.script = answer("200 OK", body)
    result = run(pytester, hostile, "--chatexp-retries=2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"chatexp: *::test_it: {CALL}: {problem}"])
    assert_clean(result)
    assert recording_files(pytester.path) == []
    assert hostile.requests == 1  # not transient: no retry


def test_a_redirect_fails_at_once_naming_its_location_without_secrets(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    location = f"https://user:pass@elsewhere.example:8443/v2/chat?key={SECRET}&flag"
    hostile.script = answer("302 Found", completion(), f"Location: {location}")
    result = run(pytester, hostile, "--chatexp-retries=3")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            glob(
                f"chatexp: *::test_it: {CALL}: HTTP 302 from http://127.0.0.1:*/v1/chat/"
                "completions: a redirect to https://elsewhere.example:8443/v2/chat?key=[REDACTED]"
                "&flag, which is not followed; point base_url (or the provider's base-URL "
                "variable) there"
            )
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert SECRET not in output and "user:pass" not in output
    assert recording_files(pytester.path) == []
    assert hostile.requests == 1


def test_a_relative_redirect_is_shown_absolute(pytester: pytest.Pytester, hostile: Hostile) -> None:
    hostile.script = answer("307 Temporary Redirect", b"{}", "Location: /v2/chat/completions")
    result = run(pytester, hostile)
    result.stdout.fnmatch_lines(["*: a redirect to http://127.0.0.1:*/v2/chat/completions, which*"])


def too_many(retry_after: str) -> Script:
    error = json.dumps({"error": {"message": "slow down"}}).encode()
    return answer("429 Too Many Requests", error, f"Retry-After: {retry_after}")


def not_waited_out(
    pytester: pytest.Pytester, hostile: Hostile, retry_after: str, *args: str, within: float
) -> pytest.RunResult:
    """A run whose one call is answered 429 with ``retry_after``, which fails it at once:
    within ``within`` seconds (not 3 x 60 s), after one request."""
    hostile.script = too_many(retry_after)
    started = time.perf_counter()
    result = run(pytester, hostile, *args)
    assert time.perf_counter() - started < within
    assert hostile.requests == 1
    return result


def test_a_retry_after_beyond_the_timeout_fails_at_once(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    result = not_waited_out(pytester, hostile, "86400", "--chatexp-retries=3", within=10)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"chatexp: *::test_it: {CALL}: HTTP 429 from http://127.0.0.1:*/v1/chat/completions: "
            "slow down; the server asks to retry after 86400 s (Retry-After), longer than the "
            "per-call timeout of 20 s (--chatexp-timeout or the marker's timeout=): not waiting"
        ]
    )


def test_a_retry_after_beyond_the_deadline_fails_at_once(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    result = not_waited_out(
        pytester, hostile, "15", "--chatexp-retries=3", "--chatexp-deadline=5", within=5
    )
    result.stdout.fnmatch_lines(
        [
            "*: slow down; the server asks to retry after 15 s (Retry-After), longer than the "
            "?.? s left before the experiment deadline of 5 s (--chatexp-deadline): not waiting"
        ]
    )


def test_a_long_retry_after_that_is_waited_out_says_so(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    answers = iter([too_many("2"), answer("200 OK", completion())])
    hostile.script = lambda server, connection: next(answers)(server, connection)
    result = run(pytester, hostile, "--chatexp-retries=1", "--log-cli-level=WARNING")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"*chatexp: {CALL}: waiting 2 s before retrying, as the server's Retry-After asks "
            "(HTTP 429 from http://127.0.0.1:*/v1/chat/completions: slow down)"
        ]
    )
    assert hostile.requests == 2


APP_SUITE = """
import pytest
from pytest_chatexp import ModelConfig

async def bot(call):
    async with call.http_client(base_url=BASE_URL) as client:
        answer = await client.post("/chat/completions", json={"q": call.inputs["q"]})
    return answer.text

@pytest.mark.chatexp(
    model_configs=ModelConfig.for_app(bot, chat_template=[{"role": "user", "content": "{{q}}"}]),
    inputs=[{"id": "only", "q": "hi"}],
)
def test_app(chatexp):
    pass
"""


def test_an_app_targets_http_answer_is_bounded_too(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    """An app's own HTTP calls go through the plugin's recording transport: the same bound."""
    hostile.script = gzip_bomb
    pytester.makepyfile(test_app=APP_SUITE.replace("BASE_URL", repr(hostile.base_url)))
    result = pytester.runpytest("--chatexp-record=new", f"--chatexp-max-response-bytes={LIMIT}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: *::test_app: model config 'bot', input 'only', sample 0: the app's "
            "request to http://127.0.0.1:*/v1/chat/completions: the answer is larger than 1 MiB "
            "(1048576 bytes) decoded; reading stopped there. If such an answer is expected, "
            "raise the limit with --chatexp-max-response-bytes or the ini option "
            "chatexp_max_response_bytes"
        ]
    )
    assert recording_files(pytester.path) == []
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in hostile.heads[0]


# --- a base URL with a query string ---------------------------------------------------------


def test_a_base_url_query_stays_after_the_path_and_out_of_the_recording(
    pytester: pytest.Pytester, hostile: Hostile
) -> None:
    # Gateways (Azure's api-version, some proxies' key=) take a query on the base URL; the path
    # of each call goes before it, not glued onto its last value.
    hostile.script = answer("200 OK", completion())
    hostile.base_url += "?api-version=2025-01-01"
    result = run(pytester, hostile)
    result.assert_outcomes(passed=1)
    assert hostile.heads[0].startswith(b"post /v1/chat/completions?api-version=2025-01-01 http/1.1")
    [recording] = recording_files(pytester.path)
    assert "api-version" not in recording.read_text()
