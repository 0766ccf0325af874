"""The target seam: which target serves a config, resolved in the calls layer, and the
providers layer holding wire formats only."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from pytest_chatexp import AppCall, ModelConfig
from pytest_chatexp._calls._exchange import format_for, target_for
from pytest_chatexp._calls._target import CallOutcome, Target, TargetCall, send_directly
from pytest_chatexp._errors import InvalidExperimentError
from pytest_chatexp._experiment._apps import APP_PROVIDER
from pytest_chatexp._experiment._inputs import Input
from pytest_chatexp._experiment._spec import PlannedCall
from pytest_chatexp._providers import get_provider, provider_names
from pytest_chatexp._providers._base import base_url_for, provider_for


class _Fixed(Target):
    async def handle(self, request: TargetCall) -> CallOutcome:
        return CallOutcome(body={}, latency_s=0.0)


def _greet(call: AppCall) -> str:
    return f"hello {call.inputs['name']}"


def test_a_model_config_is_served_by_the_http_target_it_is_given() -> None:
    http = _Fixed()
    config = ModelConfig(model="gpt-4o-mini")
    assert target_for(config, http) is http
    assert format_for(config) is get_provider("openai")


def test_an_app_config_is_served_by_the_app_target() -> None:
    from pytest_chatexp._calls._app import APP_FORMAT, APP_TARGET

    config = ModelConfig.for_app(_greet)
    assert config.provider == APP_PROVIDER == "python"
    assert target_for(config, _Fixed()) is APP_TARGET
    assert format_for(config) is APP_FORMAT


def test_the_providers_layer_holds_wire_formats_only() -> None:
    assert get_provider("python") is None
    assert "python" not in provider_names()


def test_an_unknown_provider_has_one_message_naming_every_supported_name() -> None:
    config = ModelConfig(model="m", provider="nope")
    with pytest.raises(InvalidExperimentError) as from_calls:
        format_for(config)
    with pytest.raises(InvalidExperimentError) as from_providers:
        provider_for(config, also=(APP_PROVIDER,))
    assert str(from_calls.value) == str(from_providers.value)
    message = str(from_calls.value)
    assert message.startswith("model config 'm': provider 'nope' is not supported (supported: ")
    assert "python" in message and "openai" in message and "anthropic" in message


def test_the_base_url_is_the_configs_then_the_providers_variable_then_its_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = get_provider("openai")
    assert provider is not None
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert base_url_for(ModelConfig(model="m"), provider) == provider.default_base_url
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    assert base_url_for(ModelConfig(model="m"), provider) == "http://127.0.0.1:9/v1"
    config = ModelConfig(model="m", base_url="http://localhost:8/v2")
    assert base_url_for(config, provider) == "http://localhost:8/v2"


def test_the_app_target_runs_the_app_and_lets_the_next_worker_start() -> None:
    from pytest_chatexp._calls._app import APP_FORMAT, APP_TARGET

    config = ModelConfig.for_app(_greet)
    call = PlannedCall(
        config=config,
        input=Input(id="x", inputs={"name": "Ada"}),
        sample_index=0,
        messages=(),
    )
    wire = APP_FORMAT.build_request(call, base_url="")

    async def scenario() -> tuple[CallOutcome, bool]:
        first_out: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        request = TargetCall(
            call=call,
            provider=APP_FORMAT,
            wire=wire,
            exchange=send_directly,
            timeout=5.0,
            max_response_bytes=1024,
            first_out=first_out,
        )
        outcome = await APP_TARGET.handle(request)
        return outcome, first_out.done()

    outcome, started_next = asyncio.run(scenario())
    assert started_next
    assert outcome.body["message"] == {"role": "assistant", "content": "hello Ada"}
    assert APP_FORMAT.read_answer(outcome.body, streamed=False).raw_output == "hello Ada"


def test_resolving_a_model_config_loads_no_app_target_nor_http_client() -> None:
    """The app target's module (and httpx with it) loads only for a config naming an app."""
    probe = (
        "import sys\n"
        "from pytest_chatexp import ModelConfig\n"
        "from pytest_chatexp._calls._exchange import replay\n"
        "from pytest_chatexp._calls._exchange import format_for\n"
        "format_for(ModelConfig(model='m', provider='anthropic'))\n"
        "loaded = [m for m in ('pytest_chatexp._calls._app', 'httpx', 'asyncio') "
        "if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
