"""Bad marker arguments, configs, files and options: each a short message, never a traceback.

Each row is a test file a user might write and the message they must see. The messages name the
test and the argument or file, and the run shows no frame of the plugin's internals.
"""

from __future__ import annotations

import textwrap

import pytest

from pytest_chatexp.testing import ReferenceServer

HEADER = """
import pytest
from pytest_chatexp import ModelConfig
CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])
"""

COLLECTION_ERRORS = {
    "typo in an argument": (
        "@pytest.mark.chatexp(model_configs=CONFIG, num_sample=2)",
        "chatexp: *::test_it: chatexp marker: unknown argument 'num_sample' (did you mean 'num_samples'?)",
    ),
    "zero samples": (
        "@pytest.mark.chatexp(model_configs=CONFIG, num_samples=0)",
        "chatexp: *: 'num_samples': input should be greater than or equal to 1 (got 0)",
    ),
    "samples as a string": (
        "@pytest.mark.chatexp(model_configs=CONFIG, num_samples='3')",
        "chatexp: *: 'num_samples': input should be a valid integer (got '3')",
    ),
    "positional argument": (
        "@pytest.mark.chatexp(CONFIG)",
        "chatexp: *: the chatexp marker takes keyword arguments only (got positional ModelConfig(*",
    ),
    "model_configs of a wrong type": (
        "@pytest.mark.chatexp(model_configs=42)",
        "chatexp: *: 'model_configs' must be one of ModelConfig, Mapping, str, Path; got int 42",
    ),
    "empty model_configs": (
        "@pytest.mark.chatexp(model_configs=[])",
        "chatexp: *: 'model_configs' is an empty list",
    ),
    "typo inside a config": (
        "@pytest.mark.chatexp(model_configs=[{'model': 'm', 'temprature': 0.5}])",
        "chatexp: *: model_configs[0]: unknown field 'temprature' (did you mean 'temperature'?)",
    ),
    "temperature out of range": (
        "@pytest.mark.chatexp(model_configs=[{'model': 'm', 'temperature': 3}])",
        "chatexp: *: model_configs[0]: 'temperature': input should be less than or equal to 2 (got 3)",
    ),
    "config without a model": (
        "@pytest.mark.chatexp(model_configs=[{'name': 'x'}])",
        "chatexp: *: model_configs[0]: 'model' is required",
    ),
    "unknown provider": (
        "@pytest.mark.chatexp(model_configs=[{'model': 'm', 'provider': 'nope'}])",
        "chatexp: *: model config 'm': provider 'nope' is not supported (supported: *openai*)",
    ),
    "missing prompt file": (
        "@pytest.mark.chatexp(model_configs='prompts/none.yaml')",
        "chatexp: *: */prompts/none.yaml: file not found",
    ),
    "missing dataset file": (
        "@pytest.mark.chatexp(model_configs=CONFIG, inputs='cases.jsonl')",
        "chatexp: *: */cases.jsonl: file not found",
    ),
    "inputs that are not mappings": (
        "@pytest.mark.chatexp(model_configs=CONFIG, inputs=[1, 2])",
        "chatexp: *: 'inputs[0]' must be one of Input, Mapping, str, Path; got int 1",
    ),
    "duplicate input ids": (
        "@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{'id': 'a', 'q': 1}, {'id': 'a', 'q': 2}])",
        "chatexp: *: inputs: two inputs share the id 'a'; input ids must be unique (inputs[0] and "
        "inputs[1])",
    ),
    "missing template variable": (
        "@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{'question': 'hi'}])",
        "chatexp: *: model config 'c', input 'input-0': chat_template[0].content: no value for "
        "template variable 'q' (variables given: question)*",
    ),
    "unknown split": (
        "@pytest.mark.chatexp(model_configs=CONFIG, split='per-config')",
        "chatexp: *: 'split': input should be 'configs', 'inputs' or 'cases' (got 'per-config')",
    ),
    "split without inputs in the marker": (
        "@pytest.mark.chatexp(model_configs=CONFIG, split='inputs')",
        "chatexp: *: split='inputs' needs inputs= in the chatexp marker*",
    ),
    "negative timeout": (
        "@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{'q': 1}], timeout=-1)",
        "chatexp: *: 'timeout': input should be greater than 0*",
    ),
    "zero concurrency": (
        "@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{'q': 1}], concurrency=0)",
        "chatexp: *: 'concurrency': input should be greater than or equal to 1 (got 0)",
    ),
    "bad message role": (
        "@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{'q': 1}], messages=[{'role': 'robot', 'content': 'x'}])",
        "chatexp: *: 'messages[0].role': input should be 'user', 'assistant', 'system' or 'tool' (got 'robot')",
    ),
    "two configs with one name": (
        "@pytest.mark.chatexp(model_configs=[CONFIG, CONFIG.variant(name='c', temperature=1)], inputs=[{'q': 1}])",
        "chatexp: *: two model configs are named 'c'; give each a unique name=*",
    ),
    "identical configs": (
        "@pytest.mark.chatexp(model_configs=[CONFIG, CONFIG.variant(name='d')], inputs=[{'q': 1}])",
        "chatexp: *: model configs 'c' and 'd' send identical requests*",
    ),
    "config without messages": (
        "@pytest.mark.chatexp(model_configs=[{'model': 'm'}])",
        "chatexp: *: model config 'm', input 'input-0': no messages to send*",
    ),
}


