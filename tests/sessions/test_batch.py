"""Batch record runs (``--chatexp-batch``) against the reference server's batch APIs: the same
recordings as a direct record run (but for latencies), replayed offline, per-line errors that
fail their call, a batch past its timeout cancelled, and the same files under ``-n 2``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_chatexp.testing import Fault, ReferenceServer
from pytest_chatexp.testing._http import RecordedRequest, Response, json_response
from tests._suite import recording_files

KEY = "sk-batch-test-0123456789abcdefghij"
DEAD = "http://127.0.0.1:9"  # nothing listens: a call that went live would fail at once

SUITE = """
import pytest
from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp import checks as c

TEMPLATE = [{"role": "user", "content": "{{question}}"}]
OPENAI = ModelConfig(name="oa", model="oa-model", temperature=0.2, chat_template=TEMPLATE)
ANTHROPIC = ModelConfig(name="an", provider="anthropic", model="an-model", max_tokens=64,
                        chat_template=TEMPLATE)
RESPONSES = ModelConfig(name="rs", provider="openai_responses", model="rs-model",
                        chat_template=TEMPLATE)
STREAMED = ModelConfig(name="st", model="st-model", other={"stream": True}, chat_template=TEMPLATE)
INPUTS = [{"id": f"q{i}", "question": f"question {i}?"} for i in range(4)]
CHAT = {"id": "chat", "turns": ["Hello.", "And then?", "Bye."]}
SYSTEM = [{"role": "system", "content": "Be brief."}]

@pytest.mark.chatexp(model_configs=[OPENAI, ANTHROPIC, RESPONSES, STREAMED], inputs=INPUTS,
                     num_samples=2)
def test_questions(chatexp):
    for case in chatexp:
        for sample in case.samples:
            assert case.input.inputs["question"] in sample.output

@pytest.mark.chatexp(model_configs=[OPENAI.variant(chat_template=SYSTEM),
                                     ANTHROPIC.variant(chat_template=SYSTEM)], inputs=[CHAT])
def test_conversation(chatexp):
    c.assert_samples(chatexp, c.turn_count(min=3, max=3))
"""


@pytest.fixture
def batch_server(
    recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ReferenceServer]:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", recording_session.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    recording_session.batches.reset()
    yield recording_session
    recording_session.batches.reset()
    recording_session.faults.clear()


def _recordings(root: Path) -> dict[str, list[str]]:
    """Each recording's lines but its timings (a batched call's latency is its batch's wall
    time; a streamed one's first-token time varies from run to run)."""
    return {
        str(path.relative_to(root)): [
            line
            for line in path.read_text().splitlines()
            if "latency_s" not in line and "first_token_s" not in line
        ]
        for path in recording_files(root)
    }


PRICES = """
[pytest]
chatexp_prices =
    oa-model 1 2
    an-model 3 4
    rs-model 5 6
    st-model 7 8
"""


def _costs(report: Path) -> dict[tuple[str, str, str, int], tuple[float, bool]]:
    """Each sample's cost in a JSON report, and whether it was answered by batch."""
    data = json.loads(report.read_text())
    return {
        (test["test"], case["config"][:2], case["input"], sample["index"]): (
            sample["cost_usd"],
            sample.get("batch", False),
        )
        for test in data["tests"]
        for experiment in test["experiments"]
        for case in experiment["cases"]
        for sample in case["samples"]
    }


