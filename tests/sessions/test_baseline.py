"""A committed baseline for live runs (``--chatexp-baseline``), through whole sessions.

The suite asks the reference server three inputs, twenty samples each; the server answers each
case from a script ("ok" or "bad"), and ``contains("ok")`` judges every sample. A first run
writes the baseline (``--chatexp-baseline-update``); later runs, with other scripts, are
compared with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite
from tests.sessions._scripted import answers, script

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

V1 = ModelConfig(name="v1", model="ref-model", chat_template=[{"role": "user", "content": "<{{q}}>PROMPT"}])


@pytest.mark.chatexp(model_configs=[V1], inputs=[{"id": "a", "q": "a"}, {"id": "b", "q": "b"}], num_samples=20)
def test_answers(chatexp):
    c.assert_samples(chatexp, c.contains("ok"), min_pass_rate=0.0)


@pytest.mark.chatexp(model_configs=[V1], inputs=[{"id": "c", "q": "c"}], num_samples=20)
def test_other(chatexp):
    c.assert_samples(chatexp, c.contains("ok"), min_pass_rate=0.0)
"""

BASELINE = "--chatexp-baseline=baseline.json"


def write_suite(suite: Suite, prompt: str = "") -> Suite:
    return suite.write(SUITE.replace("PROMPT", prompt))


def scripted(server: ReferenceServer, bad: dict[str, Sequence[int]]) -> None:
    server.clear_rules()
    script(server, {f"<{q}>": answers(bad.get(q, ()), 20) for q in "abc"})


def record_baseline(suite: Suite, server: ReferenceServer, *args: str) -> None:
    scripted(server, {})
    run = suite.run(BASELINE, "--chatexp-baseline-update", *args).assert_outcomes(passed=2)
    assert run.ret == 0
    run.fnmatch("chatexp: baseline written to baseline.json")


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_significant_regression_fails_the_run_and_a_wobble_does_not(
    suite: Suite, server: ReferenceServer, workers: str
) -> None:
    write_suite(suite)
    xdist = ("-p", "xdist", "-n", workers)
    record_baseline(suite, server, *xdist)
    baseline = json.loads((suite.path / "baseline.json").read_text())
    assert baseline["format"] == "pytest-chatexp-report"
    checked = [
        sum(1 for sample in case["samples"] if sample["checked"] and sample["failure"] is None)
        for test in baseline["tests"]
        for experiment in test["experiments"]
        for case in experiment["cases"]
    ]
    assert checked == [20, 20, 20]
    # Input a now passes 8 of 20 (significant); b 19 of 20 (a wobble); c as before.
    scripted(server, {"a": range(12), "b": [7]})
    run = suite.run(BASELINE, *xdist).assert_outcomes(passed=2)
    assert run.ret == 1  # every test passed: the baseline failed the run
    run.fnmatch(
        "*- chatexp baseline -*",
        "compared with baseline.json: 3 cases; pass rates by Fisher's exact test, "
        "Holm-corrected at alpha 0.05; tokens and cost per sample allowed +10%",
        "REGRESSED  test_x.py::test_answers  config v1  input a: 100% (20/20) -> 40% (8/20), "
        "p=<0.001",
        "not significant  test_x.py::test_answers  config v1  input b: 100% (20/20) -> "
        "95% (19/20), p=1.000",
        "cost per sample unknown (not compared) for test_x.py::test_answers config v1, "
        "test_x.py::test_other config v1",
        "chatexp baseline: FAILED: 1 significant regression",
    )
    run.no_fnmatch("*input c:*")
    run.assert_clean()
    # Once, in the controller, on every worker's records.
    assert run.text.count("- chatexp baseline -") == 1

    # A wobble alone is listed, and the run passes.
    scripted(server, {"b": [3, 9]})
    wobble = suite.run(BASELINE, *xdist).assert_outcomes(passed=2)
    assert wobble.ret == 0
    wobble.fnmatch(
        "not significant  test_x.py::test_answers  config v1  input b: 100% (20/20) -> "
        "90% (18/20), p=0.731",
        "chatexp baseline: no significant regression",
    )
    wobble.no_fnmatch("REGRESSED*")


def test_a_failing_run_keeps_its_own_exit_status(suite: Suite, server: ReferenceServer) -> None:
    write_suite(suite)
    record_baseline(suite, server)
    suite.write("def test_broken():\n    assert False\n", name="test_broken.py")
    scripted(server, {"c": range(20)})
    run = suite.run(BASELINE).assert_outcomes(passed=2, failed=1)
    assert run.ret == 1
    run.fnmatch("REGRESSED  test_x.py::test_other  config v1  input c: 100% (20/20) -> 0% (0/20)*")


