"""Property tests for the plugin's two readers of untrusted data: providers' response parsers and
the recording loader. Whatever a provider, a gateway or a hand-edited recording hands them, they
either return a result or raise a ``ChatexpError`` (which the plugin prints as a short message),
never any other exception (which pytest would print as a traceback from the plugin's internals).

Inputs are arbitrary JSON, arbitrary JSON whose mappings use the wire formats' own field names (so
that it reaches deep into the parsers), and valid documents with fields removed, replaced or of
the wrong type; streamed bodies are lists of such events.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pytest_chatexp import ModelConfig
from pytest_chatexp._calls._exchange import format_for
from pytest_chatexp._errors import ChatexpError
from pytest_chatexp._experiment._humanloop import ChatMessage, Usage
from pytest_chatexp._providers import Provider, ProviderReply
from pytest_chatexp._recording._store import (
    Call,
    CorruptRecordingError,
    Interaction,
    Label,
    RecordedRequest,
    RecordingError,
    RecordingFile,
)

# No example database: a failure found once on one machine must not make this file fail there
# (and only there) ever after; a failure prints the example and how to reproduce it.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    # Shrunk examples are enough to read a failure; the slow "explain" phase adds little here.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Json = Any

# --- JSON strategies ------------------------------------------------------------------------------

# Field names of every wire format read here, so that generated mappings reach past the first
# "is this a mapping with a 'choices' key" check into the code below it.
FIELD_NAMES = (
    "choices message delta content role tool_calls index id type function name arguments "
    "finish_reason usage prompt_tokens completion_tokens total_tokens completion_tokens_details "
    "reasoning_tokens text input stop_reason input_tokens output_tokens content_block "
    "partial_json cache_read_input_tokens cache_creation_input_tokens data output raw_output "
    "model_config_id output_message provider_responses tool_results signature result "
    "generation_tokens error tool_call tool_call_id"
).split()
EVENT_TYPES = ["message_start", "content_block_start", "content_block_delta", "message_delta"]

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-2, max_value=3)
    | st.floats()  # json.loads reads NaN and Infinity too
    | st.text(max_size=12)
    | st.sampled_from([*FIELD_NAMES, *EVENT_TYPES, "text_delta", "input_json_delta", "tool_use"])
)
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=6)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
# A value of some other type than the one a valid document holds.
WRONG_TYPES: st.SearchStrategy[Json] = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        7,
        2.5,
        -0.0,
        math.nan,
        math.inf,
        10**30,
        "",
        "x",
        "0",
        [],
        [None],
        [{}],
        {},
        {"": None},
        {"type": None},
    ]
)


def _slots(document: Json) -> Iterator[tuple[Json, Any]]:
    """Every (container, key or index) of ``document``, at any depth."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield document, key
            yield from _slots(value)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield document, index
            yield from _slots(value)


@st.composite
def mutations_of(draw: st.DrawFn, document: Json) -> Json:
    """``document`` with one to three fields removed, replaced, or given a wrong type."""
    result = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        slots = list(_slots(result))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["remove", "wrong type", "arbitrary"]))
        if action == "remove":
            del container[key]
        elif action == "wrong type":
            container[key] = copy.deepcopy(draw(WRONG_TYPES))
        else:
            container[key] = draw(JSON_VALUES)
    return result


# --- valid wire documents -------------------------------------------------------------------------