def test_a_batch_record_run_records_what_a_direct_one_does(
    pytester: pytest.Pytester, batch_server: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeini(PRICES)
    direct = pytester.runpytest("--chatexp-record=all", "--chatexp-json=direct.json")
    direct.assert_outcomes(passed=2)
    assert not batch_server.batches.batches
    expected = _recordings(pytester.path)
    direct_requests = len(batch_server.requests)

    plan = pytester.runpytest("--chatexp-record=all", "--chatexp-batch", "--chatexp-plan")
    plan.stdout.fnmatch_lines(
        [
            "test_suite.py::test_conversation: 2 calls, 0 replayed, 2 live (2 by batch, at half price)",
            "test_suite.py::test_questions: 32 calls, 0 replayed, 32 live (24 by batch, at half price)",
            "plan: 34 calls, 0 replayed, 34 live (26 by batch, at half price); *",
        ]
    )
    batch_server.requests.clear()
    result = pytester.runpytest(
        "--chatexp-record=all",
        "--chatexp-batch",
        "--chatexp-batch-poll=0.01",
        "--chatexp-json=batch.json",
    )
    result.assert_outcomes(passed=2)
    assert _recordings(pytester.path) == expected
    # The summary says which calls went by batch; the reports price them at half.
    result.stdout.fnmatch_lines(
        ["  oa * 8 live (8 by batch)", "  st * 8 live", "total: *38 live (30 by batch)*"]
    )
    direct_costs, batch_costs = (
        _costs(pytester.path / "direct.json"),
        _costs(pytester.path / "batch.json"),
    )
    assert set(batch_costs) == set(direct_costs)
    for (test, config, case, index), (cost, batched) in batch_costs.items():
        assert batched == (config != "st")
        share = 0.5 if batched else 1.0
        assert cost == pytest.approx(direct_costs[test, config, case, index][0] * share)
    # Every call made once (batched or direct), as in the direct run.
    assert len(batch_server.requests) == direct_requests
    batches = batch_server.batches.batches.values()
    kinds = sorted({(batch.kind, batch.endpoint) for batch in batches})
    assert kinds == [
        ("anthropic", "/v1/messages"),
        ("openai", "/v1/chat/completions"),
        ("openai", "/v1/responses"),
    ]
    # The questions: one batch per endpoint, each with all 8 of its calls (4 inputs x 2
    # samples); the conversation: one batch per turn and endpoint (3 turns x 2 configs).
    sizes = sorted(len(batch.lines) for batch in batches)
    assert sizes == [1] * 6 + [8] * 3
    # Streamed calls went direct.
    streamed = [r for r in batch_server.requests if r.json and r.json.get("stream")]
    assert len(streamed) == 8
    for path in recording_files(pytester.path):
        assert KEY not in path.read_text()
    assert KEY not in result.stdout.str()

    # Replayed offline: nothing is sent anywhere.
    batch_server.requests.clear()
    replayed = pytester.runpytest("--chatexp-batch", "-o", "chatexp_batch_poll=0.01")
    replayed.assert_outcomes(passed=2)
    assert len(batch_server.requests) == 0

    # One more input: only its calls go out, by batch where they can; the rest replay.
    pytester.makepyfile(test_suite=SUITE.replace("range(4)", "range(5)"))
    batch_server.batches.reset()
    new = pytester.runpytest("--chatexp-record=new", "--chatexp-batch", "--chatexp-batch-poll=0.01")
    new.assert_outcomes(passed=2)
    assert sorted(len(batch.lines) for batch in batch_server.batches.batches.values()) == [2, 2, 2]
    new.stdout.fnmatch_lines(["  oa * 8 replayed, 2 live (2 by batch)"])


SMALL = """
import pytest
from pytest_chatexp import ModelConfig

TEMPLATE = [{"role": "user", "content": "{{question}}"}]
OPENAI = ModelConfig(name="oa", model="oa-model", chat_template=TEMPLATE)
ANTHROPIC = ModelConfig(name="an", provider="anthropic", model="an-model", max_tokens=64,
                        chat_template=TEMPLATE)
INPUTS = [{"id": f"q{i}", "question": f"question {i}?"} for i in range(3)]

@pytest.mark.chatexp(model_configs=[OPENAI, ANTHROPIC], inputs=INPUTS)
def test_small(chatexp):
    assert len(chatexp.cases) == 6
"""


def test_an_errored_or_expired_line_fails_its_call_with_the_providers_message(
    pytester: pytest.Pytester, batch_server: ReferenceServer
) -> None:
    batch_server.faults.add(
        Fault.status(400, message="this prompt is refused"), times=None, when="question 1?"
    )
    batch_server.batches.expire = "question 2?"
    pytester.makepyfile(test_small=SMALL)
    result = pytester.runpytest(
        "--chatexp-record=all", "--chatexp-batch", "--chatexp-batch-poll=0.01"
    )
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "4 of 6 provider calls failed" in output
    oa_batch, an_batch = sorted(
        batch_server.batches.batches, key=lambda key: key.startswith("msgbatch")
    )
    for line in (
        f"  model config 'oa', input 'q1', sample 0: batch {oa_batch}: HTTP 400: this prompt is refused",
        f"  model config 'oa', input 'q2', sample 0: batch {oa_batch}: batch_expired: This request could not be executed before the completion window expired.",
        f"  model config 'an', input 'q1', sample 0: batch {an_batch}: errored: invalid_request_error: this prompt is refused",
        f"  model config 'an', input 'q2', sample 0: batch {an_batch}: the request was expired",
    ):
        assert line in output.splitlines()
    assert "ERROR test_small.py::test_small" in output
    assert KEY not in output
    # What did answer is recorded, as after any failed run.
    recorded = recording_files(pytester.path)[0].read_text()
    assert "question 0?" in recorded and "question 1?" not in recorded


def test_a_batch_past_its_timeout_is_cancelled_and_fails_its_calls(
    pytester: pytest.Pytester, batch_server: ReferenceServer
) -> None:
    batch_server.batches.polls = None  # never ends on its own
    pytester.makepyfile(test_small=SMALL)
    result = pytester.runpytest(
        "--chatexp-record=all",
        "--chatexp-batch",
        "--chatexp-batch-poll=0.02",
        "--chatexp-batch-timeout=0.2",
    )
    result.assert_outcomes(errors=1)
    batches = batch_server.batches.batches
    assert len(batches) == 2 and all(batch.cancelled for batch in batches.values())
    for batch_id in batches:
        assert (
            f"batch {batch_id} did not finish within 0.2 s (--chatexp-batch-timeout; 0 of 3 "
            "answered); it was cancelled" in result.stdout.str()
        )
    assert not recording_files(pytester.path)


def test_batch_record_runs_under_xdist_write_the_same_recordings(
    pytester: pytest.Pytester, batch_server: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(
        "--chatexp-record=all", "--chatexp-batch", "--chatexp-batch-poll=0.01"
    ).assert_outcomes(passed=2)
    expected = _recordings(pytester.path)
    result = pytester.runpytest(
        "-n", "2", "--chatexp-record=all", "--chatexp-batch", "--chatexp-batch-poll=0.01"
    )
    result.assert_outcomes(passed=2)
    assert _recordings(pytester.path) == expected


def test_progress_is_logged_and_a_failed_poll_is_polled_again(
    pytester: pytest.Pytester, batch_server: ReferenceServer
) -> None:
    batch_server.batches.polls = 2
    batch_server.batches.failing_polls = 1
    pytester.makepyfile(test_small=SMALL.replace("ANTHROPIC]", "]").replace("== 6", "== 3"))
    result = pytester.runpytest(
        "--chatexp-record=all",
        "--chatexp-batch",
        "--chatexp-batch-poll=0.01",
        "--log-cli-level=INFO",
    )
    result.assert_outcomes(passed=1)
    (batch_id,) = batch_server.batches.batches
    where = f"batch {batch_id} ({batch_server.base_url})"
    result.stdout.fnmatch_lines(
        [
            f"*{where}: in_progress, 0/3 answered",
            f"*HTTP 503 from {batch_server.base_url}/batches/{batch_id}: the batch service is "
            "briefly unavailable; polled again in 0.01 s",
            f"*{where}: completed, 3/3 answered",
        ]
    )
    result.stdout.fnmatch_lines(["*3 live (3 by batch)"])


def test_a_deadline_cancels_the_batches_still_running(
    pytester: pytest.Pytester, batch_server: ReferenceServer
) -> None:
    batch_server.batches.polls = None  # never finish
    pytester.makepyfile(test_small=SMALL)
    # Long enough for both batches to be created on a loaded machine (0.3 s was not).
    result = pytester.runpytest(
        "--chatexp-record=all",
        "--chatexp-batch",
        "--chatexp-batch-poll=0.02",
        "--chatexp-deadline=2",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*did not finish within 2 s (--chatexp-deadline)*"])
    batches = batch_server.batches.batches.values()
    assert len(batches) == 2 and all(batch.cancelled for batch in batches)


def test_an_endpoint_without_a_batch_api_fails_saying_so(
    pytester: pytest.Pytester, batch_server: ReferenceServer
) -> None:
    async def no_such_route(request: RecordedRequest) -> Response:
        return json_response({"error": {"message": "Invalid URL (POST /v1/files)"}}, 404)

    pytester.makepyfile(test_small=SMALL.replace("ANTHROPIC]", "]").replace("== 6", "== 3"))
    # The reference server without its batch routes, as a server that has none.
    batch_server.routes[("POST", "/v1/files")] = no_such_route
    try:
        result = pytester.runpytest(
            "--chatexp-record=all", "--chatexp-batch", "--chatexp-batch-poll=0.01"
        )
    finally:
        del batch_server.routes[("POST", "/v1/files")]
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*3 of 3 provider calls failed:",
            f"  model config 'oa', input 'q0', sample 0: HTTP 404 from {batch_server.base_url}"
            "/files: Invalid URL (POST /v1/files) (the endpoint has no batch API: run without "
            "--chatexp-batch)",
        ]
    )
    assert not batch_server.requests  # no call went out
