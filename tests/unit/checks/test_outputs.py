"""Output checks (text, JSON, finish reasons) through whole pytest sessions.

Each check runs the way a user runs it: an inner session whose model is the reference server,
scripted by ``[[reply: ...]]`` / ``[[tokens: N]]`` directives in the prompt or by rules added
to ``server`` here (inline pytester sessions run in this process).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pydantic
import pytest

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._experiment._humanloop import ChatDataResponse, ChatMessage, Usage
from pytest_chatexp._experiment._result import Case, Sample
from pytest_chatexp.checks import _running
from pytest_chatexp.checks._outputs import (
    contains,
    equals,
    finish_reason,
    is_json,
    json_model,
    json_schema,
    length,
    matches,
    not_contains,
    parse_json,
    satisfies,
    startswith,
)
from pytest_chatexp.checks._running import AssertionVerdict
from pytest_chatexp.checks._verdict import assert_samples
from pytest_chatexp.testing import ReferenceServer

SUITE = """
import dataclasses
import re
import pydantic
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import assert_samples
from pytest_chatexp.checks._outputs import (
    contains, equals, finish_reason, icontains, is_json, json_model, json_schema, length,
    matches, not_contains, not_truncated, satisfies, startswith,
)

CONFIG = ModelConfig(
    name="cfg",
    model="ref-model",
    chat_template=[{"role": "user", "content": "{{prompt}}"}],
    **EXTRA,
)

class Item(pydantic.BaseModel):
    sku: str
    price: float

class Order(pydantic.BaseModel):
    items: list[Item]

def short(sample):
    return len(sample.output) <= 10

def polite(sample):
    return None if "please" in sample.output else "says no please"

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "passing", "prompt": PASSING}])
def test_passing(chatexp):
    assert_samples(chatexp, CHECK)

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"id": "failing", "prompt": FAILING}])
def test_failing(chatexp):
    assert_samples(chatexp, CHECK)
"""


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern matching itself (``[`` is written ``[[]``, and so on)."""
    return re.sub(r"[][*?]", lambda m: "[[]" if m.group() == "[" else f"[{m.group()}]", text)


@dataclass(frozen=True)
class Scenario:
    check: str  # the check expression in the inner test
    passing: str  # a prompt whose answer passes it
    failing: str  # a prompt whose answer fails it
    reason: str  # the failing sample's line: "<check name>: <reason>"
    extra: str = "{}"  # more ModelConfig fields

    @property
    def name(self) -> str:
        return self.reason.split(": ", 1)[0]