OPENAI_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": 1}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
OPENAI_STREAM = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
    {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q"'},
                        }
                    ]
                },
            }
        ]
    },
    {
        "choices": [
            {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}
        ]
    },
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}},
]
ANTHROPIC_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [
        {"type": "text", "text": "Hello"},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": 1}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 5, "output_tokens": 3, "cache_read_input_tokens": 1},
}
ANTHROPIC_STREAM = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"q": 1}'},
    },
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
    {"type": "message_stop"},
]
_HUMANLOOP_ITEM = {
    "id": "data_1",
    "index": 0,
    "output": "Hello",
    "raw_output": "Hello",
    "model_config_id": "config_1",
    "output_message": {
        "role": "assistant",
        "content": "Hello",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        ],
    },
    "inputs": {"q": "hi"},
    "finish_reason": "tool_calls",
    "tool_results": [{"id": "t1", "name": "lookup", "signature": "lookup(q)", "result": "ok"}],
    "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    ],
}
HUMANLOOP_RESPONSE = {
    "data": [_HUMANLOOP_ITEM],
    "provider_responses": [{}],
    "project_id": "pr_1",
    "num_samples": 1,
    "usage": {"prompt_tokens": 5, "generation_tokens": 3, "total_tokens": 8},
}
HUMANLOOP_STREAM = [
    {"data": [{"index": 0, "output": "Hel", "raw_output": "Hel", "model_config_id": "config_1"}]},
    {"data": [{"index": 1, "output": "Other"}]},
    {
        "data": [
            {
                "index": 0,
                "output": "lo",
                "raw_output": "lo",
                "finish_reason": "stop",
                "output_message": {"role": "assistant", "content": "Hello"},
                "tool_calls": _HUMANLOOP_ITEM["tool_calls"],
            }
        ],
        "usage": {"prompt_tokens": 5, "generation_tokens": 3, "total_tokens": 8},
    },
]
APP_BODY = {
    "message": {"role": "assistant", "content": "Hello"},
    "usage": {"prompt_tokens": 3, "generation_tokens": 2, "total_tokens": 5},
    "finish_reason": "stop",
}

# provider -> (a valid answer, a valid stream's events or None)
VALID: dict[str, tuple[Json, list[Json] | None]] = {
    "openai": (OPENAI_COMPLETION, OPENAI_STREAM),
    "anthropic": (ANTHROPIC_MESSAGE, ANTHROPIC_STREAM),
    "humanloop": (HUMANLOOP_RESPONSE, HUMANLOOP_STREAM),
    "python": (APP_BODY, None),  # an app's answer is a mapping the plugin builds; never streamed
}


def _provider(name: str) -> Provider:
    # The app target's answers are read by its own format, which the calls layer resolves.
    return format_for(ModelConfig(model="m", provider=name))


def _reply_or_chatexp_error(provider: Provider, body: Json) -> None:
    """The property: a well-typed ProviderReply, or a ChatexpError. Anything else fails."""
    try:
        reply = provider.parse_response(copy.deepcopy(body))
    except ChatexpError:
        return
    assert isinstance(reply, ProviderReply)
    assert isinstance(reply.message, ChatMessage)
    assert isinstance(reply.raw_output, str)
    assert reply.finish_reason is None or isinstance(reply.finish_reason, str)
    assert isinstance(reply.usage, Usage)


def test_the_valid_documents_parse() -> None:
    """The seeds of the near-valid strategies are valid, so mutations start from real answers."""
    for name, (document, stream) in VALID.items():
        provider = _provider(name)
        assert provider.parse_response(copy.deepcopy(document)).raw_output == "Hello"
        if stream is not None:
            reply = provider.parse_response(copy.deepcopy(stream))
            assert reply.raw_output == "Hello"
            assert reply.message.tool_calls is not None


PARSERS = [
    pytest.param("openai", id="openai"),
    pytest.param("anthropic", id="anthropic"),
    pytest.param("humanloop", id="humanloop"),
    pytest.param("python", id="app"),
]
STREAMING_PARSERS = [
    pytest.param("openai", id="openai"),
    pytest.param("anthropic", id="anthropic"),
    pytest.param("humanloop", id="humanloop"),
]


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(body=JSON_VALUES.filter(lambda body: not isinstance(body, list)))
def test_arbitrary_json(name: str, body: Json) -> None:
    """Any JSON but a list (a list is the streamed form, below)."""
    _reply_or_chatexp_error(_provider(name), body)


