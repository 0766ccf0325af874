"""Shared fixtures: the reference server, and pytester sessions pointed at it (``suite``).

Plugin behaviour is tested the way users meet it: whole pytest sessions run by ``pytester``
against the loopback reference server, over real HTTP.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

# pytester restores sys.modules after every inner session, so whatever an inner session imports
# first is imported (and assertion-rewritten) again by the next one. Import it here, once.
import aiohttp  # noqa: F401  (the HTTP target's transport, when installed)
import httpcore  # noqa: F401  (httpx maps httpcore's exceptions by class, read at first use)
import hypothesis  # noqa: F401  (its pytest plugin imports it in every inner session)
import pytest
import yaml  # noqa: F401  (its C extension cannot be re-imported, so its exceptions must stay)

import pytest_chatexp._session._session  # noqa: F401
from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite


def _stop_rerunfailures_spinning() -> None:
    """pytest-rerunfailures before 16.7 reads its xdist status connection byte by byte and never
    notices it closed: the thread then spins at full CPU for good. Every in-process inner session
    run with ``-n`` leaves one behind in this process, so the suite slowed down as it went (26
    minutes instead of 5 with the lowest declared versions). Make a closed connection end the
    thread, as 16.7 does; its ``run_connection`` stops on ConnectionError."""
    try:
        import pytest_rerunfailures as rerunfailures
    except ImportError:
        return
    socket_db = rerunfailures.SocketDB
    if hasattr(socket_db, "_sock_recv_bytes"):  # 16.7 and later: fixed
        return

    def _sock_recv(self: Any, conn: socket.socket) -> str:
        buffer = b""
        while (byte := conn.recv(1)) != self.delim:
            if not byte:
                conn.close()  # its thread ends here: nothing else would close it
                raise ConnectionError("the status connection closed")
            buffer += byte
        return buffer.decode()

    socket_db._sock_recv = _sock_recv  # type: ignore[attr-defined]


_stop_rerunfailures_spinning()


@pytest.fixture(scope="session", autouse=True)
def _warm_http_stack(chatexp_server: ReferenceServer) -> None:
    """One real call, so httpx's lazily imported backends are loaded outside pytester."""
    from pytest_chatexp import ExperimentRunner, ExperimentSpec, Input, ModelConfig

    config = ModelConfig(
        model="m",
        base_url=chatexp_server.base_url,
        chat_template=[{"role": "user", "content": "hi"}],
    )
    runner = ExperimentRunner()
    try:
        runner.run(ExperimentSpec(name="warm-up", model_configs=(config,), inputs=(Input(id="x"),)))
    finally:
        runner.close()


@pytest.fixture
def server(
    chatexp_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ReferenceServer]:
    """The session's reference server, fresh for each test, as the OpenAI base URL."""
    monkeypatch.setenv("OPENAI_BASE_URL", chatexp_server.base_url)
    monkeypatch.setenv("GEMINI_BASE_URL", chatexp_server.url)  # the docs' Gemini example
    # Inner sessions call the server live unless a test asks for a record mode itself.
    monkeypatch.setenv("PYTEST_ADDOPTS", "--chatexp-record=off")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chatexp_server.requests.clear()
    chatexp_server.clear_rules()
    chatexp_server.reset_stats()
    chatexp_server.latency = 0.0
    yield chatexp_server
    chatexp_server.clear_rules()
    chatexp_server.latency = 0.0


@pytest.fixture
def recording_session(server: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> ReferenceServer:
    """``server``, with inner sessions in their default record mode: for the tests that choose
    the record mode themselves."""
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return server


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Suite:
    """A folder for an inner pytest session: write test files, run them, read the run
    (outcomes, output lines, the JSON report, recordings). See tests/_suite.py."""
    return Suite(pytester)
