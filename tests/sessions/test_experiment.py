"""Experiments end to end: a marker, the fixture, real HTTP to the reference server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_chatexp import ChatResponse, ModelConfig
from pytest_chatexp.testing import ReferenceServer
from tests._suite import REPORT, Suite, assert_clean, report_cases

CONFIGS = """
from pytest_chatexp import ModelConfig

BASE = ModelConfig(
    name="terse",
    model="ref-model",
    temperature=0.2,
    chat_template=[
        {"role": "system", "content": "You answer {{style}}."},
        {"role": "user", "content": "{{question}}"},
    ],
)
CONFIGS = [BASE, BASE.variant(name="warm", temperature=0.9)]
INPUTS = [
    {"id": "capital", "style": "briefly", "question": "capital of France"},
    {"id": "colour", "style": "kindly", "question": "colour of the sky"},
    {"style": "plainly", "question": "two plus two"},
]
"""


def _responses(pytester: pytest.Pytester, report: str) -> dict[str, ChatResponse]:
    """Each case's ``ChatResponse`` in a JSON report, keyed ``config/input``."""
    data = json.loads((pytester.path / report).read_text())
    return {
        f"{case['config']}/{case['input']}": ChatResponse.model_validate(case["chat_response"])
        for case in report_cases(data)
    }


def test_two_configs_three_inputs_two_samples(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        """
        import pytest
        from configs import CONFIGS, INPUTS

        @pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS, num_samples=2)
        def test_matrix(chatexp):
            assert len(chatexp.samples) == 12
            assert list(chatexp.by_config) == ["terse", "warm"]
            assert list(chatexp.by_input) == ["capital", "colour", "input-2"]
            assert sorted(chatexp.by_sample) == [0, 1]
        """
    )
    result = pytester.runpytest("-m", "chatexp", "--chatexp-json=r.json")
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 12

    responses = _responses(pytester, "r.json")
    assert list(responses) == [
        f"{config}/{case}"
        for config in ("terse", "warm")
        for case in ("capital", "colour", "input-2")
    ]
    declared: dict[str, object] = {}
    exec(CONFIGS, declared)  # the same configs and inputs the inner session declared
    for key, response in responses.items():
        config_name, case_id = key.split("/")
        config = next(c for c in declared["CONFIGS"] if c.name == config_name)  # type: ignore[attr-defined]
        row = next(
            r
            for n, r in enumerate(declared["INPUTS"])
            if r.get("id", f"input-{n}") == case_id  # type: ignore[call-overload]
        )
        assert response.num_samples == 2
        assert [d.index for d in response.data] == [0, 1]
        for data in response.data:
            assert data.model_config_id == config.model_config_id
            assert data.inputs == row
            assert data.output == f"[system: You answer {row['style']}.] echo: {row['question']}"
            assert data.finish_reason == "stop"
            assert [m.role for m in data.messages or []] == ["system", "user"]
        assert response.usage is not None
        words = sum(len(d.output.split()) for d in response.data)
        assert response.usage.generation_tokens == words
        assert response.usage.total_tokens == response.usage.prompt_tokens + words
        assert response.provider_request is not None
        assert response.provider_request["temperature"] == config.temperature
        assert len(response.provider_responses) == 2


def test_tool_calls_are_parsed(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(
        """
        import json, pytest
        from pytest_chatexp import ModelConfig, Tool

        weather = Tool(
            name="get_weather",
            description="Weather for a city",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        )
        config = ModelConfig(
            name="agent",
            model="ref-model",
            tools=[weather],
            tool_choice="auto",
            chat_template=[{"role": "user", "content": '{{ask}} [[tool: get_weather {"city": "{{city}}"}]]'}],
        )

        @pytest.mark.chatexp(model_configs=[config], inputs=[{"ask": "weather?", "city": "Paris"}])
        def test_tools(chatexp):
            (sample,) = chatexp.samples
            (call,) = sample.tool_calls
            assert call.function.name == "get_weather"
            assert json.loads(call.function.arguments) == {"city": "Paris"}
            assert call.id.startswith("call_")
            assert sample.finish_reason == "tool_call"
            assert sample.data.tool_call == call.function
            assert sample.data.output_message.tool_calls == [call]
            assert sample.output == ""
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    (request,) = server.requests
    assert request.json is not None
    assert request.json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    assert request.json["tool_choice"] == "auto"


def test_every_config_field_reaches_the_wire(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        config = ModelConfig(
            model="ref-model", max_tokens=50, top_p=0.5, stop=["END"], presence_penalty=0.1,
            frequency_penalty=0.2, seed=7, response_format={"type": "json_object"},
            tools=[{"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}],
            tool_choice={"type": "function", "function": {"name": "lookup"}},
            other={"user": "tester", "logprobs": False},
            chat_template=[{"role": "user", "content": "hello"}],
        )

        @pytest.mark.chatexp(model_configs=config)
        def test_wire(chatexp):
            (sample,) = chatexp.samples
            assert sample.tool_calls[0].function.name == "lookup"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.json == {
        "model": "ref-model",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 50,
        "top_p": 0.5,
        "stop": ["END"],
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "seed": 7,
        "response_format": {"type": "json_object"},
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "user": "tester",
        "logprobs": False,
    }


def test_api_key_is_sent_but_never_kept(
    suite: Suite, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "sk-canary-0123456789abcdef"
    monkeypatch.setenv("MY_KEY", canary)
    suite.write(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        @pytest.mark.chatexp(model_configs=ModelConfig(model="m", api_key_env="MY_KEY",
                             chat_template=[{"role": "user", "content": "hi"}]))
        def test_key(chatexp):
            pass
        """
    )
    run = suite.run("-v", report=True).assert_outcomes(passed=1)
    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {canary}"
    # The JSON report holds every case's chat response, as the experiment's result gave it.
    (case,) = run.cases()
    assert case["chat_response"]["data"]
    assert canary not in (run.path / REPORT).read_text()
    assert canary not in run.text


def test_missing_api_key_env_is_a_clear_error(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        @pytest.mark.chatexp(model_configs=ModelConfig(model="m", api_key_env="NOT_SET_ANYWHERE",
                             chat_template=[{"role": "user", "content": "hi"}]))
        def test_key(chatexp):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_key*model config 'm': the environment variable NOT_SET_ANYWHERE (api_key_env) is not set*"
        ]
    )
    assert_clean(result)
    assert not server.requests