SCENARIOS = {
    "equals": Scenario(
        "equals('Paris')",
        "[[reply:   Paris  ]]",
        "[[reply: Paris, France]]",
        "equals('Paris'): is 'Paris, France', not 'Paris'",
    ),
    "equals-no-strip": Scenario(
        "equals('Paris.', strip=False)",
        "[[reply: Paris.]]",
        "[[reply: Paris]]",
        "equals('Paris.', strip=False): is 'Paris', not 'Paris.'",
    ),
    "contains": Scenario(
        "contains('refund')",
        "[[reply: Your refund is on its way]]",
        "[[reply: Sorry, no]]",
        "contains('refund'): does not contain 'refund'",
    ),
    "contains-all": Scenario(
        "contains('refund', 'order')",
        "[[reply: The refund for your order is on its way]]",
        "[[reply: Your refund is on its way]]",
        "contains('refund', 'order'): does not contain 'order'",
    ),
    "contains-any": Scenario(
        "contains('refund', 'credit', any=True)",
        "[[reply: We issued a credit]]",
        "[[reply: Sorry, no]]",
        "contains('refund', 'credit', any=True): contains none of 'refund', 'credit'",
    ),
    "icontains": Scenario(
        "icontains('REFUND')",
        "[[reply: Refund sent]]",
        "[[reply: Sorry, no]]",
        "icontains('REFUND'): does not contain 'REFUND' (ignoring case)",
    ),
    "not_contains": Scenario(
        "not_contains('sorry', 'as an AI', ignore_case=True)",
        "[[reply: Refund sent]]",
        "[[reply: Sorry, As an ai I cannot]]",
        "not_contains('sorry', 'as an AI', ignore_case=True): contains 'sorry', 'as an AI' (ignoring case)",
    ),
    "matches": Scenario(
        r"matches(r'order #\d+')",
        "[[reply: Found order #42.]]",
        "[[reply: Found order #x.]]",
        r"matches(/order #\d+/): does not match /order #\d+/",
    ),
    "matches-compiled": Scenario(
        "matches(re.compile('^yes$', re.IGNORECASE))",
        "[[reply: YES]]",
        "[[reply: yes sir]]",
        "matches(/^yes$/i): does not match /^yes$/i",
    ),
    "startswith": Scenario(
        "startswith('Dear')",
        "[[reply: Dear customer, hello]]",
        "[[reply: Hi customer]]",
        "startswith('Dear'): starts with 'Hi c', not 'Dear'",
    ),
    "length-max": Scenario(
        "length(max=10)",
        "[[reply: short]]",
        "[[reply: far too long a reply]]",
        "length(max=10): is 20 characters, more than the maximum 10",
    ),
    "length-min": Scenario(
        "length(min=3, max=100)",
        "[[reply: long enough]]",
        "[[reply: no]]",
        "length(min=3, max=100): is 2 characters, fewer than the minimum 3",
    ),
    "is_json": Scenario(
        "is_json()",
        '[[reply:  {"city": "Paris"} ]]',
        "[[reply: {city: Paris}]]",
        "is_json(): invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes",
    ),
    "is_json-fenced": Scenario(
        "is_json(fenced=True)",
        '[[reply: ```json\\n{"city": "Paris"}\\n```]]',
        '[[reply: ```python\\n{"city": "Paris"}\\n```]]',
        "is_json(fenced=True): invalid JSON at line 1 column 1: Expecting value",
    ),
    "json_schema": Scenario(
        "json_schema({'title': 'Order', 'type': 'object', 'properties': {'items': {'type': 'array', 'items': {'type': 'number'}}}})",
        '[[reply: {"items": [1, 2.5]}]]',
        '[[reply: {"items": [1, "two"]}]]',
        "json_schema(Order): $.items[1]: 'two' is not of type 'number'",
    ),
    "json_schema-not-json": Scenario(
        "json_schema({'type': 'object', 'required': ['city']})",
        '[[reply: {"city": "Paris"}]]',
        "[[reply: Paris]]",
        'json_schema({"type":"object","required":["city"]}): invalid JSON at line 1 column 1: Expecting value',
    ),
    "json_model": Scenario(
        "json_model(Order)",
        '[[reply: {"items": [{"sku": "a1", "price": 2}]}]]',
        '[[reply: {"items": [{"sku": "a1", "price": "cheap"}]}]]',
        "json_model(Order): $.items[0].price: Input should be a valid number, unable to parse string as a number (got 'cheap')",
    ),
    "satisfies": Scenario(
        "satisfies(short)",
        "[[reply: brief]]",
        "[[reply: not brief at all]]",
        "satisfies(short): predicate returned False",
    ),
    "satisfies-reason": Scenario(
        "satisfies(polite, name='polite')",
        "[[reply: please wait]]",
        "[[reply: wait]]",
        "polite: says no please",
    ),
    "finish_reason": Scenario(
        "finish_reason('stop')",
        "[[tokens: 3]]",
        "[[tokens: 30]]",
        "finish_reason('stop'): finish_reason is 'length', not 'stop'",
        extra="{'max_tokens': 5}",
    ),
    "finish_reason-several": Scenario(
        "finish_reason('stop', 'tool_call')",
        "[[tool: lookup {}]]",
        "[[tokens: 30]]",
        "finish_reason('stop', 'tool_call'): finish_reason is 'length', not one of 'stop', 'tool_call'",
        extra="{'max_tokens': 5}",
    ),
    "not_truncated": Scenario(
        "not_truncated()",
        "[[tokens: 5]]",
        "[[tokens: 6]]",
        "not_truncated(): hit the token limit (finish_reason 'length', max_tokens=5)",
        extra="{'max_tokens': 5}",
    ),
}


