"""The Humanloop v4 provider, end to end: pytester sessions over real loopback HTTP against the
reference server's ``/v4/chat*`` routes, plus the provider's seams tested on their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from pytest_chatexp import Input, ModelConfig, Tool
from pytest_chatexp._calls._exchange import sample_from
from pytest_chatexp._calls._target import CallOutcome
from pytest_chatexp._errors import InvalidExperimentError, ProviderError
from pytest_chatexp._experiment._humanloop import (
    ChatMessage,
    ChatResponse,
    FunctionTool,
    ToolCall,
    Usage,
)
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider
from pytest_chatexp._providers._humanloop import HumanloopProvider, assemble_stream
from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply
from pytest_chatexp.testing._humanloop import HumanloopBackend
from tests._suite import assert_clean, report_cases

Json = dict[str, Any]

DATA = Path(__file__).parents[2] / "data" / "humanloop"
OPENAPI: Json = json.loads((DATA / "v4-chat.openapi.json").read_text())
# Looks like a real credential (mixed case, digits), so nothing may ever write it down.
API_KEY = "hlkey-Secret-7f3a9c2e5b1d4f60A"
PROVIDER = HumanloopProvider()


@pytest.fixture
def humanloop(
    server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ReferenceServer]:
    """The reference server as Humanloop's API, with a key, and its Humanloop state fresh."""
    monkeypatch.setenv("HUMANLOOP_BASE_URL", server.url + "/v4")
    monkeypatch.setenv("HUMANLOOP_API_KEY", API_KEY)
    server.humanloop.clear()
    yield server
    server.humanloop.clear()


REPORT = "report.json"


def _run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_hl=source)
    return pytester.runpytest(f"--chatexp-json={REPORT}", *args)


def _rows(pytester: pytest.Pytester) -> list[Json]:
    """The last run's samples, from its JSON report: each with its config, input and index, its
    ``ChatDataResponse`` as Humanloop's JSON, its usage, whether it streamed and was replayed."""
    report = json.loads((pytester.path / REPORT).read_text())
    return [
        {
            "config": case["config"],
            "input": case["input"],
            "index": sample["index"],
            "data": case["chat_response"]["data"][sample["index"]],
            "usage": Usage.model_validate(sample["usage"]).to_json_dict(),
            "streamed": sample["first_token_s"] is not None,
            "replayed": sample["replayed"],
        }
        for case in report_cases(report)
        for sample in case["samples"]
    ]


def _schema_errors(body: Json, schema_name: str) -> list[str]:
    """Where ``body`` breaks Humanloop's own v4 schema (additionalProperties: false)."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": OPENAPI["components"]}
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(body)
    ]


def _model_requests(server: ReferenceServer) -> list[Json]:
    return [request.json for request in server.requests if request.path.startswith("/v4/")]


# --- /chat: inline config ---------------------------------------------------------------------

INLINE = """
import pytest
from pytest_chatexp import ModelConfig, Tool

CONFIG = ModelConfig(
    name="support-hl",
    provider="humanloop",
    model="gpt-4o",
    temperature=0.2,
    max_tokens=64,
    chat_template=[{"role": "system", "content": "You are a support agent for {{company}}."}],
    tools=[Tool(name="lookup_order", description="Find an order by id",
                parameters={"type": "object", "properties": {"order_id": {"type": "string"}},
                            "required": ["order_id"]})],
    tool_choice="auto",
    other={"project": "support", "humanloop_provider": "openai", "user": "qa-bot"},
)

@pytest.mark.chatexp(
    model_configs=[CONFIG],
    inputs=[{"id": "late", "company": "Acme", "question": "Where is order A1?"}],
    messages=[{"role": "user", "content": "{{question}}"}],
)
def test_support(chatexp):
    assert chatexp.samples[0].finish_reason == "tool_call"
