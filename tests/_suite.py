"""One harness for the inner pytest sessions the tests run: write a suite, run it, read the run.

``Suite`` wraps ``pytester``: it writes test files and runs pytest in-process, timing the run.
``Run`` is what came back, read the way a user reads it: the outcome counts, the terminal lines
(stdout and stderr together), the JSON report (``--chatexp-json``, written when the run was asked
for ``report=True`` or given the option), the Markdown and HTML reports, and the recordings.
Assertions chain, so a test reads as one sentence::

    suite.write(SOURCE).run("--chatexp-record=all").assert_outcomes(passed=1).assert_clean()

The data a test checks comes from the reports and files a user gets, not from JSON dumped by
the inner test: what the report does not carry, the inner test asserts itself.
"""

from __future__ import annotations

import json
import textwrap
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_chatexp._calls._changes import ChangeRecord
from pytest_chatexp._calls._misses import MissedCalls
from pytest_chatexp._reports._run import TestRecord, experiment_records

__all__ = [
    "REPORT",
    "REPORTS",
    "Run",
    "Suite",
    "assert_clean",
    "glob",
    "read_reports",
    "record_of",
    "recording_files",
    "recording_path",
    "report_cases",
    "samples_of",
]

# Where ``run(report=True)`` asks for the JSON report, relative to the suite's folder.
REPORT = "chatexp-report.json"
# The options writing all three reports, read back by ``read_reports``.
REPORTS = ("--chatexp-json=r.json", "--chatexp-markdown=r.md", "--chatexp-html=r.html")


def glob(message: str) -> str:
    """``message`` as an fnmatch pattern, '*' still a wildcard: '[' is written '[[]', so that
    fnmatch does not read ``[0]`` as a character class."""
    return message.replace("[", "[[]")


def assert_clean(result: pytest.RunResult | Run) -> None:
    """No traceback and no frame of the plugin's internals in the run's output: every error the
    plugin raises for bad input or a failing provider reaches the user as a short message."""
    output = result.text if isinstance(result, Run) else result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "pytest_chatexp/_" not in output


def read_reports(path: Path) -> tuple[dict[str, Any], str, str]:
    """The JSON report, the Markdown summary and the HTML page that ``REPORTS`` wrote in ``path``."""
    report: dict[str, Any] = json.loads((path / "r.json").read_text())
    return report, (path / "r.md").read_text(), (path / "r.html").read_text()


def record_of(test: dict[str, Any]) -> TestRecord:
    """A test as the run log records it, from the JSON the report holds for it."""
    changes = map(ChangeRecord.from_json, test.get("changes") or [])
    return TestRecord(
        test=test["test"],
        outcome=test["outcome"],
        failure=test.get("failure"),
        experiments=experiment_records(test.get("experiments")),
        changes=[change for change in changes if change is not None],
        miss=MissedCalls.from_json(test.get("recording_miss")),
    )


def report_cases(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every case of every experiment in a JSON report, in report order."""
    return [
        case
        for test in report["tests"]
        for experiment in test["experiments"]
        for case in experiment.get("cases", [])
    ]


def samples_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every sample in a JSON report, keyed ``config/input`` (``/index`` past the first): what
    the answer was (from the case's ``ChatResponse``) and what the run measured of it."""
    samples: dict[str, dict[str, Any]] = {}
    for case in report_cases(report):
        for sample in case["samples"]:
            data = case["chat_response"]["data"][sample["index"]]
            key = f"{case['config']}/{case['input']}"
            key += f"/{sample['index']}" if sample["index"] else ""
            samples[key] = {
                "output": data["output"],
                "finish_reason": data.get("finish_reason"),
                "tool_calls": data.get("tool_calls") or [],
                "usage": sample["usage"],
                "first_token_s": sample["first_token_s"],
                "replayed": sample["replayed"],
            }
    return samples


def recording_path(folder: Path, module: str, test: str) -> Path:
    """Where the recording of ``module``'s test ``test`` lives, for a suite in ``folder``."""
    return folder / "__recordings__" / module / f"{test}.yaml"


def recording_files(folder: Path) -> list[Path]:
    """Every recording file under ``folder``, sorted (none when nothing was recorded)."""
    return sorted(folder.glob("**/__recordings__/**/*.yaml"))


@dataclass(frozen=True)
class Run:
    """One finished inner session."""

    result: pytest.RunResult
    path: Path  # the suite's folder: where reports and recordings were written
    seconds: float  # wall time of the run
    args: tuple[str, ...]

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def lines(self) -> list[str]:
        """The terminal output, stdout then stderr, one line each."""
        return [*self.result.stdout.lines, *self.result.stderr.lines]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def outcomes(self) -> dict[str, int]:
        """pytest's closing counts: {"passed": 2, "errors": 1, ...}."""
        return self.result.parseoutcomes()

    def assert_outcomes(self, **counts: int) -> Run:
        self.result.assert_outcomes(**counts)
        return self

    def fnmatch(self, *patterns: str) -> Run:
        """Each pattern matches a line of the output, in this order (fnmatch, '*' a wildcard)."""
        pytest.LineMatcher(self.lines).fnmatch_lines(list(patterns))
        return self

    def no_fnmatch(self, pattern: str) -> Run:
        pytest.LineMatcher(self.lines).no_fnmatch_line(pattern)
        return self

    def assert_clean(self) -> Run:
        assert_clean(self)
        return self

    @cached_property
    def report(self) -> dict[str, Any]:
        """The JSON report this run wrote (``run(report=True)`` or ``--chatexp-json=PATH``)."""
        paths = [arg.split("=", 1)[1] for arg in self.args if arg.startswith("--chatexp-json=")]
        assert paths, "the run wrote no JSON report: run it with report=True"
        report: dict[str, Any] = json.loads((self.path / paths[-1]).read_text())
        return report

    def tests(self) -> dict[str, dict[str, Any]]:
        """The JSON report's tests by node id."""
        return {str(test["test"]): test for test in self.report["tests"]}

    def cases(self) -> list[dict[str, Any]]:
        """Every case of every experiment in the JSON report, in report order."""
        return report_cases(self.report)

    def reports(self) -> tuple[dict[str, Any], str, str]:
        """The three reports a run given ``*REPORTS`` wrote: JSON, Markdown, HTML."""
        return read_reports(self.path)

    def recordings(self) -> dict[str, Any]:
        """Every recording file under the suite, parsed, by its path relative to the suite."""
        return {
            path.relative_to(self.path).as_posix(): yaml.safe_load(path.read_text())
            for path in recording_files(self.path)
        }


class Suite:
    """A folder of test files for inner sessions (pytester's), and the runs made there."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path: Path = pytester.path

    def write(self, source: str = "", /, name: str = "test_x.py", **files: str | bytes) -> Suite:
        """Write ``source`` (dedented) as ``name``, and each of ``files`` (name=content; nested
        paths allowed, bytes written as they are)."""
        if source:
            files = {name: source, **files}
        for relative, content in files.items():
            path = self.path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content), encoding="utf-8")
        return self

    def conftest(self, source: str) -> Suite:
        return self.write(source, name="conftest.py")

    def run(self, *args: str, report: bool = False) -> Run:
        """Run pytest in-process on the suite; ``report=True`` also writes the JSON report."""
        if report:
            args = (*args, f"--chatexp-json={REPORT}")
        started = time.perf_counter()
        result = self.pytester.runpytest(*args)
        return Run(result, self.path, time.perf_counter() - started, args)

    def recording(self, module: str, test: str) -> Path:
        """Where the recording of ``module``'s test ``test`` lives."""
        return recording_path(self.path, module, test)
