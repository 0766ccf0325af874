"""Your own application as the experiment's target, with its HTTP calls recorded."""

from __future__ import annotations

import pytest
import yaml

from pytest_chatexp.testing import ReferenceServer

APP = '''
import json, os, pathlib
import pytest
from pytest_chatexp import AppReply, ModelConfig

RUNS = pathlib.Path("runs.txt")

async def support_bot(call):
    """A tiny 'app': calls a model through the plugin's recording transport, post-processes."""
    with RUNS.open("a") as runs:
        runs.write("x")
    async with call.http_client(base_url=os.environ["MODEL_URL"]) as client:
        answer = await client.post("/chat/completions", json={
            "model": call.config.other["model_name"],
            "messages": [m.model_dump(exclude_none=True) for m in call.messages],
        })
    text = answer.json()["choices"][0]["message"]["content"]
    return AppReply(message=text.upper(), usage={"prompt_tokens": 3, "generation_tokens": 2, "total_tokens": 5})

def shouting_sync_bot(call):
    with call.sync_http_client(base_url=os.environ["MODEL_URL"]) as client:
        answer = client.post("/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": call.inputs["q"]}]})
    return answer.json()["choices"][0]["message"]["content"] + "!"

def tool_bot(call):
    return {"content": None, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": json.dumps({"q": call.inputs["q"]})}}]}

def broken_bot(call):
    raise KeyError("no such customer")

TEMPLATE = [{"role": "user", "content": "{{q}}"}]
ASYNC_APP = ModelConfig.for_app(support_bot, chat_template=TEMPLATE, other={"model_name": "ref"})
SYNC_APP = ModelConfig.for_app(shouting_sync_bot, chat_template=TEMPLATE)
TOOL_APP = ModelConfig.for_app(tool_bot, chat_template=TEMPLATE)

@pytest.mark.chatexp(model_configs=[ASYNC_APP, SYNC_APP], inputs=[{"id": "a", "q": "hello"}, {"id": "b", "q": "bye"}], num_samples=2)
def test_apps(chatexp):
    assert chatexp.case("support_bot", "a").outputs == ["ECHO: HELLO"] * 2
    assert chatexp.case("shouting_sync_bot", "b").outputs == ["echo: bye!"] * 2
    assert chatexp.case("support_bot", "a").usage.total_tokens == 10

@pytest.mark.chatexp(model_configs=[TOOL_APP], inputs=[{"q": "order 7"}])
def test_tools(chatexp):
    (sample,) = chatexp.samples
    assert sample.tool_calls[0].function.name == "lookup"
    assert sample.finish_reason == "tool_call"

@pytest.mark.chatexp(model_configs=[ModelConfig.for_app(broken_bot, chat_template=TEMPLATE)], inputs=[{"q": "x"}])
def test_broken(chatexp):
    pass
'''


@pytest.fixture
def app_suite(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.setenv("MODEL_URL", server.base_url)
    pytester.makepyfile(test_app=APP)
    return pytester


def test_apps_run_and_their_http_calls_replay_offline(
    app_suite: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = app_suite.runpytest("--chatexp-record=all", "-k", "apps or tools")
    recorded.assert_outcomes(passed=2, deselected=1)
    # Calls are the HTTP calls that went out (what the server saw): the tools app makes none.
    recorded.stdout.fnmatch_lines(["total: 2 experiments, 8 calls (0 replayed, 8 live)*"])
    assert len(server.requests) == 8  # 2 apps x 2 inputs x 2 samples, one model call each
    recording = yaml.safe_load(
        (app_suite.path / "__recordings__" / "test_app" / "test_apps.yaml").read_text()
    )
    assert len(recording["interactions"]) == 8
    request = recording["interactions"][0]["request"]
    assert request["provider"] == "http" and request["endpoint"] == "localhost/v1/chat/completions"
    assert request["body"]["method"] == "POST" and request["body"]["sequence"] == 1

    monkeypatch.setenv("MODEL_URL", "http://127.0.0.1:9/v1")  # nothing listens: replay only
    server.requests.clear()
    runs_before = len((app_suite.path / "runs.txt").read_text())
    replayed = app_suite.runpytest("-k", "apps or tools")
    replayed.assert_outcomes(passed=2, deselected=1)
    # Every HTTP call the apps make is replayed: nothing went out.
    replayed.stdout.fnmatch_lines(["total: 2 experiments, 8 calls (8 replayed, 0 live)*"])
    assert not server.requests
    assert len((app_suite.path / "runs.txt").read_text()) == runs_before + 4  # the app itself ran


def test_an_app_that_raises_names_the_case(app_suite: pytest.Pytester) -> None:
    result = app_suite.runpytest("--chatexp-record=off", "-k", "broken")
    result.assert_outcomes(errors=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_app.py::test_broken: model config 'broken_bot', input 'input-0', sample 0: the app test_app:broken_bot raised KeyError: 'no such customer'"
        ]
    )


def test_an_app_call_without_a_recording_is_the_usual_miss(app_suite: pytest.Pytester) -> None:
    result = app_suite.runpytest("-k", "apps")
    result.assert_outcomes(errors=1, deselected=2)
    result.stdout.fnmatch_lines(
        ["chatexp: test_app.py::test_apps: 8 of 8 calls have no matching recording*"]
    )


SDK_APP = """
import os
import httpx2, openai, pytest
from pytest_chatexp import ModelConfig

async def with_openai_sdk(call):
    client = openai.AsyncOpenAI(base_url=os.environ["MODEL_URL"], api_key="sk-test-not-a-secret",
                                http_client=httpx2.AsyncClient(transport=call.httpx2_transport()))
    completion = await client.chat.completions.create(
        model="ref", messages=[m.model_dump(exclude_none=True) for m in call.messages])
    return completion.choices[0].message.content

def with_sync_openai_sdk(call):
    client = openai.OpenAI(base_url=os.environ["MODEL_URL"], api_key="sk-test-not-a-secret",
                           http_client=httpx2.Client(transport=call.httpx2_transport()))
    first = client.chat.completions.create(model="ref", messages=[{"role": "user", "content": "one"}])
    second = client.chat.completions.create(model="ref", messages=[{"role": "user", "content": "one"}])
    return first.choices[0].message.content + " / " + second.choices[0].message.content

TEMPLATE = [{"role": "user", "content": "{{q}}"}]

@pytest.mark.chatexp(model_configs=[ModelConfig.for_app(with_openai_sdk, chat_template=TEMPLATE),
                                    ModelConfig.for_app(with_sync_openai_sdk, chat_template=TEMPLATE)],
                     inputs=[{"q": "hi"}], num_samples=2)
def test_sdk(chatexp):
    assert chatexp.case("with_openai_sdk").outputs == ["echo: hi"] * 2
    assert chatexp.case("with_sync_openai_sdk").outputs == ["echo: one / echo: one"] * 2
"""


def test_the_official_openai_sdk_records_through_httpx2(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """openai>=3 is built on httpx2: the app hands it the plugin's httpx2 transport."""
    pytest.importorskip("openai")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.setenv("MODEL_URL", server.base_url)
    pytester.makepyfile(test_sdk=SDK_APP)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    assert len(server.requests) == 6  # 2 + 2 x 2 calls; the two identical calls stay two entries
    recording = (pytester.path / "__recordings__" / "test_sdk" / "test_sdk.yaml").read_text()
    assert "sk-test-not-a-secret" not in recording
    monkeypatch.setenv("MODEL_URL", "http://127.0.0.1:9/v1")
    server.requests.clear()
    pytester.runpytest().assert_outcomes(passed=1)
    assert not server.requests