"""


def test_chat_with_an_inline_config_maps_tool_calls_and_usage(
    pytester: pytest.Pytester, humanloop: ReferenceServer
) -> None:
    humanloop.add_rule(
        Reply(
            text="Let me check. ",
            tool_calls=[ToolCallReply("lookup_order", {"order_id": "A1"})],
            usage={"reasoning_tokens": 7},
        ),
        when="order A1",
    )
    _run(pytester, INLINE).assert_outcomes(passed=1)

    [request] = humanloop.requests
    assert request.path == "/v4/chat"
    assert request.headers["x-api-key"] == API_KEY
    body = request.json
    assert _schema_errors(body, "ChatRequest") == []
    # Humanloop renders the template: it gets the template as written, and the inputs.
    assert body["model_config"] == {
        "model": "gpt-4o",
        "provider": "openai",
        "max_tokens": 64,
        "temperature": 0.2,
        "chat_template": [
            {"role": "system", "content": "You are a support agent for {{company}}."}
        ],
        "tools": [
            {
                "name": "lookup_order",
                "description": "Find an order by id",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"],
                },
            }
        ],
    }
    # The flat row's "id" names the case: it is not sent as a template input.
    assert body["inputs"] == {"company": "Acme", "question": "Where is order A1?"}
    assert body["messages"] == [{"role": "user", "content": "Where is order A1?"}]
    assert (body["num_samples"], body["project"], body["user"], body["tool_choice"]) == (
        1,
        "support",
        "qa-bot",
        "auto",
    )
    assert "stream" not in body and "provider_api_keys" not in body

    [row] = _rows(pytester)
    data = row["data"]
    assert data["model_config_id"] == HumanloopBackend.config_id(body["model_config"])
    assert data["finish_reason"] == "tool_call"
    assert (data["raw_output"], data["output"]) == ("Let me check. ", "Let me check.")
    call_id = data["tool_calls"][0]["id"]
    assert call_id.startswith("call_")
    assert data["output_message"]["tool_calls"] == [
        {
            "id": call_id,
            "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order_id":"A1"}'},
        }
    ]
    assert data["tool_calls"] == data["output_message"]["tool_calls"]
    assert data["tool_call"] == {"name": "lookup_order", "arguments": '{"order_id":"A1"}'}
    # prompt: "You are a support agent for Acme." (7 words) + "Where is order A1?" (4), +1 each;
    # generation: 3 words of text, the tool's name and its one-word arguments.
    assert row["usage"] == {
        "prompt_tokens": 13,
        "generation_tokens": 5,
        "total_tokens": 18,
        "reasoning_tokens": 7,
    }
    # The sample's messages are what the provider got: the rendered template, then the question.
    assert [m["content"] for m in data["messages"]] == [
        "You are a support agent for Acme.",
        "Where is order A1?",
    ]


# --- stored configs: /chat-experiment, /chat-model-config, /chat-deployed ------------------------

EXPERIMENT = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="support-exp", provider="humanloop", model="exp_support",
    other={"experiment_id": "exp_support", "project": "support"},
)
INPUTS = [{"id": f"q{n}", "question": f"question number {n}?"} for n in range(6)]

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=INPUTS, num_samples=2,
                     messages=[{"role": "user", "content": "{{question}}"}])
def test_experiment(chatexp):
    assert chatexp.samples  # the outer test reads them from the JSON report
"""

EXPERIMENT_CONFIGS: list[Json] = [
    {"model": "gpt-4o", "chat_template": [{"role": "system", "content": "Variant A"}]},
    {"model": "gpt-4o-mini", "chat_template": [{"role": "system", "content": "Variant B"}]},
    {"id": "config_c", "model": "claude", "provider": "anthropic", "temperature": 0.5},
]


def test_chat_experiment_samples_carry_the_config_the_server_chose(
    pytester: pytest.Pytester, humanloop: ReferenceServer
) -> None:
    ids = humanloop.humanloop.add_experiment("exp_support", EXPERIMENT_CONFIGS)
    assert ids[2] == "config_c"
    _run(pytester, EXPERIMENT).assert_outcomes(passed=1)

    bodies = _model_requests(humanloop)
    assert len(bodies) == 12  # 6 inputs x 2 samples, one call each
    for body in bodies:
        assert _schema_errors(body, "ChatExperimentRequest") == []
        assert body["experiment_id"] == "exp_support"
        assert body["num_samples"] == 1 and body["project"] == "support"
        assert "model_config" not in body
    expected = {
        (body["messages"][0]["content"], body["metadata"]["chatexp_sample"]): (
            HumanloopBackend.config_id(humanloop.humanloop.choose("exp_support", body, 0))
        )
        for body in bodies
    }
    rows = _rows(pytester)
    assert len(rows) == 12
    chosen = [row["data"]["model_config_id"] for row in rows]
    for row in rows:
        question = row["data"]["messages"][-1]["content"]
        assert row["data"]["model_config_id"] == expected[(question, row["data"]["index"])]
    assert set(chosen) <= set(ids)
    assert len(set(chosen)) > 1, "the experiment should spread inputs over its configs"
    # The two samples of an input are two requests told apart by the sample index: the
    # experiment's sequence serves them different configs, and Humanloop logs them apart.
    by_input: dict[str, list[Json]] = {}
    for row in rows:
        by_input.setdefault(row["data"]["messages"][-1]["content"], []).append(row["data"])
    for samples in by_input.values():
        assert len({data["model_config_id"] for data in samples}) == 2
        assert len({data["id"] for data in samples}) == 2
    # The chosen config's template answered: the echo names its system prompt.
    for row in rows:
        variant = {ids[0]: "Variant A", ids[1]: "Variant B", "config_c": None}[
            row["data"]["model_config_id"]
        ]
        assert (f"[system: {variant}]" in row["data"]["output"]) == (variant is not None)


