"""The Bedrock Converse provider as a user meets it: whole inner sessions against the reference
server's Converse endpoints (``/model/{modelId}/converse`` and its binary event stream)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_chatexp.testing import Fault, ReferenceServer, Reply, ToolCallReply
from tests._suite import Suite, glob

KEY = "ABSKQmVkcm9ja0FQSUtleS1canaryBEDROCKkey7x9"
DEAD = "http://127.0.0.1:9"  # nothing listens: a call that went live would fail at once
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PATH = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0"

MODULE = """
import json
import pytest
from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp import checks as c

CONFIG = ModelConfig(name="b", provider="bedrock", model="MODEL", OPTIONS
                     chat_template=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "{{q}}"}])
""".replace("MODEL", MODEL)


def module(body: str, options: str = "") -> str:
    return MODULE.replace("OPTIONS", options + ("," if options else "")) + body


@pytest.fixture
def bedrock(recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> ReferenceServer:
    recording_session.faults.clear()
    monkeypatch.setenv("BEDROCK_BASE_URL", recording_session.url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    monkeypatch.setenv("PYTEST_ADDOPTS", "--chatexp-record=off --chatexp-backoff=0.01")
    return recording_session


def _sent(server: ReferenceServer, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = server.requests[index].json
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_call_reaches_converse_with_the_bearer_key(
    suite: Suite, bedrock: ReferenceServer, stream: bool
) -> None:
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hello there"}])
def test_it(chatexp):
    sample = chatexp.samples[0]
    assert sample.output == "[system: Be brief.] echo: hello there"
    assert sample.finish_reason == "stop"
    assert (sample.usage.prompt_tokens, sample.usage.generation_tokens) == (6, 6)
    assert sample.usage.cached_tokens is None
    assert (sample.first_token_s is not None) is STREAM
""".replace("STREAM", repr(stream)),
            options='other={"stream": True}, temperature=0.2, max_tokens=50' if stream else "",
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()
    request = bedrock.requests[0]
    assert request.path == f"{PATH}/{'converse-stream' if stream else 'converse'}"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = _sent(bedrock)
    assert body["system"] == [{"text": "Be brief."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "hello there"}]}]
    assert "stream" not in body
    if stream:
        assert body["inferenceConfig"] == {"temperature": 0.2, "maxTokens": 50}


def _agent(request: dict[str, Any]) -> Reply:
    results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    if not results:
        return Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "7"}, id="tu_1")])
    return Reply(text="Done: " + " | ".join(results))


LOOP = """
LOOKUPS = []
def lookup_order(order_id):
    LOOKUPS.append(order_id)
    return {"order_id": order_id, "status": "delivered"}

ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}},
         "required": ["order_id"]}
AGENT = CONFIG.variant(tools=[Tool(name="lookup_order", parameters=ORDER, handler=lookup_order)],
                       tool_choice="auto")

@pytest.mark.chatexp(model_configs=AGENT, inputs=[{"q": "Where is order 7?"}])
def test_loop(chatexp):
    c.assert_samples(chatexp, c.called_in_order("lookup_order"), c.turn_count(min=2, max=2),
                     c.final_answer(c.contains('"status": "delivered"')), c.no_tool_errors())
    assert LOOKUPS == ["7"]
"""


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_tool_loop_sends_tool_use_and_tool_results(
    suite: Suite, bedrock: ReferenceServer, stream: bool
) -> None:
    bedrock.add_rule(_agent, when=lambda request: "tools" in request)
    suite.write(module(LOOP, 'other={"stream": True}' if stream else ""))
    suite.run().assert_outcomes(passed=1).assert_clean()
    first, second = _sent(bedrock, 0), _sent(bedrock, 1)
    schema = {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    }
    assert first["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "lookup_order", "inputSchema": {"json": schema}}}],
        "toolChoice": {"auto": {}},
    }
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "toolUse": {
                        "toolUseId": "tu_1",
                        "name": "lookup_order",
                        "input": {"order_id": "7"},
                    }
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "tu_1",
                        "content": [{"json": {"order_id": "7", "status": "delivered"}}],
                    }
                }
            ],
        },
    ]


def test_json_schema_output_is_structured_output(suite: Suite, bedrock: ReferenceServer) -> None:
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "echo", "schema": schema}}
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}])
def test_json(chatexp):
    c.assert_samples(chatexp, c.json_schema(SCHEMA))
""".replace("SCHEMA", repr(schema)),
            f"response_format={fmt!r}",
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()
    text_format = _sent(bedrock)["outputConfig"]["textFormat"]
    assert json.loads(text_format["structure"]["jsonSchema"]["schema"]) == schema


def test_a_raising_tool_sends_an_error_result(suite: Suite, bedrock: ReferenceServer) -> None:
    bedrock.add_rule(_agent, when=lambda request: "tools" in request)
    suite.write(
        module(
            """
AGENT = CONFIG.variant(tools=[Tool(name="lookup_order", raises=KeyError("no such order"))])

