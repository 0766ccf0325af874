"""Agents end to end: tool loops that run the test's handlers, scripted conversations and a
simulated user, recorded turn by turn against the reference server and replayed with no
server at all, in each wire format.

The reference model plays the agent through a rule (``_agent``) that reads the ``tool``
messages after the last user message: the first turn calls ``lookup_order``, the second
``issue_refund``, the third answers quoting both results. So what a handler returns reaches
the final answer, and the next request: a changed handler is a replay miss.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply
from tests._suite import Suite, glob, report_cases, samples_of

PROVIDERS = ("openai", "anthropic", "humanloop", "anthropic-streamed")
DEAD = "http://127.0.0.1:9"  # nothing listens: a call that went live would fail at once

MODULE = """
import pytest
from pytest_chatexp import ModelConfig, SimulatedUser, Tool
from pytest_chatexp import checks as c

LOOKUPS = []
ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}},
         "required": ["order_id"]}
STATUS = "delivered"

def lookup_order(order_id):
    LOOKUPS.append(order_id)
    return {"order_id": order_id, "status": STATUS}

async def issue_refund(order_id):
    return "refund issued for " + order_id

TOOLS = [Tool(name="lookup_order", parameters=ORDER, handler=lookup_order),
         Tool(name="issue_refund", parameters=ORDER, handler=issue_refund)]
TEMPLATE = [{"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": "Refund order {{order}}."}]
AGENT = ModelConfig(name="agent", provider="PROVIDER", model="gpt-4o-mini", max_tokens=200,
                    chat_template=TEMPLATE, tools=TOOLS)
"""

LOOP_TEST = """
@pytest.mark.chatexp(model_configs=[AGENT], inputs=[{"order": "7"}], num_samples=2)
def test_refund(chatexp):
    c.assert_samples(
        chatexp,
        c.called_in_order("lookup_order", "issue_refund"),
        c.turn_count(min=3, max=3),
        c.tool_result("lookup_order", '"status": "delivered"'),
        c.final_answer(c.no_tool_calls(), c.contains("refund issued for 7")),
        c.no_tool_errors(),
    )
    assert LOOKUPS == ["7", "7"]  # the handler ran for each sample, live or replayed
    data = chatexp.cases[0].to_chat_response().data[0]
    assert [(r.name, r.result) for r in data.tool_results] == [
        ("lookup_order", '{"order_id": "7", "status": "delivered"}'),
        ("issue_refund", "refund issued for 7"),
    ]
    assert data.tool_results[0].signature == "lookup_order(order_id: string)"
    assert data.finish_reason == "stop"
"""


def _tool_results(request: dict[str, Any]) -> list[str]:
    """The tool results the model got since the last user message."""
    messages = request["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return [m["content"] for m in messages[last_user + 1 :] if m["role"] == "tool"]


def _agent(request: dict[str, Any]) -> Reply:
    results = _tool_results(request)
    if not results:
        return Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "7"})])
    if len(results) == 1:
        return Reply(tool_calls=[ToolCallReply("issue_refund", {"order_id": "7"})])
    return Reply(text="Done: " + " | ".join(str(r) for r in results))


@pytest.fixture
def agent_server(
    recording_session: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> ReferenceServer:
    """The reference server playing the agent, reached through each provider's variable."""
    recording_session.add_rule(_agent, when=lambda request: "tools" in request)
    _point_at(monkeypatch, recording_session.url)
    return recording_session


