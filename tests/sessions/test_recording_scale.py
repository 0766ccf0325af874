"""Re-recording a bigger experiment through whole sessions: the same file and answers as a
first recording, and each call's old tokens found (the index of the old file, not a scan)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import recording_path

SUITE = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(
    name="big",
    model="ref-model",
    temperature=TEMPERATURE,
    chat_template=[{"role": "user", "content": "{{question}}"}],
)
INPUTS = [{"id": f"q{i:03d}", "question": f"question {i}?"} for i in range(60)]

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=INPUTS, num_samples=2)
def test_big(chatexp):
    for case in chatexp:
        for sample in case.samples:
            assert case.input.inputs["question"] in sample.output
"""


def _without_latencies(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if "latency_s" not in line]


def test_rerecording_gives_the_first_recording_back(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makepyfile(test_big=SUITE.replace("TEMPERATURE", "0.2"))
    path = recording_path(pytester.path, "test_big", "test_big")
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    first = _without_latencies(path)
    assert sum(line.startswith("- fingerprint:") for line in first) == 120

    # Every call re-recorded as it was: the same file but for latencies.
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    assert _without_latencies(path) == first

    # Every prompt changed, then changed back: mode new re-records all 120 calls twice, each
    # reported beside the answer it replaces, and ends with the first recording again.
    pytester.makepyfile(test_big=SUITE.replace("TEMPERATURE", "0.7"))
    pytester.runpytest("--chatexp-record=new").assert_outcomes(passed=1)
    assert "temperature: 0.7" in path.read_text()
    pytester.makepyfile(test_big=SUITE.replace("TEMPERATURE", "0.2"))
    recording_session.requests.clear()
    result = pytester.runpytest("--chatexp-record=new", "--chatexp-json=report.json")
    result.assert_outcomes(passed=1)
    assert len(recording_session.requests) == 120
    assert _without_latencies(path) == first
    report = json.loads((pytester.path / "report.json").read_text())
    changes = [change for test in report["tests"] for change in test.get("changes", [])]
    assert len(changes) == 120
    assert not any(change["new"] for change in changes)  # each found its old answer
