"""Model configs: content-addressed ids, variants, field validation and prompt files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import DatasetError, InvalidExperimentError, ModelConfig, load_model_configs
from pytest_chatexp._experiment._config import model_config_from_data
from pytest_chatexp._experiment._files import resolve_model_configs
from pytest_chatexp._util import endpoint_identity

BASE: dict[str, Any] = {
    "name": "support-v1",
    "description": "the support prompt",
    "model": "gpt-4o-mini",
    "temperature": 0.2,
    "chat_template": [{"role": "system", "content": "You help {{company}}."}],
    "tools": [
        {
            "name": "lookup",
            "description": "Find an order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        }
    ],
    "other": {"logit_bias": {"50256": -100}, "user": "ci"},
}


def _config(**changes: Any) -> ModelConfig:
    return ModelConfig.model_validate({**BASE, **changes})


# --- model_config_id --------------------------------------------------------------------------


def test_id_has_the_documented_shape_and_is_stable() -> None:
    config_id = _config().model_config_id
    assert config_id.startswith("config_")
    assert len(config_id) == len("config_") + 16
    assert _config().model_config_id == config_id


def test_id_ignores_dict_key_order() -> None:
    reordered = {
        **BASE,
        "tools": [
            {
                "parameters": {"properties": {"id": {"type": "string"}}, "type": "object"},
                "description": "Find an order",
                "name": "lookup",
            }
        ],
        "other": {"user": "ci", "logit_bias": {"50256": -100}},
    }
    reordered = dict(reversed(list(reordered.items())))
    assert ModelConfig.model_validate(reordered).model_config_id == _config().model_config_id


@pytest.mark.parametrize(
    "changes",
    [
        {"chat_template": [{"role": "system", "content": "You help {{company}}!"}]},
        {"chat_template": [{"role": "user", "content": "You help {{company}}."}]},
        {"chat_template": []},
        {"temperature": 0.3},
        {"temperature": None},
        {"model": "gpt-4o"},
        {"provider": "other"},
        {"tools": []},
        {"tools": [{"name": "lookup", "description": "Find an order"}]},
        {"tool_choice": "auto"},
        {"tool_choice": {"type": "function", "function": {"name": "lookup"}}},
        {"response_format": {"type": "json_object"}},
        {"stop": "\n"},
        {"stop": ["\n", "END"]},
        {"seed": 7},
        {"max_tokens": 100},
        {"top_p": 0.5},
        {"presence_penalty": 1.0},
        {"frequency_penalty": 1.0},
        {"other": {"logit_bias": {"50256": -99}, "user": "ci"}},
        {"base_url": "https://example.com/v1"},
    ],
    ids=lambda changes: ",".join(changes),
)
def test_id_changes_with_every_sent_field(changes: dict[str, Any]) -> None:
    assert _config(**changes).model_config_id != _config().model_config_id


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "support-v2"},
        {"name": None},
        {"description": "reworded"},
        {"description": None},
        {"api_key_env": "OTHER_KEY"},
    ],
    ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()),
)
def test_id_ignores_fields_that_are_not_sent(changes: dict[str, Any]) -> None:
    assert _config(**changes).model_config_id == _config().model_config_id


@pytest.mark.parametrize(
    ("url", "identity"),
    [
        ("http://localhost:8080/v1", "localhost/v1"),
        ("http://127.0.0.1:9999/v1/", "localhost/v1"),
        ("http://127.0.0.2:1/v1", "localhost/v1"),
        ("http://[::1]:1234/v1", "localhost/v1"),
        ("http://LOCALHOST:1/v1", "localhost/v1"),
        ("https://api.example.com/v1", "api.example.com/v1"),
        ("https://API.Example.com:8443/v1/", "api.example.com:8443/v1"),
    ],
)
def test_endpoint_identity(url: str, identity: str) -> None:
    assert endpoint_identity(url) == identity


def test_loopback_port_does_not_change_the_id() -> None:
    one = _config(base_url="http://127.0.0.1:40001/v1")
    two = _config(base_url="http://localhost:40002/v1/")
    assert one.model_config_id == two.model_config_id
    assert one.model_config_id != _config(base_url="http://localhost:40001/v2").model_config_id


def test_remote_port_changes_the_id() -> None:
    one = _config(base_url="https://llm.example.com:8443/v1")
    two = _config(base_url="https://llm.example.com:9443/v1")
    assert one.model_config_id != two.model_config_id


def test_base_url_trailing_slash_is_dropped() -> None:
    assert _config(base_url="https://example.com/v1/").base_url == "https://example.com/v1"


# --- variant() --------------------------------------------------------------------------------


def test_variant_is_named_after_its_base_and_changes() -> None:
    hot = _config().variant(temperature=0.9)
    assert hot.name == "support-v1[temperature=0.9]"
    assert hot.temperature == 0.9
    assert hot.chat_template == _config().chat_template
    assert hot.model_config_id != _config().model_config_id


def test_variant_of_unnamed_config_uses_the_model() -> None:
    assert ModelConfig(model="m").variant(top_p=0.5, seed=1).name == "m[top_p=0.5,seed=1]"


def test_variant_name_shortens_long_values() -> None:
    name = _config().variant(stop=["x" * 40]).display_name
    assert name == 'support-v1[stop=["xxxxxxxxxxxxxxxxxxx...]'


def test_variant_keeps_an_explicit_name() -> None:
    assert _config().variant(name="warm", temperature=0.9).name == "warm"


def test_variant_leaves_the_base_unchanged() -> None:
    base = _config()
    base.variant(temperature=1.5)
    assert base.temperature == 0.2


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"temperature": 5}, "temperature"), ({"bogus": 1}, "bogus"), ({"model": ""}, "model")],
)
def test_variant_is_validated(changes: dict[str, Any], field: str) -> None:
    # One sentence naming the field, not pydantic's report.
    with pytest.raises(InvalidExperimentError, match=rf"^ModelConfig: .*'{field}'"):
        _config().variant(**changes)


# --- field validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"model": "m", "temprature": 1},
            "unknown field 'temprature' (did you mean 'temperature'?)",
        ),
        ({"modle": "m"}, "did you mean 'model'?"),
        ({}, "'model' is required"),
        (
            {"model": "m", "temperature": 3},
            "'temperature': input should be less than or equal to 2",
        ),
        (
            {"model": "m", "temperature": -0.1},
            "'temperature': input should be greater than or equal to 0",
        ),
        ({"model": "m", "top_p": 1.5}, "'top_p'"),
        ({"model": "m", "presence_penalty": -3}, "'presence_penalty'"),
        ({"model": "m", "max_tokens": 0}, "'max_tokens': value error, must be a positive integer"),
        ({"model": "m", "max_tokens": -2}, "'max_tokens'"),
        (
            {"model": "m", "base_url": "ftp://example.com"},
            "'base_url': value error, 'ftp://example.com' is not an http(s) URL",
        ),
        ({"model": "m", "base_url": "example.com/v1"}, "'base_url'"),
        ({"model": "m", "response_format": {}}, "'response_format': value error, needs a 'type'"),
        ({"model": "m", "response_format": {"schema": {}}}, "'response_format'"),
        ({"model": "m", "tool_choice": "maybe"}, "'tool_choice'"),
        ({"model": "m", "endpoint": "complete"}, "'endpoint'"),
        (
            {"model": "m", "chat_template": [{"role": "robot", "content": "x"}]},
            "'chat_template[0].role'",
        ),
        (
            {"model": "m", "tools": [{"name": "t", "paramters": {}}]},
            "unknown field 'tools[0].paramters'",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_field_errors_name_the_field(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidExperimentError) as excinfo:
        model_config_from_data(data, where="model_configs[3]")
    message = str(excinfo.value)
    assert message.startswith("model_configs[3]: ")
    assert expected in message


@pytest.mark.parametrize("max_tokens", [-1, 1, 4096])
def test_max_tokens_accepts_positive_and_minus_one(max_tokens: int) -> None:
    assert ModelConfig(model="m", max_tokens=max_tokens).max_tokens == max_tokens


def test_model_config_from_data_passes_configs_through() -> None:
    config = _config()
    assert model_config_from_data(config, where="x") is config


def test_model_config_from_data_rejects_non_mappings() -> None:
    with pytest.raises(InvalidExperimentError, match=r"^here: expected a ModelConfig.*got int$"):
        model_config_from_data(3, where="here")


# --- prompt files -----------------------------------------------------------------------------

YAML_FILE = """\
- name: support-v1
  model: gpt-4o-mini
  temperature: 0.2
  chat_template:
    - {role: system, content: "You help {{company}}."}
