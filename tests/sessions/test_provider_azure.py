"""Azure OpenAI (``azure_openai``, Humanloop's ``openai_azure``, ``azure_openai_responses``)
over the reference server's Azure routes: deployment URLs with their api-version, the
``api-key`` header or an Entra bearer token, faults, and a recording replayed offline."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pytest_chatexp._providers._azure import DEFAULT_API_VERSION
from pytest_chatexp.testing import Fault, ReferenceServer
from tests._suite import Suite

KEY = "azk-canaryQ81keyThatMustNotShowUp"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.canary-entra-token"

SUITE = """
import pytest
from pytest_chatexp import ModelConfig, Tool

TEMPLATE = [{"role": "user", "content": "{{q}}"}]
CHAT = ModelConfig(name="chat", provider="azure_openai", model="my-gpt4o", chat_template=TEMPLATE)
HUMANLOOP_NAME = CHAT.variant(name="hl", provider="openai_azure")
RESPONSES = CHAT.variant(name="responses", provider="azure_openai_responses")
CONFIGS = [CHAT, HUMANLOOP_NAME, RESPONSES]
CONFIGS += [c.variant(name=c.name + "-s", other={"stream": True}) for c in CONFIGS]

@pytest.mark.chatexp(model_configs=CONFIGS, inputs=[{"id": "x", "q": "hello azure"}])
def test_azure(chatexp):
    for case in chatexp.cases:
        sample = case.samples[0]
        assert sample.output == "echo: hello azure", case.config.name
        assert sample.usage.prompt_tokens == 3 and sample.usage.generation_tokens == 3
        assert sample.finish_reason == "stop"

PLAN = '[[tool: lookup {"id": "7"}]]'
TOOLS = [Tool(name="lookup", parameters={"type": "object", "properties": {"id": {"type": "string"}}})]

@pytest.mark.chatexp(model_configs=[CHAT.variant(name="t", tools=TOOLS), RESPONSES.variant(name="rt", tools=TOOLS)],
                     inputs=[{"id": "t", "q": PLAN}])
def test_tool_call(chatexp):
    for case in chatexp.cases:
        [call] = case.samples[0].tool_calls
        assert (call.function.name, call.function.arguments) == ("lookup", '{"id":"7"}')
        assert case.samples[0].finish_reason == "tool_call"
"""


@pytest.fixture
def azure(server: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReferenceServer]:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.delenv("AZURE_OPENAI_AD_TOKEN", raising=False)
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    server.faults.clear()
    yield server
    server.faults.clear()


def test_deployment_urls_api_version_and_the_api_key_header(
    suite: Suite, azure: ReferenceServer
) -> None:
    suite.write(SUITE).run().assert_outcomes(passed=2).assert_clean()
    paths = {(r.path, r.query) for r in azure.requests}
    assert paths == {
        ("/openai/deployments/my-gpt4o/chat/completions", f"api-version={DEFAULT_API_VERSION}"),
        ("/openai/v1/responses", ""),
    }
    assert all(r.headers["api-key"] == KEY for r in azure.requests)
    assert not any("authorization" in r.headers for r in azure.requests)


def test_the_api_version_comes_from_the_environment_or_the_base_url(
    suite: Suite, azure: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    suite.write(SUITE).run("-k", "tool_call").assert_outcomes(passed=1)
    chat = [r for r in azure.requests if "deployments" in r.path]
    assert [r.query for r in chat] == ["api-version=2025-04-01-preview"]
    azure.requests.clear()
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure.url + "?api-version=2024-06-01")
    suite.run("-k", "tool_call").assert_outcomes(passed=1)
    chat = [r for r in azure.requests if "deployments" in r.path]
    assert [r.query for r in chat] == ["api-version=2024-06-01"]


def test_an_entra_token_is_a_bearer_header(
    suite: Suite, azure: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", TOKEN)
    run = suite.write(SUITE).run("-k", "tool_call").assert_outcomes(passed=1)
    assert [r.headers.get("authorization") for r in azure.requests] == [f"Bearer {TOKEN}"] * 2
    assert not any("api-key" in r.headers for r in azure.requests)
    assert TOKEN not in run.text


def test_without_an_endpoint_the_error_says_what_to_set(
    suite: Suite, azure: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    run = suite.write(SUITE).run("-k", "tool_call")
    run.fnmatch("*has no Azure endpoint: set AZURE_OPENAI_ENDPOINT or the config's base_url*")
    assert not azure.requests


def test_a_429_is_retried_and_a_400_fails_at_once_without_the_key(
    suite: Suite, azure: ReferenceServer
) -> None:
    azure.faults.add(Fault.status(429), times=2)
    suite.write(SUITE).run("--chatexp-backoff=0.01", "-k", "tool_call").assert_outcomes(passed=1)
    assert len(azure.requests) == 4
    azure.requests.clear()
    azure.faults.add(Fault.status(400, message="The deployment is being updated"), times=5)
    run = suite.run("--chatexp-backoff=0.01", "-k", "tool_call")
    run.assert_outcomes(errors=1)
    run.fnmatch("*The deployment is being updated*")
    assert KEY not in run.text and KEY[10:] not in run.text


def test_record_then_replay_offline_without_the_api_version_in_the_files(
    suite: Suite, azure: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    recorded = suite.write(SUITE).run("--chatexp-record=all").assert_outcomes(passed=2)
    endpoints = {
        i["request"]["endpoint"] for r in recorded.recordings().values() for i in r["interactions"]
    }
    assert endpoints == {
        "localhost/openai/deployments/my-gpt4o/chat/completions",
        "localhost/openai/v1/responses",
    }
    for path in (suite.path / "__recordings__").rglob("*.yaml"):
        text = path.read_text()
        assert "api-version" not in text and KEY not in text
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OPENAI_API_VERSION", "2099-01-01")  # not part of the fingerprint
    azure.requests.clear()
    suite.run().assert_outcomes(passed=2)
    assert not azure.requests


def test_the_reference_server_refuses_what_azure_refuses(azure: ReferenceServer) -> None:
    url = azure.url + "/openai/deployments/d/chat/completions"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    no_key = httpx.post(url + "?api-version=2024-10-21", json=body)
    assert no_key.status_code == 401
    no_version = httpx.post(url, json=body, headers={"api-key": "k"})
    assert no_version.status_code == 404
    ok = httpx.post(url + "?api-version=2024-10-21", json=body, headers={"api-key": "k"})
    assert ok.status_code == 200 and ok.json()["model"] == "d"
    responses = httpx.post(
        azure.url + "/openai/v1/responses", json={"model": "d", "input": "hi"}, timeout=5
    )
    assert responses.status_code == 401