@pytest.mark.parametrize(
    "name",
    [
        # Random events only sometimes reach the bug (the near-valid streams always do): not strict.
        pytest.param("openai", id="openai"),
        pytest.param("anthropic", id="anthropic"),
        pytest.param("humanloop", id="humanloop"),
    ],
)
@FUZZ
@given(events=st.lists(JSON_VALUES, max_size=6))
def test_arbitrary_json_events(name: str, events: list[Json]) -> None:
    _reply_or_chatexp_error(_provider(name), events)


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(data=st.data())
def test_near_valid_answers(name: str, data: st.DataObject) -> None:
    document, _ = VALID[name]
    _reply_or_chatexp_error(_provider(name), data.draw(mutations_of(document)))


@pytest.mark.parametrize("name", STREAMING_PARSERS)
@FUZZ
@given(data=st.data())
def test_near_valid_streams(name: str, data: st.DataObject) -> None:
    _, stream = VALID[name]
    assert stream is not None
    event = st.sampled_from(stream) | st.sampled_from(stream).flatmap(mutations_of) | JSON_VALUES
    events = data.draw(
        mutations_of(stream)
        | st.lists(event, max_size=8)
        | st.lists(event, max_size=8).map(_ordered)
    )
    _reply_or_chatexp_error(_provider(name), events)


def _ordered(events: list[Json]) -> list[Json]:
    """Put 'message_start'-like events first, so that later ones reach the assembling code."""
    return sorted(events, key=lambda event: not (isinstance(event, dict) and "message" in event))


# --- the recording loader ---------------------------------------------------------------------------


def _interaction(request_body: Json, response_body: Json, *, sample: int = 0) -> Interaction:
    call = Call(
        Label(config="support-v1", input="late", sample=sample),
        RecordedRequest(
            provider="openai", endpoint="127.0.0.1/v1/chat/completions", body=request_body
        ),
    )
    return Interaction.record(call, body=response_body, latency_s=0.123)


VALID_RECORDING = RecordingFile(
    "tests/test_support.py::test_support",
    [
        _interaction(
            {"model": "m", "messages": [{"role": "user", "content": "Where is\nmy order?"}]},
            OPENAI_COMPLETION,
        ),
        _interaction({"model": "m", "stream": True}, OPENAI_STREAM, sample=1),
    ],
)
VALID_TEXT = VALID_RECORDING.render()
VALID_DATA: Json = yaml.safe_load(VALID_TEXT)

# YAML that safe_load accepts but that is no JSON, or that is surprising in a value position.
TRICKY_YAML = st.sampled_from(
    [
        "2024-01-01",
        "2001-12-14t21:59:43.10-05:00",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1, b: 2]",
        "!!pairs [a: 1, a: 2]",
        "{1: 2}",
        "{null: 1}",
        "{? [a] : b}",
        "[1, {2: 3}]",
        ".nan",
        "-.inf",
        "0x1F",
        "0o17",
        "1_000",
        "190:20:30",
        "~",
        "yes",
        "!!str 1",
        "!!int '1'",
        "!!python/object:os.system x",
        "*undefined",
        "&a [1, 2]",
        "[&a x, *a]",
        '"\\ud800"',
        '"\\x00"',
        '"\\U0001F600"',
        "'unterminated",
        "[unclosed",
        "{a: 1",
        "|\n  block",
        ">-\n  folded",
        "- a\n- b",
        "\t tab",
        "%YAML 1.1",
        "--- x",
        "...",
    ]
)


@st.composite
def edited_texts(draw: st.DrawFn) -> str:
    """The valid recording text with one line's value replaced, a line dropped, or cut short."""
    lines = VALID_TEXT.splitlines(keepends=True)
    position = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    action = draw(st.sampled_from(["value", "drop", "truncate", "insert"]))
    if action == "value":
        key, colon, _ = lines[position].partition(":")
        value = draw(TRICKY_YAML | st.text(max_size=10))
        lines[position] = f"{key}{colon or ':'} {value}\n"
    elif action == "drop":
        del lines[position]
    elif action == "insert":
        lines.insert(position, draw(TRICKY_YAML | st.text(max_size=10)) + "\n")
    else:
        text = "".join(lines)
        return text[: draw(st.integers(min_value=0, max_value=len(text)))]
    return "".join(lines)


def _dump(document: Json, style: str) -> str:
    if style == "json":
        return json.dumps(document, indent=1)
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


