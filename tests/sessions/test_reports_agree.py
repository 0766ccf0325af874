"""Reports agree with pytest: verdicts against the bar the test set, one pass-rate format
everywhere, and a test counted once however often pytest-rerunfailures ran it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from pytest_chatexp._util import percent
from pytest_chatexp.testing import ReferenceServer
from tests._suite import REPORTS, read_reports

# Sample 0 of every case fails; the rest pass: 3 of 4 samples, 75% per case.
TOLERANT = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="echo", model="gpt-4o-mini", chat_template=[{{"role": "user", "content": "{{{{q}}}}"}}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{{"id": "a", "q": "alpha"}}, {{"id": "b", "q": "beta"}}], num_samples=4)
def test_tolerant(chatexp):
    c.assert_samples(chatexp, c.satisfies(lambda s: s.index != 0, name="not-first"), min_pass_rate={bar})
"""


def _run(pytester: pytest.Pytester, bar: float, *, failed: int) -> tuple[dict, str, str]:  # type: ignore[type-arg]
    pytester.makepyfile(test_suite=TOLERANT.format(bar=bar))
    pytester.runpytest(*REPORTS).assert_outcomes(passed=1 - failed, failed=failed)
    return read_reports(pytester.path)


def test_a_bar_the_samples_meet_is_a_pass_in_every_report(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    report, markdown, page = _run(pytester, 0.75, failed=0)
    (test,) = report["tests"]
    cases = test["experiments"][0]["cases"]
    # The check's bar and its verdict travel with each case, as data.
    assert [case["verdicts"] for case in cases] == [
        [{"checks": "not-first", "min_pass_rate": 0.75, "passed": 3, "samples": 4, "ok": True}]
    ] * 2
    (row,) = test["experiments"][0]["configs"]
    assert (row["checked"], row["passed"], row["cases_judged"], row["cases_failed"]) == (8, 6, 2, 0)
    # The page's headline is pytest's: all passed, nothing failing, though samples failed.
    assert '<span class="badge pass">all passed</span>' in page
    assert "failing" not in _header(page) and "failures" not in _header(page)
    assert re.findall(r'<td class="cell (\w+)"', page) == ["pass", "pass"]
    assert re.findall(r'<section class="test" [^>]*data-status="(\w+)"', page) == ["pass"]
    assert '<td class="pass"><span class="rate">' in page  # the config's pass rate, green
    # Each failing sample is still shown as failing its check.
    assert page.count('<li class="sample fail"') == 2
    assert markdown.startswith("## pytest-chatexp: 1 test passed")
    assert "### Failing tests" not in markdown


def test_a_bar_the_samples_miss_is_a_failure_in_every_report(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    report, markdown, page = _run(pytester, 0.8, failed=1)
    cases = report["tests"][0]["experiments"][0]["cases"]
    assert [v["ok"] for case in cases for v in case["verdicts"]] == [False, False]
    assert '<span class="badge fail">failures</span>' in page
    assert "1 failing" in _header(page)
    assert re.findall(r'<td class="cell (\w+)"', page) == ["fail", "fail"]
    assert "3/4 passed, needs 80%" in page
    assert markdown.startswith("## pytest-chatexp: 1 of 1 test failing")
    assert "| `echo` | `a` | 3/4 (75%) | sample 0: not-first: predicate returned False" in markdown


def _header(page: str) -> str:
    return page[page.index("<header") : page.index("</header>")]


EIGHT = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="echo", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "hi"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "a"}], num_samples=8)
def test_three_of_eight(chatexp):
    c.assert_samples(chatexp, c.satisfies(lambda s: s.index >= 5, name="late"), min_pass_rate=0.3)
"""


def test_pass_rates_read_the_same_in_terminal_markdown_and_html(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=EIGHT)
    result = pytester.runpytest(*REPORTS)
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r"  echo +8 +38% "])
    _, markdown, page = read_reports(pytester.path)
    assert "| 3/8 (38%) |" in markdown
    assert "3/8 (38%)" in page


@pytest.mark.parametrize(
    ("passed", "checked", "shown"),
    [(3, 8, "38%"), (5, 8, "63%"), (1, 3, "33%"), (2, 3, "67%"), (199, 200, "99%"), (1, 200, "1%")],
)
def test_one_percent_format_rounds_but_never_claims_all_or_none(
    passed: int, checked: int, shown: str
) -> None:
    assert percent(passed, checked) == shown
    assert percent(checked, checked) == "100%" and percent(0, checked) == "0%"


# Fails its first two attempts, passes the third: three attempts of one experiment of 2 samples.
FLAKY = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="echo", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "hi"}])

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "a"}], num_samples=2)
def test_flaky(chatexp, request):
    attempt = request.node.execution_count
    c.assert_samples(chatexp, c.satisfies(lambda s: attempt >= 3, name="third-time"))
"""

CHATEXP_PROPERTIES = [
    "chatexp_samples",
    "chatexp_pass_rate",
    "chatexp_prompt_tokens",
    "chatexp_generation_tokens",
    "chatexp_total_tokens",
    "chatexp_cost_usd",
    "chatexp_replayed",
]