@pytest.mark.chatexp(model_configs=AGENT, inputs=[{"q": "Where is order 7?"}])
def test_loop(chatexp):
    assert chatexp.samples[0].output.startswith("Done: Error: KeyError")
"""
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()
    result = _sent(bedrock, 1)["messages"][2]["content"][0]["toolResult"]
    assert result["status"] == "error"
    assert result["content"] == [{"text": "Error: KeyError: 'no such order'"}]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_thinking_is_kept_as_reasoning_and_sent_back_signed_in_a_tool_loop(
    suite: Suite, bedrock: ReferenceServer, stream: bool
) -> None:
    bedrock.add_rule(_agent, when=lambda request: "tools" in request)
    options = "max_tokens=4000, reasoning={'budget_tokens': 2000}"
    suite.write(
        module(
            LOOP
            + """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}])
def test_thinks(chatexp):
    sample = chatexp.samples[0]
    assert sample.output == "[system: Be brief.] echo: hi"
    assert sample.reasoning == "Thinking within 2000 tokens about: hi"
""",
            options + (', other={"stream": True}' if stream else ""),
        )
    )
    suite.run().assert_outcomes(passed=2).assert_clean()
    loop_second = next(
        r.json for r in bedrock.requests if "toolConfig" in r.json and len(r.json["messages"]) == 3
    )
    assert loop_second["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2000}
    }
    turn = loop_second["messages"][1]["content"]
    reasoning = turn[0]["reasoningContent"]["reasoningText"]
    assert reasoning["text"] == "Thinking within 2000 tokens about: Where is order 7?"
    assert reasoning["signature"].startswith("sig_")
    assert "toolUse" in turn[1]


PRICES = """
[pytest]
chatexp_prices =
    MODEL 3 15 0.3 3.75
""".replace("MODEL", MODEL)


def test_cached_tokens_are_counted_and_priced_at_their_rates(
    suite: Suite, bedrock: ReferenceServer
) -> None:
    usage = {
        "inputTokens": 1000,
        "outputTokens": 1000,
        "cacheReadInputTokens": 8000,
        "cacheWriteInputTokens": 1000,
    }
    bedrock.add_rule(Reply("ok", usage=usage))
    suite.pytester.makeini(PRICES)
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "a"}])
def test_cached(chatexp):
    usage = chatexp.samples[0].usage
    assert (usage.cached_tokens, usage.cache_write_tokens) == (8000, 1000)
    assert usage.prompt_tokens == 10000  # input + cache reads + cache writes
    # 1000 x $3 + 8000 read x $0.30 + 1000 written x $3.75 + 1000 out x $15 per million
    assert c.cost_of(chatexp) == pytest.approx(0.02415)
    c.assert_samples(chatexp, c.cache_hit_rate(min=0.75))
"""
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()


def test_a_429_throttling_exception_is_retried(suite: Suite, bedrock: ReferenceServer) -> None:
    bedrock.faults.add(Fault.status(429, retry_after="0"))
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}])
def test_it(chatexp):
    assert chatexp.samples[0].retries == 1
"""
        )
    )
    suite.run().assert_outcomes(passed=1).assert_clean()
    assert len(bedrock.requests) == 2


def test_a_400_validation_exception_fails_at_once_with_bedrocks_message_and_no_key(
    suite: Suite, bedrock: ReferenceServer
) -> None:
    message = "The provided key {api_key} cannot invoke this model."
    bedrock.faults.add(Fault.status(400, message=message), times=None)
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"id": "only", "q": "hi"}])
def test_it(chatexp):
    pass
"""
        )
    )
    run = suite.run()
    run.assert_outcomes(errors=1).assert_clean()
    url = f"{bedrock.url}{PATH}/converse"
    run.fnmatch(
        glob(
            f"chatexp: *::test_it: model config 'b', input 'only', sample 0: HTTP 400 from {url}: "
            "The provided key [REDACTED] cannot invoke this model."
        )
    )
    assert len(bedrock.requests) == 1
    assert KEY not in run.text and "attempts" not in run.text


def test_unsupported_fields_are_refused_by_name(suite: Suite, bedrock: ReferenceServer) -> None:
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}])
def test_it(chatexp):
    pass
""",
            "seed=7",
        )
    )
    run = suite.run()
    run.fnmatch("*model config 'b': 'seed' has no field in the Bedrock Converse API*")
    assert not bedrock.requests


def test_recorded_then_replayed_offline(
    suite: Suite, bedrock: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bedrock.add_rule(_agent, when=lambda request: "tools" in request)
    suite.write(module(LOOP, 'other={"stream": True}'))
    suite.run("--chatexp-record=all").assert_outcomes(passed=1).fnmatch(
        "*2 calls (0 replayed, 2 live)*"
    )
    recordings = suite.run("--chatexp-record=none").recordings()
    recording = json.dumps(recordings)
    assert KEY not in recording and "converse-stream" in recording
    assert '"contentBlockDelta"' in recording  # the decoded events, as data
    monkeypatch.setenv("BEDROCK_BASE_URL", DEAD)
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK")
    replayed = suite.run("--chatexp-record=none")
    replayed.assert_outcomes(passed=1).fnmatch("*2 calls (2 replayed, 0 live)*").assert_clean()
    assert len(bedrock.requests) == 2


ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYcanarySECRET9"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEcanarySESSIONtoken0123456789abcdef"
NO_BOTOCORE = """
import sys