TEXTS = (
    st.text()
    | st.builds(_dump, JSON_VALUES, st.sampled_from(["json", "yaml"]))
    | st.builds(_dump, mutations_of(VALID_DATA), st.sampled_from(["json", "yaml"]))
    | edited_texts()
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "test_support.yaml"


def _load_or_corrupt(path: Path) -> RecordingFile | None:
    """The property: a RecordingFile, or a CorruptRecordingError. Anything else fails."""
    try:
        recording = RecordingFile.load(path)
    except CorruptRecordingError as exc:
        assert isinstance(exc, ChatexpError)
        assert str(path) in str(exc)
        return None
    assert isinstance(recording, RecordingFile)
    return recording


def test_the_valid_recording_loads(scratch: Path) -> None:
    scratch.write_text(VALID_TEXT, encoding="utf-8")
    recording = _load_or_corrupt(scratch)
    assert recording is not None
    assert recording.interactions == VALID_RECORDING.interactions


@FUZZ
@given(text=TEXTS)
def test_recording_text(scratch: Path, text: str) -> None:
    scratch.write_bytes(text.encode("utf-8", "surrogatepass"))
    _load_or_corrupt(scratch)


# Hand edits the random texts above reach too rarely to find every time: each is tried in two
# places (a value of the response body, and the file's version).
BODY, VERSION = "content: Hello", "version: 1"
HAND_EDITS = [
    pytest.param(BODY, "&a [*a]", id="recursive-list-alias"),
    pytest.param(BODY, "&b {self: *b}", id="recursive-mapping-alias"),
    pytest.param(VERSION, "&a [*a]", id="recursive-alias-as-version"),
    *(
        pytest.param(where, edit, id=f"{name}-{where.split(':')[0]}")
        for where in (BODY, VERSION)
        for name, edit in [
            ("float-tag", "!!float x"),
            ("int-tag", "!!int x"),
            ("empty-int-tag", "!!int ''"),
            ("bool-tag", "!!bool x"),
            ("timestamp-tag", "!!timestamp x"),
            ("impossible-date", "2024-02-30"),
            ("shared-alias", "&c [1, 2]"),
            ("date", "2024-02-28"),
            ("binary", "!!binary aGVsbG8="),
            ("set", "!!set {a, b}"),
            ("integer-key", "{1: 2}"),
            ("python-tag", "!!python/object:os.system x"),
            ("undefined-alias", "*undefined"),
        ]
    ),
]


@pytest.mark.parametrize("where, edit", HAND_EDITS)
def test_hand_edited_values(scratch: Path, where: str, edit: str) -> None:
    assert where in VALID_TEXT
    key = where.split(":")[0]
    scratch.write_text(VALID_TEXT.replace(where, f"{key}: {edit}", 1))
    loaded = _load_or_corrupt(scratch)
    # None loads: not even a shared alias in a response body, since aliases are refused (a few
    # nested ones expand to billions of values).
    assert loaded is None


@FUZZ
@given(data=st.binary())
def test_recording_bytes(scratch: Path, data: bytes) -> None:
    scratch.write_bytes(data)
    _load_or_corrupt(scratch)


FINITE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=15,
)


@FUZZ
@given(
    request_body=st.dictionaries(st.text(max_size=6), FINITE_JSON, max_size=4),
    response_body=FINITE_JSON,
    sample=st.integers(min_value=0, max_value=2**40),
)
def test_a_written_recording_reads_back(
    scratch: Path, request_body: dict[str, Json], response_body: Json, sample: int
) -> None:
    """Whatever JSON a call sends and answers, the file the plugin writes loads back the same."""
    recording = RecordingFile(
        "t.py::test", [_interaction(request_body, response_body, sample=sample)]
    )
    try:
        text = recording.render()
    except RecordingError:
        return  # data a UTF-8 file cannot hold is refused when writing; that is fine
    scratch.write_text(text, encoding="utf-8")
    loaded = _load_or_corrupt(scratch)
    assert loaded is not None, text
    assert loaded.interactions == recording.interactions
