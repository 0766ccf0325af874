"""End to end: API keys never leave the process, on any provider, in any file or output.

A whole suite runs with canary keys against the loopback reference server, on every provider
(OpenAI, streamed too; Anthropic, streamed too; Gemini, streamed too; Humanloop; OpenAI
Responses, streamed; Azure OpenAI chat and Responses; an app that sends its own bearer
token through the recording transport), with snapshots and a failing check: once recording, once
replaying, with every report and the noisiest output options. Then every file the sessions left
and everything they printed is searched for each canary. The server must have received every
canary, so the test cannot pass by never sending them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_chatexp.testing import ReferenceServer

SUITE = '''
import os

import pytest

from pytest_chatexp import AppReply, ModelConfig
from pytest_chatexp import checks as c

TEMPLATE = [
    {"role": "system", "content": "You help the customers of {{company}}."},
    {"role": "user", "content": "{{q}}"},
]
# A gateway's credential in a custom header and a query parameter: escape hatches whose values
# the plugin must treat as secrets, though no variable name says they are.
OPENAI = ModelConfig(
    name="openai", model="gpt-4o-mini", temperature=0.2, chat_template=TEMPLATE,
    headers={"X-Gateway-Auth": os.environ["GATEWAY_HEADER"]},
    query={"gw": os.environ["GATEWAY_QUERY"]},
)
ANTHROPIC = ModelConfig(
    name="anthropic", provider="anthropic", model="claude-x", max_tokens=64, chat_template=TEMPLATE
)
GEMINI = ModelConfig(
    name="gemini", provider="gemini", model="gemini-2.5-flash", chat_template=TEMPLATE
)
HUMANLOOP = ModelConfig(
    name="humanloop", provider="humanloop", model="gpt-4o-mini", chat_template=TEMPLATE
)
AZURE = ModelConfig(
    name="azure", provider="azure_openai", model="my-deployment", chat_template=TEMPLATE
)


async def support_app(call):
    """An app with its own credential, sent as a header on the recording transport."""
    headers = {"Authorization": "Bearer " + os.environ["SUPPORT_APP_TOKEN"]}
    async with call.http_client(base_url=os.environ["APP_MODEL_URL"], headers=headers) as client:
        answer = await client.post(
            "/chat/completions",
            json={
                "model": "app-model",
                "messages": [m.model_dump(exclude_none=True) for m in call.messages],
            },
        )
    answer.raise_for_status()
    text = answer.json()["choices"][0]["message"]["content"]
    return AppReply(message=text, usage={"prompt_tokens": 4, "generation_tokens": 2, "total_tokens": 6})


APP = ModelConfig.for_app(support_app, chat_template=TEMPLATE)
CONFIGS = [
    OPENAI,
    OPENAI.variant(name="openai-stream", other={"stream": True}),
    ANTHROPIC,
    ANTHROPIC.variant(name="anthropic-stream", other={"stream": True}),
    GEMINI,
    GEMINI.variant(name="gemini-stream", other={"stream": True}),
    HUMANLOOP,
    APP,
    OPENAI.variant(name="responses-stream", provider="openai_responses", other={"stream": True}),
    AZURE,
    AZURE.variant(name="azure-responses", provider="azure_openai_responses"),
]
INPUTS = [
    {"id": "late", "company": "Acme", "q": "Where is my order?"},
    {"id": "refund", "company": "Acme", "q": "I want a refund."},
]


@pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS, num_samples=2)
def test_every_provider(chatexp, chatexp_snapshot):
    c.assert_samples(chatexp, c.not_truncated(), c.length(min=1))
    assert chatexp == chatexp_snapshot


@pytest.mark.chatexp(model_configs=[OPENAI, ANTHROPIC, HUMANLOOP, APP], inputs=INPUTS)
def test_a_failing_check(chatexp):
    c.assert_samples(chatexp, c.contains("a phrase no answer has"))
'''

# Canaries that look like the real thing (prefix, mixed case, digits, length), fresh per run.
KEY_ENVS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "HUMANLOOP_API_KEY",
    "SUPPORT_APP_TOKEN",
    "AZURE_OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GATEWAY_HEADER",
    "GATEWAY_QUERY",
)
PREFIXES = (
    "sk-canary-",
    "sk-ant-canary-",
    "hlk-canary-",
    "app-canary-",
    "azk-canary-",
    "AIza-canary-",
    "gw-canary-",
    "gq-canary-",
)
LOUD = ("-vv", "-rA", "-l", "--log-level=DEBUG", "--junitxml=junit-{run}.xml")
REPORTS = (
    "--chatexp-json=reports/{run}.json",
    "--chatexp-markdown=reports/{run}.md",
    "--chatexp-html=reports/{run}.html",
)


def _canary(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24).replace("-", "x").replace("_", "Y")


@pytest.fixture
def canaries(server: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Canary keys in the environment; every provider's base URL points at the server."""
    keys = {name: _canary(prefix) for name, prefix in zip(KEY_ENVS, PREFIXES, strict=True)}
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("GEMINI_BASE_URL", server.url)
    monkeypatch.setenv("HUMANLOOP_BASE_URL", server.url + "/v4")
    monkeypatch.setenv("APP_MODEL_URL", server.base_url)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)  # this test picks its record modes
    server.humanloop.clear()
    yield keys
    server.humanloop.clear()


