"""The official Humanloop SDK (``humanloop`` 0.7.32, the last with the v4 chat endpoints) as
the referee: every request the Humanloop provider builds validates as the SDK's request model of
its endpoint (no field the SDK does not know), and every ``Case.to_chat_response()`` of a
Humanloop run validates as the SDK's ``ChatResponse`` with each field equal to what the server
answered: the log ids, the envelope (project, session, user, metadata), Humanloop's own exchange
with the model (``provider_request``, ``provider_responses``), the server's rendering of the
messages, the inputs it echoed. Streamed runs add up to the same fields as plain ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from humanloop.pydantic.chat_data_response import ChatDataResponse as SdkData
from humanloop.pydantic.chat_deployed_request import ChatDeployedRequest
from humanloop.pydantic.chat_experiment_request import ChatExperimentRequest
from humanloop.pydantic.chat_model_config_request import ChatModelConfigRequest
from humanloop.pydantic.chat_request import ChatRequest
from humanloop.pydantic.chat_response import ChatResponse as SdkResponse
from pydantic import BaseModel

from pytest_chatexp.testing import ReferenceServer

Json = dict[str, Any]

SDK_REQUESTS: dict[str, type[BaseModel]] = {
    "/v4/chat": ChatRequest,
    "/v4/chat-experiment": ChatExperimentRequest,
    "/v4/chat-model-config": ChatModelConfigRequest,
    "/v4/chat-deployed": ChatDeployedRequest,
}


@pytest.fixture
def humanloop(
    server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ReferenceServer]:
    monkeypatch.setenv("HUMANLOOP_BASE_URL", server.url + "/v4")
    monkeypatch.setenv("HUMANLOOP_API_KEY", "hl-test-key")
    server.humanloop.clear()
    yield server
    server.humanloop.clear()


# Every endpoint, tools (a function tool and a linked organisation tool), a json_object format,
# the envelope fields, tool calls, and each config also streamed. The inner test dumps every
# case's to_chat_response() beside what the server answered for each of its samples.
SUITE = """
import json
import pytest
from pytest_chatexp import ModelConfig, Tool

LOOKUP = Tool(name="lookup_order", description="Find an order by id",
              parameters={"type": "object", "properties": {"order_id": {"type": "string"}},
                          "required": ["order_id"]})
INLINE = ModelConfig(
    name="inline", provider="humanloop", model="gpt-4o", temperature=0.2, max_tokens=64,
    chat_template=[{"role": "system", "content": "Support for {{company}}."}],
    tools=[LOOKUP], tool_choice="auto",
    other={"project": "support", "user": "qa-bot", "session_id": "sess_1",
           "metadata": {"team": "cx"}, "humanloop_provider": "openai",
           "humanloop_tools": [{"id": "oc_refunds", "source": "organization"}]},
)
EXPERIMENT = ModelConfig(name="experiment", provider="humanloop", model="label",
                         other={"experiment_id": "exp_1", "project": "support"})
STORED = ModelConfig(name="stored", provider="humanloop", model="label",
                     response_format={"type": "json_object"},
                     other={"model_config_id": "config_json", "return_inputs": False})
DEPLOYED = ModelConfig(name="deployed", provider="humanloop", model="label",
                       other={"project_id": "pr_support", "environment": "production",
                              "session_id": "sess_2", "user": "u_7"})
CONFIGS = [INLINE, EXPERIMENT, STORED, DEPLOYED]
STREAMED = [c.variant(name=c.display_name + "-streamed", other={**c.other, "stream": True})
            for c in CONFIGS]
INPUTS = [{"id": "text", "company": "Acme", "q": "where is my parcel?"},
          {"id": "tool", "company": "Acme",
           "q": '[[reply: Checking.]] [[tool: lookup_order {"order_id": "A1"}]]'}]

@pytest.mark.chatexp(model_configs=CONFIGS + STREAMED, inputs=INPUTS, num_samples=2,
                     messages=[{"role": "user", "content": "{{q}}"}])
