"""``python -m pytest_chatexp.migrate promptfoo`` as a promptfoo user meets it: import a config,
record the generated test module against the reference server, replay it offline; and bad
configs, refused with the file and field named and nothing written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply

DATA = Path(__file__).parents[1] / "data" / "promptfoo"
# Nothing listens there: a call that went out instead of replaying would fail.
NOWHERE = "http://127.0.0.1:9"


def migrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_chatexp.migrate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _grader_passes(request: dict[str, object]) -> bool:
    messages = request.get("messages")
    return isinstance(messages, list) and "strict grader" in str(messages[0].get("content"))


def test_the_imported_suite_records_then_replays_offline(
    pytester: pytest.Pytester, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(DATA / "getting_started", pytester.path, dirs_exist_ok=True)
    done = migrate("promptfoo", "promptfooconfig.yaml", cwd=pytester.path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        "imported promptfooconfig.yaml: 2 prompts x 2 providers -> 4 model configs in "
        "prompts.yaml; 2 tests -> 2 rows of dataset.jsonl; 5 checks in test_promptfoo.py"
    )
    assert (
        "  promptfooconfig.yaml: tests[0].assert[3]: javascript code to port by hand" in done.stdout
    )
    module = (pytester.path / "test_promptfoo.py").read_text()
    assert "# TODO(tests[0].assert[3] javascript)" in module

    # Record: the configs reach the server through the providers' base-URL variables.
    monkeypatch.setenv("ANTHROPIC_BASE_URL", recording_session.url)
    recording_session.add_rule(Reply(text="PASS\nNo refund is promised."), when=_grader_passes)
    recorded = pytester.runpytest_subprocess("test_promptfoo.py", "--chatexp-record=new", "-v")
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(
        [
            "*test_promptfoo.py::test_promptfoo[[]late-order[]] PASSED*",
            "*test_promptfoo.py::test_promptfoo[[]refund-request[]] PASSED*",
        ]
    )
    requests = recording_session.requests
    assert {request.path for request in requests} == {"/v1/chat/completions", "/v1/messages"}
    # 2 prompts x 2 providers x 2 rows; the rubric graded each distinct refund answer once (the
    # echoing server answers both providers alike).
    graded = [r for r in requests if r.json and _grader_passes(r.json)]
    assert (len(requests) - len(graded), len(graded)) == (8, 2)

    # Replay with nothing listening: every call answers from the recording.
    monkeypatch.setenv("OPENAI_BASE_URL", NOWHERE + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", NOWHERE)
    replayed = pytester.runpytest_subprocess("test_promptfoo.py")
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["total: 3 experiments, 10 calls (10 replayed, 0 live)*"])


def test_a_failing_promptfoo_assertion_fails_its_own_item(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makefile(
        ".yaml",
        promptfooconfig="""
        prompts: ["Say hello to {{name}}"]
        providers: [openai:gpt-4o-mini]
        tests:
          - description: ada
            vars: {name: Ada}
            assert: [{type: icontains, value: ada}]
          - description: grace
            vars: {name: Grace}
            assert: [{type: contains, value: Hopper}]
        """,
    )
    assert migrate("promptfoo", "promptfooconfig.yaml", cwd=pytester.path).returncode == 0
    result = pytester.runpytest_subprocess("test_promptfoo.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*contains('Hopper'): does not contain 'Hopper'*"])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            "list.yaml",
            "error: list.yaml: expected a promptfoo config (a mapping with prompts, providers "
            "and tests), got a list. Nothing was written.",
        ),
        (
            "unsupported_provider.yaml",
            "error: unsupported_provider.yaml: providers[1].id: provider "
            "'replicate:meta/llama-2-70b-chat' is not supported (supported families: *",
        ),
        ("broken.yaml", "error: broken.yaml: invalid YAML (line *): *. Nothing was written."),
        (
            "missing_prompt.yaml",
            "error: missing_prompt.yaml: prompts[0]: file prompts/missing.txt not found. "
            "Nothing was written.",
        ),
    ],
)
def test_bad_input_names_file_and_field_and_writes_nothing(
    pytester: pytest.Pytester, config: str, message: str
) -> None:
    shutil.copy(DATA / "bad" / config, pytester.path / config)
    before = sorted(pytester.path.rglob("*"))
    done = migrate("promptfoo", config, "--out", "generated", cwd=pytester.path)
    assert done.returncode == 2
    assert done.stdout == ""
    # One line; brackets in field names are literal, only * is a wildcard.
    pytest.LineMatcher(done.stderr.splitlines()).fnmatch_lines([message.replace("[", "[[]")])
    assert "Traceback" not in done.stderr
    assert sorted(pytester.path.rglob("*")) == before


def test_existing_files_are_kept_without_force(pytester: pytest.Pytester) -> None:
    shutil.copytree(DATA / "csv_tests", pytester.path, dirs_exist_ok=True)
    (pytester.path / "dataset.jsonl").write_text("mine\n")
    done = migrate("promptfoo", "promptfooconfig.yaml", cwd=pytester.path)
    assert done.returncode == 2
    assert "dataset.jsonl already exists; pass --force to overwrite" in done.stderr
    assert (pytester.path / "dataset.jsonl").read_text() == "mine\n"
    assert not (pytester.path / "prompts.yaml").exists()  # all or nothing

    forced = migrate("promptfoo", "promptfooconfig.yaml", "--force", cwd=pytester.path)
    assert forced.returncode == 0, forced.stderr
    assert (pytester.path / "dataset.jsonl").read_text().startswith('{"id": "greeting"')
    assert not list(pytester.path.glob(".chatexp-migrate-*"))  # the staging folder is gone
