"""The GitHub Actions workflow users copy (examples/ci/chatexp.yml) does what its README says.

The YAML is checked for its triggers, jobs and steps; every ``--chatexp-*`` option it uses must
exist; the API key secret may appear in the re-record job only. The gate step's command runs for
real, offline, against a copy of examples/, and the publish step's script then appends the
Markdown report to a stand-in ``$GITHUB_STEP_SUMMARY``, both when the gate passes and when a
prompt change makes it fail.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"
WORKFLOW_TEXT = (CI / "chatexp.yml").read_text(encoding="utf-8")
WORKFLOW: dict[Any, Any] = yaml.safe_load(WORKFLOW_TEXT)
JOBS: dict[str, dict[str, Any]] = WORKFLOW["jobs"]
SECRET = "${{ secrets.OPENAI_API_KEY }}"


def triggers() -> dict[str, Any]:
    # YAML 1.1 reads a bare `on` key as the boolean True.
    return WORKFLOW.get("on", WORKFLOW.get(True))  # type: ignore[no-any-return]


def steps(job: str) -> list[dict[str, Any]]:
    return JOBS[job]["steps"]  # type: ignore[no-any-return]


def step_running(job: str, pattern: str) -> tuple[int, dict[str, Any]]:
    """The one step of ``job`` whose ``run`` matches ``pattern``, with its position."""
    found = [
        (position, step)
        for position, step in enumerate(steps(job))
        if re.search(pattern, step.get("run", ""))
    ]
    assert len(found) == 1, f"job {job}: {len(found)} steps run {pattern!r}"
    return found[0]


def step_using(job: str, action: str) -> tuple[int, dict[str, Any]]:
    found = [
        (position, step)
        for position, step in enumerate(steps(job))
        if step.get("uses", "").split("@")[0] == action
    ]
    assert len(found) == 1, f"job {job}: {len(found)} steps use {action}"
    return found[0]


def pytest_argv(run: str) -> list[str]:
    """A step's pytest command, with the workflow's shell variables given their defaults."""
    default_cost = triggers()["workflow_dispatch"]["inputs"]["max_cost"]["default"]
    argv = shlex.split(run.replace("$MAX_COST", default_cost))
    assert argv[:3] == ["python", "-m", "pytest"], run
    return argv[3:]


def option_value(argv: list[str], name: str) -> str:
    values = [arg.split("=", 1)[1] for arg in argv if arg.startswith(name + "=")]
    assert len(values) == 1, f"{name}= once in {argv}"
    return values[0]


# -- the YAML -------------------------------------------------------------------------------------


def test_triggers_and_jobs() -> None:
    on = triggers()
    assert set(on) == {"pull_request", "merge_group", "push", "workflow_dispatch"}
    assert on["push"] == {"branches": ["main"]}
    assert set(JOBS) == {"gate", "rerecord"}
    assert JOBS["gate"]["if"] == "github.event_name != 'workflow_dispatch'"
    assert JOBS["rerecord"]["if"] == "github.event_name == 'workflow_dispatch'"
    assert WORKFLOW["permissions"] == {"contents": "read"}
    assert JOBS["rerecord"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    # The gate writes nothing but its comment.
    assert JOBS["gate"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    for job in JOBS:
        assert step_using(job, "actions/checkout")[0] == 0
        _, setup = step_using(job, "actions/setup-python")
        assert setup["with"]["cache"] == "pip"
        assert setup["with"]["cache-dependency-path"] == "pyproject.toml"
    assert step_using("gate", "actions/checkout")[1]["with"]["persist-credentials"] is False


def test_every_action_is_pinned_by_a_commit_sha_with_its_tag() -> None:
    text = WORKFLOW_TEXT + (CI / "chatexp-sharded.yml").read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", text, re.M)
    assert len(uses) == 7 + 8
    for action, comment in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), (action, comment)


def test_the_gate_replays_offline_and_always_publishes_its_reports() -> None:
    position, gate = step_running("gate", r"pytest -m chatexp")
    argv = pytest_argv(gate["run"])
    assert not any(arg.startswith("--chatexp-record") for arg in argv)  # the default: none
    assert "env" not in gate
    markdown = option_value(argv, "--chatexp-markdown")
    html = option_value(argv, "--chatexp-html")

    publish_at, publish = step_running("gate", r"GITHUB_STEP_SUMMARY")
    assert publish["if"] == "always()"
    assert f'cat {markdown} >> "$GITHUB_STEP_SUMMARY"' in publish["run"]
    upload_at, upload = step_using("gate", "actions/upload-artifact")
    assert upload["if"] == "always()"
    json_report = option_value(argv, "--chatexp-json")
    junit = option_value(argv, "--junitxml")
    assert upload["with"]["path"].split() == [markdown, html, json_report, junit]
    comment_at, comment = step_using("gate", "actions/github-script")
    assert comment["if"].startswith("always() && github.event_name == 'pull_request'")
    assert f'path: "{markdown}"' in comment["with"]["script"]
    assert position < publish_at and position < upload_at and position < comment_at


def test_the_rerecord_job_records_what_changed_and_opens_a_pull_request() -> None:
    position, record = step_running("rerecord", r"pytest -m chatexp")
    argv = pytest_argv(record["run"])
    assert "--chatexp-record=new" in argv and "--snapshot-update" in argv
    assert option_value(argv, "--chatexp-max-cost") == "2"
    assert record["env"]["OPENAI_API_KEY"] == SECRET
    assert record["env"]["MAX_COST"] == "${{ inputs.max_cost }}"  # not pasted into the script

    publish_at, publish = step_running("rerecord", r"GITHUB_STEP_SUMMARY")
    assert publish["if"] == "always()"
    pr_at, pr = step_using("rerecord", "peter-evans/create-pull-request")
    assert "if" not in pr  # no pull request when the re-recorded run fails
    assert position < publish_at < pr_at
    paths = pr["with"]["add-paths"].split()
    assert paths == ["**/__recordings__/**", "**/__snapshots__/**"]
    assert pr["with"]["branch"].startswith("chatexp/")


def test_the_secret_is_only_in_the_rerecord_step() -> None:
    assert WORKFLOW_TEXT.count("secrets.") == 1
    outside_jobs = {key: value for key, value in WORKFLOW.items() if key != "jobs"}
    assert "secrets." not in yaml.safe_dump(outside_jobs)
    assert "secrets." not in yaml.safe_dump(JOBS["gate"])
    for step in steps("rerecord"):
        assert ("secrets." in yaml.safe_dump(step)) == (
            "--chatexp-record=new" in step.get("run", "")
        )


def test_every_chatexp_option_used_exists(pytester: pytest.Pytester) -> None:
    help_text = pytester.runpytest("--help").stdout.str()
    known = set(re.findall(r"^  (--chatexp-[a-z-]+)", help_text, re.M))
    used = 0
    for job in JOBS:
        for step in steps(job):
            if "pytest" not in step.get("run", ""):
                continue
            argv = pytest_argv(step["run"])
            for arg in argv:
                if arg.startswith("--chatexp"):
                    assert arg.split("=", 1)[0] in known, f"{job}: no option {arg}"
                    used += 1
            pytester.parseconfigure(*argv)  # the values are valid too
    assert used == 6
    # The documentation names the same options.
    readme = (CI / "README.md").read_text(encoding="utf-8")
    for option in re.findall(r"--chatexp-[a-z-]+", readme):
        assert option in known


# -- the gate, for real ------------------------------------------------------------------------------


@pytest.fixture
def examples_copy(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A checkout: examples/ (tests, recordings, snapshots) at the root, a clean environment."""
    for entry in (ROOT / "examples").iterdir():
        if entry.name in ("ci", "__pycache__"):
            continue
        target = pytester.path / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(entry, target)
    for name in (
        "PYTEST_ADDOPTS",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
    ):
        monkeypatch.delenv(name, raising=False)
    return pytester


