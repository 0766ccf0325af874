"""Tool-call checks through whole pytest sessions, and their argument matchers directly.

The inner sessions' model is the reference server: ``[[tool: name {...}]]`` directives in the
prompt make it call tools (several directives, several calls, in order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from jsonschema import Draft202012Validator

from pytest_chatexp import Input, ModelConfig, Tool
from pytest_chatexp._experiment._humanloop import (
    ChatDataResponse,
    ChatMessage,
    FunctionTool,
    ToolCall,
    Usage,
)
from pytest_chatexp._experiment._result import Sample
from pytest_chatexp.checks._tools import (
    ANY,
    OneOf,
    Regex,
    called,
    called_in_any_order,
    called_in_order,
    called_times,
    no_tool_calls,
    not_called,
    valid_tool_arguments,
)
from pytest_chatexp.testing import ReferenceServer, Reply, ToolCallReply

SUITE = """
import pytest
from pytest_chatexp import ModelConfig, Tool
from pytest_chatexp.checks import assert_samples
from pytest_chatexp.checks._tools import (
    ANY, OneOf, Regex, called, called_in_any_order, called_in_order, called_times,
    no_tool_calls, not_called, valid_tool_arguments,
)

def tool(name, **properties):
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return Tool(name=name, description=name, parameters=schema)

CONFIG = ModelConfig(
    name="agent",
    model="ref-model",
    tools=[
        tool("lookup_order", order_id={"type": "string"}),
        tool("issue_refund", order_id={"type": "string"}, amount={"type": "number", "minimum": 0}),
        tool("update_address", address={"type": "object"}),
        Tool(name="notify"),
    ],
    tool_choice="auto",
    chat_template=[{"role": "user", "content": "{{prompt}}"}],
)

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "passing", "prompt": PASSING}])
def test_passing(chatexp):
    assert_samples(chatexp, CHECK)

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "failing", "prompt": FAILING}])
def test_failing(chatexp):
    assert_samples(chatexp, CHECK)
"""

LOOKUP = '[[tool: lookup_order {"order_id": "7"}]]'
LOOKUP_8 = '[[tool: lookup_order {"order_id": "8"}]]'
REFUND = '[[tool: issue_refund {"order_id": "7", "amount": 12.5}]]'
REFUND_8 = '[[tool: issue_refund {"order_id": "8", "amount": 12.5}]]'
NOTIFY = "[[tool: notify {}]]"


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern matching itself (``[`` is written ``[[]``, and so on)."""
    return re.sub(r"[][*?]", lambda m: "[[]" if m.group() == "[" else f"[{m.group()}]", text)


@dataclass(frozen=True)
class Scenario:
    check: str  # the check expression in the inner test
    passing: str  # a prompt whose answer passes it
    failing: str  # a prompt whose answer fails it
    reason: str  # the failing sample's line: "<check name>: <reason>"

    @property
    def name(self) -> str:
        return self.reason.split(": ", 1)[0]


