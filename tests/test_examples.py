"""The example suites as a reviewer meets them: replay offline, then a prompt edit and its diff.

Each run is a fresh interpreter: this session may have imported the examples' own modules.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def examples(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    # Under xdist this process is a worker; the inner run must not think it is one too.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    target = pytester.path / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_examples_replay_offline(pytester: pytest.Pytester, examples: Path) -> None:
    result = pytester.runpytest_subprocess("-m", "chatexp", "examples")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        ["total: 8 experiments, 38 calls (38 replayed, 0 live)*", "3 snapshots passed."]
    )


def test_a_prompt_edit_fails_then_shows_a_reviewable_snapshot_diff(
    pytester: pytest.Pytester, examples: Path
) -> None:
    prompts = examples / "prompts" / "support.yaml"
    prompts.write_text(
        prompts.read_text().replace("Never invent order numbers.", "Never guess order numbers.")
    )

    gate = pytester.runpytest_subprocess("-m", "chatexp", "examples")
    gate.assert_outcomes(passed=7, errors=1)
    gate.stdout.fnmatch_lines(
        [
            "chatexp: examples/test_support_agent.py::test_support_agent: 12 of 12 calls have no matching recording*",
            "*messages[[]0[]].content changed:*",
            "*-*customer asks for a refund. Never invent order numbers.",
            "*+*customer asks for a refund. Never guess order numbers.",
            "To record, run: pytest --chatexp-record=new 'examples/test_support_agent.py::test_support_agent'",
        ]
    )

    rerecorded = pytester.runpytest_subprocess(
        "-m", "chatexp", "examples", "--chatexp-record=new", "-vv"
    )
    rerecorded.assert_outcomes(passed=7, failed=1)
    rerecorded.stdout.fnmatch_lines(
        [
            "*@@ model config 'support-v1' @@*",
            "*-   customer asks for a refund. Never invent order numbers.*",
            "*+   customer asks for a refund. Never guess order numbers.*",
            "*@@ model config 'support-v1-warm' @@*",
        ]
    )
    accepted = pytester.runpytest_subprocess("-m", "chatexp", "examples", "--snapshot-update")
    accepted.assert_outcomes(passed=8)
    snapshot = (
        examples / "__snapshots__" / "test_support_agent" / "test_support_agent[experiment].chatexp"
    )
    assert "Never guess order numbers." in snapshot.read_text()
    pytester.runpytest_subprocess("-m", "chatexp", "examples").assert_outcomes(passed=8)