- name: support-v1-hot
  extends: support-v1
  temperature: 0.9
- name: support-v1-hot-seeded
  extends: support-v1-hot
  seed: 3
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_list_with_extends(tmp_path: Path) -> None:
    base, hot, seeded = load_model_configs(_write(tmp_path, "prompts.yaml", YAML_FILE))
    assert [c.name for c in (base, hot, seeded)] == [
        "support-v1",
        "support-v1-hot",
        "support-v1-hot-seeded",
    ]
    assert hot.model == "gpt-4o-mini"
    assert hot.chat_template == base.chat_template
    assert (base.temperature, hot.temperature, seeded.temperature) == (0.2, 0.9, 0.9)
    assert seeded.seed == 3 and hot.seed is None


@pytest.mark.parametrize(
    ("name", "text", "names"),
    [
        ("one.yaml", "name: a\nmodel: m\n", ["a"]),
        ("one.yml", "name: a\nmodel: m\n", ["a"]),
        ("one.json", json.dumps({"name": "a", "model": "m"}), ["a"]),
        ("list.yaml", "- {name: a, model: m}\n- {name: b, model: n}\n", ["a", "b"]),
        (
            "list.json",
            json.dumps([{"name": "a", "model": "m"}, {"name": "b", "model": "n"}]),
            ["a", "b"],
        ),
        (
            "wrapped.yaml",
            "model_configs:\n  - {name: a, model: m}\n  - {name: b, model: n}\n",
            ["a", "b"],
        ),
        ("wrapped.json", json.dumps({"model_configs": [{"name": "a", "model": "m"}]}), ["a"]),
    ],
)
def test_file_shapes(tmp_path: Path, name: str, text: str, names: list[str]) -> None:
    configs = load_model_configs(_write(tmp_path, name, text))
    assert [c.name for c in configs] == names
    assert configs[0].model == "m"


