"""The reference server as an agent: plans played turn by turn, replies that quote tool results.

Each test drives a small tool loop over real HTTP in each wire format the server speaks (OpenAI
chat completions, Anthropic Messages, Humanloop v4): call the model, run the tools it called
with the test's handlers, send the results back in that format's shape, call again until it
answers with text. The plans come from ``[[step: ...]]`` directives in the prompt or from a
``Plan`` rule; rules read the tool results with ``tool_results``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from pytest_chatexp.testing import (
    Plan,
    ReceivedToolResult,
    ReferenceServer,
    ToolCallReply,
    tool_results,
)
from tests._suite import Suite

Json = dict[str, Any]
Handler = Callable[[Json], str]


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: Json


@dataclass(frozen=True)
class Turn:
    """One answer of the model: its text and the tools it called."""

    text: str | None
    calls: tuple[Call, ...]

    @property
    def names(self) -> list[str]:
        return [call.name for call in self.calls]


class Wire:
    """How one wire format asks the model and sends tool results back."""

    name = ""

    def post(self, http: httpx.Client, history: list[Json]) -> httpx.Response:
        """Ask the model to answer ``history``."""
        raise NotImplementedError

    def parse(self, body: Json) -> tuple[Turn, Json]:
        """The model's answer, and the assistant message that records it in the history."""
        raise NotImplementedError

    def send(self, http: httpx.Client, history: list[Json]) -> tuple[Turn, Json]:
        response = self.post(http, history)
        assert response.status_code == 200, response.text
        return self.parse(response.json())

    def results(self, calls: tuple[Call, ...], contents: list[str]) -> list[Json]:
        return [
            {"role": "tool", "tool_call_id": call.id, "content": content}
            for call, content in zip(calls, contents, strict=True)
        ]