def run_scenario(pytester: pytest.Pytester, scenario: Scenario) -> pytest.RunResult:
    source = (
        SUITE.replace("CHECK", scenario.check)
        .replace("PASSING", repr(scenario.passing))
        .replace("FAILING", repr(scenario.failing))
        .replace("EXTRA", scenario.extra)
    )
    pytester.makepyfile(test_suite=source)
    return pytester.runpytest()


def assert_hidden_helpers(result: pytest.RunResult) -> None:
    """The failure shows the test's own line and the table, no frame of the checks package."""
    result.stdout.fnmatch_lines(["E       AssertionError: *"])
    result.stdout.no_fnmatch_line("*pytest_chatexp/checks/*")
    result.stdout.no_fnmatch_line("*_verdict.py*")


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_check_passes_and_fails(
    pytester: pytest.Pytester, server: ReferenceServer, scenario: Scenario
) -> None:
    result = run_scenario(pytester, scenario)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_failing _*",
            f"E       AssertionError: 1 of 1 cases fail {literal(f'[{scenario.name}]')}"
            " (required: every sample)",
            "E         cfg/failing  0/1 passed (0%)",
            f"E           sample 0: {literal(scenario.reason)}",
            "E             output: *",
        ],
        consecutive=False,
    )
    assert_hidden_helpers(result)
    assert len(server.requests) == 2


TABLE_SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp.checks import assert_samples
from pytest_chatexp.checks._outputs import contains

BASE = ModelConfig(
    name="support",
    model="ref-model",
    temperature=0.2,
    chat_template=[{"role": "user", "content": "{{message}}"}],
)

@pytest.mark.chatexp(
    model_configs=[BASE, BASE.variant(name="warm", temperature=0.9)],
    inputs=[{"id": "late", "message": "Where is my order?"}, {"id": "broken", "message": "It arrived broken"}],
    num_samples=3,
    concurrency=1,
)
def test_support(chatexp):
    assert_samples(chatexp, contains("refund"), min_pass_rate=0.8)
"""

# What each case's three samples say, in sample order: `warm` struggles with broken parcels.
SCRIPT = {
    (0.2, "Where is my order?"): ["It ships today.", "A refund is possible.", "It ships today."],
    (0.2, "It arrived broken"): ["We will refund you."] * 3,
    (0.9, "Where is my order?"): ["Your refund is on its way."] * 3,
    (0.9, "It arrived broken"): [
        "Oh no!",
        "A refund is coming.",
        "Please send a photo of the damage so that we can look into it.",
    ],
}


def test_failure_table_is_exact(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    answered: dict[tuple[float, str], int] = {}

    def scripted(request: dict[str, object]) -> str:
        messages = request["messages"]
        assert isinstance(messages, list)
        key = (float(request["temperature"]), messages[-1]["content"])  # type: ignore[arg-type]
        answered[key] = answered.get(key, 0) + 1
        return SCRIPT[key][answered[key] - 1]

    server.add_rule(scripted)
    pytester.makepyfile(test_support=TABLE_SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    expected = """\