STORED = """
import pytest
from pytest_chatexp import ModelConfig

STORED = ModelConfig(name="stored", provider="humanloop", model="stored",
                     other={"model_config_id": "MODEL_CONFIG_ID"})
DEFAULT = ModelConfig(name="deployed", provider="humanloop", model="deployed",
                      other={"humanloop_endpoint": "chat-deployed", "project": "support"})
STAGING = ModelConfig(name="staging", provider="humanloop", model="deployed",
                      other={"environment": "staging", "project_id": "pr_support"},
                      response_format={"type": "json_object"})

@pytest.mark.chatexp(model_configs=[STORED, DEFAULT, STAGING], inputs=[{"company": "Acme"}],
                     messages=[{"role": "user", "content": "hours?"}])
def test_stored(chatexp):
    assert chatexp.samples  # the outer test reads them from the JSON report
"""


def test_chat_model_config_and_chat_deployed(
    pytester: pytest.Pytester, humanloop: ReferenceServer
) -> None:
    backend = humanloop.humanloop
    config_id = backend.add_model_config(
        {
            "model": "gpt-4o-mini",
            "chat_template": [{"role": "system", "content": "For {{company}}."}],
        }
    )
    backend.add_experiment("exp_prod", [{"id": "config_prod", "model": "gpt-4o"}])
    backend.deploy("support", "exp_prod")
    backend.deploy("pr_support", config_id, environment="staging")
    _run(pytester, STORED.replace("MODEL_CONFIG_ID", config_id)).assert_outcomes(passed=1)

    by_path = {request.path: request.json for request in humanloop.requests}
    assert set(by_path) == {"/v4/chat-model-config", "/v4/chat-deployed"}
    stored_body = by_path["/v4/chat-model-config"]
    assert _schema_errors(stored_body, "ChatModelConfigRequest") == []
    assert stored_body == {
        "model_config_id": config_id,
        "messages": [{"role": "user", "content": "hours?"}],
        "inputs": {"company": "Acme"},
        "num_samples": 1,
        "metadata": {"chatexp_sample": 0},
    }
    deployed = [r.json for r in humanloop.requests if r.path == "/v4/chat-deployed"]
    for body in deployed:
        assert _schema_errors(body, "ChatDeployedRequest") == []
    assert {(b.get("project"), b.get("project_id"), b.get("environment")) for b in deployed} == {
        ("support", None, None),
        (None, "pr_support", "staging"),
    }
    assert {"type": "json_object"} in [b.get("response_format") for b in deployed]

    rows = {row["config"]: row["data"] for row in _rows(pytester)}
    assert rows["stored"]["model_config_id"] == config_id
    assert rows["stored"]["output"] == "[system: For Acme.] echo: hours?"  # rendered server-side
    assert rows["deployed"]["model_config_id"] == "config_prod"  # the deployed experiment's
    assert rows["staging"]["model_config_id"] == config_id
    assert json.loads(rows["staging"]["output"]) == {"echo": "hours?"}


# --- errors -------------------------------------------------------------------------------------

BAD = """
import pytest
from pytest_chatexp import ModelConfig

@pytest.mark.chatexp(
    model_configs=[ModelConfig(name="lost", provider="humanloop", model="x",
                               other={"experiment_id": "exp_missing"})],
    inputs=[{"id": "only"}], messages=[{"role": "user", "content": "hi"}])
def test_missing_experiment(chatexp):
    pass
"""


def test_errors_name_the_case_and_the_field(
    pytester: pytest.Pytester, humanloop: ReferenceServer
) -> None:
    result = _run(pytester, BAD)
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    url = humanloop.url
    assert (
        f"model config 'lost', input 'only', sample 0: HTTP 404 from {url}/v4/chat-experiment: "
        "Experiment 'exp_missing' not found."
    ) in output
    assert_clean(result)
    assert len(humanloop.requests) == 1  # only the missing experiment was asked