def test_a_rerun_test_counts_once_with_its_final_attempt(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=FLAKY)
    result = pytester.runpytest(
        "-p", "rerunfailures", "--reruns=2", "-o", "junit_family=xunit1",
        "--junitxml=junit.xml", *REPORTS,
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["rerun"]) == (1, 2)
    assert len(server.requests) == 6  # three attempts really ran
    *_, case = ET.parse(pytester.path / "junit.xml").iter("testcase")  # one per attempt
    names = [p.get("name") for p in case.iter("property")]
    assert names == CHATEXP_PROPERTIES  # once each, not once per attempt
    values = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert (values["chatexp_samples"], values["chatexp_pass_rate"]) == ("2", "1.0")
    report, _, page = read_reports(pytester.path)
    (test,) = report["tests"]
    assert test["outcome"] == "passed" and len(test["experiments"]) == 1
    (row,) = test["experiments"][0]["configs"]
    assert (row["samples"], row["checked"], row["passed"]) == (2, 2, 2)  # the last attempt's
    assert (report["totals"]["experiments"], report["totals"]["calls"]) == (1, 2)
    assert re.findall(r'<td class="cell (\w+)"', page) == ["pass"]
    assert (pytester.path / "r.md").read_text().startswith("## pytest-chatexp: 1 test passed")


# Structure of pytest's JUnit schema for xunit2 (testing/example_scripts/junit-10.xsd in pytest's
# repository): per element, the children and attributes it allows and the attributes it requires.
XUNIT2: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": ({"testsuite"}, {"name", "time", "tests", "failures", "errors"}, set()),
    "testsuite": (
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
        {
            "name",
            "tests",
            "failures",
            "errors",
            "group",
            "time",
            "skipped",
            "timestamp",
            "hostname",
            "id",
            "package",
            "file",
            "log",
            "url",
            "version",
        },
        {"name", "tests", "failures", "errors"},
    ),
    "properties": ({"property"}, set(), set()),
    "property": (set(), {"name", "value"}, {"name", "value"}),
    "testcase": (
        {
            "skipped",
            "errors",
            "failure",
            "rerunFailure",
            "rerunError",
            "flakyFailure",
            "flakyError",
            "system-out",
            "system-err",
        },
        {"name", "time", "classname", "group"},
        {"name"},
    ),
    "failure": (set(), {"type", "message"}, set()),
    "errors": (set(), {"type", "message"}, set()),
    "skipped": (set(), {"type", "message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}


def _schema_errors(element: ET.Element, path: str = "") -> list[str]:
    where = f"{path}/{element.tag}"
    if element.tag not in XUNIT2:
        return [f"{where}: no such element in xunit2"]
    children, allowed, required = XUNIT2[element.tag]
    errors = [f"{where}: attribute {name!r} not allowed" for name in set(element.attrib) - allowed]
    errors += [f"{where}: attribute {name!r} missing" for name in required - set(element.attrib)]
    for child in element:
        if child.tag not in children:
            errors.append(f"{where}: child <{child.tag}> not allowed")
        else:
            errors += _schema_errors(child, where)
    return errors


SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

PRICED = ModelConfig(name="priced", model="gpt-4o-mini", chat_template=[{"role": "user", "content": "hi"}])

@pytest.mark.chatexp(model_configs=[PRICED, PRICED.variant(name="unpriced", model="no-price-model")], inputs=[{"id": "a"}])
def test_unpriced_and_unchecked(chatexp):
    pass

@pytest.mark.chatexp(model_configs=[PRICED], inputs=[{"id": "a"}], num_samples=2)
def test_checked(chatexp):
    c.assert_samples(chatexp, c.contains("hi"))
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_junit_xml_follows_the_xunit2_schema(
    pytester: pytest.Pytester, server: ReferenceServer, workers: int
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    run = pytester.runpytest_subprocess if workers else pytester.runpytest
    run("-n", str(workers), "--junitxml=junit.xml").assert_outcomes(passed=2)
    root = ET.parse(pytester.path / "junit.xml").getroot()
    assert _schema_errors(root) == []
    # xunit2 allows properties on the suite only: the run's chatexp totals are there.
    (suite,) = root.iter("testsuite")
    totals = {p.get("name"): p.get("value") for p in suite.iterfind("properties/property")}
    assert totals["chatexp_samples"] == "4"
    assert totals["chatexp_pass_rate"] == "1.0"  # of the 2 samples a check judged
    assert "chatexp_cost_usd" not in totals  # one model has no price: unknown, not ""


def test_junit_properties_of_unknowns_are_left_out(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--junitxml=junit.xml", "-o", "junit_family=xunit1").assert_outcomes(
        passed=2
    )
    tree = ET.parse(pytester.path / "junit.xml")
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in tree.iter("testcase")
    }
    assert all(value for found in properties.values() for value in found.values())
    unknown = properties["test_unpriced_and_unchecked"]
    assert unknown["chatexp_samples"] == "2"
    assert "chatexp_pass_rate" not in unknown and "chatexp_cost_usd" not in unknown
    assert set(properties["test_checked"]) == set(CHATEXP_PROPERTIES)