AssertionError: 2 of 4 cases fail [contains('refund')] (required: a pass rate of at least 80%)
  support/late  1/3 passed (33%)
    sample 0: contains('refund'): does not contain 'refund'
      output: 'It ships today.'
    sample 2: contains('refund'): does not contain 'refund'
      output: 'It ships today.'
  warm/broken   1/3 passed (33%)
    sample 0: contains('refund'): does not contain 'refund'
      output: 'Oh no!'
    sample 2: contains('refund'): does not contain 'refund'
      output: 'Please send a photo of the damage so that we can look into …'"""
    # pytest prints the message under the test's line, each line behind "E" and an indent.
    result.stdout.fnmatch_lines(
        [f"E       {literal(line)}" for line in expected.splitlines()], consecutive=True
    )
    assert_hidden_helpers(result)
    assert sum(answered.values()) == 12


# --- the pure parts, directly -----------------------------------------------------------


def sample(output: str, *, finish: str | None = "stop") -> Sample:
    """A sample that says ``output``, without a server."""
    data = ChatDataResponse(
        id="data_1",
        index=0,
        output=output,
        raw_output=output,
        model_config_id="config_1",
        output_message=ChatMessage(role="assistant", content=output),
        finish_reason=finish,
    )
    return Sample(
        data=data,
        usage=Usage(),
        config=ModelConfig(model="m"),
        input=Input(id="x"),
        provider_request={},
        provider_response=None,
        latency_s=0.0,
    )


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: contains(), TypeError, "contains() needs at least one text"),
        (lambda: contains(""), ValueError, "contains(): an empty text is in every output"),
        (lambda: not_contains(3), TypeError, "not_contains(): expected strings, got 3"),  # type: ignore[arg-type]
        (lambda: startswith(""), ValueError, "startswith(): the prefix is empty"),
        (lambda: length(), TypeError, "length() needs min=, max= or both"),
        (lambda: length(min=5, max=2), ValueError, "length(): min=5 is more than max=2"),
        (lambda: length(max=-1), ValueError, "length(): max must be at least 0, got -1"),
        (lambda: length(min=1.5), TypeError, "length(): min must be an int, got 1.5"),  # type: ignore[arg-type]
        (lambda: finish_reason(), TypeError, "finish_reason() needs at least one finish reason"),
        (
            lambda: finish_reason("tool_calls"),
            ValueError,
            "finish_reason(): samples say 'tool_call' (Humanloop's word), never 'tool_calls'",
        ),
        (
            lambda: json_schema({"type": "object", "properties": {"id": {"type": "strin"}}}),
            ValueError,
            "json_schema(): invalid JSON schema at $.properties.id.type: 'strin' is not valid under any of the given schemas",
        ),
        (lambda: json_schema([]), TypeError, "json_schema(): the schema must be a mapping"),  # type: ignore[arg-type]
        (lambda: json_model(dict), TypeError, "json_model() needs a pydantic model class"),  # type: ignore[arg-type]
        (lambda: matches("("), re.error, "missing ), unterminated subpattern"),
    ],
)
def test_mistakes_fail_when_the_check_is_made(
    make: object, error: type[Exception], message: str
) -> None:
    assert callable(make)
    with pytest.raises(error, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty output, not JSON"),
        ("  \n", "empty output, not JSON"),
        ("NaN", "invalid JSON: NaN is not a JSON value"),
        ('{"a": Infinity}', "invalid JSON: Infinity is not a JSON value"),
        ('{"a": 1}\n{"b": 2}', "invalid JSON at line 2 column 1: Extra data"),
        ('{"a" 1}', "invalid JSON at line 1 column 6: Expecting ':' delimiter"),
    ],
)
def test_json_parse_reasons(text: str, reason: str) -> None:
    check = is_json()
    assert check(sample(text)) == reason
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_json(text)


@pytest.mark.parametrize(
    ("output", "fenced", "passes"),
    [
        ('{"a": 1}', False, True),
        ('"just a string"', False, True),
        ("42", False, True),
        ('```json\n{"a": 1}\n```', False, False),
        ('```json\n{"a": 1}\n```', True, True),
        ("\n```\n[1, 2]\n```\n", True, True),
        ('```JSON\n{"a": 1}```', True, True),
        ("```yaml\na: 1\n```", True, False),
        ('Here it is: ```json\n{"a": 1}\n```', True, False),
        ('{"a": 1}', True, True),
    ],
)
def test_json_fences(output: str, fenced: bool, passes: bool) -> None:
    assert (is_json(fenced=fenced)(sample(output)) is None) is passes
    schema = json_schema({"type": ["object", "array", "string", "number"]}, fenced=fenced)
    assert (schema(sample(output)) is None) is passes


def test_json_schema_reasons() -> None:
    check = json_schema(
        {
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date"},
                "odd key": {"type": "integer"},
            },
            "required": ["when"],
            "additionalProperties": False,
        }
    )
    assert check.name.startswith('json_schema({"type":"object","properties"')
    assert check.name.endswith("…)")
    assert check(sample('{"when": "2024-02-30"}')) == "$.when: '2024-02-30' is not a 'date'"
    assert check(sample('{"when": "2024-02-03", "odd key": 1.5}')) == (
        "$[\"odd key\"]: 1.5 is not of type 'integer'"
    )
    assert check(sample('{"extra": 1}')) == ("$: 'when' is a required property (and 1 more error)")
    assert check(sample('{"when": "2024-02-03"}')) is None


def test_json_schema_honours_an_older_draft() -> None:
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "maximum": 3,
        "exclusiveMaximum": True,
    }
    check = json_schema(draft4)
    assert check(sample("2")) is None
    assert check(sample("3")) == "$: 3 is greater than or equal to the maximum of 3"


class Point(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)

    x: int
    y: int


def test_json_model_reasons() -> None:
    check = json_model(Point, fenced=True)
    assert check.name == "json_model(Point, fenced=True)"
    assert check(sample('```json\n{"x": 1, "y": 2}\n```')) is None
    assert check(sample('{"x": 1}')) == "$.y: Field required"
    assert check(sample('{"x": "1", "y": "2"}')) == (
        "$.x: Input should be a valid integer (got '1') (and 1 more error)"
    )
    assert check(sample("[1, 2]")) == ("$: Input should be an object (got [1, 2])")
    assert check(sample("{")) == (
        "invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes"
    )


def test_satisfies_contract() -> None:
    def verdict(value: object) -> str | None:
        return satisfies(lambda s: value)(sample("x"))  # type: ignore[return-value,arg-type]

    assert verdict(True) is None
    assert verdict(None) is None
    assert verdict(False) == "predicate returned False"
    assert verdict("too wordy") == "too wordy"
    assert verdict("") == "predicate returned an empty reason"
    with pytest.raises(TypeError, match=r"satisfies\(<lambda>\): the predicate returned 1; "):
        verdict(1)
    assert satisfies(lambda s: s.output.isupper(), name="shouting").name == "shouting"


def test_long_texts_are_shortened_in_names_and_reasons() -> None:
    expected = "The quick brown fox jumps over the lazy dog, and then it naps."
    check = equals(expected)
    assert check.name == "equals('The quick brown fox jumps over the lazy…')"
    said = expected.replace("lazy", "busy")
    assert check(sample(said)) == (
        "differs from the expected text at character 35: "
        "' over the busy dog, and then i' vs ' over the lazy dog, and then i'"
    )
    assert check(sample(expected[:20])) == (
        "differs from the expected text at character 19: ' brown fox' vs ' brown fox jumps over the lazy'"
    )


def test_finish_reason_none_and_empty_outputs() -> None:
    assert finish_reason("stop")(sample("x", finish=None)) == ("finish_reason is None, not 'stop'")
    assert startswith("Dear")(sample("")) == "is empty, so does not start with 'Dear'"
    assert startswith("Dear", strip=False)(sample(" Dear")) == "starts with ' Dea', not 'Dear'"
    assert length(min=1)(sample("")) == "is 0 characters, fewer than the minimum 1"
    assert length(max=0)(sample("a")) == "is 1 character, more than the maximum 0"


def test_assert_samples_records_typed_verdicts() -> None:
    class Recorder:
        node_id = "t.py::t"

        def __init__(self) -> None:
            self.verdicts: list[tuple[str, str, AssertionVerdict]] = []

        def record_outcome(self, *args: object) -> None:
            pass

        def record_verdict(self, config: str, case: str, verdict: AssertionVerdict) -> None:
            self.verdicts.append((config, case, verdict))

    first, second = sample("please"), sample("no")
    second = dataclasses.replace(second, data=second.data.model_copy(update={"index": 1}))
    case = Case(config=first.config, input=first.input, samples=(first, second))
    recorder = Recorder()
    _running.activate(recorder)  # type: ignore[arg-type]
    try:
        assert_samples(case, contains("please"), min_pass_rate=0.5)
    finally:
        _running.deactivate(recorder)  # type: ignore[arg-type]
    assert recorder.verdicts == [
        (
            "m",
            "x",
            AssertionVerdict(
                checks="contains('please')", min_pass_rate=0.5, passed=1, samples=2, ok=True
            ),
        )
    ]