BAD_AT_COLLECTION = """
import pytest
from pytest_chatexp import ModelConfig

@pytest.mark.chatexp(
    model_configs=[ModelConfig(name="bad", provider="humanloop", model="gpt-4o", FIELD)],
    inputs=[{"id": "only"}], messages=[{"role": "user", "content": "hi"}])
def test_bad(chatexp):
    pass
"""


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            'response_format={"type": "json_schema"}, other={"model_config_id": "c"}',
            "response_format type 'json_schema' is not accepted by Humanloop's v4 chat API",
        ),
        (
            'other={"provider_api_keys": {"openai": "sk-x"}}',
            "other['provider_api_keys'] is not supported",
        ),
        (
            'other={"humanloop_provider": "mistral"}',
            "other['humanloop_provider'] is 'mistral', which Humanloop's v4 API does not know",
        ),
        (
            'other={"humanloop_tools": [{"id": "oc_1", "source": "team"}]}',
            "other['humanloop_tools'][0]: 'source' must be 'organization'",
        ),
    ],
)
def test_humanloop_only_constraints_fail_at_collection(
    pytester: pytest.Pytester, humanloop: ReferenceServer, field: str, message: str
) -> None:
    result = _run(pytester, BAD_AT_COLLECTION.replace("FIELD", field))
    result.assert_outcomes(errors=1)
    # Named test, config and field, before any request: Humanloop would answer a 422.
    assert f"test_hl.py::test_bad: model config 'bad': {message}" in result.stdout.str()
    assert len(humanloop.requests) == 0


def test_the_server_answers_validation_errors_like_humanloop(humanloop: ReferenceServer) -> None:
    with httpx.Client(base_url=humanloop.url + "/v4", trust_env=False, timeout=10) as client:
        unauthorised = client.post("/chat-experiment", json={"messages": []})
        assert unauthorised.status_code == 401
        assert "X-API-KEY" in unauthorised.json()["detail"]
        headers = {"X-API-KEY": API_KEY}
        invalid = client.post(
            "/chat-experiment", json={"model_config": {"model": "m"}, "n": 2}, headers=headers
        )
        assert invalid.status_code == 422
        assert invalid.json() == {
            "detail": [
                {
                    "loc": ["body", "model_config"],
                    "msg": "extra fields not permitted",
                    "type": "value_error.extra",
                },
                {
                    "loc": ["body", "n"],
                    "msg": "extra fields not permitted",
                    "type": "value_error.extra",
                },
                {
                    "loc": ["body", "messages"],
                    "msg": "field required",
                    "type": "value_error.missing",
                },
                {
                    "loc": ["body", "experiment_id"],
                    "msg": "field required",
                    "type": "value_error.missing",
                },
            ]
        }
        assert PROVIDER.error_message(invalid.json()) == (
            "model_config: extra fields not permitted; n: extra fields not permitted; "
            "messages: field required; experiment_id: field required"
        )
        bad_message = client.post(
            "/chat",
            json={"model_config": {"model": "m", "temprature": 1}, "messages": [{"role": "bot"}]},
            headers=headers,
        )
        assert bad_message.status_code == 422
        assert PROVIDER.error_message(bad_message.json()) == (
            "messages[0].role: value is not a valid enumeration member; permitted: 'user', "
            "'assistant', 'system', 'tool'; model_config.temprature: extra fields not permitted"
        )


def test_error_message_reads_every_detail_shape() -> None:
    provider_error = {
        "detail": {
            "type": "unprocessable_entity_error",
            "message": "This model's maximum context length is 8192 tokens",
            "code": 422,
            "origin": "OpenAI",
        }
    }
    assert PROVIDER.error_message(provider_error) == (
        "OpenAI: This model's maximum context length is 8192 tokens"
    )
    assert PROVIDER.error_message({"detail": "Not authenticated"}) == "Not authenticated"
    assert PROVIDER.error_message({"detail": [{"loc": ["body"], "msg": "bad", "type": "x"}]}) == (
        "(body): bad"
    )
    assert PROVIDER.error_message({"error": "x"}) is None
    assert PROVIDER.error_message([1]) is None


# --- streaming ----------------------------------------------------------------------------------