def _point_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", url + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    monkeypatch.setenv("HUMANLOOP_BASE_URL", url + "/v4")
    monkeypatch.setenv("HUMANLOOP_API_KEY", "hl-test-key-unused")
    monkeypatch.setenv("GEMINI_BASE_URL", url)
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-key-unused")
    monkeypatch.setenv("BEDROCK_BASE_URL", url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-test-key-unused")


def _module(provider: str, *tests: str) -> str:
    """The module for ``provider``; ``<provider>-streamed`` streams every turn."""
    name, _, streamed = provider.partition("-")
    wire = f'"{name}", other={{"stream": True}}' if streamed else f'"{name}"'
    return MODULE.replace('"PROVIDER"', wire) + "".join(tests)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tool_loop_records_turn_by_turn_and_replays_with_no_server(
    suite: Suite, agent_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    suite.write(_module(provider, LOOP_TEST))
    recorded = suite.run("--chatexp-record=all", report=True)
    recorded.assert_outcomes(passed=1).fnmatch("*6 calls (0 replayed, 6 live)*")
    assert len(agent_server.requests) == 6  # three turns for each of two samples
    entries = recorded.recordings()["__recordings__/test_x/test_refund.yaml"]["interactions"]
    assert sorted((e["label"]["sample"], e["label"].get("turn", 0)) for e in entries) == [
        (sample, turn) for sample in (0, 1) for turn in (0, 1, 2)
    ]

    changes = recorded.tests()["test_x.py::test_refund"]["changes"]  # each call answered anew
    assert sorted((change["sample"], change.get("turn", 0)) for change in changes) == [
        (sample, turn) for sample in (0, 1) for turn in (0, 1, 2)
    ]
    streamed = [
        sample["first_token_s"] is not None for sample in samples_of(recorded.report).values()
    ]
    assert streamed == [provider.endswith("-streamed")] * 2

    _point_at(monkeypatch, DEAD)
    replayed = suite.run("--chatexp-record=none", report=True)
    replayed.assert_outcomes(passed=1).fnmatch("*6 calls (6 replayed, 0 live)*").assert_clean()
    assert (
        report_cases(replayed.report)[0]["chat_response"]
        == (report_cases(recorded.report)[0]["chat_response"])
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_changed_handler_fails_replay_naming_the_turn_and_the_change(
    suite: Suite, agent_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    suite.write(_module(provider, LOOP_TEST))
    suite.run("--chatexp-record=all").assert_outcomes(passed=1)
    _point_at(monkeypatch, DEAD)
    suite.write(_module(provider, LOOP_TEST).replace('STATUS = "delivered"', 'STATUS = "lost"'))
    run = suite.run("--chatexp-record=none")
    run.assert_outcomes(errors=1).assert_clean()
    run.fnmatch(
        "*2 of 4 calls have no matching recording*",  # each sample's turns 0 (replayed) and 1
        glob("*no recorded response for model config 'agent', input 'input-0', sample 0, turn 1.*"),
        glob(
            "*Closest recording: model config 'agent', input 'input-0', sample 0, turn 1 (same label).*"
        ),
        "Request changes since it was recorded:",
        "*messages[[]*delivered*lost*",
    )


def test_max_turns_ends_a_sample_that_keeps_calling_tools(
    suite: Suite, agent_server: ReferenceServer
) -> None:
    agent_server.clear_rules()
    agent_server.add_rule(Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "7"})]))
    suite.write(
        _module(
            "openai",
            """
@pytest.mark.chatexp(model_configs=[AGENT], inputs=[{"order": "7"}], max_turns=3)
def test_loops(chatexp):
    c.assert_samples(chatexp, c.finish_reason("stop"))
""",
        )
    )
    run = suite.run("--chatexp-record=off")
    run.assert_outcomes(failed=1).assert_clean()
    run.fnmatch("*sample 0: finish_reason('stop'): finish_reason is 'max_turns', not 'stop'*")
    assert len(agent_server.requests) == 3


CONVERSATION = """
SCRIPTED = {"id": "scripted", "inputs": {"order": "7"},
            "turns": ["Hello.", "[[reply: Which order?]] It is order 7.", "Thanks, bye."]}

@pytest.mark.chatexp(model_configs=[AGENT.variant(name="chat", tools=[])], inputs=[SCRIPTED])
def test_scripted(chatexp):
    sample = chatexp.samples[0]
    assert [turn.user_turn for turn in sample.turns] == [0, 1, 2]
    assert [m.role for m in sample.transcript[2:]] == [
        "user", "assistant", "user", "assistant", "user", "assistant"]
    c.assert_samples(chatexp, c.reply(1, c.equals("Which order?")), c.turn_count(min=3, max=3))

USER = SimulatedUser(
    config=ModelConfig(name="customer", model="user-model", max_tokens=50),
    goal="get a refund for order {{order}}", max_messages=2)

@pytest.mark.chatexp(model_configs=[AGENT.variant(name="chat", tools=[])],
                     inputs=[{"order": "7"}], simulated_user=USER, num_samples=2)
def test_simulated(chatexp):
    sample = chatexp.samples[0]
    speakers = [turn.speaker for turn in sample.turns]
    assert speakers == ["assistant", "user", "assistant", "user", "assistant"]
    assert sample.transcript[-2].content == "I still want my refund for 7."
    assert sample.usage.total_tokens == sum(
        t.usage.total_tokens for t in sample.turns if t.speaker == "assistant")
"""


