"""Bad input, one table row each: what the user wrote -> the one line they must see, and how the
run ends. Marker arguments and their configs, inputs and options, ``chatexp_config`` fixtures,
tool and response-format shapes, provider-specific refusals, prompt and dataset files,
hand-broken recordings, command-line and ini options, price tables; then the provider's bad
answers, which need the reference server.

Every row runs a whole pytest session and checks the line (an fnmatch pattern naming the test or
the file and the field), the exit status, and that the output shows neither a traceback nor a
frame of the plugin's internals. Rows marked ``BUG`` are strict xfails: the plugin does not meet
that bar yet, and the row starts passing (and so fails, strictly) once it does.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite, assert_clean, glob

HEADER = """\
import pytest
from pytest_chatexp import ModelConfig
CONFIG = ModelConfig(name="c", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])
"""


def marked(arguments: str) -> dict[str, str | bytes]:
    """A test module whose one test carries ``@pytest.mark.chatexp(<arguments>)``."""
    return {
        "test_case.py": HEADER + f"\n@pytest.mark.chatexp({arguments})\ndef test_it(chatexp):\n"
        "    pass\n"
    }


def configured(fixture: str) -> dict[str, str | bytes]:
    """A conftest declaring ``fixture`` (a ``chatexp_config`` fixture, or nothing) under
    ``HEADER``, and a test that asks for ``chatexp`` with no marker."""
    return {
        "conftest.py": HEADER + "\n" + fixture + "\n",
        "test_case.py": "def test_it(chatexp):\n    pass\n",
    }


def with_file(name: str, content: str | bytes, arguments: str) -> dict[str, str | bytes]:
    """A data file next to the test module, which the marker's ``arguments`` refer to."""
    return {name: content, **marked(arguments)}


PLAIN = "model_configs=CONFIG, inputs=[{'q': 'hi'}]"
RECORDING = "__recordings__/test_case/test_it.yaml"
ONE_INTERACTION = """\
version: 1
test: test_case.py::test_it
interactions:
- fingerprint: 0123456789abcdef01234567
  label: {config: c, input: input-0, sample: 0}
  request: {provider: openai, endpoint: 127.0.0.1/v1/chat/completions, body: BODY}
  response: {body: {}, latency_s: 0.1}
"""


