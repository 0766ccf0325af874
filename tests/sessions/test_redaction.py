"""No key, fragment of a key or URL credential reaches a file or the terminal, in any record mode.

A hostile server of this file's own (not the reference server) echoes what it receives: the key
from the Authorization header and the one from the query string, whole, cut and masked, in its
answers and in its error bodies, JSON or not. Configs reach it through a base URL that carries a
key in its query string and a password in its userinfo. Every file the run wrote and everything
it printed is then searched for every 8-character run of each secret.

Below, the redaction rules themselves (``pytest_chatexp._redaction``), including the cases they
must leave alone.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pytest_chatexp._recording import (
    Call,
    Interaction,
    Label,
    RecordedRequest,
    SecretInRecordingError,
    find_secrets,
    update,
)
from pytest_chatexp._redaction import (
    REDACTED,
    display_url,
    environment_secrets,
    redact,
    remember_secrets,
    url_secrets,
)

# The label every key of its kind shares, then the secret part.
LABEL = "sk-canary-"


def _secret(size: int = 32) -> str:
    """Mixed case and digits, no '-' or '_': it looks like a key and has no label of its own."""
    return secrets.token_urlsafe(size).replace("-", "x").replace("_", "Y")


_EXCERPT = 197  # the characters of an error body a message shows, then "..."


class _Hostile(BaseHTTPRequestHandler):
    """OpenAI's wire format, answering with whatever credentials the request carried."""

    server: _HostileServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        query = parse_qs(urlsplit(self.path).query).get("key", [""])[0]
        self.server.received.append((key, query))
        secret = key.removeprefix(LABEL)
        echo = (
            f"the key {key}, its start {key[: len(LABEL) + 12]}, its end {secret[-12:]}, "
            f"masked {key[: len(LABEL) + 4]}****{key[-4:]}; the URL's key {query}, "
            f"its middle {query[4:16]}; the password {self.server.password}"
        )
        prompt = body["messages"][-1]["content"]
        if prompt == "reject":
            masked = f"{key[: len(LABEL) + 4]}{'*' * 20}{key[-4:]}"
            error = {"message": f"Incorrect API key provided: {masked}. {echo}"}
            self._send(401, json.dumps({"error": error}).encode())
        elif prompt == "garble":
            # The URL's key where the message's 200-character excerpt of the body is cut.
            padding = "x" * (_EXCERPT - len("<html>") - 7)
            self._send(500, f"<html>{padding}{query} upstream failed for {echo}</html>".encode())
        else:
            message = {"role": "assistant", "content": f"ECHO-MARKER {echo}"}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
            answer = {"id": "x", "object": "chat.completion", "created": 1, "model": "m"}
            self._send(200, json.dumps({**answer, "choices": [choice], "usage": usage}).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        self.send_header("x-echo", key)  # httpcore logs response headers at DEBUG
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


class _HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _Hostile)
        self.password = password
        self.received: list[tuple[str, str]] = []