SCENARIOS = {
    "called": Scenario(
        "called('issue_refund')",
        LOOKUP + REFUND,
        LOOKUP,
        """called('issue_refund'): called lookup_order({"order_id":"7"}), not issue_refund""",
    ),
    "called-nothing": Scenario(
        "called('lookup_order')",
        LOOKUP,
        "[[reply: Which order?]]",
        "called('lookup_order'): made no tool calls, not lookup_order",
    ),
    "called-arguments": Scenario(
        "called('issue_refund', {'order_id': '7', 'amount': ANY})",
        LOOKUP_8 + REFUND_8 + REFUND,
        LOOKUP_8 + REFUND_8,
        'called(\'issue_refund\', {"order_id":"7","amount":ANY}): called lookup_order({"order_id":"8"}), '
        'issue_refund({"amount":12.5,"order_id":"8"}), not with {"order_id":"7","amount":ANY}: '
        '$.order_id is "8", not "7"',
    ),
    "called-missing-argument": Scenario(
        "called('issue_refund', {'reason': ANY})",
        '[[tool: issue_refund {"order_id": "7", "amount": 1, "reason": null}]]',
        REFUND,
        'called(\'issue_refund\', {"reason":ANY}): called issue_refund({"amount":12.5,"order_id":"7"}), '
        'not with {"reason":ANY}: $.reason is missing',
    ),
    "called-nested-matchers": Scenario(
        r"called('update_address', {'address': {'city': OneOf('Paris', 'Lyon'), 'zip': Regex(r'^\d{5}$')}})",
        '[[tool: update_address {"address": {"city": "Lyon", "zip": "69001", "line": "1 rue"}}]]',
        '[[tool: update_address {"address": {"city": "Lyon", "zip": "6900"}}]]',
        r"""called('update_address', {"address":{"city":OneOf("Paris", "Lyon"),"zip":Regex(/^\d{5}$/)}}): """
        r'called update_address({"address":{"city":"Lyon","zip":"6900"}}), '
        r'not with {"address":{"city":OneOf("Paris", "Lyon"),"zip":Regex(/^\d{5}$/)}}: '
        r'$.address.zip is "6900", not Regex(/^\d{5}$/)',
    ),
    "called-invalid-json": Scenario(
        "called('issue_refund', {'order_id': '7'})",
        REFUND,
        '[[tool: issue_refund {"order_id": ]]',
        'called(\'issue_refund\', {"order_id":"7"}): called issue_refund({"order_id":), '
        'not with {"order_id":"7"}: arguments are invalid JSON at line 1 column 13: Expecting value',
    ),
    "not_called": Scenario(
        "not_called('issue_refund')",
        LOOKUP,
        LOOKUP + REFUND,
        """not_called('issue_refund'): called issue_refund({"amount":12.5,"order_id":"7"})""",
    ),
    "called_times": Scenario(
        "called_times('lookup_order', 2)",
        LOOKUP + LOOKUP_8,
        LOOKUP + REFUND,
        'called_times(\'lookup_order\', 2): called lookup_order({"order_id":"7"}), '
        'issue_refund({"amount":12.5,"order_id":"7"}): lookup_order once, not 2',
    ),
    "called_in_order": Scenario(
        "called_in_order('lookup_order', 'issue_refund')",
        LOOKUP + NOTIFY + REFUND,
        REFUND + LOOKUP,
        "called_in_order('lookup_order', 'issue_refund'): "
        'called issue_refund({"amount":12.5,"order_id":"7"}), lookup_order({"order_id":"7"}): '
        "no issue_refund after lookup_order",
    ),
    "called_in_any_order": Scenario(
        "called_in_any_order('lookup_order', 'notify', 'notify')",
        NOTIFY + LOOKUP + NOTIFY,
        LOOKUP + NOTIFY,
        "called_in_any_order('lookup_order', 'notify', 'notify'): "
        'called lookup_order({"order_id":"7"}), notify({}): missing notify (called 1 of 2 times)',
    ),
    "no_tool_calls": Scenario(
        "no_tool_calls()",
        "[[reply: Which order?]]",
        "[[reply: Let me look.]]" + LOOKUP,
        """no_tool_calls(): called lookup_order({"order_id":"7"})""",
    ),
    "valid_tool_arguments": Scenario(
        "valid_tool_arguments()",
        LOOKUP + REFUND + NOTIFY,
        LOOKUP + '[[tool: issue_refund {"order_id": "7", "amount": -3}]]',
        'valid_tool_arguments(): issue_refund({"amount":-3,"order_id":"7"}): '
        "$.amount: -3 is less than the minimum of 0",
    ),
    "valid_tool_arguments-undeclared": Scenario(
        "valid_tool_arguments()",
        '[[tool: update_address {"address": {}}]]',
        '[[tool: delete_account {"id": 1}]][[tool: notify [1]]]',
        'valid_tool_arguments(): delete_account({"id":1}): not a declared tool '
        "(declared: lookup_order, issue_refund, update_address, notify) (and 1 more invalid call)",
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_check_passes_and_fails(
    pytester: pytest.Pytester, server: ReferenceServer, scenario: Scenario
) -> None:
    source = (
        SUITE.replace("CHECK", scenario.check)
        .replace("PASSING", repr(scenario.passing))
        .replace("FAILING", repr(scenario.failing))
    )
    pytester.makepyfile(test_suite=source)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_failing _*",
            f"E       AssertionError: 1 of 1 cases fail {literal(f'[{scenario.name}]')}"
            " (required: every sample)",
            "E         agent/failing  0/1 passed (0%)",
            f"E           sample 0: {literal(scenario.reason)}",
            "E             output: *",
        ]
    )
    result.stdout.no_fnmatch_line("*pytest_chatexp/checks/*")
    assert len(server.requests) == 2


