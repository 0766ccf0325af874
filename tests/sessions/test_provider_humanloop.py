"""The Humanloop provider as a user meets it: a Humanloop organisation declared in a YAML file
for the command-line reference server (``python -m pytest_chatexp.testing --humanloop-config``),
inner sessions over its experiments, stored configs and deployments, recorded and then replayed
with the server gone; and the file's mistakes, named by file and field."""

from __future__ import annotations

import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._suite import Suite

KEY = "hl-test-Zq81secretHUMANLOOPkeyNeverShown"
DEAD = "http://127.0.0.1:9/v4"  # nothing listens: a call that went live would fail at once

ORGANISATION = """
projects:
  support: pr_support
model_configs:
  config_json:
    model: gpt-4o-2024-08-06
    response_format: {type: json_object}
    chat_template: [{role: system, content: "Answer in JSON."}]
  config_a:
    model: gpt-4o-mini
    chat_template: [{role: system, content: "Variant A for {{company}}."}]
experiments:
  exp_tone:
    - config_a
    - {id: config_b, model: claude-3-5-haiku, provider: anthropic,
       chat_template: [{role: system, content: "Variant B."}]}
deployments:
  - {project: support, environment: production, target: config_json}
"""

MODULE = """
import json
import pytest
from pytest_chatexp import ModelConfig

EXPERIMENT = ModelConfig(name="tone", provider="humanloop", model="tone-experiment",
                         other={"experiment_id": "exp_tone", "project": "support",
                                "session_reference_id": "nightly"})
STREAMED = EXPERIMENT.variant(name="tone-streamed", other={**EXPERIMENT.other, "stream": True})
STORED = ModelConfig(name="stored", provider="humanloop", model="json-label",
                     response_format={"type": "json_object"},
                     other={"model_config_id": "config_json", "return_inputs": False})
DEPLOYED = ModelConfig(name="deployed", provider="humanloop", model="prod-label",
                       other={"project": "support", "environment": "production",
                              "metadata": {"suite": "nightly"}})
INPUTS = [{"id": "parcel", "company": "Acme", "q": "where is my parcel?"},
          {"id": "refund", "company": "Acme", "q": "can I get a refund?"}]

@pytest.mark.chatexp(model_configs=[EXPERIMENT, STREAMED, STORED, DEPLOYED], inputs=INPUTS,
                     num_samples=2, messages=[{"role": "user", "content": "{{q}}"}])
def test_humanloop(chatexp):
    for case in chatexp.by_config["tone"] + chatexp.by_config["tone-streamed"]:
        data = case.to_chat_response().data
        # The two samples of an input met both variants, each logged under its own id.
        assert {d.model_config_id for d in data} == {"config_a", "config_b"}
        assert len({d.id for d in data}) == 2
        templates = {d.model_config_id: d.messages[0].content for d in data}
        assert templates == {"config_a": "Variant A for Acme.", "config_b": "Variant B."}
        response = case.to_chat_response()
        assert response.project_id == "pr_support"  # the declared project's id
        assert response.session_id is not None and response.session_id.startswith("sess_")
        assert response.provider_request["model"] in ("gpt-4o-mini", "claude-3-5-haiku")
    plain = chatexp.case("tone", "parcel").to_chat_response().data
    streamed = chatexp.case("tone-streamed", "parcel").to_chat_response().data
    assert [d.to_json_dict() for d in plain] == [d.to_json_dict() for d in streamed]
    for case in chatexp.by_config["stored"]:
        for sample in case.samples:
            assert sample.messages[0].content == "Answer in JSON."  # the server-side template
            assert sample.data.inputs == {}  # return_inputs=False
            assert sample.model == "gpt-4o-2024-08-06"  # priced by what Humanloop called
            assert json.loads(sample.output)["echo"] == case.input.inputs["q"]
    deployed = chatexp.case("deployed", "refund").to_chat_response()
    assert deployed.metadata == {"suite": "nightly", "chatexp_sample": 0}
    assert deployed.provider_request["model"] == "gpt-4o-2024-08-06"
"""

INI = """
[pytest]
chatexp_prices =
    gpt-4o-2024-08-06 2.50 10.00
    gpt-4o-mini 0.15 0.60
    claude-3-5-haiku 0.80 4.00
"""


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_chatexp.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def organisation(tmp_path: Path) -> Iterator[str]:
    """The command-line server serving ORGANISATION; yields its Humanloop base URL."""
    config = tmp_path / "humanloop.yaml"
    config.write_text(ORGANISATION)
    process = _serve("--humanloop-config", str(config))
    assert process.stdout is not None and process.stderr is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    banner = process.stdout.readline() if ready else ""
    match = re.search(r"on (http://127\.0\.0\.1:\d+)", banner)
    if match is None:
        process.kill()
        pytest.fail(f"the server did not start: {banner!r} {process.communicate()[1]!r}")
    try:
        yield match.group(1) + "/v4"
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stdout.close()
        process.stderr.close()


def test_a_declared_organisation_records_then_replays_offline(
    suite: Suite, organisation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.setenv("HUMANLOOP_BASE_URL", organisation)
    monkeypatch.setenv("HUMANLOOP_API_KEY", KEY)
    suite.write(MODULE, name="test_hl.py", **{"pytest.ini": INI})
    recorded = suite.run("--chatexp-record=all")
    recorded.assert_outcomes(passed=1).fnmatch("*16 calls (0 replayed, 16 live)*")
    # Priced by the model Humanloop reports, not the local label: no "cost unknown".
    assert "cost unknown" not in recorded.result.stdout.str()
    text = "\n".join(path.read_text() for path in suite.path.rglob("__recordings__/**/*.yaml"))
    assert KEY not in text and "chatexp_sample" in text
    monkeypatch.setenv("HUMANLOOP_BASE_URL", DEAD)
    replayed = suite.run("--chatexp-record=none")
    replayed.assert_outcomes(passed=1).fnmatch("*16 calls (16 replayed, 0 live)*").assert_clean()
    assert "cost unknown" not in replayed.result.stdout.str()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("experiments: {exp: [missing]}", "experiments.exp[0]: no model config 'missing'"),
        (
            "model_configs: {c: {temperature: 1}}",
            "model_configs.c: the model config is",
        ),
        (
            "deployments: [{project: p, target: nowhere}]",
            "deployments[0].target: 'nowhere' is no model config or experiment id",
        ),
        ("projekts: {}", "unknown sections ['projekts']"),
        ("model_configs: [", "not valid YAML"),
        (
            "model_configs: {a: &m {model: x}, b: *m}",
            "not valid YAML: anchors and aliases are not allowed (line 1)",
        ),
        ("projects: {p: a, p: b}", "not valid YAML: the key 'p' at line 1 is a merge or repeated"),
    ],
)
def test_a_bad_organisation_file_names_file_and_field(
    tmp_path: Path, content: str, message: str
) -> None:
    config = tmp_path / "org.yaml"
    config.write_text(content)
    process = _serve("--humanloop-config", str(config))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, (out, err)
    assert f"error: --humanloop-config {config}: " in err
    assert message in err
    assert "Traceback" not in err
