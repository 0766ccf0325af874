"""``python -m pytest_chatexp.migrate humanloop`` as a Humanloop user meets it: import model
configs, a .prompt file, a prompt version, a dataset, evaluators and logs; the generated module
replays the logs' answers offline on its first run; recorded against the reference server it
replays again; bad exports are refused with the file and field named and nothing written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply

DATA = Path(__file__).parents[1] / "data" / "humanloop" / "migrate"
# Nothing listens there: a call that went out instead of replaying would fail.
NOWHERE = "http://127.0.0.1:9"
_ENDPOINTS = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL")
_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
SUNDAYS = "Yes, we are open on Sundays from 10am to 4pm."


def migrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_chatexp.migrate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _exports(folder: Path) -> list[str]:
    shutil.copytree(DATA / "support", folder / "exports")
    return sorted(f"exports/{path.name}" for path in (folder / "exports").iterdir())


def test_seed_recordings_replay_the_logged_answers_with_no_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (*_ENDPOINTS, *_KEYS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    done = migrate("humanloop", *_exports(pytester.path), "--out", ".", cwd=pytester.path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith(
        ": 3 model configs -> prompts.yaml; 3 datapoints -> dataset.jsonl; 1 target check in "
        "test_humanloop.py; 12 logs -> 9 seeded calls in 3 recordings"
    )
    pytest.LineMatcher(done.stdout.splitlines()).fnmatch_lines(
        [
            "not carried over (3; listed as TODO in test_humanloop.py):",
            "  dataset.json: datapoints[[]1].target: no output to compare: *",
            "  evaluators.json: [[]0]: python evaluator 'exact-match': finish check_exact_match()*",
            "  evaluators.json: [[]1]: llm evaluator 'polite': *",
            "seed recordings (3 notes):",
            "  logs-v4.json: records[[]0]: log data_1Hq8rXh5ZtDmo0b: a later log of "
            "'support-agent' on row 'dp_opening_hours' is its seed",
            "  logs-v4.json: records[[]4]: log data_9PnW4sHy6JcDr2u: its inputs and messages "
            "match no datapoint",
            "  logs-v5.jsonl: [[]6]: log log_Dx5k3LwP0: its config is none of those imported",
        ]
    )
    module = (pytester.path / "test_humanloop.py").read_text()
    assert "def check_exact_match(sample):" in module
    assert '#       return log["output"].strip() == target.strip()' in module

    # First run, no server, no key: every call answers from the logs.
    replayed = pytester.runpytest_subprocess("test_humanloop.py", "-v")
    replayed.assert_outcomes(passed=3)
    replayed.stdout.fnmatch_lines(["total: 3 experiments, 9 calls (9 replayed, 0 live)*"])
    report = pytester.path / "report.json"
    again = pytester.runpytest_subprocess("test_humanloop.py", f"--chatexp-json={report}")
    again.assert_outcomes(passed=3)
    assert SUNDAYS in report.read_text()  # the logged answer, not a stand-in's


def test_the_import_records_against_the_reference_server_then_replays(
    pytester: pytest.Pytester, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _ENDPOINTS:
        monkeypatch.setenv(name, recording_session.url)
    monkeypatch.setenv("OPENAI_BASE_URL", recording_session.base_url)
    done = migrate("humanloop", *_exports(pytester.path), "--out", ".", cwd=pytester.path)
    assert done.returncode == 0, done.stderr

    recording_session.add_rule(Reply(text=SUNDAYS), when="Sundays")
    recorded = pytester.runpytest_subprocess("test_humanloop.py", "--chatexp-record=all")
    recorded.assert_outcomes(passed=3)
    recorded.stdout.fnmatch_lines(["total: 3 experiments, 9 calls (0 replayed, 9 live)*"])
    paths = {request.path for request in recording_session.requests}
    assert "/v1/chat/completions" in paths and "/v1/messages" in paths
    assert any(path.endswith(":generateContent") for path in paths)

    for name in _ENDPOINTS:
        monkeypatch.setenv(name, NOWHERE)
    monkeypatch.setenv("OPENAI_BASE_URL", NOWHERE + "/v1")
    replayed = pytester.runpytest_subprocess("test_humanloop.py")
    replayed.assert_outcomes(passed=3)
    replayed.stdout.fnmatch_lines(["total: 3 experiments, 9 calls (9 replayed, 0 live)*"])


@pytest.mark.parametrize(
    ("export", "message"),
    [
        (
            "unknown-shape.json",
            "error: unknown-shape.json: expected a v4 model config or v5 prompt version *; got "
            "an object with project, feedback. Nothing was written.",
        ),
        (
            "broken-front-matter.prompt",
            "error: broken-front-matter.prompt: front matter: invalid YAML (line 5): *. "
            "Nothing was written.",
        ),
        (
            "unknown-provider.json",
            "error: unknown-provider.json: provider: 'cohere' is not a provider this plugin "
            "speaks (supported: anthropic, azure, bedrock, gemini, google, groq, openai, "
            "openai_azure). Nothing was written.",
        ),
    ],
)
def test_bad_exports_name_file_and_field_and_write_nothing(
    pytester: pytest.Pytester, export: str, message: str
) -> None:
    exports = _exports(pytester.path)
    shutil.copy(DATA / "bad" / export, pytester.path / export)
    before = sorted(pytester.path.rglob("*"))
    # The good exports beside it are not written either: all or nothing.
    done = migrate("humanloop", *exports, export, "--out", "generated", cwd=pytester.path)
    assert done.returncode == 2
    assert done.stdout == ""
    pytest.LineMatcher(done.stderr.splitlines()).fnmatch_lines([message.replace("[", "[[]")])
    assert "Traceback" not in done.stderr
    assert sorted(pytester.path.rglob("*")) == before