STREAMED = """
import pytest
from pytest_chatexp import ModelConfig, Tool

TOOLS = [Tool(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})]
PLAIN = ModelConfig(name="plain", provider="humanloop", model="gpt-4o", tools=TOOLS,
                    chat_template=[{"role": "system", "content": "Weather desk for {{city}}."}])
STREAMED = PLAIN.variant(name="streamed", other={"stream": True})
EXP = ModelConfig(name="exp", provider="humanloop", model="exp", other={"experiment_id": "exp_s"})
EXP_STREAMED = EXP.variant(name="exp-streamed", other={"experiment_id": "exp_s", "stream": True})
INPUTS = [{"id": "text", "city": "Oslo", "q": "tell me a long story about the tides of Oslo"},
          {"id": "tool", "city": "Paris", "q": '[[reply: Checking.]] [[tool: get_weather {"city": "Paris"}]]'}]

@pytest.mark.chatexp(model_configs=[PLAIN, STREAMED, EXP, EXP_STREAMED], inputs=INPUTS,
                     messages=[{"role": "user", "content": "{{q}}"}])
def test_stream(chatexp):
    assert chatexp.samples  # the outer test reads them from the JSON report
"""


def _comparable(row: Json) -> Json:
    data = {key: value for key, value in row["data"].items() if key != "id"}
    return {"data": data, "usage": row["usage"]}


