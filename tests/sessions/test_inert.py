"""A pytest run without chatexp tests must not pay for the plugin: no imports, no output."""

from __future__ import annotations

import json
import re

import pytest

PROBE = """
import json, sys

def test_plain():
    pass

def test_zz_report_modules(request):
    heavy = ["httpx", "pydantic", "pytest_chatexp._calls._runner", "pytest_chatexp._providers",
             "pytest_chatexp._experiment._humanloop", "pytest_chatexp.testing", "yaml"]
    ours = sorted(name for name in sys.modules if name.startswith("pytest_chatexp"))
    # The hook that decorates chatexp tests' reports waits for a first chatexp test.
    hooked = request.config.pluginmanager.has_plugin("chatexp-report-attributes")
    with open("loaded.json", "w") as f:
        json.dump({"heavy": {name: name in sys.modules for name in heavy}, "ours": ours,
                   "report_hook": hooked}, f)
"""

# What configure needs, and nothing else: every module of the package costs a few ms per run
# without cached bytecode (pytest rewrites them), and the summary's code waits for experiments.
ENTRY_MODULES = [
    "pytest_chatexp",
    "pytest_chatexp._errors",
    "pytest_chatexp._pricing",
    "pytest_chatexp._session",
    "pytest_chatexp._session._cli",
    "pytest_chatexp._session._settings",
    "pytest_chatexp.plugin",
]


def test_run_without_chatexp_tests_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PROBE)
    # A fresh interpreter: this process has long imported everything.
    result = pytester.runpytest_subprocess(
        "-p", "no:anyio", "-p", "no:xdist", "-p", "no:hypothesispytest"
    )
    result.assert_outcomes(passed=2)
    loaded = json.loads((pytester.path / "loaded.json").read_text())
    result.stdout.fnmatch_lines(["plugins:*chatexp-*"])  # the plugin was loaded
    assert loaded["heavy"] == dict.fromkeys(loaded["heavy"], False)
    assert loaded["ours"] == ENTRY_MODULES
    assert loaded["report_hook"] is False


def test_the_report_hook_arrives_with_a_collected_chatexp_test(
    pytester: pytest.Pytester, server: object
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        @pytest.mark.chatexp(model_configs=[ModelConfig(model="m")], messages=[{"role": "user", "content": "hi"}])
        def test_chatexp(chatexp, request):
            assert request.config.pluginmanager.has_plugin("chatexp-report-attributes")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["total: 1 experiment, 1 call *"])  # its reports were decorated


def test_run_without_chatexp_tests_prints_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    with_plugin = pytester.runpytest()
    without_plugin = pytester.runpytest("-p", "no:chatexp")

    def strip(lines: list[str]) -> list[str]:
        noise = ("plugins:", "rootdir:", "platform", "===", "cachedir")
        # Numbers may differ from run to run (pytest-randomly's header shows each run's seed).
        return [re.sub(r"\d+", "N", line) for line in lines if not line.startswith(noise)]

    assert strip(with_plugin.outlines) == strip(without_plugin.outlines)
    with_plugin.stdout.fnmatch_lines(["plugins:*chatexp-*"])
    without_plugin.stdout.no_fnmatch_line("plugins:*chatexp-*")


REPLAYED = """
import sys

import pytest
from pytest_chatexp import ModelConfig

CONFIG = ModelConfig(model="gpt-4o-mini", chat_template=[{"role": "user", "content": "{{q}}"}])


@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}, {"q": "bye"}], num_samples=2)
def test_replayed(chatexp):
    assert len(chatexp.samples) == 4


def test_zz_loaded():
    heavy = ["asyncio", "httpx", "httpcore", "ssl"]
    print("LOADED:", ",".join(name for name in heavy if name in sys.modules) or "none")
"""


def test_a_replay_only_session_imports_no_asyncio_httpx_or_ssl(
    pytester: pytest.Pytester, recording_session: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replay is synchronous: the runner, its event loop and the HTTP stack wait for a call
    that has to go out."""
    pytester.makepyfile(test_replayed=REPLAYED)
    pytester.runpytest("--chatexp-record=once").assert_outcomes(passed=2)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing may go live
    # A fresh interpreter, without the plugins that import asyncio themselves.
    result = pytester.runpytest_subprocess(
        "-s", "-p", "no:anyio", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*LOADED: none", "*(4 replayed, 0 live)*"])
