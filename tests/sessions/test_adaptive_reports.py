"""Adaptive sampling in every report a user gets: the samples drawn of the maximum and the calls
saved, in the terminal line, the JSON, Markdown and HTML reports and the JUnit XML properties,
all agreeing, with and without xdist (issue 16 item 7).

The suite is ``test_adaptive_sampling``'s: a clearly good case settled after 14 samples, a
clearly bad one after 3, a borderline one (scripted by a rule counting its requests) drawn to
its maximum of 20 and decided by its raw pass rate.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import REPORTS, Suite
from tests.sessions.test_adaptive_sampling import PATTERN, SUITE

LINE = re.compile(r"adaptive sampling: (\d+) of at most (\d+) samples drawn, (\d+) samples saved")
# Per case: input, samples drawn, maximum, and what decided it.
CASES = [("good", 14, 20, "settled"), ("bad", 3, 20, "settled"), ("borderline", 20, 20, "raw rate")]


@pytest.fixture
def scripted(server: ReferenceServer) -> Iterator[None]:
    """The borderline case passes four samples in five (``test_adaptive_sampling.PATTERN``)."""
    counter = count()

    def reply(request: dict[str, Any]) -> str:
        return "OK" if PATTERN[next(counter) % len(PATTERN)] else "no"

    server.add_rule(reply, when="borderline")
    yield


def _properties(root: ET.Element, path: str) -> dict[str, str]:
    return {
        str(item.get("name")): str(item.get("value"))
        for item in root.iterfind(f"{path}/properties/property")
        if str(item.get("name")).startswith("chatexp_")
    }


@pytest.mark.parametrize("workers", ["0", "2"])
def test_every_report_shows_the_samples_drawn_and_the_samples_saved(
    suite: Suite, server: ReferenceServer, scripted: None, workers: str
) -> None:
    suite.write(SUITE)
    run = suite.run("-p", "xdist", "-n", workers, *REPORTS, "--junitxml=junit.xml")
    run.assert_outcomes(failed=1)
    run.assert_clean()
    (line,) = [match.groups() for match in map(LINE.search, run.lines) if match]
    drawn, maximum, saved = (int(number) for number in line)
    assert (drawn, maximum, saved) == (37, 60, 23)
    assert len(server.requests) == drawn
    report, markdown, page = run.reports()

    (test,) = report["tests"]
    (experiment,) = test["experiments"]
    found = {case["input"]: (case["drawn"], case["maximum"]) for case in experiment["adaptive"]}
    assert found == {name: (got, most) for name, got, most, _ in CASES}
    assert sum(case["maximum"] - case["drawn"] for case in experiment["adaptive"]) == saved

    total = f"{drawn} of at most {maximum} samples drawn, {saved} samples saved"
    assert f"`test_x.py::test_adaptive`: {total}." in markdown
    for name, got, most, decided in CASES:
        verdict = "fail" if name == "bad" else "pass"
        assert f"| `bot` | `{name}` | {got}/{most} | {verdict} ({decided}) |" in markdown

    assert f"Adaptive sampling: {total}." in page
    for _, got, most, decided in CASES:
        assert f"{got} of ≤{most} samples, {decided}" in page

    # xunit2, pytest's default: the run's numbers, on the test suite.
    root = ET.parse(suite.path / "junit.xml").getroot()
    properties = _properties(root, "testsuite")
    assert properties["chatexp_samples_drawn"] == str(drawn)
    assert properties["chatexp_samples_max"] == str(maximum)
    assert properties["chatexp_samples_saved"] == str(saved)
    assert properties["chatexp_samples"] == str(drawn)


def test_xunit1_gives_each_test_its_counts(
    suite: Suite, server: ReferenceServer, scripted: None
) -> None:
    suite.write(SUITE)
    run = suite.run("--junitxml=junit.xml", "-o", "junit_family=xunit1")
    run.assert_outcomes(failed=1)
    root = ET.parse(suite.path / "junit.xml").getroot()
    properties = _properties(root, "testsuite/testcase")
    assert properties["chatexp_samples_drawn"] == "37"
    assert properties["chatexp_samples_max"] == "60"
    assert properties["chatexp_samples_saved"] == "23"
    run.fnmatch("*adaptive sampling: 37 of at most 60 samples drawn, 23 samples saved*")


FIXED = """
import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(name="bot", model="ref-model", chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(
    model_configs=[CONFIG], inputs=[{"id": "good", "q": "good [[reply: OK fine]]"}], num_samples=3
)
def test_fixed(chatexp):
    assert len(chatexp.samples) == 3
"""


def test_a_run_without_adaptive_sampling_reports_none_of_it(
    suite: Suite, server: ReferenceServer
) -> None:
    run = suite.write(FIXED).run(*REPORTS, "--junitxml=junit.xml")
    run.assert_outcomes(passed=1)
    report, markdown, page = run.reports()
    assert "adaptive" not in report["tests"][0]["experiments"][0]
    assert "Adaptive sampling" not in markdown and "Adaptive sampling" not in page
    assert "samples drawn" not in run.text
    root = ET.parse(suite.path / "junit.xml").getroot()
    properties = _properties(root, "testsuite")
    assert properties["chatexp_samples"] == "3"
    assert not {"chatexp_samples_drawn", "chatexp_samples_max", "chatexp_samples_saved"} & set(
        properties
    )