def test_streamed_calls_assemble_to_the_plain_result(
    pytester: pytest.Pytester, humanloop: ReferenceServer
) -> None:
    humanloop.humanloop.add_experiment(
        "exp_s",
        [{"model": "a"}, {"model": "b", "chat_template": [{"role": "system", "content": "B"}]}],
    )
    _run(pytester, STREAMED).assert_outcomes(passed=1)
    streamed = [r.json for r in humanloop.requests if r.json.get("stream") is True]
    assert len(streamed) == 4
    assert all(
        _schema_errors(body, "ChatRequest" if "model_config" in body else "ChatExperimentRequest")
        == []
        for body in streamed
    )

    rows = {(row["config"], row["input"]): row for row in _rows(pytester)}
    for plain, stream in (("plain", "streamed"), ("exp", "exp-streamed")):
        for case in ("text", "tool"):
            a, b = rows[(plain, case)], rows[(stream, case)]
            assert not a["streamed"] and b["streamed"]
            assert _comparable(a) == _comparable(b)
    tool = rows[("streamed", "tool")]["data"]
    assert tool["finish_reason"] == "tool_call"
    assert tool["output"] == "Checking."
    assert tool["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert rows[("streamed", "text")]["data"]["output"].endswith("tides of Oslo")
    assert rows[("streamed", "text")]["usage"]["total_tokens"] > 0


def test_the_server_interleaves_samples_and_the_assembler_separates_them(
    humanloop: ReferenceServer,
) -> None:
    humanloop.humanloop.add_experiment(
        "exp_i",
        [{"model": "a"}, {"model": "b", "chat_template": [{"role": "system", "content": "B"}]}],
    )
    body = {
        "experiment_id": "exp_i",
        "messages": [{"role": "user", "content": "a reasonably long question to stream back"}],
        "num_samples": 3,
    }
    with httpx.Client(base_url=humanloop.url + "/v4", trust_env=False, timeout=10) as client:
        headers = {"X-API-KEY": API_KEY}
        plain = client.post("/chat-experiment", json=body, headers=headers).json()
        response = client.post("/chat-experiment", json={**body, "stream": True}, headers=headers)
    assert response.headers["content-type"] == "text/event-stream"
    events = [
        json.loads(line[len("data: ") :])
        for line in response.text.split("\n")
        if line.startswith("data: ")
    ]
    order = [event["data"][0]["index"] for event in events]
    assert order[:3] == [0, 1, 2], "samples stream interleaved"
    for event in events:
        assert len(event["data"]) == 1
        ChatResponse.model_validate(event)  # each event is a whole ChatResponse
    finals = [event["data"][0]["index"] for event in events if event["data"][0]["finish_reason"]]
    assert sorted(finals) == [0, 1, 2]  # one final chunk per sample, finish reason only there

    replies = assemble_stream(events)
    assert sorted(replies) == [0, 1, 2]
    for item in plain["data"]:
        reply = replies[item["index"]]
        assert reply.raw_output == item["raw_output"]
        assert reply.finish_reason == item["finish_reason"]
        assert reply.model_config_id == item["model_config_id"]
    assert (
        Usage.combined(reply.usage for reply in replies.values()).to_json_dict() == plain["usage"]
    )


def _chunk(index: int, text: str, **fields: Any) -> Json:
    return {
        "data": [
            {
                "id": f"data_{index}",
                "index": index,
                "output": text,
                "raw_output": text,
                "model_config_id": f"config_{index}",
                "output_message": {"role": "assistant", "content": text},
                "finish_reason": None,
                **fields,
            }
        ],
        "provider_responses": [],
    }


def test_assemble_stream_groups_interleaved_events_by_index() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    events = [
        _chunk(0, "Hel"),
        _chunk(1, "To"),
        _chunk(0, "lo "),
        _chunk(1, "ol: "),
        _chunk(
            1,
            "",
            finish_reason="tool_call",
            tool_calls=[call],
            output_message={"role": "assistant", "content": "", "tool_calls": [call]},
        ),
        {
            **_chunk(0, "world", finish_reason="length"),
            "usage": {
                "prompt_tokens": 3,
                "generation_tokens": 2,
                "total_tokens": 5,
                "reasoning_tokens": 1,
            },
        },
    ]
    replies = assemble_stream(events)
    assert replies[0].raw_output == "Hello world"
    assert replies[0].message.content == "Hello world"
    assert replies[0].finish_reason == "length"
    assert replies[0].usage == Usage(
        prompt_tokens=3, generation_tokens=2, total_tokens=5, reasoning_tokens=1
    )
    assert replies[0].model_config_id == "config_0"
    assert replies[1].raw_output == "Tool: "
    assert replies[1].finish_reason == "tool_call"
    assert replies[1].message.tool_calls == [ToolCall.model_validate(call)]
    assert replies[1].usage == Usage()
    # parse_response takes sample 0 of a stream; a stream of one other index is that sample.
    assert PROVIDER.parse_response(events).raw_output == "Hello world"
    only_one = [_chunk(1, "x", finish_reason="stop")]
    assert PROVIDER.parse_response(only_one).raw_output == "x"
    with pytest.raises(ProviderError, match="stream event 0 is not a Humanloop ChatResponse chunk"):
        assemble_stream([{"choices": []}])
    with pytest.raises(ProviderError, match="has no stream samples"):
        PROVIDER.parse_response([])


# --- the seed example ---------------------------------------------------------------------------


def test_the_seed_example_parses_with_its_fields_intact() -> None:
    seed = json.loads((DATA / "create-experiment-response.json").read_text())
    reply = PROVIDER.parse_response(seed)
    assert reply.raw_output == "raw_output"
    assert reply.finish_reason == "finish_reason"
    assert reply.model_config_id == "model_config_id"
    assert reply.usage == Usage(
        prompt_tokens=1, generation_tokens=1, total_tokens=1, reasoning_tokens=1
    )
    # The data item's (deprecated) tool_calls join the output message, which had none.
    assert reply.message == ChatMessage(
        role="user",
        tool_calls=[ToolCall(id="id", type="function", function=FunctionTool(name="name"))],
    )

    # And into the result models, through the runner's own mapping.
    config = ModelConfig(name="seed", provider="humanloop", model="m", other={"experiment_id": "e"})
    call = PlannedCall(
        config, Input(id="x", inputs={"key": "value"}), (ChatMessage(role="user"),), 0
    )
    wire = PROVIDER.build_request(call, base_url="http://127.0.0.1:9/v4")
    sample = sample_from(call, PROVIDER, wire, CallOutcome(body=seed, latency_s=0.0))
    data = sample.data
    assert data.model_config_id == "model_config_id"
    assert data.finish_reason == "finish_reason"
    assert data.raw_output == "raw_output"
    # Humanloop's own log id, sanitized output and tool results come through as sent.
    assert (data.id, data.output) == ("id", "output")
    assert data.tool_results is not None
    assert [r.model_dump() for r in data.tool_results] == seed["data"][0]["tool_results"]
    assert data.tool_calls == [
        ToolCall(id="id", type="function", function=FunctionTool(name="name"))
    ]
    assert data.tool_call == FunctionTool(name="name")
    assert data.output_message.role == "user"
    assert data.inputs == {"key": "value"}
    assert sample.usage.reasoning_tokens == 1
    assert sample.provider_response == seed  # the whole response is kept as the provider's answer


# --- recording and replay -----------------------------------------------------------------------

RECORDED = """
import pytest
from pytest_chatexp import ModelConfig

INLINE = ModelConfig(name="inline", provider="humanloop", model="gpt-4o",
                     chat_template=[{"role": "system", "content": "Agent for {{company}}."}],
                     other={"project": "support"})
STREAMED = INLINE.variant(name="inline-streamed", other={"project": "support", "stream": True})
EXP = ModelConfig(name="exp", provider="humanloop", model="exp", other={"experiment_id": "exp_r"})
EXP_STREAMED = EXP.variant(name="exp-streamed", other={"experiment_id": "exp_r", "stream": True})

@pytest.mark.chatexp(model_configs=[INLINE, STREAMED, EXP, EXP_STREAMED],
                     inputs=[{"id": "a", "company": "Acme", "q": "refund?"},
                             {"id": "b", "company": "Initech", "q": "late order?"}],
                     messages=[{"role": "user", "content": "{{q}}"}], num_samples=2)
def test_recorded(chatexp):
    assert chatexp.samples  # the outer test reads them from the JSON report
"""


def _without_replay_flags(rows: list[Json]) -> list[Json]:
    return [{key: value for key, value in row.items() if key != "replayed"} for row in rows]


def test_recorded_then_replayed_without_the_server(
    pytester: pytest.Pytester, humanloop: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)  # this test chooses the record mode
    humanloop.humanloop.add_experiment(
        "exp_r",
        [{"model": "a"}, {"model": "b", "chat_template": [{"role": "system", "content": "B"}]}],
    )
    _run(pytester, RECORDED, "--chatexp-record=all").assert_outcomes(passed=1)
    assert len(humanloop.requests) == 16
    recorded_rows = _rows(pytester)
    recording = pytester.path / "__recordings__" / "test_hl" / "test_recorded.yaml"
    data = yaml.safe_load(recording.read_text())
    assert len(data["interactions"]) == 16
    inline = next(item for item in data["interactions"] if item["label"]["config"] == "inline")
    assert inline["request"]["provider"] == "humanloop"
    assert inline["request"]["endpoint"] == "localhost/v4/chat"
    assert inline["request"]["body"]["model_config"]["chat_template"][0]["content"] == (
        "Agent for {{company}}."
    )

    # Humanloop is gone: replay needs nothing but the recording.
    monkeypatch.setenv("HUMANLOOP_BASE_URL", "http://127.0.0.1:9/v4")
    humanloop.requests.clear()
    replayed = pytester.runpytest(f"--chatexp-json={REPORT}")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*16 calls (16 replayed, 0 live)*"])
    assert not humanloop.requests
    replayed_rows = _rows(pytester)
    assert all(row["replayed"] for row in replayed_rows)
    assert _without_replay_flags(replayed_rows) == _without_replay_flags(recorded_rows)
    assert {row["config"] for row in recorded_rows if row["streamed"]} == {
        "inline-streamed",
        "exp-streamed",
    }
    exp_ids = {row["data"]["model_config_id"] for row in recorded_rows if row["config"] == "exp"}
    assert exp_ids <= set(
        HumanloopBackend.config_id(config) for config in humanloop.humanloop.experiments["exp_r"]
    )

    # The key went over the wire as a header, and nowhere else.
    for path in pytester.path.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


# --- building requests ----------------------------------------------------------------------


def _call(config: ModelConfig, *messages: Json, inputs: Json | None = None) -> PlannedCall:
    rendered = (*config.chat_template, *(ChatMessage.model_validate(m) for m in messages))
    return PlannedCall(config, Input(id="x", inputs=inputs or {}), rendered, 0)


def _build(config: ModelConfig, *messages: Json) -> Json:
    return PROVIDER.build_request(_call(config, *messages), base_url="https://hl.test/v4").body


def test_the_provider_is_registered_and_authenticates_with_x_api_key() -> None:
    provider = get_provider("humanloop")
    assert isinstance(provider, HumanloopProvider)
    assert provider.auth_headers("k") == {"X-API-KEY": "k"}
    assert (provider.default_base_url, provider.default_api_key_env, provider.base_url_env) == (
        "https://api.humanloop.com/v4",
        "HUMANLOOP_API_KEY",
        "HUMANLOOP_BASE_URL",
    )


@pytest.mark.parametrize(
    ("other", "endpoint"),
    [
        ({}, "chat"),
        ({"experiment_id": "exp_1"}, "chat-experiment"),
        ({"model_config_id": "config_1"}, "chat-model-config"),
        ({"environment": "prod", "project": "p"}, "chat-deployed"),
        ({"humanloop_endpoint": "chat-deployed", "project_id": "pr_1"}, "chat-deployed"),
    ],
)
def test_other_chooses_the_endpoint(other: Json, endpoint: str) -> None:
    config = ModelConfig(model="m", provider="humanloop", other=other)
    wire = PROVIDER.build_request(_call(config, {"role": "user", "content": "hi"}), base_url="u")
    assert wire.url == f"u/{endpoint}"
    schema = {
        "chat": "ChatRequest",
        "chat-experiment": "ChatExperimentRequest",
        "chat-model-config": "ChatModelConfigRequest",
        "chat-deployed": "ChatDeployedRequest",
    }[endpoint]
    assert _schema_errors(wire.body, schema) == []
    assert not set(wire.body) & {"humanloop_endpoint", "humanloop_provider"}


def test_unknown_other_keys_go_to_the_inline_config_or_are_refused() -> None:
    inline = ModelConfig(
        model="m",
        provider="humanloop",
        seed=3,
        stop=["END"],
        other={"logit_bias": {"1": 2}, "humanloop_provider": "groq", "metadata": {"t": 1}},
    )
    body = _build(inline, {"role": "user", "content": "hi"})
    assert body["model_config"]["other"] == {"logit_bias": {"1": 2}}
    assert body["model_config"]["provider"] == "groq"
    assert (body["model_config"]["seed"], body["model_config"]["stop"]) == (3, ["END"])
    assert body["metadata"] == {"t": 1, "chatexp_sample": 0}  # the sample index added
    assert _schema_errors(body, "ChatRequest") == []

    stored = ModelConfig(
        name="exp",
        model="m",
        provider="humanloop",
        temperature=0.3,
        other={"experiment_id": "e", "logit_bias": {}},
    )
    with pytest.raises(InvalidExperimentError) as excinfo:
        _build(stored, {"role": "user", "content": "hi"})
    assert str(excinfo.value).startswith(
        "model config 'exp': temperature, other['logit_bias'] cannot be sent to /chat-experiment"
    )


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (
            {"experiment_id": "e", "model_config_id": "c"},
            "other['model_config_id'] belongs to /chat-model-config",
        ),
        ({"humanloop_endpoint": "chat-deployed"}, "/chat-deployed needs other['project']"),
        (
            {"humanloop_endpoint": "chat-experiment"},
            "/chat-experiment needs other['experiment_id']",
        ),
        ({"humanloop_endpoint": "completion"}, "other['humanloop_endpoint'] is 'completion'"),
        ({"experiment_id": "e", "humanloop_provider": "groq"}, "applies to /chat only"),
        ({"experiment_id": 1}, "other['experiment_id'] must be a string"),
        ({"stream": "yes"}, "other['stream'] must be true or false"),
        ({"provider_api_keys": {"openai": "k"}}, "would be recorded with the request body"),
        ({"num_samples": 2}, "use the experiment's num_samples"),
    ],
)
def test_other_mistakes_are_explained(other: Json, message: str) -> None:
    config = ModelConfig(name="c", model="m", provider="humanloop", other=other)
    with pytest.raises(InvalidExperimentError, match=r"^model config 'c': ") as excinfo:
        _build(config, {"role": "user", "content": "hi"})
    assert message in str(excinfo.value)