def test_dump(chatexp):
    cases = [
        {
            "config": case.config.display_name,
            "input": case.input.id,
            "chat_response": case.to_chat_response().to_json_dict(),
            "answers": [sample.provider_response for sample in case.samples],
            "requests": [sample.provider_request for sample in case.samples],
        }
        for case in chatexp
    ]
    with open("cases.json", "w") as out:
        json.dump(cases, out)
"""


def _script(server: ReferenceServer) -> None:
    backend = server.humanloop
    backend.add_experiment(
        "exp_1",
        [
            {
                "id": "config_a",
                "model": "gpt-4o-mini",
                "chat_template": [{"role": "system", "content": "Variant A for {{company}}."}],
            },
            {
                "id": "config_b",
                "model": "claude-3-5-haiku",
                "provider": "anthropic",
                "chat_template": [{"role": "system", "content": "Variant B."}],
            },
        ],
    )
    backend.add_model_config(
        {
            "id": "config_json",
            "model": "gpt-4o-2024-08-06",
            "response_format": {"type": "json_object"},
            "chat_template": [{"role": "system", "content": "Answer in JSON."}],
        }
    )
    backend.add_model_config({"id": "config_prod", "model": "gpt-4o", "temperature": 0.0})
    backend.deploy("pr_support", "config_prod", environment="production")


@pytest.fixture
def cases(pytester: pytest.Pytester, humanloop: ReferenceServer) -> list[Json]:
    _script(humanloop)
    pytester.makepyfile(test_hl=SUITE)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    loaded: list[Json] = json.loads((pytester.path / "cases.json").read_text())
    assert len(loaded) == 16  # 8 configs x 2 inputs
    return loaded


def _sdk_dump(model: BaseModel) -> Json:
    return model.model_dump(mode="json", by_alias=True)


def _differences(ours: Json, theirs: Json, where: str) -> list[str]:
    """Each field that differs, by name: a clearer failure than one big inequality."""
    return [
        f"{where}.{name}: {ours.get(name)!r} != {theirs.get(name)!r}"
        for name in sorted(set(ours) | set(theirs))
        if ours.get(name) != theirs.get(name)
    ]


def test_every_request_validates_as_the_sdk_request_model_of_its_endpoint(
    cases: list[Json], humanloop: ReferenceServer
) -> None:
    requests = [r for r in humanloop.requests if r.path.startswith("/v4/")]
    assert {r.path for r in requests} == set(SDK_REQUESTS)
    assert len(requests) == 32  # 16 cases x 2 samples, one call each
    for request in requests:
        model = SDK_REQUESTS[request.path]
        parsed = model.model_validate(request.json)
        known = {field.alias or name for name, field in model.model_fields.items()}
        assert set(request.json) <= known, (request.path, set(request.json) - known)
        # Nothing lost in the SDK's reading: every field sent comes back as sent.
        dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
        assert dumped == request.json, request.path
    inline = [r.json for r in requests if r.path == "/v4/chat"]
    tools = inline[0]["model_config"]["tools"]
    assert [tool.get("name") or tool.get("id") for tool in tools] == ["lookup_order", "oc_refunds"]
    assert tools[1] == {"id": "oc_refunds", "source": "organization"}
    assert all(body["inputs"] == {"company": "Acme", "q": body["inputs"]["q"]} for body in inline)
    # Each sample is its own request, told apart by the sample index in metadata.
    assert {r.json["metadata"]["chatexp_sample"] for r in requests} == {0, 1}


def test_every_plain_chat_response_validates_and_equals_what_the_server_answered(
    cases: list[Json],
) -> None:
    problems: list[str] = []
    for case in (c for c in cases if not c["config"].endswith("-streamed")):
        where = f"{case['config']}/{case['input']}"
        ours = SdkResponse.model_validate(case["chat_response"])
        answers = [SdkResponse.model_validate(answer) for answer in case["answers"]]
        assert len(ours.data) == len(answers) == 2
        for index, (data, answer) in enumerate(zip(ours.data, answers, strict=True)):
            [served] = answer.data
            theirs = {**_sdk_dump(served), "index": index}
            problems += _differences(_sdk_dump(data), theirs, f"{where}.data[{index}]")
        first = answers[0]
        for name in ("project_id", "user", "session_id", "metadata", "provider_request"):
            if getattr(ours, name) != getattr(first, name):
                problems.append(
                    f"{where}.{name}: {getattr(ours, name)!r} != {getattr(first, name)!r}"
                )
        served_raw = [raw for answer in answers for raw in answer.provider_responses]
        if ours.provider_responses != served_raw:
            problems.append(f"{where}.provider_responses differ")
        usage = {
            name: sum(getattr(answer.usage, name) for answer in answers)
            for name in ("prompt_tokens", "generation_tokens", "total_tokens")
        }
        assert ours.usage is not None
        if {name: getattr(ours.usage, name) for name in usage} != usage:
            problems.append(f"{where}.usage: {ours.usage!r} != {usage!r}")
    assert problems == []


def test_the_envelope_is_humanloops_not_our_own_exchange(cases: list[Json]) -> None:
    by_case = {(c["config"], c["input"]): c for c in cases}
    inline = by_case[("inline", "tool")]
    response = inline["chat_response"]
    assert (response["project_id"], response["user"], response["session_id"]) == (
        inline["answers"][0]["project_id"],
        "qa-bot",
        "sess_1",
    )
    assert response["metadata"] == {"team": "cx", "chatexp_sample": 0}
    # provider_request is what Humanloop sent to the model (OpenAI-shaped), not our /v4 body.
    assert "model_config" not in response["provider_request"]
    assert response["provider_request"]["model"] == "gpt-4o"
    assert all(raw["object"] == "chat.completion" for raw in response["provider_responses"])
    assert inline["requests"][0]["model_config"]["model"] == "gpt-4o"  # ours, kept apart
    # The stored config's server-side template is in data[].messages; inputs not returned.
    stored = by_case[("stored", "text")]["chat_response"]["data"][0]
    assert stored["messages"][0]["content"] == "Answer in JSON."
    assert stored["inputs"] == {}
    # The experiment served both variants to the two samples of an input, with their templates.
    for input_id in ("text", "tool"):
        data = by_case[("experiment", input_id)]["chat_response"]["data"]
        assert {d["model_config_id"] for d in data} == {"config_a", "config_b"}
        assert len({d["id"] for d in data}) == 2
        firsts = {d["model_config_id"]: d["messages"][0]["content"] for d in data}
        assert firsts == {"config_a": "Variant A for Acme.", "config_b": "Variant B."}


def test_streamed_cases_add_up_to_the_plain_ones_field_by_field(cases: list[Json]) -> None:
    by_case = {(c["config"], c["input"]): c for c in cases}
    problems: list[str] = []
    for (config, input_id), case in by_case.items():
        if config.endswith("-streamed"):
            continue
        streamed = by_case[(config + "-streamed", input_id)]
        ours = SdkResponse.model_validate(streamed["chat_response"])
        plain = SdkResponse.model_validate(case["chat_response"])
        where = f"{config}-streamed/{input_id}"
        for index, (a, b) in enumerate(zip(ours.data, plain.data, strict=True)):
            problems += _differences(_sdk_dump(a), _sdk_dump(b), f"{where}.data[{index}]")
        for name in ("project_id", "user", "session_id", "metadata", "provider_request"):
            if getattr(ours, name) != getattr(plain, name):
                problems.append(f"{where}.{name}")
        if ours.provider_responses != plain.provider_responses:
            problems.append(f"{where}.provider_responses")
        # The log id is the one the stream carried, not a synthetic one.
        final_ids = {event["data"][0]["id"] for answer in streamed["answers"] for event in answer}
        assert {d.id for d in ours.data} == final_ids
    assert problems == []
    tool = SdkData.model_validate(by_case[("inline-streamed", "tool")]["chat_response"]["data"][0])
    assert tool.finish_reason == "tool_call"
    assert tool.output_message.tool_calls is not None
    assert tool.tool_results == []  # as the server sent it, not dropped