def pytest_unconfigure(config):
    print("botocore imported:", "botocore" in sys.modules)
"""


@pytest.fixture
def aws_credentials(bedrock: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """SigV4 instead of a bearer key: credentials from the environment only (no files, no
    instance metadata: nothing beyond 127.0.0.1)."""
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _signature_checked(request: Any, url: str) -> str:
    """The request's SigV4 signature, after botocore recomputed it from what the server
    received (URL, signed headers, bytes) and got the same."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = request.headers["authorization"]
    scope, signed, signature = authorization.removeprefix("AWS4-HMAC-SHA256 ").split(", ")
    date = request.headers["x-amz-date"]
    assert scope == f"Credential={ACCESS_KEY}/{date[:8]}/us-west-2/bedrock/aws4_request"
    names = signed.removeprefix("SignedHeaders=").split(";")
    assert names == ["content-type", "host", "x-amz-date", "x-amz-security-token"]
    assert request.headers["x-amz-security-token"] == SESSION_TOKEN
    again = AWSRequest(
        method="POST",
        url=f"{url}{request.path}",
        data=request.body,
        headers={name: request.headers[name] for name in names},
    )
    again.context["timestamp"] = date
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "bedrock", "us-west-2")
    expected = auth.signature(auth.string_to_sign(again, auth.canonical_request(again)), again)
    assert signature == f"Signature={expected}"
    return signature


@pytest.mark.usefixtures("aws_credentials")
def test_sigv4_signs_the_exact_request_sent_and_replay_needs_no_botocore(
    suite: Suite, bedrock: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hello there"}])
def test_it(chatexp):
    assert chatexp.samples[0].output == "[system: Be brief.] echo: hello there"
""",
            options='other={"stream": True}',
        )
    )
    suite.conftest(NO_BOTOCORE)
    suite.run("--chatexp-record=all").assert_outcomes(passed=1).assert_clean()
    (request,) = bedrock.requests
    signature = _signature_checked(request, bedrock.url)

    recording = json.dumps(suite.run("--chatexp-record=none").recordings())
    for secret in (SECRET_KEY, SESSION_TOKEN, signature.removeprefix("Signature=")):
        assert secret not in recording
    assert "x-amz-date" not in recording.lower() and "AWS4-HMAC" not in recording
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("BEDROCK_BASE_URL", DEAD)
    replayed = suite.pytester.runpytest_subprocess("--chatexp-record=none")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*1 call (1 replayed, 0 live)*", "botocore imported: False"])


@pytest.mark.usefixtures("aws_credentials")
def test_each_attempt_is_signed_anew(suite: Suite, bedrock: ReferenceServer) -> None:
    # A signature expires: a retry after a long Retry-After must not resend a stale one.
    bedrock.faults.add(Fault.status(429, retry_after="1"))
    suite.write(
        module(
            """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"q": "hi"}])
def test_it(chatexp):
    pass
"""
        )
    )
    suite.run("--chatexp-record=off").assert_outcomes(passed=1).assert_clean()
    first, second = bedrock.requests
    assert first.body == second.body
    assert second.headers["x-amz-date"] > first.headers["x-amz-date"]
    assert _signature_checked(first, bedrock.url) != _signature_checked(second, bedrock.url)


def test_a_corrupt_stream_frame_fails_at_once_and_a_cut_stream_is_retried(
    suite: Suite, bedrock: ReferenceServer
) -> None:
    from pytest_chatexp.testing._eventstream import event_frame
    from pytest_chatexp.testing._http import RecordedRequest, Response

    good = event_frame("messageStart", {"role": "assistant"})
    corrupt = good[:-5] + bytes([good[-5] ^ 1]) + good[-4:]
    bodies = iter([good[:20], corrupt])  # first a stream cut inside a frame, then a corrupt one

    async def hostile(request: RecordedRequest) -> Response:
        bedrock.requests.append(request)
        return Response(body=next(bodies), content_type="application/vnd.amazon.eventstream")

    bedrock.routes[("POST", f"{PATH}/converse-stream")] = hostile
    try:
        suite.write(
            module(
                """
@pytest.mark.chatexp(model_configs=CONFIG, inputs=[{"id": "only", "q": "hi"}])
def test_it(chatexp):
    pass
""",
                'other={"stream": True}',
            )
        )
        run = suite.run()
    finally:
        del bedrock.routes[("POST", f"{PATH}/converse-stream")]
    run.assert_outcomes(errors=1)
    run.fnmatch(
        "*sample 0: *converse-stream: event-stream frame 0: its message checksum does not match*"
    )
    assert len(bedrock.requests) == 2  # the cut stream was asked again; the corrupt one not
