"""Strict ``{{var}}`` rendering, and how ExperimentSpec renders and checks a whole experiment."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_chatexp import (
    ChatMessage,
    ExperimentSpec,
    Input,
    InvalidExperimentError,
    ModelConfig,
    TemplateError,
)
from pytest_chatexp._experiment._humanloop import ImageChatContent, TextChatContent
from pytest_chatexp._experiment._templates import placeholders, render

# --- render -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("Hi {{name}}", {"name": "Ada"}, "Hi Ada"),
        ("Hi {{ name }}!", {"name": "Ada"}, "Hi Ada!"),
        ("Hi {{\tname\n}}", {"name": "Ada"}, "Hi Ada"),
        ("{{a}} and {{ a }} and {{a}}", {"a": "x"}, "x and x and x"),
        ("{{a}}{{b}}", {"a": "1", "b": "2", "unused": "z"}, "12"),
        ("{{user.name}} {{x-y}} {{_z}}", {"user.name": "u", "x-y": "d", "_z": "p"}, "u d p"),
        ("{{v}}", {"v": ""}, ""),
        ("{{v}}", {"v": "{{w}}"}, "{{w}}"),  # values are inserted, never rendered again
        ("{single} {{ }} {{a b}}", {}, "{single} {{ }} {{a b}}"),  # not placeholders
    ],
)
def test_render(text: str, variables: dict[str, Any], expected: str) -> None:
    assert render(text, variables, where="w") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [1, 2]}, '{"a": [1, 2], "b": 1}'),
        ([1, "é", None], '[1, "é", null]'),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (None, "null"),
    ],
    ids=["dict", "list", "int", "float", "bool", "none"],
)
def test_non_string_values_render_as_json(value: Any, expected: str) -> None:
    assert render("<{{v}}>", {"v": value}, where="w") == f"<{expected}>"


def test_missing_variable_message() -> None:
    with pytest.raises(TemplateError) as excinfo:
        render("Hello {{ name }} from {{place}}", {"place": "Paris", "age": 3}, where="config 'c'")
    assert str(excinfo.value) == (
        "config 'c': no value for template variable 'name' (variables given: age, place). "
        "Add 'name' to the input, or remove '{{name}}' from the template."
    )


def test_missing_variable_with_no_variables() -> None:
    with pytest.raises(TemplateError, match=r"^here: .*'x' \(variables given: none\)"):
        render("{{x}}", {}, where="here")


def test_template_error_is_an_invalid_experiment_error() -> None:
    with pytest.raises(InvalidExperimentError):
        render("{{x}}", {}, where="w")


@pytest.mark.parametrize("name", ["1x", "-x", "a!", "é"])
def test_invalid_placeholder_name(name: str) -> None:
    with pytest.raises(TemplateError) as excinfo:
        render("{{" + name + "}}", {name: "value"}, where="w")
    assert str(excinfo.value) == "w: '{{" + name + "}}' is not a valid placeholder name"


@pytest.mark.parametrize("text", ["", "plain", "one { brace }", 'json: {"a": {"b": 1}}'])
def test_text_without_placeholders_is_returned_unchanged(text: str) -> None:
    assert render(text, {}, where="w") is text


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{{b}} {{ a }} {{b}} {{c}}", ["b", "a", "c"]),
        ("{{ x }}{{x}}{{ x}}", ["x"]),
        ("no placeholders {x} {{ }}", []),
        ("{{1bad}}", ["1bad"]),
    ],
)
def test_placeholders_order_and_dedupe(text: str, names: list[str]) -> None:
    assert placeholders(text) == names


# --- ExperimentSpec.plan ----------------------------------------------------------------------

CONFIG = ModelConfig(
    name="c1",
    model="m",
    chat_template=[
        {"role": "system", "content": "You are {{persona}}."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look, {{persona}}:"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            ],
        },
    ],
)


def _spec(**kwargs: Any) -> ExperimentSpec:
    defaults: dict[str, Any] = {
        "name": "exp",
        "model_configs": (CONFIG,),
        "inputs": (Input(id="i1", inputs={"persona": "a pirate", "q": "hi"}),),
    }
    return ExperimentSpec(**{**defaults, **kwargs})


def test_plan_renders_template_then_experiment_then_input_messages() -> None:
    spec = _spec(
        messages=(ChatMessage(role="assistant", content="Arr, {{persona}} here."),),
        inputs=(
            Input(
                id="i1",
                inputs={"persona": "a pirate", "q": "hi"},
                messages=(ChatMessage(role="user", content="{{q}}?"),),
            ),
        ),
    )
    (call,) = spec.plan()
    assert [(m.role, m.text) for m in call.messages] == [
        ("system", "You are a pirate."),
        ("user", "Look, a pirate:"),
        ("assistant", "Arr, a pirate here."),
        ("user", "hi?"),
    ]
    parts = call.messages[1].content
    assert isinstance(parts, list)
    assert parts[0] == TextChatContent(text="Look, a pirate:")
    assert isinstance(parts[1], ImageChatContent)
    assert parts[1].image_url.url == "https://x/cat.png"
    # The config's own template is left as written.
    assert CONFIG.chat_template[0].content == "You are {{persona}}."


def test_plan_expands_configs_inputs_and_samples_in_order() -> None:
    other = CONFIG.variant(name="c2", temperature=1.0)
    spec = _spec(
        model_configs=(CONFIG, other),
        inputs=(Input(id="i1", inputs={"persona": "p"}), Input(id="i2", inputs={"persona": "q"})),
        num_samples=2,
    )
    calls = spec.plan()
    assert [(c.config.name, c.input.id, c.sample_index) for c in calls] == [
        ("c1", "i1", 0),
        ("c1", "i1", 1),
        ("c1", "i2", 0),
        ("c1", "i2", 1),
        ("c2", "i1", 0),
        ("c2", "i1", 1),
        ("c2", "i2", 0),
        ("c2", "i2", 1),
    ]
    assert calls[2].messages[0].content == "You are q."


def test_plan_without_template_uses_experiment_messages() -> None:
    spec = _spec(
        model_configs=(ModelConfig(model="m"),),
        messages=(ChatMessage(role="user", content="{{q}}"),),
    )
    assert [m.content for m in spec.plan()[0].messages] == ["hi"]


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({}, "model config 'c1', input 'i9': chat_template[0].content"),
        (
            {
                "model_configs": (ModelConfig(name="bare", model="m"),),
                "messages": (ChatMessage(role="user", content="{{persona}}"),),
            },
            "model config 'bare', input 'i9': messages[0].content",
        ),
    ],
    ids=["chat_template", "messages"],
)
def test_plan_missing_variable_names_config_and_input(kwargs: dict[str, Any], where: str) -> None:
    spec = _spec(inputs=(Input(id="i9", inputs={"other": 1}),), **kwargs)
    with pytest.raises(TemplateError) as excinfo:
        spec.plan()
    message = str(excinfo.value)
    assert message.startswith(f"{where}: no value for template variable 'persona'")
    assert "(variables given: other)" in message


def test_plan_missing_variable_in_a_content_part_names_the_part() -> None:
    config = ModelConfig(
        name="parts",
        model="m",
        chat_template=[{"role": "user", "content": [{"type": "text", "text": "{{x}}"}]}],
    )
    with pytest.raises(
        TemplateError,
        match=r"^model config 'parts', input 'i1': chat_template\[0\]\.content\[0\]: ",
    ):
        _spec(model_configs=(config,)).plan()


def test_plan_missing_variable_in_input_messages_names_the_input() -> None:
    spec = _spec(
        inputs=(
            Input(
                id="odd",
                inputs={"persona": "p"},
                messages=(
                    ChatMessage(role="user", content="ok"),
                    ChatMessage(role="user", content="{{nope}}"),
                ),
            ),
        ),
    )
    with pytest.raises(TemplateError) as excinfo:
        spec.plan()
    assert str(excinfo.value).startswith(
        "model config 'c1', input 'odd': input 'odd' messages[1].content: "
        "no value for template variable 'nope'"
    )


def test_no_messages_at_all() -> None:
    spec = _spec(model_configs=(ModelConfig(name="empty", model="m"),))
    with pytest.raises(InvalidExperimentError) as excinfo:
        spec.plan()
    assert not isinstance(excinfo.value, TemplateError)
    assert str(excinfo.value).startswith("model config 'empty', input 'i1': no messages to send")


# --- ExperimentSpec validation ----------------------------------------------------------------


def test_no_model_configs_rejected() -> None:
    with pytest.raises(InvalidExperimentError, match=r"^no model configs: pass model_configs="):
        _spec(model_configs=())


@pytest.mark.parametrize(
    "configs",
    [
        (ModelConfig(name="x", model="m"), ModelConfig(name="x", model="n")),
        (ModelConfig(model="m"), ModelConfig(model="m", temperature=1)),  # both display as 'm'
        (ModelConfig(name="x", model="m"), ModelConfig(name="x", model="m")),
    ],
    ids=["named", "unnamed", "equal-copies"],
)
def test_duplicate_config_names_rejected(configs: tuple[ModelConfig, ...]) -> None:
    name = configs[0].display_name
    with pytest.raises(InvalidExperimentError) as excinfo:
        _spec(model_configs=configs)
    assert str(excinfo.value) == (
        f"two model configs are named '{name}'; give each a unique name= so results and "
        "reports can tell them apart"
    )


def test_same_config_object_twice_rejected() -> None:
    # Passing one config twice would run every call twice and make case lookups ambiguous.
    with pytest.raises(InvalidExperimentError, match="two model configs are named 'c1'"):
        _spec(model_configs=(CONFIG, CONFIG))


def test_identical_configs_rejected() -> None:
    twin = CONFIG.model_copy(update={"name": "c1-copy", "description": "same request"})
    with pytest.raises(InvalidExperimentError) as excinfo:
        _spec(model_configs=(CONFIG, twin))
    assert str(excinfo.value) == (
        "model configs 'c1' and 'c1-copy' send identical requests; "
        "remove one or change what it sends"
    )
