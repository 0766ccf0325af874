"""Before spending money: keys checked before the first call, a moved endpoint named rather than
re-recorded, re-recording that leaves an unchanged recording alone, and messages that read right.

The tests talk to a small OpenAI-style server of their own (stdlib ``http.server``), apart from
the reference server: its answers carry a fresh ``id`` and ``created`` on every call, as real
providers' do. No test reaches the internet: name resolution of anything but loopback is refused
and logged, so a request meant for a public endpoint is seen, not sent.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import InvalidExperimentError, ModelConfig
from tests._suite import recording_files

KEY_VARIABLE = "CHATEXP_TEST_KEY_NOT_SET"


class _Provider(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]
    prefix: str
    delay: float

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: _Provider

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "body": body})
        time.sleep(self.server.delay)
        text = self.server.prefix + str(body["messages"][-1]["content"])
        answer = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time() * 1000) + len(self.server.requests),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Provider]:
    """A loopback provider with volatile ids, as ``OPENAI_BASE_URL``; no key in the
    environment; inner sessions in record mode ``off`` unless a test says otherwise."""
    server = _Provider(("127.0.0.1", 0), _Handler)
    server.requests, server.prefix, server.delay = [], "echo: ", 0.0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("PYTEST_ADDOPTS", "--chatexp-record=off")
    for name in ("OPENAI_API_KEY", KEY_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Hosts the inner sessions (run in this process) tried to resolve, other than loopback;
    each is refused, so nothing leaves the machine."""
    real = socket.getaddrinfo
    hosts: list[str] = []

    def guard(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1"):
            hosts.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "refused by the test")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guard)
    return hosts


def suite(configs: str, *, inputs: str = "[{'id': 'hi', 'q': 'hello'}]", base: str = "") -> str:
    """A test module whose one test runs ``configs`` (T: a template using {{q}}; BASE: ``base``)
    over ``inputs``, two samples each."""
    return (
        "import pytest\nfrom pytest_chatexp import ModelConfig\n"
        f"T = [{{'role': 'user', 'content': '{{{{q}}}}'}}]\nBASE = {base!r}\n"
        f"@pytest.mark.chatexp(model_configs={configs}, inputs={inputs}, num_samples=2)\n"
        "def test_it(chatexp):\n    assert chatexp.outputs\n"
    )


def output_of(result: pytest.RunResult) -> str:
    return "\n".join(result.outlines + result.errlines)


# --- keys ---------------------------------------------------------------------------------------

LOCAL = "ModelConfig(name='local', model='m', base_url=BASE, chat_template=T)"


@pytest.mark.parametrize("mode", ["off", "all", "new"])
def test_a_missing_key_for_the_public_endpoint_fails_before_any_request(
    pytester: pytest.Pytester,
    provider: _Provider,
    resolved: list[str],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")  # so 'public' goes to https://api.openai.com/v1
    configs = f"[{LOCAL}, ModelConfig(name='public', model='m', chat_template=T)]"
    pytester.makepyfile(suite(configs, base=provider.base_url))
    result = pytester.runpytest(f"--chatexp-record={mode}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*chatexp: test_*.py::test_it: model config 'public' would call "
            "https://api.openai.com/v1 without a key: set OPENAI_API_KEY, or set OPENAI_BASE_URL "
            "or the config's base_url to a server that needs none"
        ]
    )
    assert resolved == []  # the public endpoint was never approached
    assert provider.requests == []  # nor the local one: no call of the experiment went out


def test_an_unset_api_key_env_fails_before_any_config_calls(
    pytester: pytest.Pytester, provider: _Provider
) -> None:
    keyed = f"ModelConfig(name='keyed', model='m2', base_url=BASE, api_key_env={KEY_VARIABLE!r}, chat_template=T)"
    pytester.makepyfile(suite(f"[{LOCAL}, {keyed}]", base=provider.base_url))
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*chatexp: test_*.py::test_it: model config 'keyed': the environment variable "
            f"{KEY_VARIABLE} (api_key_env) is not set"
        ]
    )
    assert provider.requests == []  # 'local' needs no key, but its calls waited for the check