def test_called_failure_is_exact(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    """Two samples, one refunds the wrong order: the whole failure, as the user reads it."""
    refunds = iter(["7", "8"])

    def agent(request: dict[str, object]) -> Reply:
        order = next(refunds)
        return Reply(
            text="Refunding now." if order == "8" else None,
            tool_calls=[
                ToolCallReply("lookup_order", {"order_id": order}),
                ToolCallReply("issue_refund", {"order_id": order, "amount": 20}),
            ],
        )

    server.add_rule(agent)
    pytester.makepyfile(
        test_refunds="""
        import pytest
        from pytest_chatexp import ModelConfig
        from pytest_chatexp.checks import assert_samples
        from pytest_chatexp.checks._tools import called

        AGENT = ModelConfig(name="agent", model="ref-model", chat_template=[{"role": "user", "content": "Refund order 7"}])

        @pytest.mark.chatexp(model_configs=[AGENT], inputs=[{"id": "refund-7"}], num_samples=2, concurrency=1)
        def test_refunds_the_right_order(chatexp):
            assert_samples(chatexp, called("issue_refund", {"order_id": "7"}))
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    expected = """\
>       assert_samples(chatexp, called("issue_refund", {"order_id": "7"}))
E       AssertionError: 1 of 1 cases fail [called('issue_refund', {"order_id":"7"})] (required: every sample)
E         agent/refund-7  1/2 passed (50%)
E           sample 1: called('issue_refund', {"order_id":"7"}): called lookup_order({"order_id":"8"}), issue_refund({"amount":20,"order_id":"8"}), not with {"order_id":"7"}: $.order_id is "8", not "7"
E             output: 'Refunding now.'

test_refunds.py:10: AssertionError"""
    result.stdout.fnmatch_lines([literal(line) for line in expected.splitlines()], consecutive=True)
    result.stdout.no_fnmatch_line("*pytest_chatexp/checks/*")


def test_empty_arguments_are_not_an_object(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    server.add_rule(Reply(tool_calls=[ToolCallReply("notify", "")]))
    pytester.makepyfile(
        """
        import pytest
        from pytest_chatexp import ModelConfig, Tool
        from pytest_chatexp.checks import assert_samples
        from pytest_chatexp.checks._tools import called, valid_tool_arguments

        AGENT = ModelConfig(name="agent", model="ref-model", tools=[Tool(name="notify")], chat_template=[{"role": "user", "content": "hi"}])

        @pytest.mark.chatexp(model_configs=[AGENT])
        def test_called(chatexp):
            assert_samples(chatexp, called("notify"))

        @pytest.mark.chatexp(model_configs=[AGENT])
        def test_valid(chatexp):
            assert_samples(chatexp, valid_tool_arguments())
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E           sample 0: valid_tool_arguments(): notify(): empty arguments, not a JSON object",
            "E             output: notify()",
        ]
    )