@pytest.mark.parametrize("decorator, message", COLLECTION_ERRORS.values(), ids=COLLECTION_ERRORS)
def test_bad_marker_is_a_collection_error(
    pytester: pytest.Pytester, decorator: str, message: str
) -> None:
    pytester.makepyfile(HEADER + f"\n{decorator}\ndef test_it(chatexp):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([_glob(message)])
    _assert_no_internals(result)


SETUP_ERRORS = {
    "chatexp_config returns a list": (
        "@pytest.fixture\ndef chatexp_config():\n    return [CONFIG]",
        "chatexp: *::test_it: the chatexp_config fixture must return a dict of chatexp options, got list",
    ),
    "chatexp_config with a typo": (
        "@pytest.fixture\ndef chatexp_config():\n    return {'model_config': [CONFIG]}",
        "chatexp: *: chatexp_config fixture: unknown argument 'model_config' (did you mean 'model_configs'?)",
    ),
    "nothing declares configs": (
        "",
        "chatexp: *: no model configs: pass model_configs= to the chatexp marker, or return them from "
        "a 'chatexp_config' fixture",
    ),
}


@pytest.mark.parametrize("conftest, message", SETUP_ERRORS.values(), ids=SETUP_ERRORS)
def test_bad_fixture_config_is_a_setup_error(
    pytester: pytest.Pytester, conftest: str, message: str
) -> None:
    pytester.makeconftest(HEADER + "\n" + conftest + "\n")
    pytester.makepyfile("def test_it(chatexp):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([_glob(message)])
    _assert_no_internals(result)


BAD_FILES = {
    "prompts.yaml": (
        "- name: a\n  model: m\n  chat_template: [oops\n",
        "*prompts.yaml:4: invalid YAML: *",
    ),
    "prompts.json": ('[{"model": "m",}]', "*prompts.json:1: invalid JSON: *"),
    "prompts.toml": (
        "model = 'm'",
        "*prompts.toml: unsupported file type '.toml' (use .yaml, .yml or .json)",
    ),
}


@pytest.mark.parametrize(
    "name, content, message", [(k, *v) for k, v in BAD_FILES.items()], ids=BAD_FILES
)
def test_bad_prompt_file(pytester: pytest.Pytester, name: str, content: str, message: str) -> None:
    (pytester.path / name).write_text(content)
    pytester.makepyfile(
        HEADER
        + f"\n@pytest.mark.chatexp(model_configs={name!r})\ndef test_it(chatexp):\n    pass\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([_glob(message)])
    _assert_no_internals(result)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--chatexp-concurrency", "many"],
            "ERROR: chatexp: --chatexp-concurrency must be a whole number >= 1, got 'many'",
        ),
        (
            ["--chatexp-concurrency", "0"],
            "ERROR: chatexp: --chatexp-concurrency must be a whole number >= 1, got '0'",
        ),
        (
            ["--chatexp-timeout", "-2"],
            "ERROR: chatexp: --chatexp-timeout must be a number of seconds > 0, got '-2'",
        ),
        (
            ["-o", "chatexp_timeout=soon"],
            "ERROR: chatexp: ini option chatexp_timeout must be a number of seconds > 0, got 'soon'",
        ),
    ],
)
def test_bad_command_line_option(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_provider_errors_name_the_case(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(
        HEADER
        + textwrap.dedent(
            f"""
            WRONG_PATH = CONFIG.variant(name="wrong-path", base_url="{server.url}/nope")
            DOWN = CONFIG.variant(name="down", base_url="http://127.0.0.1:9/v1")

            @pytest.mark.chatexp(model_configs=[WRONG_PATH], inputs=[{{"q": "hi"}}])
            def test_404(chatexp):
                pass

            @pytest.mark.chatexp(model_configs=[DOWN], inputs=[{{"q": "hi"}}, {{"q": "ho"}}])
            def test_down(chatexp):
                pass

            @pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"q": "slow"}}], timeout=0.2)
            def test_slow(chatexp):
                pass
            """
        )
    )
    server.latency = 1.0
    result = pytester.runpytest("--chatexp-backoff=0.01")
    result.assert_outcomes(errors=3)
    # Each test's lines, the tests in any order (a plugin such as pytest-randomly reorders them).
    for lines in (
        [
            "chatexp: *::test_404: model config 'wrong-path', input 'input-0', sample 0: HTTP 404 from "
            f"{server.url}/nope/chat/completions: *",
        ],
        [
            "chatexp: *::test_down: 2 of 2 provider calls failed:",
            "  model config 'down', input 'input-0', sample 0: cannot reach http://127.0.0.1:9/v1/chat/completions: *",
            "  model config 'down', input 'input-1', sample 0: cannot reach *",
        ],
        [
            "chatexp: *::test_slow: model config 'c', input 'input-0', sample 0: no answer from * within 0.2 s "
            "(raise the timeout with --chatexp-timeout or the marker's timeout=) (gave up after 4 attempts)",
        ],
    ):
        result.stdout.fnmatch_lines(lines)
    _assert_no_internals(result)


def test_garbage_from_the_provider(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    from pytest_chatexp.testing._http import Response, json_response

    async def not_json(request: object) -> Response:
        return Response(200, b"<html>gateway</html>", "text/html")

    async def wrong_shape(request: object) -> Response:
        return json_response({"choices": [{"message": {"content": 5}}]})

    server.routes[("POST", "/html/chat/completions")] = not_json
    server.routes[("POST", "/shape/chat/completions")] = wrong_shape
    pytester.makepyfile(
        HEADER
        + textwrap.dedent(
            f"""
            @pytest.mark.chatexp(model_configs=[CONFIG.variant(base_url="{server.url}/html")], inputs=[{{"q": 1}}])
            def test_html(chatexp):
                pass

            @pytest.mark.chatexp(model_configs=[CONFIG.variant(base_url="{server.url}/shape")], inputs=[{{"q": 1}}])
            def test_shape(chatexp):
                pass
            """
        )
    )
    try:
        result = pytester.runpytest("--chatexp-backoff=0.01")
    finally:
        del (
            server.routes[("POST", "/html/chat/completions")],
            server.routes[("POST", "/shape/chat/completions")],
        )
    result.assert_outcomes(errors=2)
    for line in (  # the tests in any order
        "chatexp: *::test_html: *sample 0: * answered HTTP 200 with a body that is not JSON: "
        "<html>gateway</html> (gave up after 4 attempts)",
        _glob(
            "chatexp: *::test_shape: *sample 0: the response is not an OpenAI chat completion: "
            "'choices[0].message.content': input should be a valid string (got 5)"
        ),
    ):
        result.stdout.fnmatch_lines([line])
    _assert_no_internals(result)


def _glob(message: str) -> str:
    """Messages are written literally but for '*': keep fnmatch from reading [0] as a class."""
    return message.replace("[", "[[]")


def _assert_no_internals(result: pytest.RunResult) -> None:
    output = result.stdout.str()
    assert "Traceback" not in output
    assert "pytest_chatexp/_" not in output
