"""Adaptive sampling through whole sessions: ``num_samples=(min, max)`` with declared checks.

The reference server answers the same request the same way, so the borderline case is
scripted by a rule counting its requests: the n-th request of that case passes or fails as
``PATTERN`` says (the first round's three arrive in any order, but which sample gets the one
failure does not change the count). A clearly good case passes every sample, a clearly bad one
fails every sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest

from pytest_chatexp.testing import ReferenceServer
from tests._suite import Suite

SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="bot", model="ref-model", chat_template=[{"role": "user", "content": "{{q}}"}])

@pytest.mark.chatexp(
    model_configs=[CONFIG],
    inputs=[
        {"id": "good", "q": "good [[reply: OK fine]]"},
        {"id": "bad", "q": "bad [[reply: nope]]"},
        {"id": "borderline", "q": "borderline"},
    ],
    num_samples=(3, 20),
    checks=[c.contains("OK")],
    min_pass_rate=0.8,
    confidence=0.95,
)
def test_adaptive(chatexp):
    drawn = {s.input: (s.drawn, s.maximum, s.settled, s.ok) for s in chatexp.sampling}
    print("DRAWN", sorted(drawn.items()))
    for case in chatexp:  # the result exposes the samples drawn, indexes continuing
        assert [s.index for s in case.samples] == list(range(drawn[case.input.id][0]))
"""

# The borderline case: one failure in every five samples, so its rate at 20 is exactly 80%:
# never settled either way, nor certain before the 20th sample.
PATTERN = [(index % 5) != 0 for index in range(20)]


@pytest.fixture
def borderline(server: ReferenceServer) -> Iterator[list[int]]:
    """Script the borderline case; yields the list its requests are counted in."""
    counter = count()
    seen: list[int] = []

    def reply(request: dict[str, Any]) -> str:
        index = next(counter)
        seen.append(index)
        return "OK" if PATTERN[index % len(PATTERN)] else "no"

    server.add_rule(reply, when="borderline")
    yield seen


EXPECTED = (
    "DRAWN [('bad', (3, 20, True, False)), ('borderline', (20, 20, False, True)), "
    "('good', (14, 20, True, True))]"
)
# (input, drawn, maximum, settled, ok) per case, as the JSON report has them.
SAMPLING = [
    ("good", 14, 20, True, True),
    ("bad", 3, 20, True, False),
    ("borderline", 20, 20, False, True),
]


def _sampling(report: dict[str, Any]) -> list[tuple[str, int, int, bool, bool]]:
    found = [
        (case["input"], case["drawn"], case["maximum"], case["settled"], case["ok"])
        for test in report["tests"]
        for experiment in test["experiments"]
        for case in experiment.get("adaptive", [])
    ]
    order = [row[0] for row in SAMPLING]
    return sorted(found, key=lambda row: order.index(row[0]))


def test_clear_cases_stop_early_and_the_borderline_one_runs_to_the_maximum(
    suite: Suite, server: ReferenceServer, borderline: list[int]
) -> None:
    run = suite.write(SUITE).run("-s", report=True)
    # The test body asserts nothing about verdicts: the bad case fails the declared check.
    run.assert_outcomes(failed=1)
    assert EXPECTED in run.text
    # A clearly good case is settled after 14 passes (0.8^14 < 5%), a clearly bad one after
    # its first 3 samples; the borderline one draws all 20: 3 + 14 + 20 calls, not 60.
    assert len(server.requests) == 3 + 14 + 20
    assert len(borderline) == 20
    run.fnmatch(
        "*1 of 3 cases fail [[]contains('OK')] (required: a pass rate of at least 80%; "
        "adaptive sampling at 95% confidence)",
        "  bot/bad  0/3 passed (0%; 3 of at most 20 samples drawn, settled by the sequential test)",
        "    sample 0: contains('OK'): does not contain 'OK'",
        "*adaptive sampling: 37 of at most 60 samples drawn, 23 samples saved "
        "(bot/good 14/20, bot/bad 3/20, bot/borderline 20/20)",
    )
    run.assert_clean()
    assert _sampling(run.report) == SAMPLING
    (test,) = run.report["tests"]
    (experiment,) = test["experiments"]
    verdicts = {case["input"]: case["verdicts"] for case in experiment["cases"]}
    # Recorded the way assert_samples records its verdicts: reports judge the case by them.
    assert verdicts["borderline"] == [
        {"checks": "contains('OK')", "min_pass_rate": 0.8, "ok": True, "passed": 16, "samples": 20}
    ]
    assert verdicts["bad"][0]["ok"] is False and verdicts["bad"][0]["samples"] == 3
    assert experiment["configs"][0]["samples"] == 37


SPLIT = SUITE.replace("    confidence=0.95,\n)", '    confidence=0.95,\n    split="inputs",\n)')


@pytest.mark.parametrize("workers", ["0", "2"])
def test_recorded_then_replayed_offline_stops_at_the_same_points(
    suite: Suite,
    recording_session: ReferenceServer,
    borderline: list[int],
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
) -> None:
    assert "split=" in SPLIT
    suite.write(SPLIT)
    recorded = suite.run("--chatexp-record=new", report=True)
    recorded.assert_outcomes(passed=2, failed=1)
    assert _sampling(recorded.report) == SAMPLING
    # The recording holds exactly the samples drawn.
    interactions = [
        (entry["label"]["input"], entry["label"]["sample"])
        for recording in recorded.recordings().values()
        for entry in recording["interactions"]
    ]
    assert len(interactions) == 37
    assert sorted(i for case, i in interactions if case == "good") == list(range(14))
    assert sorted(i for case, i in interactions if case == "bad") == [0, 1, 2]

    # The server is gone: replay runs the same procedure on the recorded answers.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    recording_session.requests.clear()
    replayed = suite.run("-p", "xdist", "-n", workers, "--chatexp-record=none", report=True)
    replayed.assert_outcomes(passed=2, failed=1)
    assert _sampling(replayed.report) == SAMPLING
    replayed.fnmatch("total: 3 experiments, 37 calls (37 replayed, 0 live)*")
    assert not recording_session.requests
    replayed.assert_clean()


