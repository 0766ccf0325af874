"""The Humanloop importer's pieces: provider names, model configs (v4) and prompt versions
(v5), .prompt files, datapoints in JSON and CSV, logs, answers in each provider's format, the
matching of logs to rows, and the sample exports of tests/data planned end to end."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import load_dataset, load_model_configs
from pytest_chatexp._providers import get_provider
from pytest_chatexp._recording import RecordingFile
from pytest_chatexp.migrate._emit import model_configs_yaml
from pytest_chatexp.migrate._humanloop._answers import answer_body
from pytest_chatexp.migrate._humanloop._configs import (
    PROVIDERS,
    config_record,
    parse_prompt_file,
)
from pytest_chatexp.migrate._humanloop._data import LoggedToolCall, LogRecord, read_log
from pytest_chatexp.migrate._humanloop._plan import plan_humanloop
from pytest_chatexp.migrate._humanloop._source import read_exports
from pytest_chatexp.migrate._records import MigrationError, TemplateMessage
from pytest_chatexp.migrate._writer import write_all

DATA = Path(__file__).parents[2] / "data" / "humanloop" / "migrate"
SUPPORT = sorted((DATA / "support").iterdir())


def _config(**fields: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "chat_template": [{"role": "user", "content": "{{ q }}"}],
        **fields,
    }


@pytest.mark.parametrize(
    ("humanloop", "ours"),
    [
        ("openai", "openai"),
        ("openai_azure", "azure_openai"),
        ("anthropic", "anthropic"),
        ("google", "gemini"),
        ("bedrock", "bedrock"),
        ("groq", "groq"),
    ],
)
def test_humanloop_providers_become_the_plugins_and_load(humanloop: str, ours: str) -> None:
    source, unmapped = config_record(_config(provider=humanloop), where="c.json", default_name="c")
    assert source.record.provider == ours
    # Only Azure needs something the export does not hold: its endpoint.
    assert [u.what.split(":")[0] for u in unmapped] == (
        ["Azure OpenAI"] if ours == "azure_openai" else []
    )
    # The config the emitter writes is one the plugin's loader accepts.
    assert "provider: " + ours in model_configs_yaml([source.record], header="h")


@pytest.mark.parametrize("provider", ["cohere", "replicate", "mock", None, 3])
def test_a_provider_the_plugin_does_not_speak_is_refused_by_file_and_field(
    provider: Any,
) -> None:
    with pytest.raises(MigrationError, match=r"^c\.json: provider: .* is not a provider this"):
        config_record(_config(provider=provider), where="c.json", default_name="c")
    assert "mock" not in PROVIDERS


def test_a_v4_model_config_keeps_what_it_sends_and_lists_the_rest() -> None:
    source, unmapped = config_record(
        _config(
            id="config_1",
            name="support",
            max_tokens=-1,
            temperature=0.3,
            seed=4,
            other={"logprobs": True},
            response_format={"type": "json_object"},
            tools=[
                {"name": "lookup", "description": "Find it", "parameters": {"type": "object"}},
                {"id": "tl_linked", "source": "organization"},
            ],
            project_id="pr_1",
            mystery=1,
        ),
        where="c.json",
        default_name="c",
    )
    record = source.record
    assert (record.name, record.model) == ("support", "gpt-4o-mini")
    assert record.chat_template == (TemplateMessage("user", "{{q}}"),)
    assert dict(record.params) == {
        "temperature": 0.3,
        "seed": 4,
        "response_format": {"type": "json_object"},
        "other": {"logprobs": True},
        "tools": [{"name": "lookup", "description": "Find it", "parameters": {"type": "object"}}],
    }
    assert source.ids == frozenset({"config_1"})
    assert [(u.where, u.what[:11]) for u in unmapped] == [
        ("c.json: tools[1]", "linked tool"),
        ("c.json: mystery", "not carried"),
    ]


def test_a_completion_config_becomes_one_user_message_and_says_so() -> None:
    source, unmapped = config_record(
        {"model": "gpt-3.5-turbo-instruct", "endpoint": "complete", "prompt_template": "Hi {{x}}"},
        where="c.json",
        default_name="greeter",
    )
    assert source.record.name == "greeter"
    assert source.record.chat_template == (TemplateMessage("user", "Hi {{x}}"),)
    assert unmapped[0].where == "c.json: endpoint"
    with pytest.raises(MigrationError, match=r"c\.json: endpoint: 'edit' cannot be imported"):
        config_record(_config(endpoint="edit"), where="c.json", default_name="c")


def test_a_v5_prompt_version_is_named_by_path_and_version() -> None:
    data = json.loads((DATA / "support" / "prompt-version.json").read_text())
    source, unmapped = config_record(data, where="p.json", default_name="p")
    assert source.record.name == "support-agent-gemini@v3"
    assert source.record.provider == "gemini"
    assert source.ids == {"pr_pXwq6t1JKzR2Hc3vWmB9a", "prv_Z8nd2RkD4Lw1cQ7sTeAbF"}
    assert unmapped == []  # descriptive fields (environments, counts, status...) are not lost


def test_a_prompt_file_reads_front_matter_and_tagged_messages() -> None:
    text = (DATA / "support" / "support-agent.prompt").read_text()
    data = parse_prompt_file(text, where="s.prompt")
    assert data["provider"] == "anthropic" and data["max_tokens"] == 300
    assert [m["role"] for m in data["template"]] == ["system", "user"]
    assert data["template"][1]["content"] == "{{question}}"
    assert data["tools"][0]["name"] == "lookup_order"
    untagged = parse_prompt_file("---\nmodel: gpt-4o\n---\nSay hi to {{name}}\n", where="u")
    assert untagged["template"] == "Say hi to {{name}}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: x\n", r"^b\.prompt: front matter: a \.prompt file starts with a '---' line$"),
        ("---\nmodel: x\n<user>hi</user>\n", r"^b\.prompt: front matter: no closing '---'"),
        ("---\nmodel: x\ntemperature: [0.2\n---\nhi\n", r"^b\.prompt: front matter: invalid YAML"),
        ("---\n- model\n---\nhi\n", r"^b\.prompt: front matter: expected YAML fields .*list$"),
        ("---\nmodel: x\n---\nhello\n<user>hi</user>\n", r"^b\.prompt: template: text outside"),
    ],
)
def test_a_broken_prompt_file_names_the_file_and_part(text: str, message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        parse_prompt_file(text, where="b.prompt")


def test_datapoints_from_csv_carry_targets_and_messages(tmp_path: Path) -> None:
    path = tmp_path / "dataset.csv"
    path.write_text(
        "question,messages,target\n"
        'Hi?,"[{""role"": ""user"", ""content"": ""Before""}]","{""output"": ""Hello""}"\n'
        "Bye?,,plain answer\n"
    )
    points = read_exports([path]).datapoints
    assert [dict(p.inputs) for p in points] == [{"question": "Hi?"}, {"question": "Bye?"}]
    assert points[0].messages == ({"role": "user", "content": "Before"},)
    assert [p.target for p in points] == [{"output": "Hello"}, {"output": "plain answer"}]
    assert points[1].where == "dataset.csv: row 1"


def test_a_log_reads_its_config_answer_tool_calls_and_usage() -> None:
    item = json.loads((DATA / "support" / "logs-v5.jsonl").read_text().splitlines()[1])
    log, _ = read_log(item, "l.jsonl: [1]")
    assert log.config is not None and log.config.record.provider == "anthropic"
    assert log.config_ids == {"pr_Hn2Yq8sLx0Vc", "prv_Jm4Tb7nWq1Ks"}
    assert log.tool_calls == (
        LoggedToolCall("toolu_01Xk2", "lookup_order", '{"order_id":"A-1042"}'),
    )
    assert (log.latency_s, log.prompt_tokens, log.output_tokens) == (1.55, 410, 52)
    with pytest.raises(MigrationError, match=r"^l\.provider_latency: expected seconds"):
        read_log({"output": "x", "provider_latency": "slow"}, "l")


@pytest.mark.parametrize("provider", ["openai", "azure_openai", "anthropic", "gemini", "bedrock"])
@pytest.mark.parametrize("calls", [(), (LoggedToolCall("c1", "lookup", '{"id": 7}'),)])
def test_a_logged_answer_reads_back_through_each_provider(
    provider: str, calls: tuple[LoggedToolCall, ...]
) -> None:
    log = LogRecord(
        "log_1", None, frozenset(), {}, (), "It is open.", calls, "", 0.5, 10, 4, None, "l"
    )
    body = answer_body(log, provider, "some-model")
    wire = get_provider(provider)
    assert wire is not None
    reply = wire.parse_response(body)
    assert reply.raw_output == "It is open."
    called = [
        (call.function.name, json.loads(call.function.arguments or "{}"))
        for call in reply.message.tool_calls or []
    ]
    assert called == [("lookup", {"id": 7})] * len(calls)
    assert (reply.usage.prompt_tokens, reply.usage.generation_tokens) == (10, 4)


def test_the_support_exports_plan_loadable_files_and_seed_every_call(tmp_path: Path) -> None:
    plan = plan_humanloop(SUPPORT)
    write_all(plan.files, tmp_path, force=False)
    configs = load_model_configs(tmp_path / "prompts.yaml")
    assert [c.display_name for c in configs] == [
        "support-agent",
        "support-agent-gemini@v3",
        "support-agent-2",
    ]
    rows = load_dataset(tmp_path / "dataset.jsonl")
    assert [r.id for r in rows] == ["dp_opening_hours", "dp_order_status", "dp_follow_up"]
    assert rows[0].metadata["expected"] == "Yes, we are open on Sundays from 10am to 4pm."
    assert rows[1].metadata == {"channel": "chat", "target": {"tool": "lookup_order"}}
    assert [m.role for m in rows[2].messages] == ["user", "assistant", "user"]
    recordings = sorted((tmp_path / "__recordings__" / "test_humanloop").iterdir())
    loaded = [RecordingFile.load(path) for path in recordings]
    assert sum(len(r) for r in loaded) == 9
    opening = RecordingFile.load(
        tmp_path / "__recordings__/test_humanloop/test_humanloop[dp_opening_hours].yaml"
    )
    answers = {i.label.config: i.response["body"] for i in opening.interactions}
    # The later of the two logs of the v4 config is its seed.
    assert answers["support-agent"]["id"] == "data_7cKe1wPq2LmZs9a"
    module = (tmp_path / "test_humanloop.py").read_text()
    ast.parse(module)
    assert 'c.expected("expected"),  # target' in module
    assert "raise NotImplementedError(\"TODO: port llm evaluator 'polite'\")" in module


def test_calls_no_log_answers_are_listed(tmp_path: Path) -> None:
    exports = [DATA / "support" / name for name in ("model-config.json", "dataset.json")]
    plan = plan_humanloop([*exports, DATA / "support" / "prompt-version.json"])
    assert [f.path.name for f in plan.files] == [
        "prompts.yaml",
        "dataset.jsonl",
        "test_humanloop.py",
    ]
    assert len(plan.notes) == 6
    assert plan.notes[0].where == "'support-agent' on row 'dp_opening_hours'"
    assert plan.notes[0].what.startswith("no log answers it")


def test_logs_alone_give_configs_rows_and_seeds() -> None:
    plan = plan_humanloop([DATA / "support" / "logs-v5.jsonl"])
    # The anthropic prompt is embedded in full; the gemini one and the deleted one by id only.
    assert plan.summary.startswith("1 model config -> prompts.yaml; 3 datapoints -> dataset.jsonl")
    assert "7 logs -> 3 seeded calls in 3 recordings" in plan.summary
    reasons = {note.what.split(": ", 1)[1] for note in plan.notes}
    assert reasons == {"its config is none of those imported"}


def test_no_config_at_all_is_refused() -> None:
    with pytest.raises(MigrationError, match=r"^dataset\.json: no model config, prompt version"):
        plan_humanloop([DATA / "support" / "dataset.json"])
