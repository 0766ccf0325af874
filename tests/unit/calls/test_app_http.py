"""An app's own HTTP requests at the exchange seam (``APP_HTTP``): recorded under "http" like
any call, but never taken for a model reply. The recorder keeps no recorded ids for them and
reports no token change; a miss suggests no endpoint setting; the meter reads no usage from
them and charges a live one at its estimate."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import AppCall, ModelConfig
from pytest_chatexp._calls._budget import Meter, SessionBudget, estimate_call
from pytest_chatexp._calls._metering import CallTally, Ledger
from pytest_chatexp._calls._recorder import RecordingMissError, TestRecorder
from pytest_chatexp._calls._target import APP_HTTP, CallOutcome, Exchange, Via, send_directly
from pytest_chatexp._experiment._humanloop import ChatMessage
from pytest_chatexp._experiment._inputs import Input
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._pricing import PriceTable
from pytest_chatexp._providers import WireRequest, get_provider


def _app(call: AppCall) -> str:
    return "unused: the tests drive the exchange directly"


def _call(config: ModelConfig) -> PlannedCall:
    return PlannedCall(
        config=config,
        input=Input(id="x", inputs={}),
        sample_index=0,
        messages=(ChatMessage(role="user", content="hello"),),
    )


APP_CALL = _call(ModelConfig.for_app(_app))
MODEL_CALL = _call(ModelConfig(model="gpt-4o-mini"))


def _app_wire(url: str = "http://127.0.0.1:9/v1/items") -> WireRequest:
    body = {"method": "POST", "query": None, "json": {"q": 1}, "sequence": 1}
    return WireRequest(url=url, body=body)


def _model_wire() -> tuple[Via, WireRequest]:
    provider = get_provider("openai")
    assert provider is not None
    return provider, provider.build_request(MODEL_CALL, base_url="http://127.0.0.1:9/v1")


def _completion(answer_id: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": answer_id,
        "created": 1,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 1,
            "total_tokens": prompt_tokens + 1,
        },
    }


def _answering(body: Any) -> Callable[[], Awaitable[CallOutcome]]:
    async def send() -> CallOutcome:
        return CallOutcome(body=body, latency_s=0.0)

    return send


def _recorder(path: Path, mode: str) -> TestRecorder:
    return TestRecorder(
        path=path, display_path=path.name, test_id="t", mode=mode, rerun_hint="pytest t"
    )


def _exchange(
    exchange: Exchange, call: PlannedCall, via: Via, wire: WireRequest, body: Any
) -> CallOutcome:
    async def run() -> CallOutcome:
        return await exchange(call, via, wire, _answering(body))

    return asyncio.run(run())


def test_app_http_answers_are_rerecorded_as_sent_and_report_no_token_change(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rec.yaml"
    provider, model_wire = _model_wire()
    first = _recorder(path, "once")
    _exchange(first.exchange, APP_CALL, APP_HTTP, _app_wire(), _completion("a1", 3))
    _exchange(first.exchange, MODEL_CALL, provider, model_wire, _completion("m1", 3))
    first.persist()
    assert {item.request.provider for item in first.recorded.values()} == {"http", "openai"}

    again = _recorder(path, "all")
    app = _exchange(again.exchange, APP_CALL, APP_HTTP, _app_wire(), _completion("a2", 5))
    model = _exchange(again.exchange, MODEL_CALL, provider, model_wire, _completion("m2", 3))
    # An app may send an answer's ids back in its next request: its answer stays as it came.
    assert app.body["id"] == "a2"
    # A model's answer that differs only in ids keeps the recorded ones (no churn).
    assert model.body["id"] == "m1"
    # Only the model call is a reply with tokens to compare.
    assert [change.config for change in again.changes] == [MODEL_CALL.config.display_name]


def test_an_app_http_miss_at_a_moved_endpoint_suggests_no_setting(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    first = _recorder(path, "once")
    _exchange(first.exchange, APP_CALL, APP_HTTP, _app_wire(), {"status": 200, "text": ""})
    first.persist()

    replaying = _recorder(path, "none")
    moved = _app_wire("http://example.com/v1/items")
    with pytest.raises(RecordingMissError) as missed:
        _exchange(replaying.exchange, APP_CALL, APP_HTTP, moved, {"status": 200, "text": ""})
    assert "endpoint" in missed.value.explanation  # only the endpoint moved
    assert missed.value.record.fixes == (None,)
    assert missed.value.fix == "To record, run: pytest t"


def test_the_meter_charges_a_live_app_http_call_at_its_estimate() -> None:
    ledger = Ledger()
    budget = SessionBudget(max_tokens=10_000, max_cost=None, ledger=ledger, prices=PriceTable())
    tally = CallTally()
    exchange = Meter(tally, budget).guard(send_directly)
    wire = _app_wire()
    # A model reply's shape inside: still the app's answer, not read for usage.
    _exchange(exchange, APP_CALL, APP_HTTP, wire, {"status": 200, "json": _completion("a", 7)})

    state = ledger.state()
    assert (state.calls, state.unknown_usage) == (1, 1)
    assert state.spent_tokens == sum(estimate_call(APP_CALL, wire))
    counts = tally.of(APP_CALL.config.display_name)
    assert (counts.live, counts.replayed) == (1, 0)
    assert counts.tokens() == (None, None)


def test_the_meter_settles_a_model_call_at_the_usage_it_reports() -> None:
    ledger = Ledger()
    budget = SessionBudget(max_tokens=10_000, max_cost=None, ledger=ledger, prices=PriceTable())
    tally = CallTally()
    provider, wire = _model_wire()
    _exchange(
        Meter(tally, budget).guard(send_directly), MODEL_CALL, provider, wire, _completion("m", 7)
    )

    state = ledger.state()
    assert (state.calls, state.unknown_usage, state.spent_tokens) == (1, 0, 8)
    assert tally.of(MODEL_CALL.config.display_name).tokens() == (7, 1)