def run_gate(pytester: pytest.Pytester, summary: Path) -> tuple[pytest.RunResult, str]:
    """The gate step, then the publish step's script; returns the run and the job summary."""
    _, gate = step_running("gate", r"pytest -m chatexp")
    # A subprocess: this worker may have imported the examples' modules under the same names.
    result = pytester.runpytest_subprocess(*pytest_argv(gate["run"]))
    _, publish = step_running("gate", r"GITHUB_STEP_SUMMARY")
    summary.write_text("earlier steps' summary\n")
    done = subprocess.run(
        ["bash", "-e", "-c", publish["run"]],
        cwd=pytester.path,
        env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return result, summary.read_text(encoding="utf-8")


def test_the_gate_passes_offline_and_its_report_lands_in_the_job_summary(
    examples_copy: pytest.Pytester, tmp_path: Path
) -> None:
    result, summary = run_gate(examples_copy, tmp_path / "step_summary.md")
    assert result.ret == 0, result.stdout.str()
    passed = result.parseoutcomes()["passed"]
    assert passed >= 8
    # Offline: nothing was recorded, and a call that went out would have failed (the examples
    # point their base URLs at a closed port when replaying).
    result.stdout.fnmatch_lines(["*chatexp experiments (record mode: none)*"])
    assert summary.startswith("earlier steps' summary\n## pytest-chatexp: ")  # appended
    assert f"all {passed} tests passed" in summary
    assert "**test\\_support\\_agent.py::<wbr>test\\_support\\_agent**" in summary
    html = (examples_copy.path / "chatexp-report.html").read_text(encoding="utf-8")
    assert "test_support_agent.py::test_support_agent" in html


def test_a_prompt_change_fails_the_gate_and_the_report_still_lands(
    examples_copy: pytest.Pytester, tmp_path: Path
) -> None:
    prompts = examples_copy.path / "prompts" / "support.yaml"
    text = prompts.read_text(encoding="utf-8")
    old = "You are a support agent for {{company}}."
    assert text.count(old) == 1
    prompts.write_text(text.replace(old, "You are a friendly support agent for {{company}}."))

    result, summary = run_gate(examples_copy, tmp_path / "step_summary.md")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*test_support_agent.py::test_support_agent*no matching recording*"]
    )
    assert "## pytest-chatexp: 1 of " in summary
    assert "friendly support agent" in summary  # the changed prompt, shown for review
    assert (examples_copy.path / "chatexp-report.html").is_file()
