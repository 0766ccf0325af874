"""Streaming (server-sent events) for the OpenAI-compatible provider: assembled, timed, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pytest_chatexp.testing import ReferenceServer
from tests._suite import report_cases

SUITE = """
import pytest
from pytest_chatexp import ModelConfig, Tool

PLAIN = ModelConfig(
    name="plain", model="m",
    tools=[Tool(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})],
    chat_template=[{"role": "user", "content": "{{q}}"}],
)
STREAMED = PLAIN.variant(name="streamed", other={"stream": True})
INPUTS = [{"id": "text", "q": "tell me a long story about tides"},
          {"id": "tool", "q": '[[tool: get_weather {"city": "Paris"}]] [[tool: get_weather {"city": "Oslo"}]]'}]

@pytest.mark.chatexp(model_configs=[PLAIN, STREAMED], inputs=INPUTS, num_samples=2)
def test_stream(chatexp):
    for case_id in ("text", "tool"):
        plain = chatexp.case("plain", case_id)
        streamed = chatexp.case("streamed", case_id)
        for a, b in zip(plain.samples, streamed.samples):
            assert b.output == a.output
            assert [(c.id, c.function.name, c.function.arguments) for c in b.tool_calls] == [
                (c.id, c.function.name, c.function.arguments) for c in a.tool_calls]
            assert b.finish_reason == a.finish_reason
            assert b.usage == a.usage
            assert a.first_token_s is None
            assert b.first_token_s is not None and 0 <= b.first_token_s <= b.latency_s
"""


def test_streams_assemble_to_the_same_result(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--chatexp-record=off").assert_outcomes(passed=1)
    streamed = [r.json for r in recording_session.requests if r.json and r.json.get("stream")]
    assert len(streamed) == 4
    assert all(body["stream_options"] == {"include_usage": True} for body in streamed)


def test_stream_chunks_are_recorded_and_replayed(
    pytester: pytest.Pytester, recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--chatexp-record=all", "--chatexp-json=r.json").assert_outcomes(passed=1)
    recorded_first_tokens = _first_tokens(pytester.path / "r.json")
    recording = yaml.safe_load(
        (pytester.path / "__recordings__" / "test_suite" / "test_stream.yaml").read_text()
    )
    streamed = [i for i in recording["interactions"] if i["label"]["config"] == "streamed"]
    assert len(streamed) == 4
    for interaction in streamed:
        chunks = interaction["response"]["body"]
        assert isinstance(chunks, list) and len(chunks) >= 3
        assert chunks[0]["object"] == "chat.completion.chunk"
        assert "first_token_s" in interaction["response"]
    kept = [interaction["response"]["first_token_s"] for interaction in streamed]
    assert recorded_first_tokens == pytest.approx(kept, abs=6e-4)  # the file keeps 3 decimals

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    recording_session.requests.clear()
    pytester.runpytest("--chatexp-json=r.json").assert_outcomes(passed=1)
    assert not recording_session.requests
    assert _first_tokens(pytester.path / "r.json") == kept


def _first_tokens(report: Path) -> list[float]:
    """The streamed config's first-token times, from the JSON report, in recording order."""
    return [
        sample["first_token_s"]
        for case in report_cases(json.loads(report.read_text()))
        if case["config"] == "streamed"
        for sample in case["samples"]
    ]


def test_a_stream_event_that_is_not_json(
    pytester: pytest.Pytester, recording_session: ReferenceServer
) -> None:
    from pytest_chatexp.testing._http import RecordedRequest, Response

    async def broken(request: RecordedRequest) -> Response:
        async def body():  # type: ignore[no-untyped-def]
            yield b'data: {"choices": []}\n\n'
            yield b"data: {not json\n\n"

        return Response(200, body(), "text/event-stream")

    recording_session.routes[("POST", "/broken/chat/completions")] = broken
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_chatexp import ModelConfig

        @pytest.mark.chatexp(model_configs=ModelConfig(model="m", base_url="{recording_session.url}/broken",
                             other={{"stream": True}}, chat_template=[{{"role": "user", "content": "hi"}}]))
        def test_it(chatexp):
            pass
        """
    )
    try:
        result = pytester.runpytest("--chatexp-record=off", "--chatexp-backoff=0.01")
    finally:
        del recording_session.routes[("POST", "/broken/chat/completions")]
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: *::test_it: *sample 0: a stream event is not JSON: {not json (gave up after 4 attempts)"
        ]
    )