def test_concurrency_limit_is_respected(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    server.latency = 0.05
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        @pytest.mark.chatexp(
            model_configs=ModelConfig(model="m", chat_template=[{"role": "user", "content": "{{n}}"}]),
            inputs=[{"n": n} for n in range(12)], num_samples=2, concurrency=4,
        )
        def test_many(chatexp):
            assert [s.output for s in chatexp.samples] == [f"echo: {n}" for n in range(12) for _ in range(2)]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert len(server.requests) == 24
    assert 2 <= server.max_in_flight <= 4


@pytest.mark.parametrize(
    "ini, args",
    [
        pytest.param("", ["--chatexp-concurrency", "2"], id="option"),
        pytest.param("[pytest]\nchatexp_concurrency = 2\n", [], id="ini"),
    ],
)
def test_session_concurrency_option_caps_every_experiment(
    pytester: pytest.Pytester, server: ReferenceServer, ini: str, args: list[str]
) -> None:
    server.latency = 0.05
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        @pytest.mark.chatexp(
            model_configs=ModelConfig(model="m", chat_template=[{"role": "user", "content": "{{n}}"}]),
            inputs=[{"n": n} for n in range(10)], concurrency=8,
        )
        def test_many(chatexp):
            assert len(chatexp.samples) == 10
        """
    )
    pytester.runpytest(*args).assert_outcomes(passed=1)
    assert server.max_in_flight == 2


def test_split_makes_one_item_per_case(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        """
        import pytest
        from configs import CONFIGS, INPUTS

        @pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS[:2], split="configs")
        def test_by_config(chatexp):
            assert len(chatexp.by_config) == 1 and len(chatexp.samples) == 2

        @pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS[:2], split="cases")
        def test_by_case(chatexp):
            (case,) = chatexp.cases
            assert chatexp.samples[0].output.endswith(case.input.inputs["question"])
        """
    )
    result = pytester.runpytest("--collect-only", "-q")
    # The items, in any order: a plugin such as pytest-randomly may reorder them.
    assert sorted(line.split("::")[1] for line in result.outlines if "::" in line) == [
        "test_by_case[terse-capital]",
        "test_by_case[terse-colour]",
        "test_by_case[warm-capital]",
        "test_by_case[warm-colour]",
        "test_by_config[terse]",
        "test_by_config[warm]",
    ]
    pytester.runpytest("-k", "warm and colour").assert_outcomes(passed=1)
    assert len(server.requests) == 1
    pytester.runpytest().assert_outcomes(passed=6)


def test_chatexp_config_fixture_and_markers_merge(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        @pytest.fixture
        def chatexp_config():
            return {
                "model_configs": [ModelConfig(name="house", model="m",
                                  chat_template=[{"role": "user", "content": "{{q}}"}])],
                "num_samples": 3,
            }
        """
    )
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.chatexp(inputs=[{"q": "module"}], num_samples=2)

        def test_module_level(chatexp):
            assert chatexp.outputs == ["echo: module"] * 2

        @pytest.mark.chatexp(inputs=[{"q": "class"}])
        class TestGroup:
            def test_class_level(self, chatexp):
                assert chatexp.outputs == ["echo: class"] * 2

            @pytest.mark.chatexp(num_samples=1)
            def test_function_level(self, chatexp):
                assert chatexp.outputs == ["echo: class"]
                assert [c.display_name for c in chatexp.model_configs] == ["house"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_prompt_file_and_dataset_next_to_the_test(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    prompts = pytester.mkdir("prompts")
    (prompts / "support.yaml").write_text(
        "- name: support-v1\n"
        "  model: ref-model\n"
        "  chat_template:\n"
        "    - {role: system, content: 'You help customers of {{company}}.'}\n"
        "    - {role: user, content: '{{question}}'}\n"
        "- name: support-v2\n"
        "  extends: support-v1\n"
        "  temperature: 0.7\n"
    )
    (pytester.path / "cases.jsonl").write_text(
        '{"id": "refund", "company": "Acme", "question": "refund?"}\n'
        '{"id": "hours", "company": "Acme", "question": "open?"}\n'
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.chatexp(model_configs="prompts/support.yaml", inputs="cases.jsonl")
        def test_files(chatexp):
            assert [c.id for c in chatexp.cases] == [
                "support-v1/refund", "support-v1/hours", "support-v2/refund", "support-v2/hours"]
            assert chatexp.case("support-v2", "hours").samples[0].output.endswith("echo: open?")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert [
        r.json["temperature"] for r in server.requests if r.json and "temperature" in r.json
    ] == [0.7, 0.7]


def test_programmatic_runs(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(
        """
        from pytest_chatexp import ModelConfig

        def test_build_and_run(chatexp_runner):
            config = ModelConfig(model="m", chat_template=[{"role": "user", "content": "{{x}}"}])
            first = chatexp_runner.run(model_configs=[config], inputs=[{"x": "one"}])
            second = chatexp_runner.run(model_configs=[config], inputs=[{"x": "two"}], num_samples=2)
            assert first.outputs == ["echo: one"]
            assert second.outputs == ["echo: two", "echo: two"]
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    # Both runs show in the summary under the test's id.
    assert result.stdout.str().count("test_programmatic_runs.py::test_build_and_run") == 2


def test_async_test_can_await_the_runner(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        import asyncio, pytest
        from pytest_chatexp import ModelConfig

        def test_from_a_loop(chatexp_runner):
            config = ModelConfig(model="m", chat_template=[{"role": "user", "content": "hi"}])
            result = asyncio.run(chatexp_runner.arun(model_configs=[config]))
            assert result.outputs == ["echo: hi"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_m_chatexp_selects_chatexp_tests_only(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        CONFIG = ModelConfig(model="m", chat_template=[{"role": "user", "content": "hi"}])

        @pytest.mark.chatexp(model_configs=CONFIG)
        def test_marked(chatexp):
            assert chatexp.outputs == ["echo: hi"]

        def test_fixture_only(chatexp_runner):
            assert chatexp_runner.run(model_configs=CONFIG).outputs == ["echo: hi"]

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-m", "chatexp", "--strict-markers", "-v")
    result.assert_outcomes(passed=2, deselected=1)
    for line in ("*test_marked PASSED*", "*test_fixture_only PASSED*"):  # in any order
        result.stdout.fnmatch_lines([line])
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.chatexp(model_configs=*"])


def test_terminal_summary(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        """
        import pytest
        from configs import CONFIGS, INPUTS

        @pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS, num_samples=2)
        def test_matrix(chatexp):
            pass
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*- chatexp experiments (record mode: off) -*",
            "experiment / model config  samples  pass rate  tokens*cost*p50*p95*calls",
            "test_terminal_summary.py::test_matrix",
            "  terse  *6  *-  *  cost unknown  *s  *s  6 live",
            "  warm  *6  *-  *  cost unknown  *s  *s  6 live",
            "total: 1 experiment, 12 calls (0 replayed, 12 live), * tokens, cost unknown",
        ]
    )


def test_results_are_identical_under_xdist(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(configs=CONFIGS)
    pytester.makepyfile(
        """
        import pytest
        from configs import CONFIGS, INPUTS

        @pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS, num_samples=2, split="configs")
        def test_matrix(chatexp):
            assert len(chatexp.samples) == 6
        """
    )
    serial = pytester.runpytest_subprocess(
        "-n", "0", "-p", "no:cacheprovider", "--chatexp-json=serial.json"
    )
    serial.assert_outcomes(passed=2)
    parallel = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "--chatexp-json=parallel.json"
    )
    parallel.assert_outcomes(passed=2)
    serial_responses = _responses(pytester, "serial.json")
    assert len(serial_responses) == 6
    assert {key: response.to_json_dict() for key, response in serial_responses.items()} == {
        key: response.to_json_dict()
        for key, response in _responses(pytester, "parallel.json").items()
    }
    parallel.stdout.fnmatch_lines(["total: 2 experiments, 12 calls (0 replayed, 12 live), *"])


def test_model_config_ids_are_content_derived(tmp_path: Path) -> None:
    config = ModelConfig(model="m", chat_template=[{"role": "user", "content": "hi"}])
    assert config.model_config_id == config.variant(name="renamed").model_config_id
    assert config.model_config_id != config.variant(temperature=0.3).model_config_id