BAD = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="bot", model="ref-model", chat_template=[{"role": "user", "content": "hi"}])

@pytest.mark.chatexp(model_configs=[CONFIG], ARGUMENTS)
def test_bad(chatexp):
    pass
"""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            "num_samples=(30, 20), checks=[c.contains('x')], min_pass_rate=0.8, confidence=0.95",
            "num_samples=(30, 20): the minimum number of samples (30) exceeds the maximum (20)",
        ),
        (
            "num_samples=(0, 20), checks=[c.contains('x')], min_pass_rate=0.8, confidence=0.95",
            "num_samples=(0, 20): the minimum number of samples must be at least 1, got 0",
        ),
        (
            "num_samples=(3, 20), checks=[c.contains('x')], min_pass_rate=0.8",
            "num_samples=(3, 20) samples adaptively, which needs confidence= too*",
        ),
        (
            "num_samples=(3, 20), min_pass_rate=0.8, confidence=0.95",
            "num_samples=(3, 20) samples adaptively, which needs checks= too*",
        ),
        (
            "num_samples=(3, 20), checks=[c.contains('x')], min_pass_rate=0.8, confidence=1.5",
            "confidence=1.5: confidence must be strictly between 0 and 1 (for example 0.95)*",
        ),
        (
            "num_samples=(3, 20), checks=['x'], min_pass_rate=0.8, confidence=0.95",
            "checks[[]0] must be a SampleCheck (from pytest_chatexp.checks), got str 'x'",
        ),
        (
            "num_samples=(3, 'x'), checks=[c.contains('x')], min_pass_rate=0.8, confidence=0.95",
            "chatexp marker: 'num_samples': a range must be two integers, (min, max) (got (3, 'x'))",
        ),
        (
            "num_samples=5, checks=[c.contains('x')]",
            "checks= apply to adaptive sampling, with a range num_samples=(min, max)*",
        ),
    ],
)
def test_bad_adaptive_arguments_are_named(
    suite: Suite, server: ReferenceServer, arguments: str, message: str
) -> None:
    run = suite.write(BAD.replace("ARGUMENTS", arguments)).run()
    assert run.ret != 0
    run.fnmatch(f"*chatexp: test_x.py::test_bad: {message}")
    assert not server.requests
    run.assert_clean()


def test_a_plan_counts_the_maximum(suite: Suite, server: ReferenceServer) -> None:
    """Before spending, the worst case: every case drawing its maximum."""
    run = suite.write(SUITE).run("--chatexp-plan", "--chatexp-record=off", "-rs")
    run.assert_outcomes(skipped=1)
    run.fnmatch("plan: 60 calls, 0 replayed, 60 live*")
    assert not server.requests


RUNNER = """
import asyncio
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="bot", model="ref-model", chat_template=[{"role": "user", "content": "{{q}}"}])
OPTIONS = dict(
    model_configs=[CONFIG],
    inputs=[{"id": "good", "q": "good [[reply: OK fine]]"}, {"id": "bad", "q": "bad [[reply: nope]]"}],
    num_samples=(3, 20),
    checks=[c.contains("OK")],
    min_pass_rate=0.8,
    confidence=0.95,
)

def test_sync(chatexp_runner):
    result = chatexp_runner.run(**OPTIONS)
    print("SYNC", sorted((s.input, s.drawn, s.ok) for s in result.sampling))

def test_async(chatexp_runner):
    result = asyncio.run(chatexp_runner.arun(**OPTIONS))
    print("ASYNC", sorted((s.input, s.drawn, s.ok) for s in result.sampling))
"""


def test_the_runner_samples_adaptively_from_sync_and_async_tests(
    suite: Suite, server: ReferenceServer
) -> None:
    run = suite.write(RUNNER).run("-s")
    # The bad case fails the declared checks in both tests, after its first 3 samples.
    run.assert_outcomes(failed=2)
    drawn = "[('bad', 3, False), ('good', 14, True)]"
    assert f"SYNC {drawn}" in run.text
    assert f"ASYNC {drawn}" in run.text
    assert len(server.requests) == 2 * (14 + 3)


def test_the_adaptive_arguments_can_come_from_chatexp_config(
    suite: Suite, server: ReferenceServer
) -> None:
    # The marker has the configs and the range; a conftest fixture supplies the rest, so the
    # experiment is complete only at setup (collection must not refuse it).
    suite.write(
        """
        import pytest
        from pytest_chatexp import checks as c

        @pytest.fixture
        def chatexp_config():
            return {"checks": [c.contains("OK")], "min_pass_rate": 0.8, "confidence": 0.95}
        """,
        name="conftest.py",
    )
    suite.write(
        """
        import pytest
        from pytest_chatexp import ModelConfig

        CONFIG = ModelConfig(name="bot", model="ref-model", chat_template=[{"role": "user", "content": "{{q}}"}])

        @pytest.mark.chatexp(
            model_configs=[CONFIG], inputs=[{"id": "good", "q": "[[reply: OK]]"}], num_samples=(3, 20)
        )
        def test_configured(chatexp):
            assert [s.drawn for s in chatexp.sampling] == [14]
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert len(server.requests) == 14
