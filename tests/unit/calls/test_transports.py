"""The HTTP target's two transports, aiohttp's (pytest-chatexp[fast], used when installed) and
httpx's, held to the same guarantees where the hostile-server and fault tests do not reach:
which one is used, an endpoint that refuses connections, and TLS verification."""

from __future__ import annotations

import importlib.util
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_chatexp._calls._aiohttp import AiohttpTransport
from pytest_chatexp._calls._runner import ExperimentRunner
from pytest_chatexp._errors import ProviderError
from pytest_chatexp._experiment._config import ModelConfig
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._inputs import Input
from pytest_chatexp._experiment._spec import ExperimentSpec
from pytest_chatexp.testing import ReferenceServer


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHATEXP_HTTP_TRANSPORT", request.param)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return str(request.param)


def _spec(base_url: str) -> ExperimentSpec:
    config = ModelConfig(
        name="c",
        model="m",
        base_url=base_url,
        chat_template=(ChatMessage(role="user", content="{{q}}"),),
    )
    inputs = tuple(Input(id=f"i{n}", inputs={"q": f"hi {n}"}) for n in range(3))
    return ExperimentSpec(name="t", model_configs=(config,), inputs=inputs)


def _run(base_url: str) -> ExperimentRunner:
    runner = ExperimentRunner(concurrency=2, timeout=5, retries=1, backoff=0.01)
    try:
        runner.run(_spec(base_url))
    finally:
        runner.close()
    return runner


def test_the_transport_is_aiohttps_when_installed_unless_told_otherwise(transport: str) -> None:
    with ReferenceServer() as server:
        runner = ExperimentRunner(concurrency=2, timeout=5)
        try:
            result = runner.run(_spec(server.base_url))
            connections = next(iter(runner._http._connections.values()))
            shared = connections.acquire()
            assert isinstance(shared, AiohttpTransport) == (transport == "aiohttp")
        finally:
            runner.close()
        assert len(result.samples) == 3
        assert len(server.requests) == 3
        # Sent as httpx sends it, whichever transport: the bound's encodings, JSON, the key.
        head = server.requests[0]
        assert head.headers["accept-encoding"] == "gzip, deflate"
        assert head.headers["content-type"] == "application/json"
        assert head.headers["authorization"] == "Bearer sk-test"


def test_a_refused_connection_is_unreachable(transport: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(ProviderError) as failure:
            _run(f"http://127.0.0.1:{port}/v1")
    message = str(failure.value)
    assert f"cannot reach http://127.0.0.1:{port}/v1/chat/completions:" in message
    # Counted as unreachable: the breaker opened, and the third call was not sent.
    assert f"1 call not sent: http://127.0.0.1:{port} cannot be reached" in message


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate no CA signed."""
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subject = ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    handshakes: list[str] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                try:
                    with context.wrap_socket(connection, server_side=True):
                        handshakes.append("completed")  # never: the client must refuse
                except (ssl.SSLError, OSError):
                    handshakes.append("refused")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/v1"
    listener.close()
    assert "completed" not in handshakes


def test_a_certificate_no_ca_signed_is_refused(transport: str, self_signed: str) -> None:
    with pytest.raises(ProviderError) as failure:
        _run(self_signed)
    message = str(failure.value)
    assert f"cannot reach {self_signed}/chat/completions:" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message


def test_a_session_that_calls_does_not_import_httpxs_command_line() -> None:
    """httpx's ``__init__`` imports its CLI (click, rich, pygments) when they are installed, as
    they are here; the calls layer imports httpx without it, and ``httpx._main`` still imports."""
    if importlib.util.find_spec("rich") is None or importlib.util.find_spec("click") is None:
        pytest.skip("httpx's CLI is not installed (httpx[cli]): nothing to leave out")
    code = (
        "import sys\n"
        "import pytest_chatexp._calls._runner\n"
        "import httpx\n"
        "print(sorted(m for m in ('httpx._main', 'click', 'rich') if m in sys.modules))\n"
        "import httpx._main\n"
        "print(callable(httpx._main.main))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.split() == ["[]", "True"]