def json_says(text: str) -> str:
    """What this Python's json module says of invalid ``text``: its words change between
    versions (3.13 names a trailing comma)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.msg
    raise AssertionError(f"{text!r} is valid JSON")


def recording(text: str | bytes) -> dict[str, str | bytes]:
    """The plain test, replayed (record mode none) from a hand-written recording."""
    return {RECORDING: text, **marked(PLAIN)}


def plain_module(ini: str = "") -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {"test_case.py": "def test_x():\n    pass\n"}
    if ini:
        files["pytest.ini"] = "[pytest]\n" + ini
    return files


def prices(*lines: str) -> dict[str, str | bytes]:
    return plain_module("chatexp_prices =\n" + "".join(f"    {line}\n" for line in lines))


ANTHROPIC = "'provider': 'anthropic', 'chat_template': [{'role': 'user', 'content': 'hi'}]"
HUMANLOOP = "'provider': 'humanloop', 'chat_template': [{'role': 'user', 'content': 'hi'}]"

# How a session ends for each kind of problem.
COLLECTION = "collection error"  # validated while collecting: exit 2, the test never runs
SETUP = "setup error"  # found when the experiment runs: exit 1, the test errors
USAGE = "usage error"  # a bad option: exit 4 before collection


@dataclass(frozen=True)
class Row:
    files: dict[str, str | bytes]
    ends_with: str
    line: str  # fnmatch pattern, written literally but for '*' ('[' is escaped for you)
    args: tuple[str, ...] = ()
    bug: str | None = None  # the plugin falls short here: a strict xfail, with why
    env: dict[str, str] = field(default_factory=dict)


YAML_TYPE_BUG = (
    "read_structured_file (_configs.py) and _store._parse catch only yaml.YAMLError; PyYAML's "
    "SafeConstructor raises a bare ValueError for an impossible date (and for `!!float x`, "
    "`!!bool x`, ...): a traceback through pytest_chatexp/_ instead of the file and line"
)

CATALOGUE: dict[str, Row] = {
    # --- marker arguments, fixture configs, prompt files that do not parse, options ------------
    "typo in an argument": Row(
        marked("model_configs=CONFIG, num_sample=2"),
        COLLECTION,
        "chatexp: *::test_it: chatexp marker: unknown argument 'num_sample' (did you mean 'num_samples'?)",
    ),
    "zero samples": Row(
        marked("model_configs=CONFIG, num_samples=0"),
        COLLECTION,
        "chatexp: *: 'num_samples': input should be greater than or equal to 1 (got 0)",
    ),
    "samples as a string": Row(
        marked("model_configs=CONFIG, num_samples='3'"),
        COLLECTION,
        "chatexp: *: 'num_samples': input should be a valid integer (got '3')",
    ),
    "positional argument": Row(
        marked("CONFIG"),
        COLLECTION,
        "chatexp: *: the chatexp marker takes keyword arguments only (got positional ModelConfig(*",
    ),
    "model_configs of a wrong type": Row(
        marked("model_configs=42"),
        COLLECTION,
        "chatexp: *: 'model_configs' must be one of ModelConfig, Mapping, str, Path; got int 42",
    ),
    "empty model_configs": Row(
        marked("model_configs=[]"),
        COLLECTION,
        "chatexp: *: 'model_configs' is an empty list",
    ),
    "typo inside a config": Row(
        marked("model_configs=[{'model': 'm', 'temprature': 0.5}]"),
        COLLECTION,
        "chatexp: *: model_configs[0]: unknown field 'temprature' (did you mean 'temperature'?)",
    ),
    "temperature out of range": Row(
        marked("model_configs=[{'model': 'm', 'temperature': 3}]"),
        COLLECTION,
        "chatexp: *: model_configs[0]: 'temperature': input should be less than or equal to 2 (got 3)",
    ),
    "config without a model": Row(
        marked("model_configs=[{'name': 'x'}]"),
        COLLECTION,
        "chatexp: *: model_configs[0]: 'model' is required",
    ),
    "unknown provider": Row(
        marked("model_configs=[{'model': 'm', 'provider': 'nope'}]"),
        COLLECTION,
        "chatexp: *: model config 'm': provider 'nope' is not supported (supported: *openai*)",
    ),
    "missing prompt file": Row(
        marked("model_configs='prompts/none.yaml'"),
        COLLECTION,
        "chatexp: *: */prompts/none.yaml: file not found",
    ),
    "missing dataset file": Row(
        marked("model_configs=CONFIG, inputs='cases.jsonl'"),
        COLLECTION,
        "chatexp: *: */cases.jsonl: file not found",
    ),
    "inputs that are not mappings": Row(
        marked("model_configs=CONFIG, inputs=[1, 2]"),
        COLLECTION,
        "chatexp: *: 'inputs[0]' must be one of Input, Mapping, str, Path; got int 1",
    ),
    "duplicate input ids": Row(
        marked("model_configs=CONFIG, inputs=[{'id': 'a', 'q': 1}, {'id': 'a', 'q': 2}]"),
        COLLECTION,
        "chatexp: *: inputs: two inputs share the id 'a'; input ids must be unique (inputs[0] and inputs[1])",
    ),
    "missing template variable": Row(
        marked("model_configs=CONFIG, inputs=[{'question': 'hi'}]"),
        COLLECTION,
        "chatexp: *: model config 'c', input 'input-0': chat_template[0].content: no value for template variable 'q' (variables given: question)*",
    ),
    "unknown split": Row(
        marked("model_configs=CONFIG, split='per-config'"),
        COLLECTION,
        "chatexp: *: 'split': input should be 'configs', 'inputs' or 'cases' (got 'per-config')",
    ),
    "split without inputs in the marker": Row(
        marked("model_configs=CONFIG, split='inputs'"),
        COLLECTION,
        "chatexp: *: split='inputs' needs inputs= in the chatexp marker*",
    ),
    "negative timeout": Row(
        marked("model_configs=CONFIG, inputs=[{'q': 1}], timeout=-1"),
        COLLECTION,
        "chatexp: *: 'timeout': input should be greater than 0*",
    ),
    "zero concurrency": Row(
        marked("model_configs=CONFIG, inputs=[{'q': 1}], concurrency=0"),
        COLLECTION,
        "chatexp: *: 'concurrency': input should be greater than or equal to 1 (got 0)",
    ),
    "bad message role": Row(
        marked(
            "model_configs=CONFIG, inputs=[{'q': 1}], messages=[{'role': 'robot', 'content': 'x'}]"
        ),
        COLLECTION,
        "chatexp: *: 'messages[0].role': input should be 'user', 'assistant', 'system' or 'tool' (got 'robot')",
    ),
    "two configs with one name": Row(
        marked(
            "model_configs=[CONFIG, CONFIG.variant(name='c', temperature=1)], inputs=[{'q': 1}]"
        ),
        COLLECTION,
        "chatexp: *: two model configs are named 'c'; give each a unique name=*",
    ),
    "identical configs": Row(
        marked("model_configs=[CONFIG, CONFIG.variant(name='d')], inputs=[{'q': 1}]"),
        COLLECTION,
        "chatexp: *: model configs 'c' and 'd' send identical requests*",
    ),
    "config without messages": Row(
        marked("model_configs=[{'model': 'm'}]"),
        SETUP,
        "chatexp: *: model config 'm', input 'input-0': no messages to send*",
    ),
    "chatexp_config returns a list": Row(
        configured("@pytest.fixture\ndef chatexp_config():\n    return [CONFIG]"),
        SETUP,
        "chatexp: *::test_it: the chatexp_config fixture must return a dict of chatexp options, got list",
    ),
    "chatexp_config with a typo": Row(
        configured("@pytest.fixture\ndef chatexp_config():\n    return {'model_config': [CONFIG]}"),
        SETUP,
        "chatexp: *: chatexp_config fixture: unknown argument 'model_config' (did you mean 'model_configs'?)",
    ),
    "nothing declares configs": Row(
        configured(""),
        SETUP,
        "chatexp: *: no model configs: pass model_configs= to the chatexp marker, or return them from a 'chatexp_config' fixture",
    ),
    "prompt file prompts.yaml that does not parse": Row(
        with_file(
            "prompts.yaml",
            "- name: a\n  model: m\n  chat_template: [oops\n",
            "model_configs='prompts.yaml'",
        ),
        COLLECTION,
        "*prompts.yaml:4: invalid YAML: *",
    ),
    "prompt file prompts.json that does not parse": Row(
        with_file("prompts.json", '[{"model": "m",}]', "model_configs='prompts.json'"),
        COLLECTION,
        "*prompts.json:1: invalid JSON: *",
    ),
    "prompt file prompts.toml that does not parse": Row(
        with_file("prompts.toml", "model = 'm'", "model_configs='prompts.toml'"),
        COLLECTION,
        "*prompts.toml: unsupported file type '.toml' (use .yaml, .yml or .json)",
    ),
    "--chatexp-concurrency many": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-concurrency must be a whole number >= 1, got 'many'",
        args=("--chatexp-concurrency", "many"),
    ),
    "--chatexp-concurrency 0": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-concurrency must be a whole number >= 1, got '0'",
        args=("--chatexp-concurrency", "0"),
    ),
    "--chatexp-breaker -1": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-breaker must be a whole number >= 0, got '-1'",
        args=("--chatexp-breaker=-1",),
    ),
    "ini chatexp_breaker = few": Row(
        plain_module("chatexp_breaker = few\n"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_breaker must be a whole number >= 0, got 'few'",
    ),
    "--chatexp-timeout -2": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-timeout must be a number of seconds > 0, got '-2'",
        args=("--chatexp-timeout", "-2"),
    ),
    "-o chatexp_timeout=soon": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: ini option chatexp_timeout must be a number of seconds > 0, got 'soon'",
        args=("-o", "chatexp_timeout=soon"),
    ),
    # --- model configs in the marker -----------------------------------------------------------
    "tools is a mapping, not a list": Row(
        marked("model_configs=[{'model': 'm', 'tools': {'name': 'lookup'}}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'tools': input should be a valid "
        "tuple (got {'name': 'lookup'})",
    ),
    "a tool without a name": Row(
        marked("model_configs=[{'model': 'm', 'tools': [{'description': 'looks up'}]}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'tools[0].name' is required",
    ),
    "tool parameters are a string": Row(
        marked("model_configs=[{'model': 'm', 'tools': [{'name': 't', 'parameters': 'x'}]}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'tools[0].parameters': input should "
        "be a valid dictionary (got 'x')",
    ),
    "response_format is a string": Row(
        marked("model_configs=[{'model': 'm', 'response_format': 'json'}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'response_format': input should be a "
        "valid dictionary (got 'json')",
    ),
    "response_format without a type": Row(
        marked("model_configs=[{'model': 'm', 'response_format': {'kind': 'json'}}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'response_format': *needs a 'type'*",
    ),
    "stop is a number": Row(
        marked("model_configs=[{'model': 'm', 'stop': 5}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'stop': input should be a valid "
        "string, or input should be a valid list (got 5)",
    ),
    "base_url without a scheme": Row(
        marked("model_configs=[{'model': 'm', 'base_url': 'localhost:8080/v1'}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'base_url': *'localhost:8080/v1' is "
        "not an http(s) URL*",
    ),
    "base_url with another scheme": Row(
        marked("model_configs=[{'model': 'm', 'base_url': 'ftp://example.com/v1'}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'base_url': *'ftp://example.com/v1' "
        "is not an http(s) URL*",
    ),
    "unknown tool_choice": Row(
        marked("model_configs=[{'model': 'm', 'tool_choice': 'sometimes'}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'tool_choice': input should be "
        "'none', 'auto' or 'required'*(got 'sometimes')",
    ),
    "negative max_tokens other than -1": Row(
        marked("model_configs=[{'model': 'm', 'max_tokens': -5}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'max_tokens': *must be a positive "
        "integer, or -1 for the provider's maximum (got -5)",
    ),
    "chat_template is a string": Row(
        marked("model_configs=[{'model': 'm', 'chat_template': 'hi'}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'chat_template': input should be a "
        "valid tuple (got 'hi')",
    ),
    "template message without a role": Row(
        marked("model_configs=[{'model': 'm', 'chat_template': [{'content': 'hi'}]}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'chat_template[0].role' is required",
    ),
    "other is a list": Row(
        marked("model_configs=[{'model': 'm', 'other': [1]}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'other': input should be a valid "
        "dictionary (got [1])",
    ),
    "variant() with a wrong type, in Python": Row(
        marked("model_configs=CONFIG.variant(tools='lookup')"),
        COLLECTION,
        "*'tools': input should be a valid tuple (got 'lookup')*",
    ),
    "template message without content": Row(
        marked("model_configs=[{'model': 'm', 'chat_template': [{'role': 'user'}]}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'chat_template[0]': value error, a "
        "user message needs 'content' (got {'role': 'user'})",
    ),
    "tool parameters that are not a JSON Schema": Row(
        marked(
            "model_configs=[{'model': 'm', 'tools': [{'name': 't', 'parameters': {'type': 5}}]}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'tools[0].parameters': value error, "
        "parameters: invalid JSON schema at $.type: * (got {'type': 5})",
    ),
    "tool_choice naming a tool the config does not declare": Row(
        marked(
            "model_configs=[{'model': 'm', 'tools': [{'name': 'lookup_order'}], "
            "'tool_choice': {'type': 'function', 'function': {'name': 'lookup_ordr'}}}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'tool_choice': value error, names the "
        "tool 'lookup_ordr', which model config 'm' does not declare (tools: 'lookup_order') "
        "(did you mean 'lookup_order'?)*",
    ),
    "other holds an object": Row(
        marked("model_configs=[{'model': 'm', 'other': {'x': object()}}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'other': value error, other['x'] is of "
        "type object, which JSON cannot carry*",
    ),
    "other holds NaN": Row(
        marked("model_configs=[{'model': 'm', 'other': {'x': float('nan')}}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'other': value error, other['x'] is "
        "nan, which JSON cannot carry (got {'x': nan})",
    ),
    "base_url with port 99999": Row(
        marked("model_configs=[{'model': 'm', 'base_url': 'http://localhost:99999/v1'}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: model_configs[0]: 'base_url': value error, "
        "'http://localhost:99999/v1' is not a valid URL: Port out of range 0-65535*",
    ),
    # --- provider-specific refusals (found when the calls are built) ---------------------------
    "Anthropic config with presence_penalty": Row(
        marked(f"model_configs=[{{'model': 'm', 'presence_penalty': 0.5, {ANTHROPIC}}}]"),
        SETUP,
        "chatexp: test_case.py::test_it: model config 'm': 'presence_penalty' is not supported "
        "by the Anthropic Messages API (provider 'anthropic'); remove it*",
    ),
    "Anthropic config with a seed": Row(
        marked(f"model_configs=[{{'model': 'm', 'seed': 7, {ANTHROPIC}}}]"),
        SETUP,
        "chatexp: test_case.py::test_it: model config 'm': 'seed' is not supported by the "
        "Anthropic Messages API*",
    ),
    "Humanloop config sending provider keys": Row(
        marked(
            f"model_configs=[{{'model': 'm', 'other': {{'provider_api_keys': {{'openai': 'x'}}}}, "
            f"{HUMANLOOP}}}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model config 'm': other['provider_api_keys'] is not "
        "supported: provider keys would be recorded with the request body*",
    ),
    "Humanloop config with an unknown endpoint": Row(
        marked(
            f"model_configs=[{{'model': 'm', 'other': {{'humanloop_endpoint': 'complete'}}, "
            f"{HUMANLOOP}}}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model config 'm': other['humanloop_endpoint'] is "
        "'complete'; expected one of 'chat', 'chat-experiment', 'chat-model-config', "
        "'chat-deployed'",
    ),
    "Humanloop stored config with a temperature": Row(
        marked(
            f"model_configs=[{{'model': 'm', 'temperature': 0.5, "
            f"'other': {{'model_config_id': 'config_1'}}, {HUMANLOOP}}}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model config 'm': temperature cannot be sent to "
        "/chat-model-config*",
    ),
    "Humanloop inline config naming a provider outside the v4 enum": Row(
        marked(
            f"model_configs=[{{'model': 'm', 'other': {{'humanloop_provider': 'mistral'}}, "
            f"{HUMANLOOP}}}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model config 'm': other['humanloop_provider'] is "
        "'mistral', which Humanloop's v4 API does not know; expected one of 'openai'*",
    ),
    "Humanloop stored config with a json_schema response format": Row(
        marked(
            f"model_configs=[{{'model': 'm', 'response_format': {{'type': 'json_schema'}}, "
            f"'other': {{'model_config_id': 'config_1'}}, {HUMANLOOP}}}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model config 'm': response_format type 'json_schema' "
        "is not accepted by Humanloop's v4 chat API*",
    ),
    "Humanloop linked tool without an id": Row(
        marked(
            f"model_configs=[{{'model': 'm', 'other': {{'humanloop_tools': [{{'name': 't'}}]}}, "
            f"{HUMANLOOP}}}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model config 'm': other['humanloop_tools'][0] must be a "
        "mapping with a string 'id'",
    ),
    # --- other marker arguments -----------------------------------------------------------------
    "messages is a string": Row(
        marked("model_configs=CONFIG, inputs=[{'q': 1}], messages='hi'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: chatexp marker: 'messages': input should be a valid "
        "tuple (got 'hi')",
    ),
    "timeout is a word": Row(
        marked("model_configs=CONFIG, inputs=[{'q': 1}], timeout='fast'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: chatexp marker: 'timeout': input should be a valid "
        "number*(got 'fast')",
    ),
    "timeout=float('inf')": Row(
        marked("model_configs=CONFIG, inputs=[{'q': 1}], timeout=float('inf')"),
        COLLECTION,
        "chatexp: test_case.py::test_it: chatexp marker: 'timeout': input should be a finite "
        "number (got inf)",
    ),
    "marker message without content": Row(
        marked("model_configs=CONFIG, inputs=[{'q': 1}], messages=[{'role': 'assistant'}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: chatexp marker: 'messages[0]': value error, an "
        "assistant message needs 'content'*",
    ),
    "an input variable no template uses": Row(
        marked("model_configs=CONFIG, inputs=[{'q': 1, 'tone': 'formal'}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: input 'input-0': the variable 'tone' is used by no "
        "template or message (placeholders: q); use it as '{{tone}}', remove it, or move data "
        "meant for checks to the row's 'metadata'",
    ),
    "an unclosed placeholder": Row(
        marked(
            "model_configs=[{'model': 'm', 'chat_template': [{'role': 'user', 'content': 'Q: {{q'}]}],"
            " inputs=[{'q': 1}]"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model config 'm', input 'input-0': "
        "chat_template[0].content: '{{q' is an unclosed placeholder; write '{{q}}'",
    ),
    "input variable named by a number": Row(
        marked("model_configs=CONFIG, inputs=[{1: 'x', 'q': 2}]"),
        COLLECTION,
        "chatexp: test_case.py::test_it: inputs[0]: 'inputs[1]': input should be a valid "
        "string (got 1)",
    ),
    "bad marker on a class": Row(
        {
            "test_case.py": "import pytest\n\n@pytest.mark.chatexp(model_configs=5)\n"
            "class TestX:\n    def test_it(self, chatexp):\n        pass\n"
        },
        COLLECTION,
        "chatexp: test_case.py::TestX::test_it: 'model_configs' must be one of ModelConfig, "
        "Mapping, str, Path; got int 5",
    ),
    # --- prompt files ---------------------------------------------------------------------------
    "prompt file: a YAML list of strings": Row(
        with_file("prompts.yaml", "- support-v1\n- support-v2\n", "model_configs='prompts.yaml'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml: model_configs[0]: expected a mapping of "
        "config fields, got str",
    ),
    "prompt file: a config without a model": Row(
        with_file("prompts.yaml", "name: x\ntemperature: 0.5\n", "model_configs='prompts.yaml'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml: model_configs[0]: 'model' is required",
    ),
    "prompt file: empty": Row(
        with_file("prompts.yaml", "", "model_configs='prompts.yaml'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml: expected a config mapping or a list of "
        "configs",
    ),
    "prompt file: Latin-1, not UTF-8": Row(
        with_file(
            "prompts.yaml",
            "name: café\nmodel: m\n".encode("latin-1"),
            "model_configs='prompts.yaml'",
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml: cannot be read ('utf-8' codec can't "
        "decode byte 0xe9*",
    ),
    "prompt file: unknown provider": Row(
        with_file(
            "prompts.yaml",
            "- name: a\n  model: m\n  provider: openia\n",
            "model_configs='prompts.yaml'",
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: model config 'a': provider 'openia' is not supported "
        "(supported: *openai*)",
    ),
    "prompt file: extends cycle": Row(
        with_file(
            "prompts.yaml",
            "- name: a\n  model: m\n  extends: b\n- name: b\n  model: m\n  extends: a\n",
            "model_configs='prompts.yaml'",
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml: model_configs[0]: extends 'b', which is "
        "not a config defined above it in this file (known: none defined above it)",
    ),
    "prompt file: extends an unknown config": Row(
        with_file(
            "prompts.yaml",
            "- name: a\n  model: m\n- name: b\n  extends: c\n",
            "model_configs='prompts.yaml'",
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml: model_configs[1]: extends 'c', which is "
        "not a config defined above it in this file (known: a)",
    ),
    "prompt file: extends a list": Row(
        with_file(
            "prompts.yaml",
            "- name: a\n  model: m\n- name: b\n  extends: [a]\n",
            "model_configs='prompts.yaml'",
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml: model_configs[1].extends: expected the "
        "name of a config defined above it, got list",
    ),
    "prompt file: model_configs is a number": Row(
        with_file("prompts.yaml", "model_configs: 5\n", "model_configs='prompts.yaml'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml: expected a config mapping or a list of "
        "configs",
    ),
    "prompt file: an impossible date": Row(
        with_file(
            "prompts.yaml",
            "name: a\nmodel: m\ndescription: 2024-02-30\n",
            "model_configs='prompts.yaml'",
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: */prompts.yaml*",
    ),
    # --- dataset files ----------------------------------------------------------------------------
    "JSONL dataset with a bad line": Row(
        with_file(
            "cases.jsonl", '{"q": 1}\n{"q": 2,}\n', "model_configs=CONFIG, inputs='cases.jsonl'"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.jsonl:2: invalid JSON: " + json_says('{"q": 2,}'),
    ),
    "JSONL dataset with a list for a row": Row(
        with_file(
            "cases.jsonl", '{"q": 1}\n[1, 2]\n', "model_configs=CONFIG, inputs='cases.jsonl'"
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.jsonl:2: expected a mapping of template "
        "variables, got list",
    ),
    "CSV dataset with a ragged row": Row(
        with_file("cases.csv", "id,q\na,1\nb,2,3\n", "model_configs=CONFIG, inputs='cases.csv'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.csv:3: the row has a different number of "
        "columns than the header",
    ),
    "CSV dataset without a header": Row(
        with_file("cases.csv", "", "model_configs=CONFIG, inputs='cases.csv'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.csv: the CSV file has no header row",
    ),
    "JSON dataset that is not a list": Row(
        with_file("cases.json", '{"q": 1}', "model_configs=CONFIG, inputs='cases.json'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.json: expected a list of rows, got dict",
    ),
    "empty JSON dataset": Row(
        with_file("cases.json", "[]", "model_configs=CONFIG, inputs='cases.json'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.json: the dataset has no rows",
    ),
    "dataset with an unsupported suffix": Row(
        with_file("cases.txt", "q\n", "model_configs=CONFIG, inputs='cases.txt'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.txt: unsupported dataset type '.txt' (use "
        ".jsonl, .json, .csv or .yaml)",
    ),
    "YAML dataset of numbers": Row(
        with_file("cases.yaml", "- 1\n- 2\n", "model_configs=CONFIG, inputs='cases.yaml'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.yaml: row 0: expected a mapping of template "
        "variables, got int",
    ),
    "structured row whose messages are a string": Row(
        with_file(
            "cases.json",
            '[{"id": "a", "inputs": {"q": 1}, "messages": "hi"}]',
            "model_configs=CONFIG, inputs='cases.json'",
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.json: row 0: 'messages': input should be a "
        "valid tuple (got 'hi')",
    ),
    "ids 1 and '1' collide": Row(
        with_file(
            "cases.jsonl",
            '{"id": 1, "q": 1}\n{"id": "1", "q": 2}\n',
            "model_configs=CONFIG, inputs='cases.jsonl'",
        ),
        COLLECTION,
        "chatexp: test_case.py::test_it: inputs: two inputs share the id '1'; input ids must be "
        "unique (*/cases.jsonl:1 and */cases.jsonl:2)",
    ),
    "YAML dataset with an impossible date": Row(
        with_file("cases.yaml", "- q: 2024-02-30\n", "model_configs=CONFIG, inputs='cases.yaml'"),
        COLLECTION,
        "chatexp: test_case.py::test_it: */cases.yaml*",
    ),
    # --- recordings -------------------------------------------------------------------------------
    "recording: hand-broken YAML": Row(
        recording("version: 1\ntest: x\ninteractions:\n- fingerprint: [oops\n"),
        SETUP,
        f"chatexp: test_case.py::test_it: recording */{RECORDING} is corrupt: invalid YAML at "
        "line 5, column 1: *. Delete it and re-record with --chatexp-record=all.",
    ),
    "recording: version 2": Row(
        recording("version: 2\ntest: test_case.py::test_it\ninteractions: []\n"),
        SETUP,
        f"chatexp: test_case.py::test_it: recording */{RECORDING} is corrupt: version 2 is not "
        "supported (this pytest-chatexp reads version 1)*",
    ),
    "recording: a list": Row(
        recording("- interactions\n"),
        SETUP,
        f"chatexp: test_case.py::test_it: recording */{RECORDING} is corrupt: the file must be a "
        "mapping, not a list*",
    ),
    "recording: an interaction without a response": Row(
        recording(ONE_INTERACTION.replace("BODY", "{}").rsplit("  response", 1)[0]),
        SETUP,
        f"chatexp: test_case.py::test_it: recording */{RECORDING} is corrupt: interactions[0] is "
        "missing the field 'response'*",
    ),
    "recording: a fingerprint that does not match its request": Row(
        recording(ONE_INTERACTION.replace("BODY", "{model: m}")),
        SETUP,
        f"chatexp: test_case.py::test_it: recording */{RECORDING} is corrupt: "
        "interactions[0].fingerprint does not match its request and sample*",
    ),
    "recording: Latin-1, not UTF-8": Row(
        recording("version: 1\ntest: café\n".encode("latin-1")),
        SETUP,
        f"chatexp: test_case.py::test_it: recording */{RECORDING} is corrupt: it is not UTF-8 "
        "text (byte 20)*",
    ),
    "recording: an impossible date": Row(
        recording("version: 1\ntest: 2024-02-30\ninteractions: []\n"),
        SETUP,
        f"chatexp: test_case.py::test_it: recording */{RECORDING} is corrupt*",
    ),
    "recording: a recursive alias": Row(
        recording(ONE_INTERACTION.replace("BODY", "{m: &a [*a]}")),
        SETUP,
        f"chatexp: test_case.py::test_it: recording */{RECORDING} is corrupt*",
    ),
    # --- command line and ini options ---------------------------------------------------------------
    "--chatexp-record=sometimes": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-record must be one of none, once, new, all, off, got "
        "'sometimes'",
        args=("--chatexp-record=sometimes",),
    ),
    "ini chatexp_record = maybe": Row(
        plain_module("chatexp_record = maybe\n"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_record must be one of none, once, new, all, off, got "
        "'maybe'",
    ),
    "--chatexp-max-cost=free": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-max-cost must be a number of US dollars > 0, got 'free'",
        args=("--chatexp-max-cost=free",),
    ),
    "--chatexp-max-cost=nan": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-max-cost must be a number of US dollars > 0, got 'nan'",
        args=("--chatexp-max-cost=nan",),
    ),
    "ini chatexp_max_tokens = -5": Row(
        plain_module("chatexp_max_tokens = -5\n"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_max_tokens must be a whole number of tokens > 0, got "
        "'-5'",
    ),
    "--chatexp-max-tokens=1.5": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-max-tokens must be a whole number of tokens > 0, got '1.5'",
        args=("--chatexp-max-tokens=1.5",),
    ),
    "--chatexp-timeout=0": Row(
        plain_module(),
        USAGE,
        "ERROR: chatexp: --chatexp-timeout must be a number of seconds > 0, got '0'",
        args=("--chatexp-timeout=0",),
    ),
    "ini chatexp_concurrency = 2.5": Row(
        plain_module("chatexp_concurrency = 2.5\n"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_concurrency must be a whole number >= 1, got '2.5'",
    ),
    # --- price tables ---------------------------------------------------------------------------------
    "price line with two numbers": Row(
        prices("gpt-x 0.15"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_prices: line 1 'gpt-x 0.15': expected 'MODEL "
        "INPUT_PRICE OUTPUT_PRICE [CACHE_READ_PRICE [CACHE_WRITE_PRICE]]' (US dollars per "
        "million tokens)*",
    ),
    "price line with six fields": Row(
        prices("gpt-4o-mini 0.15 0.60", "gpt-x 1 2 3 4 5"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_prices: line 2 'gpt-x 1 2 3 4 5': expected 'MODEL "
        "INPUT_PRICE OUTPUT_PRICE*",
    ),
    "negative price": Row(
        prices("gpt-x -1 2"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_prices: line 1 'gpt-x -1 2': prices cannot be negative",
    ),
    "a word for a price": Row(
        prices("gpt-x cheap 2"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_prices: line 1 'gpt-x cheap 2': prices must be numbers",
    ),
    "NaN for a price": Row(
        prices("gpt-x nan 2"),
        USAGE,
        "ERROR: chatexp: ini option chatexp_prices: line 1 'gpt-x nan 2': *",
    ),
}

EXIT_CODES = {
    COLLECTION: pytest.ExitCode.INTERRUPTED,
    SETUP: pytest.ExitCode.TESTS_FAILED,
    USAGE: pytest.ExitCode.USAGE_ERROR,
}


def _params() -> list[object]:
    return [
        pytest.param(
            row,
            id=name,
            marks=[pytest.mark.xfail(reason=f"BUG: {row.bug}", strict=True)] if row.bug else [],
        )
        for name, row in CATALOGUE.items()
    ]


@pytest.mark.parametrize("row", _params())
def test_bad_input_gets_one_clear_line(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, row: Row
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)  # replay mode (none): no server needed
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HUMANLOOP_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    run = suite.write(**row.files).run("-p", "no:cacheprovider", *row.args)
    run.fnmatch(glob(row.line)).assert_clean()
    assert run.ret == EXIT_CODES[row.ends_with], run.text
    if row.ends_with != USAGE:
        run.assert_outcomes(errors=1)


def test_the_catalogue_is_large_and_no_row_repeats_another() -> None:
    """At least 100 rows, and no two write the same files and pass the same options: a row that
    repeats another's input tests nothing new (two inputs may well get the same line)."""
    assert len(CATALOGUE) >= 100
    inputs = [
        (sorted(row.files.items()), row.args, sorted(row.env.items())) for row in CATALOGUE.values()
    ]
    assert all(inputs.count(one) == 1 for one in inputs)


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
    assert_clean(result)


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
        glob(
            "chatexp: *::test_shape: *sample 0: the response is not an OpenAI chat completion: "
            "'choices[0].message.content': input should be a valid string (got 5)"
        ),
    ):
        result.stdout.fnmatch_lines([line])
    assert_clean(result)


def test_a_plugin_error_at_import_is_one_line(pytester: pytest.Pytester) -> None:
    """Known by the exception's type, wherever it is defined, not by its module's name."""
    pytester.makepyfile(
        test_bad_config="from pytest_chatexp import ModelConfig\nCONFIG = ModelConfig(model=5)\n",
        test_own_error=(
            "from pytest_chatexp import InvalidExperimentError\n"
            "class Mine(InvalidExperimentError):\n    pass\n"
            "raise Mine('my experiment is wrong')\n"
        ),
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "chatexp: test_bad_config.py: ModelConfig: 'model': input should be a valid string*",
            "chatexp: test_own_error.py: my experiment is wrong",
        ]
    )
    assert_clean(result)


def test_an_error_quoting_a_plugin_error_is_not_one(pytester: pytest.Pytester) -> None:
    """A module's own error keeps its traceback, even when its text reads like the plugin's."""
    pytester.makepyfile(
        "raise ValueError('pytest_chatexp._errors.InvalidExperimentError: not ours')\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["E   ValueError: pytest_chatexp._errors.*: not ours"])
    result.stdout.no_fnmatch_line("chatexp: *")