def _simulated_customer(request: dict[str, Any]) -> Reply:
    said = sum(1 for m in request["messages"] if m["role"] == "assistant")
    return Reply(text="I still want my refund for 7." if said < 3 else "GOAL_COMPLETE")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_conversations_replay_the_same_under_xdist_as_in_one_process(
    suite: Suite, agent_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    agent_server.add_rule(
        _simulated_customer,
        when=lambda request: "role-playing a user" in json.dumps(request["messages"][:1]),
    )
    suite.write(_module(provider, CONVERSATION))
    recorded = suite.run("--chatexp-record=all", report=True)
    recorded.assert_outcomes(passed=2)
    # 3 scripted turns; 2 samples x (3 answers + 2 simulated-user messages: max_messages).
    assert len(agent_server.requests) == 3 + 2 * (3 + 2)
    _point_at(monkeypatch, DEAD)
    alone = suite.run("--chatexp-record=none", report=True).assert_outcomes(passed=2)
    spread = suite.run("--chatexp-record=none", "-p", "xdist", "-n", "2", report=True)
    spread.assert_outcomes(passed=2).assert_clean()
    for run in (alone, spread):
        assert [case["chat_response"] for case in report_cases(run.report)] == [
            case["chat_response"] for case in report_cases(recorded.report)
        ]
    # The simulated user's calls are spent too: its turns' tokens are in the row's total.
    [row] = recorded.tests()["test_x.py::test_simulated"]["experiments"][0]["configs"]
    turns = [
        turn
        for case in report_cases(recorded.report)
        if case["config"] == "chat" and case["input"] == "input-0"
        for sample in case["samples"]
        for turn in sample["turns"]
    ]
    assert {turn["speaker"] for turn in turns} == {"assistant", "user"}
    assert row["total_tokens"] == sum(turn["usage"]["total_tokens"] for turn in turns)


BAD_TOOLS = """
def broken(order_id):
    raise KeyError(order_id)

def unsendable(order_id):
    return {1, 2}

BROKEN = AGENT.variant(name="broken", tools=[Tool(name="lookup_order", parameters=ORDER, handler=broken), TOOLS[1]])

@pytest.mark.chatexp(model_configs=[BROKEN], inputs=[{"order": "7"}])
def test_raising_handler(chatexp):
    sample = chatexp.samples[0]
    assert sample.tool_results[0].error
    assert sample.tool_results[0].result == "Error: KeyError: '7'"
    c.assert_samples(chatexp, c.no_tool_errors())

@pytest.mark.chatexp(model_configs=[AGENT], inputs=[{"order": "7"}])
def test_bad_arguments(chatexp):
    c.assert_samples(chatexp, c.no_tool_errors())

@pytest.mark.chatexp(
    model_configs=[AGENT.variant(name="unsendable", tools=[Tool(name="lookup_order", parameters=ORDER, handler=unsendable)])],
    inputs=[{"order": "7"}])
def test_unsendable_result(chatexp):
    pass
"""
UNKNOWN_HANDLER = """
@pytest.mark.chatexp(model_configs=[AGENT], tool_handlers={"lookup_ordr": print})
def test_unknown_handler(chatexp):
    pass
"""
NO_TURNS = """
@pytest.mark.chatexp(model_configs=[AGENT], max_turns=0)
def test_no_turns(chatexp):
    pass
"""


def test_bad_tools_and_limits_get_clear_errors_naming_the_sample(
    suite: Suite, agent_server: ReferenceServer
) -> None:
    agent_server.clear_rules()

    def agent(request: dict[str, Any]) -> Reply:
        if _tool_results(request):
            return Reply(text="ok")
        arguments = {"order": 7} if "bad" in json.dumps(request["messages"]) else {"order_id": "7"}
        return Reply(tool_calls=[ToolCallReply("lookup_order", arguments)])

    agent_server.add_rule(agent)
    bad_arguments = BAD_TOOLS.replace(
        '"7"}])\ndef test_bad_arguments', '"bad"}])\ndef test_bad_arguments'
    )
    suite.write(
        _module("openai", bad_arguments),
        **{"test_y.py": _module("openai", UNKNOWN_HANDLER)},
        **{"test_z.py": _module("openai", NO_TURNS)},
    )
    run = suite.run("--chatexp-record=off", "--continue-on-collection-errors")
    run.assert_outcomes(failed=2, errors=3).assert_clean()
    run.fnmatch(  # in the order pytest prints them: collection, setup, then failures
        "*tool_handlers names the tool 'lookup_ordr', which no model config declares "
        "(tools: 'issue_refund', 'lookup_order') (did you mean 'lookup_order'?)*",
        "*'max_turns': input should be greater than or equal to 1 (got 0)*",
        glob(
            "*model config 'unsendable', input 'input-0', sample 0: tool 'lookup_order' "
            "returned set {1, 2}, which cannot be sent to the model*"
        ),
        "*sample 0: no_tool_errors(): lookup_order: \"Error: KeyError: '7'\"*",
        "*sample 0: no_tool_errors(): lookup_order: *Error: invalid arguments for tool "
        "'lookup_order': $: 'order_id' is a required property*",
    )


def test_the_session_budget_counts_every_turn(suite: Suite, agent_server: ReferenceServer) -> None:
    # Every answer uses 200 tokens; a call is estimated at ~250-350 (its messages, and max_tokens
    # 200) and reserved before it goes out. One call at a time: turns 0, 1 and 2 of sample 0
    # spend 600 of 800 tokens, and sample 1's first call (600 + ~250 > 800) is refused.
    agent_server.clear_rules()
    usage = {"prompt_tokens": 150, "completion_tokens": 50, "total_tokens": 200}
    agent_server.add_rule(lambda request: dataclasses.replace(_agent(request), usage=usage))
    suite.write(
        _module("openai", LOOP_TEST.replace("num_samples=2", "num_samples=2, concurrency=1"))
    )
    run = suite.run("--chatexp-record=off", "--chatexp-max-tokens=800")
    run.assert_outcomes(errors=1)
    assert len(agent_server.requests) == 3
    run.fnmatch(
        glob("*model config 'agent', input 'input-0', sample 1 needs ~* tokens (600 spent*"),
        "chatexp budget: 800 tokens; spent 600 tokens on 3 calls*",
        "*STOPPED*",
    )


def test_the_plan_says_later_turns_are_not_counted(
    suite: Suite, agent_server: ReferenceServer
) -> None:
    suite.write(_module("openai", LOOP_TEST))
    run = suite.run("--chatexp-plan", "--chatexp-record=off", "-rs")
    run.assert_outcomes(skipped=1)
    run.fnmatch(
        "*2 calls: 0 replayed, 2 live; ~* tokens live, *; 2 samples are a tool loop or "
        "conversation: only first calls are counted, each may make up to 10 model calls*"
    )
    assert len(agent_server.requests) == 0


APP_CONVERSATION = '''
import os

async def support_app(call):
    """Your own agent: it calls a model over HTTP itself, once per user message."""
    async with call.http_client(base_url=os.environ["APP_MODEL_URL"]) as client:
        answer = await client.post("/chat/completions", json={
            "model": "app-model",
            "messages": [m.model_dump(exclude_none=True) for m in call.messages]})
    return answer.json()["choices"][0]["message"]["content"]

APP = ModelConfig.for_app(support_app)

@pytest.mark.chatexp(model_configs=[APP], inputs=[{"id": "chat", "turns": ["Hi.", "Order 7.", "Bye."]}])
def test_app_conversation(chatexp):
    sample = chatexp.samples[0]
    assert [reply.output for reply in sample.replies] == [
        "echo: Hi.", "echo: Order 7.", "echo: Bye."]
    assert [len(turn.request.get("messages", [])) for turn in sample.turns] == [1, 3, 5]
'''


def test_a_conversation_with_your_own_app_records_its_calls_per_turn(
    suite: Suite, agent_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_MODEL_URL", agent_server.base_url)
    suite.write(_module("openai", APP_CONVERSATION))
    suite.run("--chatexp-record=all").assert_outcomes(passed=1)
    assert len(agent_server.requests) == 3
    monkeypatch.setenv("APP_MODEL_URL", DEAD + "/v1")
    suite.run("--chatexp-record=none").assert_outcomes(passed=1).assert_clean()


FAILING_TOOL = """
def broken(order_id):
    raise KeyError(order_id)

async def says_error(order_id):
    return "Error: refunds are closed on Sundays"  # a result, though its text reads like one

TOOLS = [Tool(name="lookup_order", parameters=ORDER, handler=broken),
         Tool(name="issue_refund", parameters=ORDER, handler=says_error)]

@pytest.mark.chatexp(model_configs=[AGENT.variant(tools=TOOLS)], inputs=[{"order": "7"}])
def test_failing(chatexp):
    assert [r.error for r in chatexp.samples[0].tool_results] == [True, False]
"""


def _result_blocks(provider: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results of a request, in the provider's own wire shape."""
    if provider == "anthropic":
        return [b for m in body["messages"] if isinstance(m["content"], list)
                for b in m["content"] if b["type"] == "tool_result"]  # fmt: skip
    if provider == "gemini":
        return [p["functionResponse"] for c in body["contents"] for p in c["parts"]
                if "functionResponse" in p]  # fmt: skip
    return [b["toolResult"] for m in body["messages"] for b in m["content"] if "toolResult" in b]


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "bedrock"])
def test_a_failed_tool_is_flagged_on_the_wire_and_an_error_like_result_is_not(
    suite: Suite, agent_server: ReferenceServer, provider: str
) -> None:
    # The flag is carried from the tool run, not read back from the "Error: " text: a handler
    # that returns such text is not a failure, one that raises is.
    suite.write(_module(provider, FAILING_TOOL))
    suite.run("--chatexp-record=all").assert_outcomes(passed=1).assert_clean()
    broken, says_error = _result_blocks(provider, agent_server.requests[2].json)
    flag = {
        "anthropic": lambda block: block.get("is_error", False),
        "gemini": lambda block: "error" in block["response"],
        "bedrock": lambda block: block.get("status") == "error",
    }[provider]
    assert flag(broken) is True
    assert flag(says_error) is False
