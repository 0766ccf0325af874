"""Provider failures, injected by the reference server, and what the plugin makes of them.

Each test queues faults on ``server.faults`` (or writes a ``[[fault: ...]]`` directive into the
prompt) and runs a whole inner pytest session against the server: transient failures (429, 5xx,
dropped connections, unreadable bodies, cut streams, timeouts) are retried to success, lasting
ones become one readable error naming the case and the attempts, and client errors (4xx) are not
retried at all. Inner sessions back off for 10 ms, so retries cost almost nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from pytest_chatexp.testing import Fault, ReferenceServer
from pytest_chatexp.testing._fault_plan import parse_directive
from pytest_chatexp.testing._faults import BAD_TOOL_ARGUMENTS
from tests._suite import assert_clean, glob

FAST = "--chatexp-backoff=0.01"
API_KEY = "sk-test-Zq81secretKEYthatMustNotLeak"

SUITE = """
import pytest
from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp.checks import assert_samples, valid_tool_arguments

WEATHER = Tool(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
CONFIG = ModelConfig(
    name="c", model="m", other=OTHER, tools=[WEATHER],
    chat_template=[{"role": "user", "content": "{{q}}"}],
)

@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"id": "only", "q": PROMPT}])
def test_it(chatexp):
    BODY
"""


def suite(
    *, retries: int = 0, stream: bool = False, prompt: str = "hello", body: str | None = None
) -> str:
    """An inner test file whose one test expects one sample echoing ``prompt`` after
    ``retries`` retries (or runs ``body`` instead)."""
    if body is None:
        body = (
            "sample = chatexp.samples[0]\n"
            f"    assert sample.output == {'echo: ' + prompt!r}\n"
            f"    assert sample.retries == {retries}"
        )
    other = {"stream": True} if stream else {}
    return SUITE.replace("OTHER", repr(other)).replace("PROMPT", repr(prompt)).replace("BODY", body)


@pytest.fixture(params=["aiohttp", "httpx"])
def server(
    server: ReferenceServer, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ReferenceServer]:
    """The conftest's server, with no faults left over from another test; each fault through
    both HTTP transports: aiohttp's (pytest-chatexp[fast]) and httpx's."""
    monkeypatch.setenv("CHATEXP_HTTP_TRANSPORT", request.param)
    server.faults.clear()
    yield server
    server.faults.clear()


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    """Run the inner session (with a 10 ms backoff base); return it and its duration."""
    started = time.perf_counter()
    result = pytester.runpytest(FAST, *args)
    return result, time.perf_counter() - started


# --- status codes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault, least_wait",
    [
        pytest.param(Fault.status(429, retry_after="1"), 0.9, id="retry-after-seconds"),
        # An HTTP-date has whole seconds: 2 s ahead is between 1 and 2 s away.
        pytest.param(Fault.retry_after_date(2.0), 0.9, id="retry-after-http-date"),
    ],
)
def test_rate_limited_twice_then_answered(
    pytester: pytest.Pytester, server: ReferenceServer, fault: Fault, least_wait: float
) -> None:
    server.faults.add(fault, times=2)
    pytester.makepyfile(suite(retries=2))
    result, _ = run(pytester)
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 3
    first, second = server.faults.applied
    # Retry-After, not the 10 ms backoff, set the pace.
    assert second.at - first.at >= least_wait


@pytest.mark.parametrize("code", [500, 502, 503])
def test_server_error_once_is_retried(
    pytester: pytest.Pytester, server: ReferenceServer, code: int
) -> None:
    server.faults.add(Fault.status(code))
    pytester.makepyfile(suite(retries=1))
    result, _ = run(pytester)
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 2
    assert [str(applied.fault) for applied in server.faults.applied] == [f"HTTP {code}"]


@pytest.mark.parametrize(
    "ini, args",
    [
        pytest.param("", ["--chatexp-retries=2"], id="option"),
        pytest.param("[pytest]\nchatexp_retries = 2\n", [], id="ini"),
    ],
)
def test_more_failures_than_retries(
    pytester: pytest.Pytester, server: ReferenceServer, ini: str, args: list[str]
) -> None:
    server.faults.add(Fault.status(503), times=10)
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(suite())
    result, _ = run(pytester, *args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            glob(
                "chatexp: *::test_it: model config 'c', input 'only', sample 0: HTTP 503 from "
                f"{server.base_url}/chat/completions: Service Unavailable (fault injected by the "
                "reference server) (gave up after 3 attempts)"
            )
        ]
    )
    assert len(server.requests) == 3
    assert server.faults.pending == 7
    assert_clean(result)


@pytest.mark.parametrize(
    "code, message",
    [
        (400, "Invalid 'messages[0].content': string too long."),
        (401, "Incorrect API key provided: {api_key}."),
        (422, "Unprocessable request: model 'm' is not served here."),
    ],
)
def test_client_errors_are_not_retried(
    pytester: pytest.Pytester,
    server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    message: str,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    # Providers echo credentials in errors; the server echoes the key it was sent, every time.
    server.faults.add(Fault.status(code, message=message + " (key: {api_key})"), times=None)
    pytester.makepyfile(suite())
    result, _ = run(pytester)
    result.assert_outcomes(errors=1)
    shown = message.replace("{api_key}", "[REDACTED]") + " (key: [REDACTED])"
    result.stdout.fnmatch_lines(
        [
            glob(
                f"chatexp: *::test_it: model config 'c', input 'only', sample 0: HTTP {code} "
                f"from {server.base_url}/chat/completions: {shown}"
            )
        ]
    )
    assert len(server.requests) == 1
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    output = result.stdout.str() + result.stderr.str()
    assert API_KEY not in output
    assert "attempts" not in output
    assert_clean(result)


# --- broken bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_dropped_connection_is_retried(
    pytester: pytest.Pytester, server: ReferenceServer, stream: bool
) -> None:
    server.faults.add(Fault.drop_connection())
    pytester.makepyfile(suite(retries=1, stream=stream))
    result, _ = run(pytester)
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "fault",
    [Fault.truncated_json(), Fault.not_json()],
    ids=["truncated-json", "not-json"],
)
def test_unreadable_body_once_is_retried(
    pytester: pytest.Pytester, server: ReferenceServer, fault: Fault
) -> None:
    server.faults.add(fault)
    pytester.makepyfile(suite(retries=1))
    result, _ = run(pytester)
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "fault, excerpt",
    [
        pytest.param(Fault.truncated_json(), '{"id":"chatcmpl-*', id="truncated-json"),
        pytest.param(Fault.not_json(), "<html><head><title>502 Bad Gateway*", id="not-json"),
    ],
)
def test_unreadable_body_for_good_is_an_error(
    pytester: pytest.Pytester, server: ReferenceServer, fault: Fault, excerpt: str
) -> None:
    server.faults.add(fault, times=None)
    pytester.makepyfile(suite())
    result, _ = run(pytester, "--chatexp-retries=1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            glob(
                "chatexp: *::test_it: model config 'c', input 'only', sample 0: "
                f"{server.base_url}/chat/completions answered HTTP 200 with a body that is not "
                f"JSON: {excerpt} (gave up after 2 attempts)"
            )
        ]
    )
    assert len(server.requests) == 2
    assert_clean(result)


def test_bad_tool_arguments_fail_the_check_not_the_run(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.faults.add(Fault.bad_tool_arguments())
    pytester.makepyfile(
        suite(
            body="assert chatexp.samples[0].tool_calls\n"
            "    assert_samples(chatexp, valid_tool_arguments())"
        )
    )
    result, _ = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            glob(
                f"*valid_tool_arguments(): get_weather({BAD_TOOL_ARGUMENTS}): arguments are "
                "invalid JSON at line 1 column 11: Unterminated string*"
            )
        ]
    )
    assert len(server.requests) == 1
    assert_clean(result)


# --- streams and timing -----------------------------------------------------------------


def test_stream_without_end_once_is_retried(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.faults.add(Fault.stream_without_end())
    pytester.makepyfile(suite(retries=1, stream=True))
    result, _ = run(pytester)
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 2


def test_stream_without_end_for_good_is_an_error(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.faults.add(Fault.stream_without_end(), times=None)
    pytester.makepyfile(suite(stream=True))
    result, _ = run(pytester, "--chatexp-retries=1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: *::test_it: model config 'c', input 'only', sample 0: "
            f"{server.base_url}/chat/completions: the stream ended before its final event "
            "(gave up after 2 attempts)"
        ]
    )
    assert len(server.requests) == 2
    assert_clean(result)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_slow_drip_within_the_timeout_succeeds(
    pytester: pytest.Pytester, server: ReferenceServer, stream: bool
) -> None:
    server.faults.add(Fault.slow_drip(0.01, piece=64))
    body = (
        "sample = chatexp.samples[0]\n"
        "    assert sample.output == 'echo: hello' and sample.retries == 0\n"
        "    assert sample.latency_s >= 0.05\n"
        "    if sample.first_token_s is not None:\n"
        "        assert sample.first_token_s < sample.latency_s / 2"
    )
    pytester.makepyfile(suite(stream=stream, body=body))
    result, _ = run(pytester, "--chatexp-timeout=2")
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 1


def test_slow_drip_beyond_the_timeout_times_out(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    # About 40 pieces 50 ms apart: 2 s in all, never silent for 0.5 s.
    server.faults.add(Fault.slow_drip(0.05), times=None)
    pytester.makepyfile(suite())
    result, _ = run(pytester, "--chatexp-timeout=0.5", "--chatexp-retries=0")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["chatexp: *sample 0: no answer from * within 0.5 s*"])


def test_latency_beyond_the_timeout_is_retried(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    # A first answer 30 s late: a session that waited for it could not end within 20 s, however
    # loaded the machine (a tighter wall-time bound failed under load).
    server.faults.add(Fault.latency(30.0))
    pytester.makepyfile(suite(retries=1))
    result, duration = run(pytester, "--chatexp-timeout=0.5")
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 2
    assert duration < 20


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_stall_is_a_timeout_naming_the_case(
    pytester: pytest.Pytester, server: ReferenceServer, stream: bool
) -> None:
    server.faults.add(Fault.stall(), times=None)
    pytester.makepyfile(suite(stream=stream))
    result, duration = run(pytester, "--chatexp-timeout=0.5", "--chatexp-retries=1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "chatexp: *::test_it: model config 'c', input 'only', sample 0: no answer from "
            f"{server.base_url}/chat/completions within 0.5 s (raise the timeout with "
            "--chatexp-timeout or the marker's timeout=) (gave up after 2 attempts)"
        ]
    )
    assert len(server.requests) == 2
    assert duration < 10
    assert_clean(result)


def test_a_stalled_answer_does_not_delay_shutdown() -> None:
    with ReferenceServer() as server:
        server.faults.add(Fault.stall(), times=None)
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=0.2) as client:
            for stream in (False, True):
                body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
                with pytest.raises(httpx.ReadTimeout):
                    client.post("/chat/completions", json={**body, "stream": stream})
        started = time.perf_counter()
    assert time.perf_counter() - started < 2
    assert len(server.faults.applied) == 2


# --- choosing requests, and directives ----------------------------------------------------


def test_faults_for_matching_prompts_only(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.faults.add(Fault.status(503), times=None, when="flaky")
    pytester.makepyfile(
        SUITE.replace("OTHER", "{}")
        .replace("PROMPT}]", 'PROMPT}, {"id": "flaky", "q": "flaky"}], split="inputs"')
        .replace("PROMPT", repr("calm"))
        .replace("BODY", "assert chatexp.samples")
    )
    result, _ = run(pytester, "--chatexp-retries=1")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["chatexp: *::test_it*: *input 'flaky'*: HTTP 503 from *"])
    prompts = [request.json["messages"][-1]["content"] for request in server.requests]
    assert sorted(prompts) == ["calm", "flaky", "flaky"]


def test_directives_from_another_process(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.makepyfile(
        test_good=suite(retries=2, prompt="hello [[fault: 503 retry-after=0 x2]]"),
        test_bad=suite(prompt="hello [[fault: 299]]"),
    )
    result, _ = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            glob(
                "chatexp: *test_bad.py::test_it: *sample 0: HTTP 400 from *: "
                "[[fault: 299]]: Fault.status needs an error status (400-599), got 299"
            )
        ]
    )
    kinds = [(str(applied.fault), applied.source) for applied in server.faults.applied]
    assert sorted(kinds) == [
        ("HTTP 400", "directive"),
        ("HTTP 503 (Retry-After: 0)", "directive"),
        ("HTTP 503 (Retry-After: 0)", "directive"),
    ]
    assert len(server.requests) == 4


@pytest.mark.parametrize(
    "spec, fault, times",
    [
        ("429 retry-after=1 x2", Fault.status(429, retry_after="1"), 2),
        ("503", Fault.status(503), None),
        ("429 retry-after-date=3", Fault.retry_after_date(3), None),
        ("latency=0.5 x1", Fault.latency(0.5), 1),
        ("slow_drip=0.01", Fault.slow_drip(0.01), None),
        ("stall", Fault.stall(), None),
        ("stall=2", Fault.stall(2), None),
        ("drop-connection x3", Fault.drop_connection(), 3),
        ("Not-JSON", Fault.not_json(), None),
    ],
)
def test_parse_directive(spec: str, fault: Fault, times: int | None) -> None:
    assert parse_directive(spec) == (fault, times)


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("", "no fault given"),
        ("teapot", "unknown fault 'teapot' (known: a status code, latency=SECONDS, *"),
        ("latency", "unknown fault 'latency' *"),
        ("latency=soon", "'soon' is not a number of seconds"),
        ("stall retry-after=1", "retry-after only goes with a status code"),
        ("503 x0", "unexpected 'x0' (expected xN, retry-after= or retry-after-date=)"),
    ],
)
def test_parse_directive_problems(spec: str, problem: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_directive(spec)
    assert re.fullmatch(re.escape(problem).replace(r"\*", ".*"), str(excinfo.value))


def test_plan_order_counts_and_clear() -> None:
    with ReferenceServer() as server:
        server.faults.add(Fault.status(429), times=2)
        server.faults.add(Fault.status(500))
        assert server.faults.pending == 3
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=5) as client:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            codes = [client.post("/chat/completions", json=body).status_code for _ in range(4)]
        assert codes == [429, 429, 500, 200]
        assert server.faults.pending == 0
        assert [applied.source for applied in server.faults.applied] == ["plan"] * 3
        server.faults.add(Fault.not_json(), times=None)
        assert server.faults.pending is None
        server.faults.clear()
        assert server.faults.applied == [] and server.faults.pending == 0
    with pytest.raises(ValueError, match="times must be >= 1 or None, got 0"):
        server.faults.add(Fault.not_json(), times=0)
    with pytest.raises(ValueError, match=r"error status \(400-599\), got 200"):
        Fault.status(200)