# --- the pure parts, directly -----------------------------------------------------------


def sample(*calls: tuple[str, str | None], tools: tuple[Tool, ...] = ()) -> Sample:
    """A sample making ``calls`` (name, arguments text), without a server."""
    tool_calls = [
        ToolCall(id=f"call_{n}", type="function", function=FunctionTool(name=name, arguments=args))
        for n, (name, args) in enumerate(calls)
    ]
    data = ChatDataResponse(
        id="data_1",
        index=0,
        output="",
        raw_output="",
        model_config_id="config_1",
        output_message=ChatMessage(role="assistant", content=None, tool_calls=tool_calls or None),
        finish_reason="tool_call" if calls else "stop",
        tool_calls=tool_calls or None,
    )
    return Sample(
        data=data,
        usage=Usage(),
        config=ModelConfig(model="m", tools=tools),
        input=Input(id="x"),
        provider_request={},
        provider_response=None,
        latency_s=0.0,
    )


def test_matchers_compare_and_show_themselves() -> None:
    assert repr(ANY) == "ANY"
    assert ANY == None  # noqa: E711  (ANY equals everything, None included)
    assert {"a": ANY, "b": [1, ANY]} == {"a": {"deep": 1}, "b": [1, "x"]}
    assert OneOf("open", "pending") == "pending"
    assert OneOf("open", "pending") != "closed"
    assert OneOf({"kind": "card"}, None) == {"kind": "card", "last4": "4242"}
    assert OneOf(1) != True  # noqa: E712  (JSON tells true from 1)
    assert repr(OneOf("a", {"b": ANY})) == 'OneOf("a", {"b":ANY})'
    assert Regex(r"^\d+$") == "123"
    assert Regex(r"^\d+$") != 123
    assert Regex(re.compile("yes", re.I)) == "Oh YES"
    assert repr(Regex(re.compile("yes", re.I))) == "Regex(/yes/i)"
    with pytest.raises(TypeError, match=r"OneOf\(\) needs at least one value"):
        OneOf()


@pytest.mark.parametrize(
    ("expected", "arguments", "reason"),
    [
        ({"n": 1}, '{"n": 1.0}', None),
        ({"n": 1}, '{"n": true}', "$.n is true, not 1"),
        ({"flag": False}, '{"flag": 0}', "$.flag is 0, not false"),
        ({"tags": ["a", ANY]}, '{"tags": ["a", "b"]}', None),
        ({"tags": ["a"]}, '{"tags": ["a", "b"]}', '$.tags is ["a","b"], not ["a"]'),
        ({"items": [{"sku": "x"}]}, '{"items": [{"sku": "x", "n": 2}]}', None),
        ({"items": [{"sku": "x"}]}, '{"items": [{"sku": "y"}]}', '$.items[0].sku is "y", not "x"'),
        (
            {"address": {"city": "Paris"}},
            '{"address": "Paris"}',
            '$.address is "Paris", not an object',
        ),
        ({"odd key": 1}, '{"odd key": 2}', '$["odd key"] is 2, not 1'),
        ({}, '{"anything": 1}', None),
        ({}, "[1]", "arguments are [1], not a JSON object"),
        ({}, None, "empty arguments, not a JSON object"),
    ],
)
def test_argument_matching(
    expected: dict[str, object], arguments: str | None, reason: str | None
) -> None:
    verdict = called("f", expected)(sample(("f", arguments)))
    if reason is None:
        assert verdict is None
    else:
        assert verdict is not None and verdict.endswith(f": {reason}"), verdict


def test_any_call_with_the_arguments_passes() -> None:
    check = called("f", {"n": 2})
    assert check(sample(("f", '{"n": 1}'), ("f", '{"n": 2}'))) is None
    assert check(sample(("f", '{"n": 1}'), ("f", '{"n": 3}'))) == (
        'called f({"n":1}), f({"n":3}), not with {"n":2}: $.n is 1, not 2'
    )


