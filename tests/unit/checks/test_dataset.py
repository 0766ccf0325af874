"""``expected`` (a dataset row's answer) and ``assert_pass_rate`` (accuracy pooled over inputs),
on samples built without a server. tests/sessions/test_dataset_accuracy.py runs them as users do."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_chatexp import Input, ModelConfig
from pytest_chatexp._experiment._humanloop import (
    ChatDataResponse,
    ChatMessage,
    FunctionTool,
    ToolCall,
    Usage,
)
from pytest_chatexp._experiment._result import Case, Sample
from pytest_chatexp.checks import _running
from pytest_chatexp.checks._dataset import PooledVerdict, assert_pass_rate, expected
from pytest_chatexp.checks._stats import Decision, wilson

CONFIG = ModelConfig(name="clf", model="m")


def sample(
    output: str = "",
    *,
    row: Input | None = None,
    index: int = 0,
    config: ModelConfig = CONFIG,
    calls: tuple[tuple[str, str | None], ...] = (),
) -> Sample:
    tool_calls = [
        ToolCall(id=f"call_{n}", type="function", function=FunctionTool(name=name, arguments=args))
        for n, (name, args) in enumerate(calls)
    ]
    data = ChatDataResponse(
        id="data_1",
        index=index,
        output=output,
        raw_output=output,
        model_config_id="config_1",
        output_message=ChatMessage(
            role="assistant", content=output or None, tool_calls=tool_calls or None
        ),
        finish_reason="tool_call" if calls else "stop",
        tool_calls=tool_calls or None,
    )
    return Sample(
        data=data,
        usage=Usage(),
        config=config,
        input=row or Input(id="x", metadata={"label": "positive"}),
        provider_request={},
        provider_response=None,
        latency_s=0.0,
    )


def row(id: str, label: Any = "positive", **inputs: Any) -> Input:
    return Input(id=id, inputs=inputs, metadata={"label": label})


# --- expected ---------------------------------------------------------------------------


def test_expected_compares_the_output_with_the_row_s_value() -> None:
    check = expected("label")
    assert check.name == "expected('label')"
    assert check(sample("positive")) is None
    assert check(sample("  positive\n")) is None  # stripped by default
    assert check(sample("Positive")) == "is 'Positive', not 'positive'"
    assert expected("label", ignore_case=True)(sample("POSITIVE")) is None
    assert expected("label", strip=False)(sample(" positive")) == "is ' positive', not 'positive'"


def test_expected_finds_the_field_in_metadata_columns_or_a_dotted_path() -> None:
    data = Input(
        id="r1",
        inputs={"text": "great", "answer": "yes"},
        metadata={"label": "positive", "gold": {"labels": ["pos", "positive"]}},
    )
    assert expected("answer")(sample("yes", row=data)) is None  # a column
    assert expected("inputs.answer")(sample("yes", row=data)) is None
    assert expected("metadata.label")(sample("positive", row=data)) is None
    assert expected("metadata.gold.labels.1")(sample("positive", row=data)) is None
    assert expected("gold.labels.0")(sample("pos", row=data)) is None


def test_a_row_without_the_field_fails_naming_the_input_and_the_field() -> None:
    data = Input(id="r7", inputs={"text": "meh"}, metadata={"gold": {"a": 1}})
    assert (
        expected("label")(sample("x", row=data))
        == "input 'r7' has no field 'label' (in its metadata or its inputs)"
    )
    assert (
        expected("metadata.label")(sample("x", row=data))
        == "input 'r7' has no field 'metadata.label' (in its metadata)"
    )
    assert expected("gold.b")(sample("x", row=data)) == "input 'r7' has no field 'gold.b'"
    assert expected("gold.a.c")(sample("x", row=data)) == "input 'r7' has no field 'gold.a.c'"


def test_contains_lists_and_non_string_values() -> None:
    contains = expected("label", compare="contains")
    assert contains.name == "expected('label', compare='contains')"
    assert contains(sample("Sentiment: positive.")) is None
    assert contains(sample("negative")) == "does not contain 'positive'"
    either = sample("neutral", row=row("r", ["neutral", "mixed"]))
    assert expected("label")(either) is None
    assert (
        expected("label")(sample("bad", row=row("r", ["neutral", "mixed"])))
        == "is 'bad', not one of 'neutral', 'mixed'"
    )
    assert expected("label")(sample("3", row=row("r", 3))) is None
    assert expected("label")(sample("true", row=row("r", True))) is None


def test_json_compare_is_json_equality() -> None:
    check = expected("label", compare="json")
    wanted = row("r", {"sentiment": "positive", "score": 1})
    assert check(sample('{"score": 1.0, "sentiment": "positive"}', row=wanted)) is None
    assert (
        check(sample('{"score": true, "sentiment": "positive"}', row=wanted))
        == 'JSON \'{"score":true,"sentiment":"positive"}\' is not \'{"sentiment":"positive","score":1}\''
    )
    assert check(sample("not json", row=wanted)) == (
        "invalid JSON at line 1 column 1: Expecting value"
    )


def test_a_custom_comparison() -> None:
    def same_word(actual: Any, wanted: Any) -> bool:
        return bool(actual.split(",")[0] == wanted)

    check = expected("label", compare=same_word)
    assert check.name == "expected('label', compare=same_word)"
    assert check(sample("positive, clearly")) is None
    assert check(sample("negative")) == "same_word('negative', 'positive') returned False"
    reason = expected("label", compare=lambda a, w: f"wanted {w}")(sample("x"))
    assert reason == "wanted positive"
    with pytest.raises(TypeError, match=r"compare=<lambda> returned 3"):
        expected("label", compare=lambda a, w: 3)(sample("x"))  # type: ignore[arg-type,return-value]


def test_a_tool_argument_instead_of_the_output() -> None:
    check = expected("label", tool="classify", argument="category")
    assert check.name == "expected('label', tool='classify', argument='category')"
    assert check(sample(calls=(("classify", '{"category": "positive"}'),))) is None
    assert (
        check(sample(calls=(("classify", '{"category": "negative"}'),)))
        == "is 'negative', not 'positive'"
    )
    assert check(sample("hm", calls=(("lookup", "{}"),))) == "made no classify call (called lookup)"
    assert check(sample("hm")) == "made no classify call (called no tool)"
    assert check(sample(calls=(("classify", '{"kind": 1}'),))) == (
        "classify('{\"kind\": 1}') has no argument 'category'"
    )
    assert check(sample(calls=(("classify", '{"category": '),))).startswith(  # type: ignore[union-attr]
        "classify arguments: invalid JSON"
    )
    # JSON comparison of an argument compares its value: a string is not parsed again.
    as_json = expected("label", compare="json", tool="classify", argument="category")
    assert as_json(sample(calls=(("classify", '{"category": "positive"}'),))) is None


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: expected(""), TypeError, "expected(): field must be a name or a dotted path"),
        (lambda: expected("a..b"), ValueError, "expected(): field 'a..b' has an empty part"),
        (lambda: expected("x", compare="equal"), ValueError, "compare must be 'equals'"),  # type: ignore[arg-type]
        (lambda: expected("x", tool="t"), TypeError, "give tool= and argument= together"),
        (
            lambda: expected("x", compare="json", ignore_case=True),
            ValueError,
            "expected(): ignore_case applies to compare='equals' or 'contains'",
        ),
    ],
)
def test_mistakes_fail_when_the_check_is_made(
    make: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        make()


# --- assert_pass_rate -------------------------------------------------------------------


def dataset_cases(
    answers: dict[str, list[str]], *, config: ModelConfig = CONFIG, label: str = "positive"
) -> list[Case]:
    """One case per input id, its samples answering ``answers[id]`` in order."""
    cases = []
    for id, outputs in answers.items():
        data = row(id, label)
        samples = tuple(
            sample(text, row=data, index=i, config=config) for i, text in enumerate(outputs)
        )
        cases.append(Case(config=config, input=data, samples=samples))
    return cases


def ten(wrong: int, *, config: ModelConfig = CONFIG) -> list[Case]:
    return dataset_cases(
        {f"r{i}": ["negative" if i < wrong else "positive"] for i in range(10)}, config=config
    )


def test_per_config_pools_every_input() -> None:
    other = ModelConfig(name="other", model="m2")
    [first, second] = assert_pass_rate(
        [*ten(1), *ten(0, config=other)], expected("label"), min_pass_rate=0.9
    )
    assert isinstance(first, PooledVerdict)
    assert (first.name, first.passed, first.total, first.pass_rate) == ("clf", 9, 10, 0.9)
    assert (second.name, second.passed, second.decision) == ("other", 10, Decision.PASS)
    assert first.ok and first.interval is None
    [(case, failed, reason)] = first.failures
    assert (case.input.id, failed.index, reason) == (
        "r0",
        0,
        "expected('label'): is 'negative', not 'positive'",
    )


def test_a_config_under_the_bar_fails_with_the_table() -> None:
    other = ModelConfig(name="other-config", model="m2")
    with pytest.raises(AssertionError) as raised:
        assert_pass_rate([*ten(0), *ten(4, config=other)], expected("label"), min_pass_rate=0.9)
    assert str(raised.value).splitlines() == [
        "1 of 2 configs fail [expected('label')] (required: a pass rate of at least 90% over "
        "each config's samples)",
        "  config        passed  rate  bar  verdict",
        "  clf           10/10   100%  90%  pass",
        "  other-config  6/10    60%   90%  FAIL",
        "    other-config/r0 sample 0: expected('label'): is 'negative', not 'positive'",
        "      output: 'negative'",
        "    other-config/r1 sample 0: expected('label'): is 'negative', not 'positive'",
        "      output: 'negative'",
        "    other-config/r2 sample 0: expected('label'): is 'negative', not 'positive'",
        "      output: 'negative'",
        "    ... 1 more failing sample",
    ]


def test_per_experiment_pools_everything() -> None:
    other = ModelConfig(name="other", model="m2")
    cases = [*ten(0), *ten(3, config=other)]
    [pool] = assert_pass_rate(cases, expected("label"), min_pass_rate=0.85, per="experiment")
    assert (pool.name, pool.passed, pool.total) == ("experiment", 17, 20)
    with pytest.raises(AssertionError, match=r"^experiment fails \[expected\('label'\)\]"):
        assert_pass_rate(cases, expected("label"), min_pass_rate=0.9, per="experiment")


def test_with_confidence_the_interval_decides() -> None:
    cases = dataset_cases({f"r{i}": ["positive"] for i in range(40)})
    [pool] = assert_pass_rate(cases, expected("label"), min_pass_rate=0.9, confidence=0.95)
    assert pool.interval == wilson(40, 40, 0.95) and pool.decision is Decision.PASS
    assert round(pool.interval.low, 3) == 0.912

    # 10 of 10 meets a 90% bar by its raw rate, but its interval reaches down to 72%.
    with pytest.raises(AssertionError) as raised:
        assert_pass_rate(ten(0), expected("label"), min_pass_rate=0.9, confidence=0.95)
    assert str(raised.value).splitlines() == [
        "1 of 1 configs fail [expected('label')] (required: a pass rate of at least 90% over "
        "each config's samples, at 95% confidence)",
        "  config  passed  rate  interval (95%)  bar  verdict",
        "  clf     10/10   100%  [72%, 100%]     90%  INCONCLUSIVE",
        "INCONCLUSIVE: the bar lies inside the interval, so these samples cannot tell whether "
        "the pass rate reaches it; add inputs or samples, or lower the confidence",
    ]
    with pytest.raises(AssertionError, match=r"1/10 +10% +\[2%, 35%\] +90% +FAIL"):
        assert_pass_rate(ten(9), expected("label"), min_pass_rate=0.9, confidence=0.9)


def test_several_samples_per_input_note_that_the_interval_is_approximate() -> None:
    cases = dataset_cases({f"r{i}": ["positive", "negative"] for i in range(5)})
    with pytest.raises(AssertionError) as raised:
        assert_pass_rate(cases, expected("label"), min_pass_rate=0.6, confidence=0.95)
    message = str(raised.value)
    assert "5/10" in message and "clf/r0 sample 1: expected('label')" in message
    assert message.endswith(
        "note: the 2 samples of an input are not independent, so the interval is approximate "
        "(optimistic)"
    )


def test_sample_outcomes_are_recorded_to_the_running_test() -> None:
    class Recorder:
        node_id = "t.py::t"

        def __init__(self) -> None:
            self.outcomes: list[tuple[str, str, int, str | None]] = []

        def record_outcome(self, config: str, case: str, index: int, failure: str | None) -> None:
            self.outcomes.append((config, case, index, failure))

    recorder = Recorder()
    _running.activate(recorder)  # type: ignore[arg-type]
    try:
        assert_pass_rate(
            dataset_cases({"a": ["positive"], "b": ["no"]}), expected("label"), min_pass_rate=0.5
        )
    finally:
        _running.deactivate(recorder)  # type: ignore[arg-type]
    assert recorder.outcomes == [
        ("clf", "a", 0, None),
        ("clf", "b", 0, "expected('label'): is 'no', not 'positive'"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"min_pass_rate": 1.5}, ValueError, "min_pass_rate must be between 0 and 1, got 1.5"),
        ({"min_pass_rate": True}, ValueError, "min_pass_rate must be between 0 and 1, got True"),
        ({"per": "case"}, ValueError, "per must be 'config' or 'experiment', got 'case'"),
        ({"confidence": 95}, ValueError, "assert_pass_rate(): confidence must be strictly"),
        ({"confidence": "high"}, TypeError, "assert_pass_rate(): confidence must be a number"),
    ],
)
def test_bad_arguments_are_clear_errors(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        assert_pass_rate(ten(0), expected("label"), **kwargs)


def test_no_checks_or_no_samples_are_errors() -> None:
    with pytest.raises(TypeError, match=r"assert_pass_rate\(\) needs at least one check"):
        assert_pass_rate(ten(0))
    with pytest.raises(ValueError, match="the subject has no samples to judge"):
        assert_pass_rate([], expected("label"))