def test_load_accepts_a_string_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", "model: m\n")
    assert [c.model for c in load_model_configs(str(path))] == ["m"]


def test_extends_unknown_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", YAML_FILE + "- name: x\n  extends: nope\n")
    with pytest.raises(DatasetError) as excinfo:
        load_model_configs(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: model_configs[3]: extends 'nope'")
    assert "known: support-v1, support-v1-hot, support-v1-hot-seeded" in message


def test_extends_only_sees_configs_above(tmp_path: Path) -> None:
    text = "- {name: b, extends: a, temperature: 1}\n- {name: a, model: m}\n"
    with pytest.raises(DatasetError, match=r"model_configs\[0\]: extends 'a'.*none defined above"):
        load_model_configs(_write(tmp_path, "p.yaml", text))


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", "name: a\nmodel: gpt: 4\n")
    with pytest.raises(DatasetError) as excinfo:
        load_model_configs(path)
    assert str(excinfo.value).startswith(f"{path}:2: invalid YAML: ")


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.json", '[\n  {"model": "m"},\n  {"model": }\n]')
    with pytest.raises(DatasetError) as excinfo:
        load_model_configs(path)
    assert str(excinfo.value).startswith(f"{path}:3: invalid JSON: ")


def test_field_error_in_file_names_file_and_position(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", "- {model: m}\n- {model: m, temprature: 1}\n")
    with pytest.raises(InvalidExperimentError) as excinfo:
        load_model_configs(path)
    assert str(excinfo.value) == (
        f"{path}: model_configs[1]: unknown field 'temprature' (did you mean 'temperature'?)"
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("missing.yaml", None, "file not found"),
        ("p.toml", "model = 'm'\n", "unsupported file type '.toml' (use .yaml, .yml or .json)"),
        ("p.yaml", "[]\n", "the prompt file declares no model configs"),
        ("p.json", "[]", "the prompt file declares no model configs"),
        ("p.yaml", "just a string\n", "expected a config mapping or a list of configs"),
        ("p.yaml", "- 3\n", "model_configs[0]: expected a mapping of config fields, got int"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, text: str | None, expected: str) -> None:
    path = tmp_path / name if text is None else _write(tmp_path, name, text)
    with pytest.raises(DatasetError) as excinfo:
        load_model_configs(path)
    assert str(excinfo.value) == f"{path}: {expected}"


# --- resolve_model_configs --------------------------------------------------------------------


def test_resolve_mixes_objects_dicts_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    _write(tmp_path, "prompts/p.yaml", YAML_FILE)
    _write(tmp_path, "one.json", json.dumps({"name": "from-json", "model": "m"}))
    inline = ModelConfig(name="inline", model="m")
    configs = resolve_model_configs(
        [inline, {"name": "dict", "model": "n"}, "prompts/p.yaml", Path("one.json")],
        base_dir=tmp_path,
        where="model_configs",
    )
    assert [c.display_name for c in configs] == [
        "inline",
        "dict",
        "support-v1",
        "support-v1-hot",
        "support-v1-hot-seeded",
        "from-json",
    ]
    assert configs[0] is inline


@pytest.mark.parametrize(
    "value",
    [ModelConfig(name="a", model="m"), {"name": "a", "model": "m"}, "p.yaml", Path("p.yaml")],
    ids=["object", "mapping", "str", "path"],
)
def test_resolve_single_value(tmp_path: Path, value: Any) -> None:
    _write(tmp_path, "p.yaml", "name: a\nmodel: m\n")
    configs = resolve_model_configs(value, base_dir=tmp_path, where="model_configs")
    assert [(c.name, c.model) for c in configs] == [("a", "m")]


def test_resolve_error_names_the_position(tmp_path: Path) -> None:
    with pytest.raises(InvalidExperimentError, match=r"^model_configs\[1\]: 'model' is required"):
        resolve_model_configs(
            [{"model": "m"}, {"name": "x"}], base_dir=tmp_path, where="model_configs"
        )


def test_resolve_relative_path_is_read_from_base_dir(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="file not found") as excinfo:
        resolve_model_configs("nope.yaml", base_dir=tmp_path, where="model_configs")
    assert str(tmp_path / "nope.yaml") in str(excinfo.value)
