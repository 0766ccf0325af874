"""The promptfoo importer's pieces: provider ids, assertion types, CSV cells, Nunjucks, and the
sample configs of tests/data/promptfoo planned end to end (every assertion mapped or listed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import load_dataset, load_model_configs
from pytest_chatexp.migrate._promptfoo._asserts import map_assertion
from pytest_chatexp.migrate._promptfoo._plan import plan_promptfoo
from pytest_chatexp.migrate._promptfoo._providers import map_config, map_provider_id
from pytest_chatexp.migrate._promptfoo._source import Source, nunjucks_problems, read_config
from pytest_chatexp.migrate._promptfoo._tests import expected_cell
from pytest_chatexp.migrate._records import MigrationError
from pytest_chatexp.migrate._writer import write_all

DATA = Path(__file__).parents[2] / "data" / "promptfoo"
SAMPLES = ["getting_started", "csv_tests", "chat_json"]
SOURCE = Source(Path("promptfooconfig.yaml"), {})


@pytest.mark.parametrize(
    ("provider_id", "expected"),
    [
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("openai:chat:gpt-4o", ("openai", "gpt-4o")),
        ("openai:responses:gpt-5-mini", ("openai_responses", "gpt-5-mini")),
        ("anthropic:messages:claude-sonnet-4-0", ("anthropic", "claude-sonnet-4-0")),
        ("google:gemini-2.0-flash", ("gemini", "gemini-2.0-flash")),
        ("vertex:gemini-1.5-pro", ("gemini", "gemini-1.5-pro")),
        ("azureopenai:chat:my-deployment", ("azure_openai", "my-deployment")),
        ("azure:chat:my-deployment", ("azure_openai", "my-deployment")),
        ("azure:responses:my-deployment", ("azure_openai_responses", "my-deployment")),
        (
            "bedrock:anthropic.claude-3-haiku-20240307-v1:0",
            ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
        ),
    ],
)
def test_provider_ids_map_to_the_plugin_s_provider_names(
    provider_id: str, expected: tuple[str, str]
) -> None:
    assert map_provider_id(provider_id, "c.yaml: providers[0].id") == expected


@pytest.mark.parametrize(
    "provider_id",
    [
        "replicate:meta/llama",
        "openai:embedding:text-embedding-3-small",
        "anthropic:completion:claude-2",
        "openai",
        "exec:python run.py",
    ],
)
def test_providers_without_a_chat_api_here_are_refused_by_name(provider_id: str) -> None:
    with pytest.raises(
        MigrationError, match=r"^c\.yaml: providers\[0\]\.id: provider '.*' is not supported"
    ):
        map_provider_id(provider_id, "c.yaml: providers[0].id")


def test_provider_config_keys_map_or_are_listed() -> None:
    params, unmapped = map_config(
        {
            "temperature": 0.2,
            "max_completion_tokens": 100,
            "apiBaseUrl": "http://localhost:4000/v1",
            "apiKey": "sk-secret",
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            "generationConfig": {"topP": 0.9, "topK": 3},
            "reasoning_effort": "low",
        },
        "c.yaml: providers[0].config",
    )
    assert params == {
        "temperature": 0.2,
        "max_tokens": 100,
        "base_url": "http://localhost:4000/v1",
        "tools": [{"name": "f", "parameters": {"type": "object"}}],
        "top_p": 0.9,
        "reasoning": {"effort": "low"},
    }
    assert [u.where for u in unmapped] == [
        "c.yaml: providers[0].config.apiKey",
        "c.yaml: providers[0].config.generationConfig.topK",
    ]
    assert "sk-secret" not in repr(unmapped)  # a key is never copied, not even into a message


def _code(spec: dict[str, Any]) -> str | None:
    mapped = map_assertion(SOURCE, spec, "tests[0].assert[0]")
    assert mapped.line is not None
    return mapped.line.code


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"type": "equals", "value": "Paris"}, 'c.equals("Paris", strip=False)'),
        ({"type": "contains", "value": "Paris"}, 'c.contains("Paris")'),
        ({"type": "icontains", "value": 42}, 'c.icontains("42")'),
        ({"type": "contains-any", "value": ["a", "b"]}, 'c.contains("a", "b", any=True)'),
        ({"type": "icontains-any", "value": ["a", "b"]}, 'c.icontains("a", "b", any=True)'),
        ({"type": "contains-all", "value": ["a", "b"]}, 'c.contains("a", "b")'),
        ({"type": "icontains-all", "value": ["a", "b"]}, 'c.icontains("a", "b")'),
        ({"type": "not-contains", "value": "x"}, 'c.not_contains("x")'),
        ({"type": "not-icontains", "value": "x"}, 'c.not_contains("x", ignore_case=True)'),
        ({"type": "not-contains-any", "value": ["x", "y"]}, 'c.not_contains("x", "y")'),
        ({"type": "regex", "value": "\\d+"}, 'c.matches("\\\\d+")'),
        ({"type": "starts-with", "value": "Dear"}, 'c.startswith("Dear", strip=False)'),
        ({"type": "is-json"}, "c.is_json()"),
        ({"type": "contains-json"}, "c.is_json(fenced=True)"),
        (
            {"type": "is-json", "value": {"type": "object", "required": ["a"]}},
            'c.json_schema({"type": "object", "required": ["a"]})',
        ),
        ({"type": "llm-rubric", "value": "Is polite"}, 'c.judge("Is polite", grader=GRADER)'),
        ({"type": "similar", "value": "Hi"}, 'c.similar_to("Hi", grader=GRADER, min_score=0.75)'),
        (
            {"type": "similar", "value": "Hi", "threshold": 0.9},
            'c.similar_to("Hi", grader=GRADER, min_score=0.9)',
        ),
    ],
)
def test_assertions_map_to_checks(spec: dict[str, Any], code: str) -> None:
    assert _code(spec) == code
    eval(code, {"c": __import__("pytest_chatexp.checks").checks, "GRADER": _grader()})  # it runs


def _grader() -> Any:
    from pytest_chatexp import ModelConfig

    return ModelConfig(name="grader", model="gpt-4o-mini")


def test_cost_and_latency_become_per_call_limits() -> None:
    cost = map_assertion(SOURCE, {"type": "cost", "threshold": 0.002}, "tests[0].assert[0]")
    latency = map_assertion(SOURCE, {"type": "latency", "threshold": 1500}, "tests[0].assert[1]")
    assert (cost.line, cost.max_cost_usd) == (None, 0.002)
    assert (latency.line, latency.max_latency_s) == (None, 1.5)


@pytest.mark.parametrize(
    ("spec", "todo"),
    [
        ({"type": "javascript", "value": "output.length < 10"}, "javascript code to port by hand"),
        ({"type": "python", "value": "file://check.py"}, "python code to port by hand"),
        (
            {"type": "not-equals", "value": "x"},
            "not-equals: pytest_chatexp.checks has no negation of 'equals'",
        ),
        ({"type": "not-contains-all", "value": ["a"]}, "no negation of 'contains-all'"),
        ({"type": "rouge-n", "value": "x"}, "assertion type 'rouge-n' has no check here"),
        (
            {"type": "contains", "value": "a", "weight": 0},
            "weight 0 (report only in promptfoo), not asserted",
        ),
    ],
)
def test_what_cannot_map_is_a_listed_todo(spec: dict[str, Any], todo: str) -> None:
    mapped = map_assertion(SOURCE, spec, "tests[0].assert[0]")
    assert mapped.line is not None and mapped.line.code is None
    assert todo in (mapped.line.comment or "")
    assert [u.where for u in mapped.unmapped] == ["promptfooconfig.yaml: tests[0].assert[0]"]


def test_a_rubric_threshold_is_listed_while_the_rubric_maps() -> None:
    mapped = map_assertion(
        SOURCE, {"type": "llm-rubric", "value": "ok", "threshold": 0.7}, "tests[1].assert[0]"
    )
    assert mapped.line is not None and mapped.line.code == 'c.judge("ok", grader=GRADER)'
    assert [u.where for u in mapped.unmapped] == [
        "promptfooconfig.yaml: tests[1].assert[0].threshold"
    ]


@pytest.mark.parametrize(
    ("cell", "spec"),
    [
        ("Paris", {"type": "equals", "value": "Paris"}),
        ("icontains: paris", {"type": "icontains", "value": "paris"}),
        ("not-contains: London", {"type": "not-contains", "value": "London"}),
        ("contains-any: a, b", {"type": "contains-any", "value": ["a", "b"]}),
        ("grade: Is polite", {"type": "llm-rubric", "value": "Is polite"}),
        ("fn: output.length > 3", {"type": "javascript", "value": "output.length > 3"}),
        ("similar(0.8): Hello", {"type": "similar", "value": "Hello", "threshold": 0.8}),
        ("is-json", {"type": "is-json"}),
    ],
)
def test_csv_expected_cells(cell: str, spec: dict[str, Any]) -> None:
    assert expected_cell(cell) == spec


def test_nunjucks_beyond_plain_variables_is_reported_with_file_and_field() -> None:
    text = "Hi {{name}} {{ name | upper }} {% for x in items %}{{x.y}}{% endfor %}"
    problems = nunjucks_problems(text, "c.yaml: prompts[0]")
    assert {p.where for p in problems} == {"c.yaml: prompts[0]"}
    found = " ".join(p.what for p in problems)
    assert "'{{ name | upper }}'" in found and "'{{x.y}}'" in found
    assert "{% for %}" in found and "{% endfor %}" in found
    assert "{{name}}'" not in found


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_assertion_of_the_sample_configs_is_mapped_or_listed(sample: str) -> None:
    """The round trip: each assertion of the config appears in the module, as a check or as a
    TODO, and every TODO is listed by the command."""
    plan = plan_promptfoo(DATA / sample / "promptfooconfig.yaml")
    module = next(f.text for f in plan.files if f.path.name == "test_promptfoo.py")
    listed = {u.where.split(": ", 1)[1] for u in plan.unmapped}
    fields = _assertion_fields(
        read_config(DATA / sample / "promptfooconfig.yaml").data, DATA / sample
    )
    assert fields
    for field, kind in fields:
        if kind in ("cost", "latency"):
            assert "LIMITS" in module
        elif f"# TODO({field} {kind})" in module:
            assert field in listed
        else:
            assert f"# {field} {kind}" in module, (field, kind)


def _assertion_fields(data: Any, folder: Path) -> list[tuple[str, str]]:
    from pytest_chatexp.migrate._promptfoo._source import read_data_file
    from pytest_chatexp.migrate._promptfoo._tests import _from_csv

    found = [
        (f"defaultTest.assert[{n}]", a["type"])
        for n, a in enumerate(data.get("defaultTest", {}).get("assert", []))
    ]
    tests = data["tests"]
    if isinstance(tests, str):
        rows = read_data_file(Source(folder / "promptfooconfig.yaml", data), tests, "tests")
        tests = [_from_csv(row) for row in rows]
        prefix = [f"tests (tests.csv row {n + 1})" for n in range(len(tests))]
    else:
        prefix = [f"tests[{n}]" for n in range(len(tests))]
    for at, test in zip(prefix, tests, strict=True):
        found += [(f"{at}.assert[{n}]", a["type"]) for n, a in enumerate(test.get("assert", []))]
    return found


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_planned_files_are_what_the_plugin_reads(sample: str, tmp_path: Path) -> None:
    plan = plan_promptfoo(DATA / sample / "promptfooconfig.yaml")
    write_all(plan.files, tmp_path, force=False)
    configs = load_model_configs(tmp_path / "prompts.yaml")
    rows = load_dataset(tmp_path / "dataset.jsonl")
    compile((tmp_path / "test_promptfoo.py").read_text(), "test_promptfoo.py", "exec")
    used = {
        name
        for config in configs
        for message in config.chat_template
        for name in _names(message.content)
    }
    for row in rows:
        assert set(row.inputs) <= used  # an unused variable would fail the plugin's check
    assert len({config.display_name for config in configs}) == len(configs)


def _names(text: str) -> set[str]:
    from pytest_chatexp._experiment._templates import placeholders

    return set(placeholders(text))


def test_the_chat_json_sample_in_detail() -> None:
    plan = plan_promptfoo(DATA / "chat_json" / "promptfooconfig.yaml")
    files = {f.path.name: f.text for f in plan.files}
    [row] = [json.loads(line) for line in files["dataset.jsonl"].splitlines()]
    assert row == {
        "id": "simple-invoice",
        "inputs": {"invoice": "Invoice INV-7 from Acme, total 120.00 EUR"},
        # Variables no prompt renders are carried for checks (the Nunjucks-filtered one too).
        "metadata": {
            "description": "Simple invoice",
            "language": "English",
            "expected_total": "120.00",
            "source": "email",
        },
    }
    module = files["test_promptfoo.py"]
    assert "num_samples=3," in module  # evaluateOptions.repeat
    assert 'c.contains("120.00"),  # tests[0].assert[2] contains' in module  # {{expected_total}}
    assert (
        'LIMITS: dict[str, dict[str, float]] = {\n    "simple-invoice": {"max_latency_s": 3.0},'
        in module
    )
    assert "sk-not-copied" not in "".join(files.values())
    prompts = files["prompts.yaml"]
    assert prompts.count("- name: ") == 9  # extract only on gpt-mini, both prompts on the rest
    assert "provider: bedrock\n  model: anthropic.claude-3-haiku-20240307-v1:0" in prompts


def test_the_writer_leaves_nothing_when_a_file_cannot_be_placed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    from pathlib import PurePosixPath

    from pytest_chatexp.migrate import _writer
    from pytest_chatexp.migrate._records import PlannedFile

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    files = [
        PlannedFile(PurePosixPath("a.txt"), "new a"),
        PlannedFile(PurePosixPath("sub/b.txt"), "new b"),
    ]
    real_replace = os.replace

    def replace(source: Path, target: Path) -> None:
        if Path(target).name == "b.txt":
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(_writer.os, "replace", replace)
    with pytest.raises(MigrationError, match=r"No space left on device\. Nothing was written"):
        write_all(files, out, force=True)
    assert (out / "a.txt").read_text() == "old a"  # put back
    assert not (out / "sub" / "b.txt").exists()
    assert not list(out.glob(".chatexp-migrate-*"))


def test_the_writer_never_replaces_a_folder(tmp_path: Path) -> None:
    from pathlib import PurePosixPath

    from pytest_chatexp.migrate._records import PlannedFile

    (tmp_path / "a.txt").mkdir()
    with pytest.raises(
        MigrationError, match=r"a\.txt is a folder, not a file\. Nothing was written\."
    ):
        write_all([PlannedFile(PurePosixPath("a.txt"), "x")], tmp_path, force=True)
    assert (tmp_path / "a.txt").is_dir()


def test_the_writer_creates_a_new_folder_in_one_step(tmp_path: Path) -> None:
    from pathlib import PurePosixPath

    from pytest_chatexp.migrate._records import PlannedFile

    written = write_all(
        [PlannedFile(PurePosixPath("x/a.txt"), "a\n")], tmp_path / "new", force=False
    )
    assert written == [tmp_path / "new" / "x" / "a.txt"]
    assert written[0].read_text() == "a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["new"]


def test_an_assertion_value_with_nunjucks_is_a_todo() -> None:
    mapped = map_assertion(
        SOURCE, {"type": "contains", "value": "{{ name | upper }}"}, "tests[0].assert[0]"
    )
    assert mapped.line is not None and mapped.line.code is None
    assert "uses Nunjucks beyond {{var}}" in (mapped.line.comment or "")


def test_list_vars_expand_and_assertion_values_are_rendered_per_row(tmp_path: Path) -> None:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "prompts: ['Say hi in {{language}}']\n"
        "providers: [openai:gpt-4o-mini]\n"
        "tests:\n"
        "  - vars: {language: [French, German], expected: hi}\n"
        "    assert: [{type: icontains, value: '{{language}}'}]\n"
    )
    plan = plan_promptfoo(config)
    files = {f.path.name: f.text for f in plan.files}
    rows = [json.loads(line) for line in files["dataset.jsonl"].splitlines()]
    assert [(r["id"], r["inputs"], r["metadata"]) for r in rows] == [
        ("test-1", {"language": "French"}, {"expected": "hi"}),
        ("test-2", {"language": "German"}, {"expected": "hi"}),
    ]
    assert 'c.icontains("French")' in files["test_promptfoo.py"]
    assert 'c.icontains("German")' in files["test_promptfoo.py"]
    assert plan.unmapped == ()


def test_a_csv_threshold_column_is_listed(tmp_path: Path) -> None:
    (tmp_path / "tests.csv").write_text("q,__expected,__threshold\nhi,hello,0.5\n")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "prompts: ['{{q}}']\nproviders: [openai:gpt-4o-mini]\ntests: file://tests.csv\n"
    )
    plan = plan_promptfoo(config)
    assert [u.where for u in plan.unmapped] == [
        "promptfooconfig.yaml: tests (tests.csv row 1).threshold"
    ]


def test_text_prompt_files_split_on_dashes_and_globs_expand(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "a.txt").write_text("First {{q}}\n---\nSecond {{q}}\n")
    (tmp_path / "prompts" / "b.md").write_text("Third {{q}}\n")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "prompts: ['file://prompts/*']\n"
        "providers: [{id: 'openai:gpt-4o-mini', prompts: [a-2, b]}]\n"
        "tests: [{vars: {q: x}}]\n"
    )
    plan = plan_promptfoo(config)
    prompts = next(f.text for f in plan.files if f.path.name == "prompts.yaml")
    assert "- name: a-2\n" in prompts and "- name: b\n" in prompts
    assert "a-1" not in prompts  # the provider runs only the prompts it names
    assert "content: Second {{q}}" in prompts


def test_a_provider_naming_an_unknown_prompt_label_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "prompts: [{raw: 'Hi {{q}}', label: hi}]\n"
        "providers: [{id: 'openai:gpt-4o-mini', prompts: [hello]}]\n"
    )
    with pytest.raises(
        MigrationError,
        match=r"^promptfooconfig\.yaml: providers\[0\]\.prompts: no prompt is labelled 'hello' \(labels: hi\)$",
    ):
        plan_promptfoo(config)