def test_long_call_lists_are_shortened() -> None:
    long_text = "x" * 100
    many = [("search", f'{{"q": "{n}"}}') for n in range(7)]
    assert no_tool_calls()(sample(*many)) == (
        'called search({"q":"0"}), search({"q":"1"}), search({"q":"2"}), search({"q":"3"}), '
        'search({"q":"4"}), and 2 more'
    )
    assert not_called("say")(sample(("say", f'{{"text": "{long_text}"}}'))) == (
        'called say({"text":"' + "x" * 65 + "…)"
    )
    assert not_called("say")(sample(("say", '{"text":\n  "hi" '))) == 'called say({"text": "hi")'


@pytest.mark.parametrize(
    ("check", "calls", "reason"),
    [
        (called_times("f", 0), [("f", "{}")], "called f({}): f once, not 0"),
        (called_times("f", 1), [], "made no tool calls: f 0 times, not 1"),
        (called_times("f", 1), [("f", "{}"), ("f", "{}")], "called f({}), f({}): f 2 times, not 1"),
        (
            called_in_order("a", "a"),
            [("a", "{}"), ("b", "{}")],
            "called a({}), b({}): no a after a",
        ),
        (called_in_order("a", "b"), [("a", "{}"), ("c", "{}"), ("b", "{}")], None),
        (called_in_order("a"), [], "made no tool calls: no a"),
        (called_in_any_order("b", "a"), [("a", "{}"), ("b", "{}")], None),
        (called_in_any_order("a", "b"), [("b", "{}")], "called b({}): missing a"),
        (not_called("a"), [("b", "{}")], None),
        (no_tool_calls(), [], None),
    ],
)
def test_counting_and_order(
    check: object, calls: list[tuple[str, str]], reason: str | None
) -> None:
    assert callable(check)
    assert check(sample(*calls)) == reason


def test_valid_tool_arguments_reads_each_declared_schema() -> None:
    tools = (
        Tool(name="free"),
        Tool(
            name="search",
            parameters={
                "type": "object",
                "properties": {"q": {"type": "string", "minLength": 1}},
                "required": ["q"],
            },
        ),
        # Refused when declared (tests/sessions/test_bad_input.py); a constructed one still is named.
        Tool.model_construct(name="broken", parameters={"type": "objekt"}),
    )
    check = valid_tool_arguments()
    assert check(sample(("free", '{"x": [1]}'), ("search", '{"q": "shoes"}'), tools=tools)) is None
    # jsonschema's own words, which change between its versions (4.18: "is too short").
    too_short = next(Draft202012Validator({"minLength": 1}).iter_errors("")).message
    assert check(sample(("search", '{"q": ""}'), tools=tools)) == (
        f"""search({{"q":""}}): $.q: {too_short}"""
    )
    assert check(sample(("search", "{}"), ("free", "[]"), tools=tools)) == (
        "search({}): $: 'q' is a required property (and 1 more invalid call)"
    )
    assert check(sample(("lookup", "{}"))) == "lookup({}): not a declared tool (declared: none)"
    with pytest.raises(
        ValueError, match=r"the parameters of tool 'broken': invalid JSON schema at \$\.type: "
    ):
        check(sample(("broken", "{}"), tools=tools))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: called(""), "called(): tool names are non-empty strings, got ''"),
        (lambda: called("f", [1]), "called(): arguments must be a mapping, got [1]"),  # type: ignore[arg-type]
        (lambda: called_in_order(), "called_in_order() needs at least one tool name"),
        (lambda: called_times("f", -1), "called_times(): n must be an int of at least 0, got -1"),
        (
            lambda: called_times("f", True),
            "called_times(): n must be an int of at least 0, got True",
        ),
    ],
)
def test_mistakes_fail_when_the_check_is_made(make: object, message: str) -> None:
    assert callable(make)
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        make()