def _run(pytester: pytest.Pytester, run: str, *args: str) -> pytest.RunResult:
    options = [option.format(run=run) for option in (*LOUD, *REPORTS)]
    return pytester.runpytest(*options, *args)


def _forms(key: str) -> list[str]:
    """The key, its secret part, and either end of that: a masked or cut copy still shows."""
    secret = key.split("-canary-", 1)[1]
    return [key, secret, secret[:12], secret[-12:]]


def test_no_key_reaches_a_file_or_the_terminal(
    pytester: pytest.Pytester, server: ReferenceServer, canaries: dict[str, str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)

    recorded = _run(pytester, "record", "--chatexp-record=all", "--snapshot-update")
    recorded.assert_outcomes(passed=1, failed=1)
    # Every key went to the server, in its provider's header.
    sent = {
        (request.path, name, value)
        for request in server.requests
        for name, value in request.headers.items()
        if name in ("authorization", "x-api-key", "api-key", "x-goog-api-key")
    }
    assert ("/v1/chat/completions", "authorization", f"Bearer {canaries['OPENAI_API_KEY']}") in sent
    assert ("/v1/messages", "x-api-key", canaries["ANTHROPIC_API_KEY"]) in sent
    assert ("/v4/chat", "x-api-key", canaries["HUMANLOOP_API_KEY"]) in sent
    assert ("/v1/responses", "authorization", f"Bearer {canaries['OPENAI_API_KEY']}") in sent
    assert ("/openai/v1/responses", "api-key", canaries["AZURE_OPENAI_API_KEY"]) in sent
    azure_chat = "/openai/deployments/my-deployment/chat/completions"
    assert (azure_chat, "api-key", canaries["AZURE_OPENAI_API_KEY"]) in sent
    for action in ("generateContent", "streamGenerateContent"):
        path = f"/v1beta/models/gemini-2.5-flash:{action}"
        assert (path, "x-goog-api-key", canaries["GEMINI_API_KEY"]) in sent
    assert (
        "/v1/chat/completions",
        "authorization",
        f"Bearer {canaries['SUPPORT_APP_TOKEN']}",
    ) in sent
    # The custom header and query went with every call of the config, streamed or not.
    gateway = [r for r in server.requests if r.headers.get("x-gateway-auth")]
    # openai, openai-stream and responses-stream (its variant): 2 inputs x 2 samples each; + 2 in
    # the failing test
    assert len(gateway) == 14
    assert {r.headers["x-gateway-auth"] for r in gateway} == {canaries["GATEWAY_HEADER"]}
    assert all(r.query == f"gw={canaries['GATEWAY_QUERY']}" for r in gateway)
    app_calls = [r for r in server.requests if r.json and r.json.get("model") == "app-model"]
    assert len(app_calls) == 6  # 2 inputs x 2 samples, plus 2 inputs in the failing test

    server.requests.clear()
    replayed = _run(pytester, "replay")
    replayed.assert_outcomes(passed=1, failed=1)
    assert not server.requests, "the replay called the server"
    replayed.stdout.fnmatch_lines(
        [
            "E * 8 of 8 cases fail [[]contains('a phrase no answer has')]*",
            "E *support_app/refund *0/1 passed*",
            "total: 2 experiments, 52 calls*",
        ]
    )

    # What there is to search: the recordings, snapshots, reports and junit files, caches, all.
    files = [path for path in pytester.path.rglob("*") if path.is_file()]
    names = {path.relative_to(pytester.path).parts[0] for path in files}
    assert {
        "__recordings__",
        "__snapshots__",
        "reports",
        "junit-record.xml",
        ".pytest_cache",
    } <= names, names
    assert len(list((pytester.path / "reports").iterdir())) == 6
    # The search reads what the runs wrote: every kind of file holds the conversation.
    for group in ("__recordings__", "__snapshots__", "reports", "junit-replay.xml"):
        assert any(
            b"Where is my order?" in path.read_bytes()
            for path in files
            if path.relative_to(pytester.path).parts[0] == group
        ), group
    _assert_no_key_in(files, {"record": recorded, "replay": replayed}, canaries)


def test_no_key_reaches_a_file_or_the_terminal_with_recording_off(
    pytester: pytest.Pytester, server: ReferenceServer, canaries: dict[str, str]
) -> None:
    """Nothing is recorded, so no recording scan runs: snapshots, reports, JUnit XML and the
    terminal are kept clean by redaction alone."""
    pytester.makepyfile(test_suite=SUITE)
    result = _run(pytester, "off", "--chatexp-record=off", "--snapshot-update")
    result.assert_outcomes(passed=1, failed=1)
    sent = {value for request in server.requests for value in request.headers.values()}
    sent |= {request.query.partition("=")[2] for request in server.requests}
    assert all(key in sent or f"Bearer {key}" in sent for key in canaries.values())
    files = [path for path in pytester.path.rglob("*") if path.is_file()]
    names = {path.relative_to(pytester.path).parts[0] for path in files}
    assert {"__snapshots__", "reports", "junit-off.xml"} <= names, names
    assert "__recordings__" not in names
    _assert_no_key_in(files, {"off": result}, canaries)


def _assert_no_key_in(
    files: list[Path], results: dict[str, pytest.RunResult], canaries: dict[str, str]
) -> None:
    outputs = {
        f"{run} {stream}": "\n".join(getattr(result, stream).lines)
        for run, result in results.items()
        for stream in ("stdout", "stderr")
    }
    assert "Bearer" not in "".join(outputs.values())
    for env, key in canaries.items():
        for form in _forms(key):
            for path in files:
                assert form.encode() not in path.read_bytes(), f"{env} ({form!r}) in {path}"
            for where, text in outputs.items():
                assert form not in text, f"{env} ({form!r}) in the {where}"


BEDROCK_SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

BEDROCK = ModelConfig(name="bedrock", provider="bedrock", model="anthropic.claude-x-v1:0",
                      chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(model_configs=[BEDROCK, BEDROCK.variant(name="bedrock-stream", other={"stream": True})],
                     inputs=[{"id": "late", "q": "Where is my order?"}])
def test_bedrock(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot
    c.assert_samples(chatexp, c.contains("a phrase no answer has"))
"""


@pytest.mark.parametrize("auth", ["bearer", "sigv4"])
def test_no_bedrock_key_or_aws_secret_reaches_a_file_or_the_terminal(
    pytester: pytest.Pytester,
    server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    auth: str,
) -> None:
    """Bedrock's bearer key, and the AWS secret key and session token its SigV4 signature is
    made with (never sent themselves), in no file or output, recording then replaying."""
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.setenv("BEDROCK_BASE_URL", server.url)
    for name in ("AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, "true" if name.endswith("DISABLED") else "/nonexistent")
    if auth == "bearer":
        canaries = {"AWS_BEARER_TOKEN_BEDROCK": _canary("ABSK-canary-")}
    else:
        monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        canaries = {
            "AWS_SECRET_ACCESS_KEY": _canary("aws-canary-"),
            "AWS_SESSION_TOKEN": _canary("IQo-canary-"),
        }
    for name, value in canaries.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_suite=BEDROCK_SUITE)
    recorded = _run(pytester, "record", "--chatexp-record=all", "--snapshot-update")
    recorded.assert_outcomes(failed=1)
    paths = {request.path.rsplit("/", 1)[1] for request in server.requests}
    assert paths == {"converse", "converse-stream"}
    authorizations = {request.headers["authorization"] for request in server.requests}
    if auth == "bearer":
        assert authorizations == {f"Bearer {canaries['AWS_BEARER_TOKEN_BEDROCK']}"}
    else:
        assert all(value.startswith("AWS4-HMAC-SHA256 ") for value in authorizations)
        tokens = {request.headers["x-amz-security-token"] for request in server.requests}
        assert tokens == {canaries["AWS_SESSION_TOKEN"]}
    server.requests.clear()
    replayed = _run(pytester, "replay")
    replayed.assert_outcomes(failed=1)
    assert not server.requests, "the replay called the server"
    files = [path for path in pytester.path.rglob("*") if path.is_file()]
    assert any(b"Where is my order?" in path.read_bytes() for path in files)
    _assert_no_key_in(files, {"record": recorded, "replay": replayed}, canaries)
    for path in files:  # nor any signature made with them
        assert b"AWS4-HMAC-SHA256" not in path.read_bytes(), path
