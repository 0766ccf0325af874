"""The pieces behind faithful Humanloop results: the reported model a sample is priced by, the
inputs sent (a flat row's id left out), linked organisation tools, the sample index in
metadata, and a stream that keeps Humanloop's log id, tool results and envelope."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._errors import InvalidExperimentError
from pytest_chatexp._experiment._humanloop import ChatMessage, HumanloopLog
from pytest_chatexp._experiment._inputs import input_from_row
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers._humanloop import HumanloopProvider, assemble_stream, check_config

PROVIDER = HumanloopProvider()
USER = ChatMessage(role="user", content="hi")


def _body(config: ModelConfig, row: dict[str, Any], sample: int = 0) -> dict[str, Any]:
    call = PlannedCall(config, input_from_row(row, where="row"), (USER,), sample)
    return PROVIDER.build_request(call, base_url="https://hl.test/v4").body


def test_the_reported_model_comes_from_humanloops_provider_request_else_the_raw_answer() -> None:
    assert HumanloopLog(provider_request={"model": "gpt-4o"}).model == "gpt-4o"
    log = HumanloopLog(provider_responses=["text", {"model": "claude-3-5-haiku"}])
    assert log.model == "claude-3-5-haiku"
    assert HumanloopLog().model is None


def test_a_flat_rows_id_is_not_an_input_unless_the_template_uses_it() -> None:
    config = ModelConfig(provider="humanloop", model="gpt-4o")
    assert _body(config, {"id": "late", "q": "x"})["inputs"] == {"q": "x"}
    uses_id = config.variant(chat_template=[{"role": "system", "content": "Case {{ id }}."}])
    assert _body(uses_id, {"id": "late", "q": "x"})["inputs"] == {"id": "late", "q": "x"}
    # An "id" variable that is not the case's name is an input like any other.
    call = PlannedCall(config, Input(id="case", inputs={"id": "other"}), (USER,), 0)
    assert PROVIDER.build_request(call, base_url="u").body["inputs"] == {"id": "other"}


def test_each_sample_is_told_apart_by_its_index_in_metadata() -> None:
    config = ModelConfig(provider="humanloop", model="m", other={"metadata": {"team": "cx"}})
    bodies = [_body(config, {"q": "x"}, sample) for sample in range(3)]
    assert [body["metadata"] for body in bodies] == [
        {"team": "cx", "chatexp_sample": index} for index in range(3)
    ]
    bad = config.variant(other={"metadata": "cx"})
    with pytest.raises(InvalidExperimentError, match=r"other\['metadata'\] must be a mapping"):
        check_config(bad)


def test_linked_organisation_tools_follow_the_configs_own_on_chat_only() -> None:
    config = ModelConfig(
        provider="humanloop",
        model="gpt-4o",
        other={"humanloop_tools": [{"id": "oc_refunds"}, {"id": "oc_b", "name": "b"}]},
    )
    tools = _body(config, {"q": "x"})["model_config"]["tools"]
    assert tools == [
        {"id": "oc_refunds", "source": "organization"},
        {"id": "oc_b", "name": "b", "source": "organization"},
    ]
    assert "humanloop_tools" not in _body(config, {"q": "x"})["model_config"].get("other", {})
    stored = config.variant(other={**config.other, "model_config_id": "c"})
    with pytest.raises(InvalidExperimentError, match="applies to /chat only"):
        check_config(stored)
    unknown = config.variant(other={"humanloop_tools": [{"id": "oc_1", "secret": 1}]})
    with pytest.raises(InvalidExperimentError, match=r"\[0\] has unknown keys \['secret'\]"):
        check_config(unknown)


def test_a_stream_keeps_the_log_id_tool_results_and_humanloops_envelope() -> None:
    result = {"id": "tr_1", "name": "refund", "signature": "refund()", "result": "ok"}
    envelope = {"project_id": "pr_1", "session_id": "sess_1", "user": "u", "metadata": {"k": 1}}
    events = [
        {
            "data": [{"id": "log_9", "index": 0, "output": "Hel", "raw_output": "Hel"}],
            "provider_responses": [],
            **envelope,
        },
        {
            "data": [
                {
                    "id": "log_9",
                    "index": 0,
                    "output": "lo ",
                    "raw_output": "lo ",
                    "finish_reason": "stop",
                    "tool_results": [result],
                    "messages": [{"role": "system", "content": "Server template."}],
                    "inputs": {"q": "x"},
                }
            ],
            "provider_responses": [{"model": "gpt-4o", "object": "chat.completion"}],
            "provider_request": {"model": "gpt-4o", "messages": []},
            "usage": {"prompt_tokens": 3, "generation_tokens": 2, "total_tokens": 5},
            **envelope,
        },
    ]
    [reply] = assemble_stream(events).values()
    assert (reply.log_id, reply.output, reply.raw_output) == ("log_9", "Hello", "Hello ")
    assert [r.to_json_dict() for r in reply.tool_results or []] == [result]
    log = reply.humanloop
    assert log is not None
    assert (log.project_id, log.session_id, log.user, log.metadata) == (
        "pr_1",
        "sess_1",
        "u",
        {"k": 1},
    )
    assert log.provider_request == {"model": "gpt-4o", "messages": []}
    assert log.provider_responses == [{"model": "gpt-4o", "object": "chat.completion"}]
    assert [m.text for m in log.messages or []] == ["Server template."]
    assert log.inputs == {"q": "x"} and log.model == "gpt-4o"


def test_a_plain_answer_with_several_samples_keeps_each_its_own_raw_answer() -> None:
    def item(index: int) -> dict[str, Any]:
        return {
            "id": f"log_{index}",
            "index": index,
            "output": "o",
            "raw_output": "o",
            "model_config_id": "c",
            "output_message": {"role": "assistant", "content": "o"},
        }

    body = {"data": [item(1), item(0)], "provider_responses": [{"n": 1}, {"n": 0}]}
    reply = PROVIDER.parse_response(body)
    assert reply.log_id == "log_0"
    assert reply.humanloop is not None and reply.humanloop.provider_responses == [{"n": 0}]


def test_the_budget_charges_a_call_at_the_model_humanloop_reports() -> None:
    from pytest_chatexp._calls._budget import Reservation, SessionBudget
    from pytest_chatexp._calls._metering import Ledger
    from pytest_chatexp._experiment._humanloop import Usage
    from pytest_chatexp._pricing import PriceTable

    ledger = Ledger()
    prices = PriceTable.from_lines(["gpt-4o 2 10"], base={})
    budget = SessionBudget(max_tokens=None, max_cost=1.0, ledger=ledger, prices=prices)
    config = ModelConfig(provider="humanloop", model="stored-label", other={"model_config_id": "c"})
    call = PlannedCall(config, Input(id="x"), (USER,), 0)
    usage = Usage.of(1_000_000, 100_000)
    budget.settle(Reservation(0, 0.0), call, usage, "gpt-4o")
    assert ledger.state().spent_cost == pytest.approx(2 + 1)
    # The label alone has no price: nothing to charge in dollars.
    budget.settle(Reservation(0, 0.0), call, usage)
    assert ledger.state().spent_cost == pytest.approx(3)