def test_keyless_local_servers_keep_working(
    pytester: pytest.Pytester, provider: _Provider, resolved: list[str]
) -> None:
    """A local server needs no key, through OPENAI_BASE_URL or a config's own base_url."""
    configs = f"[{LOCAL}, ModelConfig(name='env', model='m2', chat_template=T)]"
    pytester.makepyfile(suite(configs, base=provider.base_url))
    pytester.runpytest().assert_outcomes(passed=1)
    assert len(provider.requests) == 4
    assert resolved == []


def test_replaying_needs_no_key(
    pytester: pytest.Pytester,
    provider: _Provider,
    resolved: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Record mode none never calls: a miss is a miss, not a missing key."""
    monkeypatch.delenv("OPENAI_BASE_URL")
    pytester.makepyfile(suite("[ModelConfig(name='public', model='m', chat_template=T)]"))
    result = pytester.runpytest("--chatexp-record=none")
    result.assert_outcomes(errors=1)
    assert "no matching recording" in output_of(result)
    assert "without a key" not in output_of(result)
    assert resolved == []


# --- a moved endpoint ---------------------------------------------------------------------------


def _recording_of(pytester: pytest.Pytester) -> Path:
    (path,) = recording_files(pytester.path)
    return path


def test_a_moved_base_url_variable_says_what_to_set_not_to_rerecord(
    pytester: pytest.Pytester,
    provider: _Provider,
    resolved: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makepyfile(suite("[ModelConfig(name='c', model='m', chat_template=T)]"))
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    monkeypatch.delenv("OPENAI_BASE_URL")  # CI forgot it: the calls now aim at api.openai.com
    result = pytester.runpytest("--chatexp-record=none")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "  endpoint: 'localhost/v1/chat/completions' -> 'api.openai.com/v1/chat/completions'",
            "To replay, set OPENAI_BASE_URL=http://127.0.0.1:<port>/v1 (any port): the call is "
            "unchanged but was recorded against localhost/v1. Re-recording would call the new "
            "endpoint for every call.",
        ]
    )
    assert "To record, run" not in output_of(result)
    assert resolved == []


def test_a_moved_config_base_url_says_to_set_it_back(
    pytester: pytest.Pytester, provider: _Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = "[ModelConfig(name='c', model='m', base_url=BASE, chat_template=T)]"
    pytester.makepyfile(suite(configs, base=provider.base_url))
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    pytester.makepyfile(suite(configs, base=provider.base_url.replace("/v1", "/v2")))
    result = pytester.runpytest("--chatexp-record=none")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["To replay, set model config 'c' base_url=http://127.0.0.1:<port>/v1 (any port): *"]
    )
    # An endpoint change with a prompt change is a change to re-record.
    changed = suite(configs, base=provider.base_url.replace("/v1", "/v2")).replace(
        "{{q}}", "Q: {{q}}"
    )
    pytester.makepyfile(changed)
    result = pytester.runpytest("--chatexp-record=none")
    result.stdout.fnmatch_lines(["To record, run: pytest --chatexp-record=new *"])
    assert "To replay" not in output_of(result)


# --- re-recording an unchanged experiment ---------------------------------------------------------


def test_rerecording_an_unchanged_experiment_keeps_ids_and_changes_only_latencies(
    pytester: pytest.Pytester, provider: _Provider
) -> None:
    pytester.makepyfile(suite("[ModelConfig(name='c', model='m', chat_template=T)]"))
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    first = _recording_of(pytester).read_text()
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    second = _recording_of(pytester).read_text()

    assert len(provider.requests) == 4  # every call was made again, each answer with a new id
    assert "chatcmpl-" in first and "created" in first

    def strip(text: str) -> list[str]:
        return [line for line in text.splitlines() if "latency_s" not in line]

    assert strip(first) == strip(second)

    # A different answer is recorded as it came, ids and all.
    provider.prefix = "changed: "
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    third = _recording_of(pytester).read_text()
    assert "changed: hello" in third
    ids = [line for line in strip(first) if "chatcmpl-" in line]
    assert ids and not any(line in third for line in ids)


# --- what the experiment declares ---------------------------------------------------------------


def test_a_tool_choice_naming_an_undeclared_tool_is_refused_where_it_is_written() -> None:
    with pytest.raises(InvalidExperimentError) as raised:
        ModelConfig(
            name="support",
            model="m",
            tools=[{"name": "lookup_order"}, {"name": "issue_refund"}],
            tool_choice={"type": "function", "function": {"name": "issue_refnd"}},
        )
    assert str(raised.value) == (
        "ModelConfig: 'tool_choice': value error, names the tool 'issue_refnd', which model "
        "config 'support' does not declare (tools: 'lookup_order', 'issue_refund') (did you mean "
        "'issue_refund'?) (got {'type': 'function', 'function': {'name': 'issue_refnd'}})"
    )
    # A stored Humanloop config keeps its tools on the server: nothing to check against.
    ModelConfig(
        model="m",
        provider="humanloop",
        tool_choice={"type": "function", "function": {"name": "remote_tool"}},
    )


def test_an_unused_input_variable_names_the_closest_placeholder(
    pytester: pytest.Pytester, provider: _Provider
) -> None:
    configs = (
        "[ModelConfig(name='c', model='m', chat_template=[{'role': 'user', "
        "'content': '{{question}} Context: {{context}}'}])]"
    )
    rows = "[{'id': 'a', 'question': 'q', 'context': 'c', 'contexts': 'typo'}]"
    pytester.makepyfile(suite(configs, inputs=rows))
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_*.py::test_it: input 'a': the variable 'contexts' is used by no "
            "template or message (placeholders: context, question) (did you mean 'context'?); "
            "use it as '{{contexts}}', remove it, or move data meant for checks to the row's "
            "'metadata'"
        ]
    )
    assert provider.requests == []


def test_variables_used_by_one_config_by_input_messages_or_out_of_sight_are_used(
    pytester: pytest.Pytester, provider: _Provider
) -> None:
    """The rule's exceptions: a variable one config of an A/B uses; one an input's own messages
    use; check data in ``metadata``; and configs that see the inputs themselves (an app)."""
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        A = ModelConfig(name="a", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])
        B = ModelConfig(
            name="b", model="m", chat_template=[{"role": "user", "content": "{{q}} ({{tone}})"}]
        )
        ROWS = [
            {"id": "flat", "q": "hi", "tone": "warm"},
            {
                "id": "structured",
                "inputs": {"q": "hi", "tone": "dry", "extra": "x"},
                "messages": [{"role": "user", "content": "and {{extra}}"}],
                "metadata": {"expected": "hi"},
            },
        ]


        @pytest.mark.chatexp(model_configs=[A, B], inputs=ROWS)
        def test_ab(chatexp):
            assert len(chatexp.cases) == 4


        def app(call):
            return call.inputs["ticket"]


        @pytest.mark.chatexp(
            model_configs=[ModelConfig.for_app(app, chat_template=[{"role": "user", "content": "x"}])],
            inputs=[{"ticket": "T-1"}],
        )
        def test_app(chatexp):
            assert chatexp.outputs == ["T-1"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


# --- messages that read right ---------------------------------------------------------------------


def test_a_deadline_with_one_call_says_call_was(
    pytester: pytest.Pytester, provider: _Provider
) -> None:
    provider.delay = 2.0
    pytester.makepyfile(
        suite("[ModelConfig(name='c', model='m', chat_template=T)]").replace(
            "num_samples=2", "num_samples=1"
        )
    )
    result = pytester.runpytest("--chatexp-deadline=0.3")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*the experiment did not finish within 0.3 s (--chatexp-deadline); 1 call was planned,*"]
    )


def test_an_exception_without_a_message_is_named_and_described(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig


        def app(call):
            raise MemoryError()


        @pytest.mark.chatexp(
            model_configs=[ModelConfig.for_app(app, chat_template=[{"role": "user", "content": "x"}])]
        )
        def test_it(chatexp):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*model config 'app', input 'input-0', sample 0: the app *:app raised MemoryError: out of memory"
        ]
    )


@pytest.fixture
def resetting_server() -> Iterator[str]:
    """A server that reads each request and resets the connection instead of answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(2)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
            # Linger 0: close() sends a reset (RST), not an orderly end of stream.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join()
    listener.close()


def test_a_reset_connection_says_why(
    pytester: pytest.Pytester, resetting_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "--chatexp-record=off")
    configs = "[ModelConfig(name='c', model='m', base_url=BASE, chat_template=T)]"
    pytester.makepyfile(
        suite(configs, base=resetting_server).replace("num_samples=2", "num_samples=1")
    )
    result = pytester.runpytest("--chatexp-retries=0")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_*.py::test_it: model config 'c', input 'hi', sample 0: the connection "
            "to http://127.0.0.1:*/v1/chat/completions broke mid-answer: *Connection reset*"
        ]
    )