def _openai_calls(message: Json) -> tuple[Call, ...]:
    return tuple(
        Call(call["id"], call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message.get("tool_calls") or []
    )


class OpenAIWire(Wire):
    name = "openai"

    def post(self, http: httpx.Client, history: list[Json]) -> httpx.Response:
        return http.post("/v1/chat/completions", json={"model": "ref", "messages": history})

    def parse(self, body: Json) -> tuple[Turn, Json]:
        message: Json = body["choices"][0]["message"]
        return Turn(message["content"], _openai_calls(message)), message


class AnthropicWire(Wire):
    name = "anthropic"

    def post(self, http: httpx.Client, history: list[Json]) -> httpx.Response:
        request = {"model": "claude-ref", "max_tokens": 1000, "messages": history}
        return http.post("/v1/messages", json=request)

    def parse(self, body: Json) -> tuple[Turn, Json]:
        blocks: list[Json] = body["content"]
        texts = [block["text"] for block in blocks if block["type"] == "text"]
        calls = tuple(
            Call(block["id"], block["name"], block["input"])
            for block in blocks
            if block["type"] == "tool_use"
        )
        turn = Turn("".join(texts) if texts else None, calls)
        return turn, {"role": "assistant", "content": blocks}

    def results(self, calls: tuple[Call, ...], contents: list[str]) -> list[Json]:
        blocks = [
            {"type": "tool_result", "tool_use_id": call.id, "content": content}
            for call, content in zip(calls, contents, strict=True)
        ]
        return [{"role": "user", "content": blocks}]


class HumanloopWire(Wire):
    name = "humanloop"

    def post(self, http: httpx.Client, history: list[Json]) -> httpx.Response:
        request = {"model_config": {"model": "ref"}, "messages": history}
        return http.post("/v4/chat", json=request, headers={"X-API-KEY": "hl-test"})

    def parse(self, body: Json) -> tuple[Turn, Json]:
        message: Json = body["data"][0]["output_message"]
        return Turn(message["content"], _openai_calls(message)), message


WIRES = [OpenAIWire(), AnthropicWire(), HumanloopWire()]


@dataclass
class Tools:
    """The test's tool handlers, and every call they answered: ``(name, arguments, result)``."""

    handlers: Mapping[str, Handler]
    ran: list[tuple[str, Json, str]] = field(default_factory=list)

    def run(self, call: Call) -> str:
        result = self.handlers[call.name](call.arguments)
        self.ran.append((call.name, call.arguments, result))
        return result

    def results(self, name: str) -> list[str]:
        return [result for ran, _, result in self.ran if ran == name]


@dataclass
class Agent:
    """A conversation in one wire format, played as an agent framework plays it."""

    wire: Wire
    http: httpx.Client
    history: list[Json] = field(default_factory=list)

    def ask(self, prompt: str, tools: Tools, max_turns: int = 6) -> list[Turn]:
        """Send ``prompt``; run the tools called until the model answers without one."""
        self.history.append({"role": "user", "content": prompt})
        turns: list[Turn] = []
        for _ in range(max_turns):
            turn, message = self.wire.send(self.http, self.history)
            turns.append(turn)
            self.history.append(message)
            if not turn.calls:
                return turns
            contents = [tools.run(call) for call in turn.calls]
            self.history.extend(self.wire.results(turn.calls, contents))
        pytest.fail(f"no answer without a tool call in {max_turns} turns: {turns}")


@pytest.fixture
def http(server: ReferenceServer) -> Iterator[httpx.Client]:
    # trust_env=False: proxy variables must never route loopback traffic elsewhere.
    with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture(params=WIRES, ids=[wire.name for wire in WIRES])
def agent(request: pytest.FixtureRequest, http: httpx.Client) -> Agent:
    return Agent(request.param, http)


def lookup_order(arguments: Json) -> str:
    order = arguments["order_id"]
    return json.dumps({"order_id": order, "parcel": f"P-{order}", "items": int(order) * 2})


def track_parcel(arguments: Json) -> str:
    return f"parcel {arguments['parcel']} is in Lyon ({arguments['items']} items)"


def weather(degrees: int) -> Handler:
    return lambda arguments: f"{arguments['city']}: {degrees} C"


ORDER_PLAN = (
    'Where is order 7? [[step: lookup_order {"order_id": "7"}]] '
    '[[step: track_parcel {"parcel": "<<result:lookup_order.parcel>>", '
    '"items": "<<result:lookup_order.items>>"}]] '
    "[[reply: Order: <<result:lookup_order>> / Tracking: <<result:track_parcel>>]]"
)
WEATHER_PLAN = (
    'Paris or Rome? [[step: get_weather {"city": "Paris"}; get_weather {"city": "Rome"}]] '
    "[[reply: Forecast:\\n<<result:get_weather>>]]"
)


# --- directives ---------------------------------------------------------------------------


def test_a_two_tool_plan_takes_three_turns_and_quotes_both_results(agent: Agent) -> None:
    tools = Tools({"lookup_order": lookup_order, "track_parcel": track_parcel})
    turns = agent.ask(ORDER_PLAN, tools)
    assert [turn.names for turn in turns] == [["lookup_order"], ["track_parcel"], []]
    assert turns[0].calls[0].arguments == {"order_id": "7"}
    (order,) = tools.results("lookup_order")
    # The second step's arguments come from the first result: a string, and a number kept a number.
    assert turns[1].calls[0].arguments == {
        "parcel": json.loads(order)["parcel"],
        "items": json.loads(order)["items"],
    }
    (tracking,) = tools.results("track_parcel")
    assert turns[2].text == f"Order: {order} / Tracking: {tracking}"


def test_a_step_of_parallel_calls_is_one_turn(agent: Agent) -> None:
    tools = Tools({"get_weather": weather(18)})
    turns = agent.ask(WEATHER_PLAN, tools)
    assert [turn.names for turn in turns] == [["get_weather", "get_weather"], []]
    first, second = turns[0].calls
    assert (first.arguments, second.arguments) == ({"city": "Paris"}, {"city": "Rome"})
    assert first.id != second.id
    assert turns[1].text == "Forecast:\n" + "\n".join(tools.results("get_weather"))


@pytest.mark.parametrize("reply", ["[[reply: It is <<result>>.]]", ""], ids=["reply", "default"])
def test_the_final_reply_changes_with_the_tool_results(http: httpx.Client, reply: str) -> None:
    prompt = f'Weather? [[step: get_weather {{"city": "Oslo"}}]] {reply}'
    answers = []
    for wire in WIRES:
        for degrees in (-3, 21):
            tools = Tools({"get_weather": weather(degrees)})
            final = Agent(wire, http).ask(prompt, tools)[-1].text
            (result,) = tools.results("get_weather")
            assert final == (f"It is {result}." if reply else result)
            answers.append(final)
    # Same prompt, same requests but for the results: each format answers what its tools said.
    assert answers[0] != answers[1]
    assert answers[0::2] == [answers[0]] * len(WIRES)
    assert answers[1::2] == [answers[1]] * len(WIRES)


def test_each_user_message_plays_its_own_plan(agent: Agent) -> None:
    tools = Tools({"lookup_order": lookup_order, "get_weather": weather(12)})
    first = agent.ask(
        'Order 4? [[step: lookup_order {"order_id": "4"}]] [[reply: first: <<result>>]]', tools
    )
    second = agent.ask(
        'And Lyon? [[step: get_weather {"city": "Lyon"}]] [[reply: second: <<result>>]]', tools
    )
    assert [turn.names for turn in first] == [["lookup_order"], []]
    assert [turn.names for turn in second] == [["get_weather"], []]
    (order,), (forecast,) = tools.results("lookup_order"), tools.results("get_weather")
    assert first[-1].text == f"first: {order}"
    assert second[-1].text == f"second: {forecast}"  # only the results since its own message


def test_a_plan_repeating_a_call_gets_fresh_ids(agent: Agent) -> None:
    tools = Tools({"lookup_order": lookup_order})
    step = '[[step: lookup_order {"order_id": "3"}]]'
    turns = agent.ask(f"Twice? {step} {step}", tools)
    assert [turn.names for turn in turns] == [["lookup_order"], ["lookup_order"], []]
    assert turns[0].calls[0].id != turns[1].calls[0].id
    assert turns[2].text == "\n".join(tools.results("lookup_order"))


@pytest.mark.parametrize(
    ("on_error", "expected"),
    [
        ("[[on-error: Sorry, <<error:lookup_order>>]]", "Sorry, {error}"),
        ("", "A tool failed: {error}"),
    ],
    ids=["on-error", "default"],
)
def test_an_error_result_stops_the_plan(agent: Agent, on_error: str, expected: str) -> None:
    def missing(arguments: Json) -> str:
        return f"Error: KeyError: no order {arguments['order_id']!r}"

    tools = Tools({"lookup_order": missing, "track_parcel": track_parcel})
    turns = agent.ask(ORDER_PLAN + on_error, tools)
    assert [turn.names for turn in turns] == [["lookup_order"], []]
    assert [name for name, _, _ in tools.ran] == ["lookup_order"]  # step 2 never played
    (error,) = tools.results("lookup_order")
    assert turns[-1].text == expected.format(error=error)


def test_a_placeholder_with_nothing_to_fill_it_stays_as_written(agent: Agent) -> None:
    tools = Tools({"lookup_order": lookup_order})
    prompt = (
        '[[step: lookup_order {"order_id": "5", "note": "<<result:lookup_order>>"}]] '
        "[[reply: <<result:lookup_order.parcel>> <<result:lookup_order.nope>> <<result:other>>]]"
    )
    turns = agent.ask(prompt, tools)
    assert turns[0].calls[0].arguments == {"order_id": "5", "note": "<<result:lookup_order>>"}
    (order,) = tools.results("lookup_order")
    assert (
        turns[-1].text
        == f"{json.loads(order)['parcel']} <<result:lookup_order.nope>> <<result:other>>"
    )


@pytest.mark.parametrize(
    ("directive", "problem"),
    [
        (
            '[[step: a {}]] [[step: b {"x": ]]',
            "[[step: b {\"x\": ]] (step 2): the arguments of 'b' are not a JSON object: "
            "Expecting value at character 16 of the directive",
        ),
        (
            "[[step: a {} b {}]]",
            "[[step: a {} b {}]] (step 1): expected ';' or ']]' after the call to 'a'",
        ),
        ("[[step: ]]", "[[step: ]] (step 1): expected a tool name"),
        ("[[step: a; ]]", "[[step: a; ]] (step 1): expected a tool name"),
    ],
    ids=["bad-json", "no-separator", "empty", "trailing-separator"],
)
def test_an_unreadable_step_is_a_400_naming_it(agent: Agent, directive: str, problem: str) -> None:
    response = agent.wire.post(agent.http, [{"role": "user", "content": f"Plan: {directive}"}])
    assert response.status_code == 400
    body = response.json()
    # One error body every format's clients read: OpenAI's and Anthropic's, and Humanloop's.
    assert body["error"]["message"] == body["detail"]
    assert body["detail"].startswith("cannot read the plan in the last user message: ")
    assert problem in body["detail"]
    # The server keeps answering: the same conversation without the broken step is played.
    assert agent.wire.send(agent.http, [{"role": "user", "content": "[[step: a {}]]"}])[
        0
    ].names == ["a"]


# --- rules from Python --------------------------------------------------------------------


def test_a_rule_reacts_to_the_tool_results(server: ReferenceServer, agent: Agent) -> None:
    seen: list[tuple[ReceivedToolResult, ...]] = []

    def summary(request: Json) -> str:
        results = tool_results(request)
        seen.append(results)
        return "; ".join(f"{r.name}({r.arguments}) -> {r.json()['parcel']}" for r in results)

    server.add_rule(summary, when=lambda request: bool(tool_results(request)))
    tools = Tools({"lookup_order": lookup_order})
    # The one-shot [[tool: ...]] directive calls the tool; the rule answers once it has run.
    turns = agent.ask('[[tool: lookup_order {"order_id": "8"}]]', tools)
    assert [turn.names for turn in turns] == [["lookup_order"], []]
    (call,) = turns[0].calls
    (order,) = tools.results("lookup_order")
    assert turns[-1].text == f'lookup_order({{"order_id":"8"}}) -> {json.loads(order)["parcel"]}'
    (result,) = seen[-1]
    assert (result.call_id, result.content, result.error) == (call.id, order, False)


def test_tool_results_are_only_those_since_the_last_user_message(
    server: ReferenceServer, agent: Agent
) -> None:
    counts: list[int] = []

    def count(request: Json) -> str:
        counts.append(len(tool_results(request)))
        return "counted"

    server.add_rule(count, when="count")
    tools = Tools({"lookup_order": lookup_order, "get_weather": weather(9)})
    assert agent.ask(WEATHER_PLAN, tools)[0].names == ["get_weather"] * 2
    assert agent.ask("count them", tools)[-1].text == "counted"
    assert counts == [0]  # the forecasts answered the first message, not this one


def test_a_plan_rule_plays_like_the_directives(server: ReferenceServer, agent: Agent) -> None:
    paris, rome = (ToolCallReply("get_weather", {"city": city}) for city in ("Paris", "Rome"))
    plan = Plan(
        [ToolCallReply("lookup_order", {"order_id": "2"}), [paris, rome]],
        reply="<<result:lookup_order.parcel>> | <<result:get_weather>>",
        on_error="stopped: <<error>>",
    )
    server.add_rule(plan, when="order 2")
    tools = Tools({"lookup_order": lookup_order, "get_weather": weather(30)})
    turns = agent.ask("Where is order 2, and the weather?", tools)
    assert [turn.names for turn in turns] == [["lookup_order"], ["get_weather"] * 2, []]
    (order,) = tools.results("lookup_order")
    forecast = "\n".join(tools.results("get_weather"))
    assert turns[-1].text == f"{json.loads(order)['parcel']} | {forecast}"


def test_a_plan_step_must_be_tool_calls() -> None:
    with pytest.raises(TypeError, match="Plan step 2: expected a ToolCallReply or a non-empty"):
        Plan([ToolCallReply("a"), []])
    with pytest.raises(TypeError, match=r"Plan step 1: .* got 'a'"):
        Plan(["a"])  # type: ignore[list-item]


# --- the official SDK ---------------------------------------------------------------------


def test_the_openai_sdk_plays_a_plan(server: ReferenceServer) -> None:
    openai = pytest.importorskip("openai")
    httpx2 = pytest.importorskip("httpx2")
    client = openai.OpenAI(
        base_url=server.base_url,
        api_key="sk-test-not-a-secret",
        http_client=httpx2.Client(trust_env=False),
    )
    tools = Tools({"lookup_order": lookup_order, "track_parcel": track_parcel})
    messages: list[Json] = [{"role": "user", "content": ORDER_PLAN}]
    names = []
    with client:
        for _ in range(4):
            message = (
                client.chat.completions.create(model="ref", messages=messages).choices[0].message
            )
            names.append([call.function.name for call in message.tool_calls or []])
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                arguments = json.loads(call.function.arguments)
                content = tools.run(Call(call.id, call.function.name, arguments))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    assert names == [["lookup_order"], ["track_parcel"], []]
    (order,), (tracking,) = tools.results("lookup_order"), tools.results("track_parcel")
    assert message.content == f"Order: {order} / Tracking: {tracking}"


# --- the plugin's tool loop ---------------------------------------------------------------

SESSION = """
import pytest
from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp import checks as c

def lookup_order(order_id: str) -> dict:
    return {"order_id": order_id, "parcel": "P-" + order_id}

def track_parcel(parcel: str) -> str:
    return f"parcel {parcel} is in Lyon"

def schema(name):
    return {"type": "object", "properties": {name: {"type": "string"}}, "required": [name]}

PROMPT = (
    'Where is order {{order_id}}? [[step: lookup_order {"order_id": "{{order_id}}"}]] '
    '[[step: track_parcel {"parcel": "<<result:lookup_order.parcel>>"}]] '
    "[[reply: <<result:track_parcel>>]]"
)
OPENAI = ModelConfig(
    name="openai", model="ref", chat_template=[{"role": "user", "content": PROMPT}],
    tools=[Tool(name="lookup_order", parameters=schema("order_id"), handler=lookup_order),
           Tool(name="track_parcel", parameters=schema("parcel"), handler=track_parcel)],
)
CONFIGS = [OPENAI, OPENAI.variant(name="anthropic", provider="anthropic", max_tokens=500),
           OPENAI.variant(name="humanloop", provider="humanloop")]
CONFIGS += [config.variant(name=config.name + "-stream", other={"stream": True}) for config in CONFIGS]
ORDERS = ["7", "9"]

@pytest.mark.chatexp(model_configs=CONFIGS, inputs=[{"id": o, "order_id": o} for o in ORDERS], max_turns=5)
def test_agent(chatexp):
    c.assert_samples(chatexp, c.called_in_order("lookup_order", "track_parcel"))
    for config in CONFIGS:
        for order in ORDERS:
            expected = track_parcel(lookup_order(order)["parcel"])
            assert chatexp.case(config.name, order).outputs == [expected], config.name
"""


def test_the_plugin_plays_a_plan_in_every_format(
    suite: Suite, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tool loop runs the handlers and sends their results back; the server's next step
    takes its arguments from them, and the answer quotes them, streamed or not."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-secret")
    monkeypatch.setenv("HUMANLOOP_BASE_URL", server.url + "/v4")
    monkeypatch.setenv("HUMANLOOP_API_KEY", "hl-test-not-a-secret")
    suite.write(SESSION).run().assert_outcomes(passed=1).assert_clean()
    paths = [request.path for request in server.requests]
    # 2 orders x 2 (plain, streamed) x 3 turns per format.
    assert sorted(set(paths)) == ["/v1/chat/completions", "/v1/messages", "/v4/chat"]
    assert all(paths.count(path) == 12 for path in set(paths))