SUITE = """
import os

import pytest

from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

URL = os.environ["HOSTILE_URL"]
ENV_KEY = ModelConfig(name="env-key", model="m", base_url=URL)
CUSTOM_KEY = ModelConfig(name="custom-key", model="m2", base_url=URL, api_key_env="LLM_PASSPHRASE")
NAMED_BY_URL = ENV_KEY.variant(base_url=URL + "&v=2", temperature=0.5)  # named by its changes
CONFIGS = [ENV_KEY, CUSTOM_KEY, NAMED_BY_URL]


@pytest.mark.chatexp(model_configs=CONFIGS, messages=[{"role": "user", "content": "echo"}])
def test_echoed_answers(chatexp, chatexp_snapshot):
    print(chatexp.cases[0].samples[0].output)
    assert chatexp == chatexp_snapshot
    c.assert_samples(chatexp, c.contains("a phrase no answer has"))


@pytest.mark.chatexp(model_configs=[ENV_KEY], messages=[{"role": "user", "content": "echo"}])
def test_config_in_an_assertion(chatexp):
    assert chatexp.cases[0].config.base_url == "http://elsewhere"


@pytest.mark.chatexp(model_configs=CONFIGS, messages=[{"role": "user", "content": "reject"}])
def test_rejected(chatexp):
    pass


@pytest.mark.chatexp(model_configs=[CUSTOM_KEY], messages=[{"role": "user", "content": "garble"}])
def test_garbled(chatexp):
    pass
"""


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_HostileServer, dict[str, str]]]:
    """The hostile server, and canaries: two keys in the environment (one under a name no rule
    knows), a key in the base URL's query string and a password in its userinfo."""
    canaries = {
        "OPENAI_API_KEY": LABEL + _secret(),
        "LLM_PASSPHRASE": LABEL + _secret(),
        "query key": _secret(),
        "password": _secret(12),
    }
    server = _HostileServer(canaries["password"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    monkeypatch.setenv("OPENAI_API_KEY", canaries["OPENAI_API_KEY"])
    monkeypatch.setenv("LLM_PASSPHRASE", canaries["LLM_PASSPHRASE"])
    url = f"http://user:{canaries['password']}@127.0.0.1:{port}/v1?key={canaries['query key']}"
    monkeypatch.setenv("HOSTILE_URL", url)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)  # this test picks its record modes
    try:
        yield server, canaries
    finally:
        server.shutdown()
        server.server_close()


LOUD = (
    "-vv",
    "-rA",
    "-l",
    "--log-level=DEBUG",
    "-o",
    "log_cli=true",
    "--log-cli-level=DEBUG",
    "--log-file=run.log",
    "--log-file-level=DEBUG",
    "--junitxml=junit.xml",
    "-o",
    "junit_logging=all",
    "--chatexp-json=reports/run.json",
    "--chatexp-markdown=reports/run.md",
    "--chatexp-html=reports/run.html",
    "--chatexp-retries=0",
    "--snapshot-update",
)


@pytest.mark.parametrize(
    "options",
    [
        ("--chatexp-record=off",),
        ("--chatexp-record=off", "-p", "xdist", "-n", "2"),
        ("--chatexp-record=all",),
        ("--chatexp-record=new",),
        ("--chatexp-record=once",),
        ("--chatexp-record=none",),
    ],
    ids=["off", "off-xdist", "all", "new", "once", "none"],
)
def test_no_secret_or_fragment_reaches_a_file_or_the_terminal(
    pytester: pytest.Pytester,
    hostile: tuple[_HostileServer, dict[str, str]],
    options: tuple[str, ...],
) -> None:
    server, canaries = hostile
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(*LOUD, *options)
    if "--chatexp-record=off" in options:  # the two echoing tests reach their assertions
        result.assert_outcomes(failed=2, errors=2)
    else:  # a recording that would hold a key is refused; replaying finds none
        result.assert_outcomes(errors=4)

    live = "--chatexp-record=none" not in options
    if live:  # every key went out: the test cannot pass by never sending them
        keys = {key for key, _ in server.received}
        assert keys == {canaries["OPENAI_API_KEY"], canaries["LLM_PASSPHRASE"]}
        assert all(query.startswith(canaries["query key"]) for _, query in server.received)
    files = [
        path for path in pytester.path.rglob("*") if path.is_file() and path.name != "test_suite.py"
    ]
    written = {path.relative_to(pytester.path).parts[0] for path in files}
    assert {"reports", "junit.xml"} <= written, written
    texts = {str(path): path.read_text("utf-8", "replace") for path in files}
    texts["stdout"] = "\n".join(result.outlines)
    texts["stderr"] = "\n".join(result.errlines)
    # The search reads what the runs wrote: the errors (and answers) reached these places.
    marker = "Incorrect API key provided: [REDACTED]" if live else "no recording file yet"
    for where in ("stdout", "junit.xml", "reports/run.json", "reports/run.md", "reports/run.html"):
        name = where if where.startswith("std") else str(pytester.path / where)
        assert marker in texts[name], where
    if "--chatexp-record=off" in options:
        snapshots = [path for path in files if path.suffix == ".chatexp"]
        assert snapshots and all(REDACTED in path.read_text() for path in snapshots)
        assert "Incorrect API key provided: [REDACTED]" in texts["stdout"]
        assert "x" * 100 + "[REDACT..." in texts["stdout"]  # redacted, then cut
        assert "http://127.0.0.1:" in texts["stdout"]  # URLs are shown, without credentials
    for name, canary in canaries.items():
        secret = canary.removeprefix(LABEL)
        runs = {secret[i : i + 8] for i in range(len(secret) - 7)} | {secret[:7]}
        for where, text in texts.items():
            leaked = sorted(run for run in runs if run in text)
            assert not leaked, f"{name}: {len(leaked)} runs of it in {where}"


# The rules.

KEY = LABEL + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


@pytest.fixture
def known_key() -> str:
    remember_secrets([KEY])
    return KEY


@pytest.mark.parametrize(
    "text",
    [
        KEY,
        f"Incorrect API key provided: {KEY[:14]}****{KEY[-4:]}.",
        f"Incorrect API key provided: {KEY[:14]}{'•' * 30}.",
        f"key ending in ****{KEY[-4:]}",
        f"a cut copy: {KEY[:22]}",
        f"its tail: ...{KEY[-8:]}",
        f"its middle: {KEY[20:28]}",
        f"quoted: '{KEY[12:40]}'",
    ],
)
def test_a_known_key_is_redacted_whole_cut_or_masked(known_key: str, text: str) -> None:
    redacted = redact(text)
    assert REDACTED in redacted
    secret = known_key.removeprefix(LABEL)
    assert not any(secret[i : i + 4] in redacted for i in range(len(secret) - 3)), redacted


@pytest.mark.parametrize(
    "text",
    [
        "Keys look like sk-canary-... and start with sk-canary-",  # the label alone
        f"seven chars {KEY[20:27]} are not a fragment",
        "password",
        "****",
        "rated 5***** by users",
        "https://example.com/search?q=cats&page=2",
        "ssh://git@github.com/org/repo",
        "https://user:password@example.com (a placeholder, not a credential)",
    ],
)
def test_what_redaction_leaves_alone(known_key: str, text: str) -> None:
    assert redact(text) == text


def test_short_keys_are_matched_whole_only() -> None:
    short = "hl_sk_Ab3dEf6hIj"  # a secret part of 10 characters
    remember_secrets([short])
    assert redact(f"the key {short}!") == f"the key {REDACTED}!"
    assert redact(f"a part {short[:14]}") == f"a part {short[:14]}"


def test_url_credentials_are_redacted_in_any_text() -> None:
    text = "GET https://bob:Tr0ub4dor@api.example.com/v1?api-version=2024&key=Zz9yXw8vUt7s"
    assert redact(text) == (
        f"GET https://{REDACTED}@api.example.com/v1?api-version=2024&key={REDACTED}"
    )


def test_display_url_drops_userinfo_and_query_values() -> None:
    assert display_url("https://bob:pw@host:8443/v1?key=abc&v=1#top") == (
        f"https://host:8443/v1?key={REDACTED}&v={REDACTED}#top"
    )
    assert display_url("http://127.0.0.1:5/v1") == "http://127.0.0.1:5/v1"
    assert display_url("python:my_app") == "python:my_app"
    assert display_url("http://[::1/v1?key=Zz9yXw8vUt7s") == f"http://[::1/v1?key={REDACTED}"


def test_a_malformed_url_in_the_environment_breaks_nothing() -> None:
    assert url_secrets("http://[::1/v1?key=x") == []
    assert environment_secrets({"SOME_URL": "http://[::1", "MY_TOKEN": "Zz9yXw8vUt7s"}) == [
        "Zz9yXw8vUt7s"
    ]


def test_url_secrets_are_the_password_and_credential_like_query_values() -> None:
    url = "https://bob:pw@h/v1?key=abc%2Bd&api-version=2024-02-01&x=AbCdEfGhIjKlMnOp12"
    assert url_secrets(url) == [
        "pw",
        "abc%2Bd",
        "abc+d",
        "AbCdEfGhIjKlMnOp12",
        "AbCdEfGhIjKlMnOp12",
    ]


def test_credentials_in_environment_urls_are_known_secrets() -> None:
    environ = {"OPENAI_BASE_URL": "https://h/v1?key=Zz9yXw8vUt7sRq6p", "HOME": "/home/x"}
    assert environment_secrets(environ) == ["Zz9yXw8vUt7sRq6p", "Zz9yXw8vUt7sRq6p"]


def test_a_recording_quoting_part_of_a_key_is_refused(tmp_path: Path) -> None:
    request = RecordedRequest("openai", "api.openai.com/v1", {"model": "m", "messages": []})
    body = {"choices": [{"message": {"role": "assistant", "content": f"it starts {KEY[:20]}"}}]}
    interaction = Interaction.record(Call(Label("c", "i", 0), request), body=body, latency_s=0.1)
    with pytest.raises(SecretInRecordingError, match=r"part of a known secret value"):
        update(
            tmp_path / "r.yaml", [interaction], replace_test=False, test="t", known_secrets=[KEY]
        )
    assert not (tmp_path / "r.yaml").exists()
    assert find_secrets(f"{KEY[:14]}****{KEY[-4:]}", [KEY]) == [
        "sk-c… (masked copy of a known secret value)"
    ]


def test_a_collection_error_quoting_a_base_url_shows_no_credential(
    pytester: pytest.Pytester,
) -> None:
    password, key = _secret(12), _secret()
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_chatexp import ModelConfig

        BAD = ModelConfig(model="m", base_url="ftp://user:{password}@host/v1?key={key}")

        @pytest.mark.chatexp(model_configs=[BAD], messages=[{{"role": "user", "content": "hi"}}])
        def test_x(chatexp):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml")
    result.assert_outcomes(errors=1)
    shown = "[[]REDACTED]"  # as an fnmatch pattern
    result.stdout.fnmatch_lines([f"*'ftp://{shown}@host/v1?key={shown}' is not an http(s) URL*"])
    for text in ("\n".join(result.outlines), (pytester.path / "junit.xml").read_text()):
        assert password not in text and key[:8] not in text