def test_tokens_and_cost_that_grew_past_the_tolerance_fail_the_run(
    suite: Suite, server: ReferenceServer
) -> None:
    suite.write("[pytest]\nchatexp_prices =\n    ref-model 1.0 2.0\n", name="pytest.ini")
    write_suite(suite)
    record_baseline(suite, server)
    # The same answers to a prompt of 4 more words: 2 -> 6 prompt tokens, 3 -> 7 in all.
    write_suite(suite, prompt=" answer with great care")
    scripted(server, {})
    run = suite.run(BASELINE, "--chatexp-baseline-max-increase=0.5").assert_outcomes(passed=2)
    assert run.ret == 1
    run.fnmatch(
        "*tokens and cost per sample allowed +50%",
        "INCREASED  test_x.py::test_answers  config v1: tokens per sample 3.0 -> 7.0 "
        "(+133.3%, allowed +50%)",
        # $1 and $2 per million prompt and generation tokens: 2 x 1 + 2 -> 6 x 1 + 2.
        "INCREASED  test_x.py::test_answers  config v1: cost per sample $0.000004 -> $0.000008 "
        "(+100.0%, allowed +50%)",
        "INCREASED  test_x.py::test_other  config v1: tokens per sample *",
        "INCREASED  test_x.py::test_other  config v1: cost per sample *",
        "chatexp baseline: FAILED: 4 increases past the tolerance",
    )
    run.no_fnmatch("*unknown (not compared)*")
    # Within a tolerance of 150%, it passes.
    scripted(server, {})
    passing = suite.run(BASELINE, "--chatexp-baseline-max-increase=1.5")
    assert passing.ret == 0
    passing.fnmatch("chatexp baseline: no significant regression")


def test_the_baseline_can_be_named_in_the_ini_file(suite: Suite, server: ReferenceServer) -> None:
    suite.write(
        "[pytest]\nchatexp_baseline = ci/baseline.json\nchatexp_baseline_alpha = 0.01\n",
        name="pytest.ini",
    )
    write_suite(suite)
    scripted(server, {})
    suite.run("--chatexp-baseline-update").assert_outcomes(passed=2)
    assert (suite.path / "ci" / "baseline.json").is_file()
    scripted(server, {"a": range(12)})
    run = suite.run().assert_outcomes(passed=2)
    assert run.ret == 1
    run.fnmatch("*Holm-corrected at alpha 0.01*", "REGRESSED  *input a*")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "the baseline report baseline.json does not exist."),
        (
            '{"format": ',
            "the baseline report baseline.json is not valid JSON (Expecting value at "
            "line 1, column 12).",
        ),
        (
            "[1, 2]",
            'baseline.json is not a pytest-chatexp report (no "format": '
            '"pytest-chatexp-report" in it).',
        ),
        (
            '{"format": "pytest-chatexp-report", "version": 99, "tests": []}',
            "the baseline report baseline.json is of report version 99, and this version of "
            "pytest-chatexp reads version 1: write the baseline again with "
            "--chatexp-baseline-update.",
        ),
    ],
    ids=["missing", "corrupt", "not-a-report", "other-version"],
)
def test_a_bad_baseline_stops_the_run_before_any_call(
    suite: Suite, server: ReferenceServer, content: str | None, message: str
) -> None:
    write_suite(suite)
    if content is not None:
        suite.write(content, name="baseline.json")
    for workers in ("0", "2"):
        run = suite.run(BASELINE, "-p", "xdist", "-n", workers)
        assert run.ret == pytest.ExitCode.USAGE_ERROR
        run.fnmatch(f"ERROR: chatexp: --chatexp-baseline: {message}*")
        run.assert_clean()
    assert len(server.requests) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--chatexp-baseline-update",),
            "ERROR: chatexp: --chatexp-baseline-update writes this run's report to the "
            "baseline: name it with --chatexp-baseline PATH*",
        ),
        (
            (BASELINE, "--chatexp-baseline-alpha=1.5"),
            "ERROR: chatexp: --chatexp-baseline-alpha must be a significance level between 0 "
            "and 1 (for example 0.05), got '1.5'",
        ),
        (
            (BASELINE, "--chatexp-baseline-max-increase=-1"),
            "ERROR: chatexp: --chatexp-baseline-max-increase must be a fraction >= 0 "
            "(0.1 = 10%), got '-1'",
        ),
    ],
)
def test_bad_baseline_options_are_usage_errors(
    suite: Suite, server: ReferenceServer, args: tuple[str, ...], message: str
) -> None:
    write_suite(suite)
    run = suite.run(*args)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.fnmatch(message)