def test_strict_tools_are_refused() -> None:
    config = ModelConfig(model="m", provider="humanloop", tools=(Tool(name="f", strict=True),))
    with pytest.raises(InvalidExperimentError, match=r"tools\[0\].strict is not supported"):
        _build(config, {"role": "user", "content": "hi"})


def test_stored_config_endpoints_send_every_rendered_message() -> None:
    config = ModelConfig.model_validate(
        {
            "model": "label",
            "provider": "humanloop",
            "chat_template": [{"role": "system", "content": "Local {{x}}"}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "other": {"model_config_id": "config_1", "stream": True},
        }
    )
    call = PlannedCall(
        config,
        Input(id="x", inputs={"x": 1}),
        (ChatMessage(role="system", content="Local 1"), ChatMessage(role="user", content="hi")),
        0,
    )
    wire = PROVIDER.build_request(call, base_url="u")
    assert wire.streams
    assert wire.body == {
        "model_config_id": "config_1",
        "messages": [{"role": "system", "content": "Local 1"}, {"role": "user", "content": "hi"}],
        "inputs": {"x": 1},
        "num_samples": 1,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "stream": True,
        "metadata": {"chatexp_sample": 0},
    }
    assert _schema_errors(wire.body, "ChatModelConfigRequest") == []


def test_the_backend_refuses_configs_humanloop_would_refuse() -> None:
    backend = HumanloopBackend()
    with pytest.raises(ValueError, match=r"model_config\.temprature: extra fields not permitted"):
        backend.add_model_config({"model": "m", "temprature": 1})
    with pytest.raises(ValueError, match=r"model_config\.model: field required"):
        backend.add_experiment("e", [{"provider": "openai"}])
