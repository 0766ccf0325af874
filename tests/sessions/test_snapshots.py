"""Experiment snapshots through syrupy: what a reviewer reads when a prompt changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_chatexp.testing import ReferenceServer

SUITE = """
import pytest
from pytest_chatexp import ModelConfig, Tool

CONFIG = ModelConfig(
    name="support", model="ref-model", temperature=0.2,
    tools=[Tool(name="lookup_order", parameters={"type": "object", "properties": {"order_id": {"type": "string"}}})],
    chat_template=[{"role": "system", "content": "SYSTEM"}, {"role": "user", "content": "{{q}}"}],
)

@pytest.mark.chatexp(model_configs=[CONFIG, CONFIG.variant(name="warm", temperature=0.9)],
                     inputs=[{"id": "plain", "q": "line one"}, {"id": "tool", "q": '[[tool: lookup_order {"order_id": "7"}]]'}],
                     num_samples=2)
def test_support(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"q": "other"}])
def test_other(chatexp, chatexp_snapshot):
    assert chatexp == chatexp_snapshot
"""


def _suite(pytester: pytest.Pytester, system: str = "You help customers.") -> None:
    pytester.makepyfile(test_snap=SUITE.replace("SYSTEM", system))


def _snapshot(pytester: pytest.Pytester, name: str = "test_support") -> Path:
    return pytester.path / "__snapshots__" / "test_snap" / f"{name}[experiment].chatexp"


def test_snapshot_is_a_readable_view_without_volatile_fields(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _suite(pytester)
    pytester.runpytest("--chatexp-record=all", "--snapshot-update").assert_outcomes(passed=2)
    text = _snapshot(pytester).read_text()
    assert text.startswith("# pytest-chatexp experiment (format 1)\n\n## model config: support\n")
    for expected in (
        "model: ref-model",
        "temperature: 0.2",
        "template system:\n  You help customers.",
        "tools: lookup_order",
        "### input: plain\nid: plain\nq: line one",
        "#### sample 1: finish_reason stop,",
        "output:\n  [system: You help customers.] echo: line one",
        'tool call: lookup_order\n  {\n    "order_id": "7"\n  }',
        "## model config: warm",
    ):
        assert expected in text, expected
    for volatile in ("data_", "chatcmpl-", "latency", "config_", "call_"):
        assert volatile not in text
    # Replaying (with different timings) compares equal.
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_changed_prompt_shows_which_case_changed(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _suite(pytester)
    pytester.runpytest("--chatexp-record=all", "--snapshot-update").assert_outcomes(passed=2)
    _suite(pytester, system="You help customers kindly.")
    # -vv: pytest shortens assertion explanations outside CI.
    result = pytester.runpytest("--chatexp-record=new", "-vv")
    result.assert_outcomes(failed=2)  # both tests share the changed system prompt
    result.stdout.fnmatch_lines(
        [
            "*@@ model config 'support' @@*",
            "*-   You help customers.*",
            "*+   You help customers kindly.*",
            "*@@ model config 'support', input 'plain', sample 0 @@*",
            "*-   [[]system: You help customers.[]] echo: line one*",
            "*+   [[]system: You help customers kindly.[]] echo: line one*",
        ]
    )
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    assert "kindly" in _snapshot(pytester).read_text()
    pytester.runpytest().assert_outcomes(passed=2)


def test_an_experiment_that_fails_keeps_its_reviewed_snapshot(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    _suite(pytester)
    pytester.runpytest("--chatexp-record=all", "--snapshot-update").assert_outcomes(passed=2)
    reviewed = _snapshot(pytester).read_text()
    # The prompt changed and nobody re-recorded: the experiment fails before the assertion.
    _suite(pytester, system="Something else.")
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(errors=2)
    assert _snapshot(pytester).read_text() == reviewed
    assert _snapshot(pytester, "test_other").exists()
    result.stdout.no_fnmatch_line("*deleted*")


def test_snapshots_under_xdist(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytest.importorskip("xdist")
    _suite(pytester)
    args = ("-n", "4", "-p", "no:cacheprovider")
    pytester.runpytest_subprocess(
        *args, "--chatexp-record=all", "--snapshot-update"
    ).assert_outcomes(passed=2)
    assert _snapshot(pytester).exists() and _snapshot(pytester, "test_other").exists()
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*unused*")


def test_snapshot_rejects_other_values(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        def test_wrong(chatexp_snapshot):
            assert {"a": 1} == chatexp_snapshot
        """
    )
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*chatexp_snapshot compares experiment results (the 'chatexp' fixture), not dict*"]
    )
