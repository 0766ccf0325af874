"""The recording library: fingerprints, recording files, secret refusal and replay-miss reports.

Everything runs on real files under tmp_path, including concurrent writers in separate processes
and writers killed mid-write, because atomicity and locking only mean something across processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_chatexp._errors import ChatexpError
from pytest_chatexp._recording import (
    Call,
    CorruptRecordingError,
    Interaction,
    Label,
    RecordedRequest,
    RecordingError,
    RecordingFile,
    SecretInRecordingError,
    _store,
    describe_request,
    environment_secrets,
    explain_miss,
    find_secrets,
    fingerprint,
    recording_path,
    update,
)
from pytest_chatexp._recording._diff import Change, Miss
from pytest_chatexp._recording._files import _exclusive_create_lock
from pytest_chatexp._recording._text import dump_yaml

TEST_ID = "tests/test_support.py::test_refund[support-v2]"
SYSTEM_PROMPT = (
    "You are a support agent for Acme.\nAnswer in two sentences.\nNever promise refunds.\n"
)


def make_call(
    config: str = "support-v2",
    input: str = "refund",
    sample: int = 0,
    *,
    provider: str = "openai",
    endpoint: str = "api.openai.com/v1",
    **body_changes: Any,
) -> Call:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "seed": 7,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Customer message for {input}"},
        ],
    }
    body.update(body_changes)
    body = {key: value for key, value in body.items() if value is not None}
    return Call(Label(config, input, sample), RecordedRequest(provider, endpoint, body))


def make_interaction(call: Call | None = None, output: str = "Sure.\nHere is how.") -> Interaction:
    call = call or make_call()
    body = {"choices": [{"message": {"role": "assistant", "content": output}}]}
    return Interaction.record(call, body=body, latency_s=0.123456)


def save(path: Path, interactions: list[Interaction]) -> None:
    RecordingFile(TEST_ID, interactions).save(path, known_secrets=[])


# --- fingerprints ------------------------------------------------------------------------------


def test_fingerprint_ignores_key_order_and_whitespace() -> None:
    compact = '{"model":"m","temperature":0.2,"messages":[{"role":"user","content":"hi"}]}'
    spaced = """{ "messages" : [ { "content" : "hi" , "role" : "user" } ],
                  "temperature" : 0.20 , "model" : "m" }"""
    prints = {
        fingerprint(provider="openai", endpoint="e", body=json.loads(text), sample_index=0)
        for text in (compact, spaced)
    }
    assert len(prints) == 1
    (value,) = prints
    assert len(value) == 24 and int(value, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "anthropic"},
        {"endpoint": "localhost/v1"},
        {"sample_index": 1},
        {"body": {"model": "m2", "temperature": 0.2}},
        {"body": {"model": "m", "temperature": 0.7}},
        {"body": {"model": "m", "temperature": 0.2, "seed": 1}},
        {"body": {"model": "m", "temperature": 1}},  # an int is sent differently from a float
    ],
)
def test_fingerprint_changes_with_every_field(change: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "provider": "openai",
        "endpoint": "api.openai.com/v1",
        "body": {"model": "m", "temperature": 0.2},
        "sample_index": 0,
    }
    assert fingerprint(**base) != fingerprint(**(base | change))


def test_call_fingerprint_uses_the_label_sample_only() -> None:
    assert make_call(sample=0).fingerprint != make_call(sample=1).fingerprint
    # Config and input names are labels for people: renaming one does not invalidate recordings.
    assert make_call(config="a").fingerprint == make_call(config="b").fingerprint


# --- paths -------------------------------------------------------------------------------------


def test_recording_path_sits_next_to_the_test(tmp_path: Path) -> None:
    test_file = tmp_path / "tests" / "test_support.py"
    assert recording_path(test_file, "test_refund[support-v2]") == (
        tmp_path / "tests" / "__recordings__" / "test_support" / "test_refund[support-v2].yaml"
    )
    assert recording_path(test_file, "test_x[a b/c:d]").name == "test_x[a_b_c_d].yaml"
    assert recording_path(test_file, ".hidden").name == "_.hidden.yaml"


def test_long_recording_names_are_cut_and_stay_distinct(tmp_path: Path) -> None:
    names = [f"test_x[{'p' * 200}{suffix}]" for suffix in "ab"]
    paths = [recording_path(tmp_path / "test_a.py", name) for name in names]
    assert paths[0] != paths[1]
    assert all(len(path.stem) < 150 for path in paths)


# --- saving and loading ------------------------------------------------------------------------


def test_missing_file_loads_empty(tmp_path: Path) -> None:
    recording = RecordingFile.load(tmp_path / "nope.yaml")
    assert len(recording) == 0 and recording.interactions == []
    assert recording.get("0" * 24) is None


TRICKY_STRINGS = [
    "",
    "yes",
    "null",
    "1.0",
    "0x1F",
    "- not a list",
    "key: value",
    "#not a comment",
    "  leading spaces\nsecond line",
    "trailing spaces   \nsecond line",
    "tabs\tinside\nlines",
    "windows\r\nline endings",
    "ends with newlines\n\n\n",
    "unicode: café, 日本語, emoji 🎉\nline two",
    "\u2028 line separator and \x85 next line",
    "a very long line " * 40,
]


def test_round_trip_is_exact_and_resaving_is_byte_identical(tmp_path: Path) -> None:
    interactions = [
        make_interaction(make_call(input=f"case-{i}", stop=["\n\n", "END"]), output=text)
        for i, text in enumerate(TRICKY_STRINGS)
    ]
    interactions.append(
        Interaction.record(
            make_call(input="numbers", top_p=1.0, max_tokens=10**20, logit_bias={"50256": -100}),
            body={"x": [0.1 + 0.2, -0.0, 1e-300, True, False, None, {}, []]},
            latency_s=1.5,
            chunks=[{"delta": "Su"}, {"delta": "re"}],
        )
    )
    first = tmp_path / "first.yaml"
    save(first, interactions)

    loaded = RecordingFile.load(first)
    assert loaded.test == TEST_ID
    assert loaded.interactions == sorted(
        interactions, key=lambda item: (item.label.input, item.fingerprint)
    )
    second = tmp_path / "second.yaml"
    loaded.save(second, known_secrets=[])
    assert second.read_bytes() == first.read_bytes()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(st.text(max_size=8), json_values, max_size=4), output=json_values)
def test_any_json_round_trips(tmp_path: Path, body: dict[str, Any], output: Any) -> None:
    call = Call(Label("c", "i", 0), RecordedRequest("openai", "e", body))
    interaction = Interaction.record(call, body=output, latency_s=0.5)
    path = tmp_path / "prop.yaml"
    save(path, [interaction])
    loaded = RecordingFile.load(path)
    assert loaded.interactions == [interaction]
    text = path.read_bytes()
    loaded.save(path, known_secrets=[])
    assert path.read_bytes() == text


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.sampled_from(TRICKY_STRINGS) | st.text(), max_size=4),
    outputs=st.lists(json_values, max_size=4),
    test=st.text(max_size=12),
)
def test_rendered_item_by_item_as_one_whole_dump(
    texts: list[str], outputs: list[Any], test: str
) -> None:
    """The file is rendered one interaction at a time (a whole file's node graph is many
    times its text): byte for byte what one dump of the whole document gives."""
    interactions = [
        make_interaction(make_call(input=f"text{n}"), output=text) for n, text in enumerate(texts)
    ] + [
        Interaction.record(make_call(input=f"raw{n}"), body=output, latency_s=0.1)
        for n, output in enumerate(outputs)
    ]
    recording = RecordingFile(test, interactions)
    document = {
        "version": _store.VERSION,
        "test": test,
        "interactions": [_store._interaction_data(item) for item in recording.interactions],
    }
    assert recording.render() == _store.HEADER + dump_yaml(document)


def test_file_format_is_reviewable(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    shared = [{"role": "system", "content": SYSTEM_PROMPT}]  # same object twice: no YAML aliases
    save(
        path,
        [
            make_interaction(make_call(messages=shared, seed=None)),
            make_interaction(make_call(input="other", messages=shared)),
        ],
    )
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[:4] == [
        "# pytest-chatexp recording. Re-record with: pytest --chatexp-record=new",
        "version: 1",
        f"test: {TEST_ID}",
        "interactions:",
    ]
    # Multi-line prompts and outputs are literal blocks that read like the original text.
    assert "      - content: |\n          You are a support agent for Acme.\n" in text
    assert "          content: |-\n            Sure.\n            Here is how.\n" in text
    assert "&id" not in text and "*id" not in text
    assert "latency_s: 0.123\n" in text
    assert "authorization" not in text.lower() and "header" not in text.lower()


def test_interactions_and_keys_are_sorted(tmp_path: Path) -> None:
    calls = [make_call(c, i, s) for c in ("b", "a") for i in ("y", "x") for s in (1, 0)]
    random.Random(4).shuffle(calls)
    path = tmp_path / "r.yaml"
    save(path, [make_interaction(call) for call in calls])
    document = path.read_text()
    parsed = yaml.safe_load(document)  # keeps the file's key order
    assert list(parsed) == ["version", "test", "interactions"]
    entry = parsed["interactions"][0]
    assert list(entry) == ["fingerprint", "label", "request", "response"]
    assert list(entry["request"]) == ["body", "endpoint", "provider"]
    assert list(entry["request"]["body"]) == ["messages", "model", "seed", "temperature"]
    assert list(entry["request"]["body"]["messages"][0]) == ["content", "role"]
    labels = [
        (item.label.config, item.label.input, item.label.sample)
        for item in RecordingFile.load(path).interactions
    ]
    assert labels == sorted(labels)
    order_in_file = [
        document.index(f"config: {c}\n    input: {i}\n    sample: {s}\n") for c, i, s in labels
    ]
    assert order_in_file == sorted(order_in_file)


def test_update_merges_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "__recordings__" / "test_a" / "test_x.yaml"
    first, second = make_call(input="one"), make_call(input="two")
    update(
        path, [make_interaction(first, "old")], replace_test=False, test=TEST_ID, known_secrets=[]
    )
    update(path, [make_interaction(second)], replace_test=False, test=TEST_ID, known_secrets=[])
    update(
        path, [make_interaction(first, "new")], replace_test=False, test=TEST_ID, known_secrets=[]
    )
    merged = RecordingFile.load(path)
    assert len(merged) == 2
    assert merged.get(first.fingerprint) == make_interaction(first, "new")

    result = update(
        path, [make_interaction(second)], replace_test=True, test=TEST_ID, known_secrets=[]
    )
    assert [item.fingerprint for item in RecordingFile.load(path).interactions] == [
        second.fingerprint
    ]
    assert result.interactions == RecordingFile.load(path).interactions
    assert sorted(os.listdir(path.parent)) == ["test_x.yaml"]  # the lock file is gone


def test_unchanged_update_does_not_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    save(path, [make_interaction()])
    before = os.stat(path)
    update(path, [make_interaction()], replace_test=True, test=TEST_ID, known_secrets=[])
    after = os.stat(path)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def many_interactions(n: int, text: str = "Sure.") -> list[Interaction]:
    return [make_interaction(make_call(input=f"q{i:05d}"), output=text) for i in range(n)]


def test_a_big_recording_is_written_in_bounded_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing never holds the whole text: pieces of about PIECE_CHARS, cut between
    interactions, whose sum is byte for byte the one-string rendering; the number of pieces
    grows with the file, their size does not."""
    monkeypatch.setattr(_store, "PIECE_CHARS", 20_000)
    written: list[int] = []
    real_write = _store.write_pieces_if_changed

    def noting(path: Path, pieces: Any) -> None:
        def counted() -> Any:
            for piece in pieces:
                written.append(len(piece))
                yield piece

        real_write(path, counted())

    monkeypatch.setattr(_store, "write_pieces_if_changed", noting)
    counts = {}
    for n in (100, 1000):
        written.clear()
        path = tmp_path / f"r{n}.yaml"
        recording = update(
            path, many_interactions(n), replace_test=True, test=TEST_ID, known_secrets=[]
        )
        text = path.read_text()
        assert text == recording.render() == "".join(recording.pieces())
        assert RecordingFile.load(path).holds_exactly(recording.interactions)
        one_item = len(text) / n
        assert max(written) <= 20_000 + 2 * one_item  # a piece closes once past the bound
        assert sum(written) == len(text)
        counts[n] = len(written)
    assert counts[1000] >= 8 * counts[100]  # pieces, not one string, at every size


def test_an_unchanged_big_recording_is_compared_piece_by_piece_and_not_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store, "PIECE_CHARS", 5_000)
    path = tmp_path / "r.yaml"
    save(path, many_interactions(300))
    before = os.stat(path)
    update(path, many_interactions(300), replace_test=True, test=TEST_ID, known_secrets=[])
    after = os.stat(path)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    # A change in the last piece only, and a file that only grew, are both written.
    update(
        path, many_interactions(300, "Other."), replace_test=True, test=TEST_ID, known_secrets=[]
    )
    assert path.read_text().count("Other.") == 300
    update(
        path, many_interactions(301, "Other."), replace_test=True, test=TEST_ID, known_secrets=[]
    )
    assert len(RecordingFile.load(path)) == 301
    assert sorted(os.listdir(tmp_path)) == ["r.yaml"]


def test_a_secret_in_a_late_piece_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pieces before the secret were already written to the temporary file: it is removed,
    the old file stays as it was, and the error names the secret's line as before."""
    monkeypatch.setattr(_store, "PIECE_CHARS", 2_000)
    path = tmp_path / "r.yaml"
    save(path, many_interactions(50))
    before = path.read_bytes()
    canary = "canary-" + "plain-words-only"
    leaking = make_interaction(make_call(input="zz-last"), output=f"The key is {canary}.")
    with pytest.raises(SecretInRecordingError, match=r"line \d+, .*content: cana…"):
        update(path, [leaking], replace_test=False, test=TEST_ID, known_secrets=[canary])
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["r.yaml"]


def test_replace_test_overwrites_a_corrupt_file_and_merging_refuses(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("version: [\n")
    with pytest.raises(CorruptRecordingError):
        update(path, [make_interaction()], replace_test=False, test=TEST_ID, known_secrets=[])
    update(path, [make_interaction()], replace_test=True, test=TEST_ID, known_secrets=[])
    assert len(RecordingFile.load(path)) == 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({1, 2}, "content is a set, which is not a JSON value"),
        ({1: "x"}, "content has the key 1, which is not a string"),
    ],
)
def test_non_json_values_are_refused(tmp_path: Path, value: Any, problem: str) -> None:
    path = tmp_path / "r.yaml"
    with pytest.raises(RecordingError) as info:
        save(path, [make_interaction(output=value)])
    assert str(info.value) == (
        "cannot record model config 'support-v2', input 'refund', sample 0: "
        f"response.body.choices[0].message.{problem}"
    )
    assert not path.exists()


def test_unpaired_surrogates_are_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    with pytest.raises(RecordingError, match="unpaired surrogate"):
        save(path, [make_interaction(output=json.loads('"broken \\ud800"'))])
    assert not path.exists()


def test_stale_temp_files_are_ignored_and_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    save(path, [make_interaction()])
    stale, fresh = tmp_path / ".r.yaml.tmp-dead01", tmp_path / ".r.yaml.tmp-live01"
    for temp in (stale, fresh):
        temp.write_text("half a reco")
    old = time.time() - 120
    os.utime(stale, (old, old))
    assert len(RecordingFile.load(path)) == 1
    update(
        path,
        [make_interaction(make_call(input="new"))],
        replace_test=False,
        test=TEST_ID,
        known_secrets=[],
    )
    # Temp files are only made under the file's lock: whoever holds it knows that any other is
    # a dead writer's, however young.
    assert not stale.exists() and not fresh.exists()


def test_recording_errors_are_chatexp_errors() -> None:
    assert issubclass(CorruptRecordingError, RecordingError)
    assert issubclass(SecretInRecordingError, RecordingError)
    assert issubclass(RecordingError, ChatexpError)


# --- corrupt files -----------------------------------------------------------------------------


def valid_text() -> str:
    recording = RecordingFile(TEST_ID, [make_interaction(), make_interaction(make_call(input="b"))])
    return recording.render()


def first_entry(text: str) -> str:
    start = text.index("- fingerprint")
    return text[start : text.index("- fingerprint", start + 1)]


CORRUPTIONS: list[tuple[str, Any, str]] = [
    ("yaml-syntax", "version: 1\ntest: [unclosed\n", r"invalid YAML at line 3, column 1"),
    (
        "yaml-indent",
        "version: 1\n  test: x\n",
        r"invalid YAML at line 2, column 7: mapping values are not allowed",
    ),
    ("control-char", "version: 1\ntest: \x01\n", r"invalid YAML: unacceptable character #x0001"),
    ("not-utf8", b"version: 1\ntest: \xff\xfe\n", r"it is not UTF-8 text \(byte 17\)"),
    ("empty", "", r"the file is empty"),
    ("list", "- 1\n- 2\n", r"the file must be a mapping, not a list"),
    ("missing-version", "test: x\ninteractions: []\n", r"the file is missing the field 'version'"),
    (
        "unknown-version",
        "version: 2\ntest: x\ninteractions: []\n",
        r"version 2 is not supported \(this pytest-chatexp reads version 1\)",
    ),
    (
        "unknown-key",
        "version: 1\ntest: x\ninteractions: []\nextra: 1\n",
        r"the file has an unknown field 'extra'",
    ),
    (
        "interactions-type",
        "version: 1\ntest: x\ninteractions: {}\n",
        r"interactions must be a list, not a mapping",
    ),
    (
        "missing-response",
        lambda text: text[: text.rindex("  response:")],
        r"interactions\[1\] is missing the field 'response'",
    ),
    (
        "sample-type",
        lambda text: text.replace("sample: 0", "sample: zero", 1),
        r"interactions\[0\].label.sample must be an integer of at least 0, not a string",
    ),
    (
        "latency-type",
        lambda text: text.replace("latency_s: 0.123", "latency_s: fast", 1),
        r"interactions\[0\].response.latency_s must be a number, not a string",
    ),
    (
        "unknown-field",
        lambda text: text.replace("    endpoint:", "    old_endpoint: x\n    endpoint:", 1),
        r"interactions\[0\].request has an unknown field 'old_endpoint'",
    ),
    (
        "body-type",
        "version: 1\ntest: x\ninteractions:\n- fingerprint: abc\n"
        "  label: {config: c, input: i, sample: 0}\n"
        "  request: {provider: p, endpoint: e, body: [1]}\n"
        "  response: {body: null, latency_s: 0.1}\n",
        r"interactions\[0\].request.body must be a mapping, not a list",
    ),
    (
        "date-value",
        lambda text: text.replace("model: gpt-4o-mini", "model: 2024-01-01", 1),
        r"interactions\[0\].request.body.model is a date, which is not a JSON value",
    ),
    (
        "edited-request",
        lambda text: text.replace("temperature: 0.2", "temperature: 0.3", 1),
        r"interactions\[0\].fingerprint does not match its request",
    ),
    (
        "duplicate",
        lambda text: text + first_entry(text),
        r"interactions\[2\] repeats the fingerprint of interactions\[0\]",
    ),
]


@pytest.mark.parametrize(
    ("content", "message"),
    [(c, m) for _, c, m in CORRUPTIONS],
    ids=[name for name, _, _ in CORRUPTIONS],
)
def test_corrupt_files_name_the_file_the_problem_and_the_fix(
    tmp_path: Path, content: Any, message: str
) -> None:
    path = tmp_path / "__recordings__" / "test_a" / "test_x.yaml"
    path.parent.mkdir(parents=True)
    if callable(content):
        path.write_text(content(valid_text()), encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CorruptRecordingError) as info:
        RecordingFile.load(path)
    text = str(info.value)
    assert text.startswith(f"recording {path} is corrupt: ")
    assert text.endswith("Delete it and re-record with --chatexp-record=all.")
    assert info.match(message)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- secrets -----------------------------------------------------------------------------------

# Built at run time so no literal in this file looks like a real credential to a scanner.
RANDOM_TAIL = "Zq81Xv40Lm93Kp27Rt65Wd"
SECRET_SHAPES = {
    "OpenAI API key": "sk-" + RANDOM_TAIL + "Yb12",
    "OpenAI project key": "sk-" + "proj-" + RANDOM_TAIL + "_Yb12-Nc34",
    "Anthropic API key": "sk-" + "ant-api03-" + RANDOM_TAIL,
    "Humanloop API key": "hl_" + "sk_" + RANDOM_TAIL.lower(),
    "AWS access key id": "AKIA" + "Z7Q2" * 4,
    "GitHub token": "ghp_" + RANDOM_TAIL + "Ab12Cd34Ef56Gh",
    "Google API key": "AIza" + RANDOM_TAIL + "Ab12Cd34Ef56G",
    "bearer token": "Authorization: Bearer " + RANDOM_TAIL,
    "api_key field": '{"api_key": "' + RANDOM_TAIL[:12] + '"}',
    "x-api-key field": "x-api-key: " + RANDOM_TAIL[:10],
    "authorization field": "authorization=Basic " + RANDOM_TAIL[:16],
}


@pytest.mark.parametrize("where", ["prompt", "response"])
@pytest.mark.parametrize("secret", list(SECRET_SHAPES.values()), ids=list(SECRET_SHAPES))
def test_credential_shapes_are_refused_and_nothing_is_written(
    tmp_path: Path, secret: str, where: str
) -> None:
    path = tmp_path / "__recordings__" / "test_a" / "test_x.yaml"
    if where == "prompt":
        interaction = make_interaction(
            make_call(messages=[{"role": "user", "content": f"Use {secret} please"}])
        )
        field = "interactions[0].request.body.messages[0].content"
    else:
        interaction = make_interaction(output=f"Here:\n{secret}\n")
        field = "interactions[0].response.body.choices[0].message.content"
    with pytest.raises(SecretInRecordingError) as info:
        update(path, [interaction], replace_test=False, test=TEST_ID, known_secrets=[])
    message = str(info.value)
    assert message.startswith(f"refusing to write recording {path}: it would contain a secret.")
    assert f"line {_line_of(interaction, secret)}, {field}: " in message
    assert "Nothing was written." in message
    assert re.findall("[A-Za-z0-9]{8,}", secret)[-1] not in message
    assert not path.exists()
    assert os.listdir(path.parent) == []  # no temp file, no lock file


def _line_of(interaction: Interaction, secret: str) -> int:
    text = RecordingFile(TEST_ID, [interaction]).render()
    marker = re.findall("[A-Za-z0-9]{8,}", secret)[-1]
    return text[: text.index(marker)].count("\n") + 1


def test_known_values_are_refused_and_an_existing_file_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    save(path, [make_interaction()])
    before = path.read_bytes()
    canary = "canary-" + "plain-words-only"  # no digits: only its being known makes it a secret
    leaking = make_interaction(make_call(input="leak"), output=f"The key is {canary}.")
    with pytest.raises(
        SecretInRecordingError, match=r"line \d+, .*content: cana… \(known secret value\)"
    ):
        update(path, [leaking], replace_test=False, test=TEST_ID, known_secrets=[canary, "short"])
    with pytest.raises(SecretInRecordingError):
        RecordingFile(TEST_ID, [leaking]).save(path, known_secrets=[canary])
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["r.yaml"]


def test_environment_keys_are_known_secrets_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "envcanary-" + "value-without-digits"
    monkeypatch.setenv("CHATEXP_TEST_API_KEY", canary)
    monkeypatch.setenv("CHATEXP_TEST_KEYRING_BACKEND", "not-a-secret-at-all")
    assert canary in environment_secrets()
    assert "not-a-secret-at-all" not in environment_secrets()
    assert environment_secrets(
        {"HF_TOKEN": "abcdefgh1", "X_TOKEN": "short", "PATH": "/usr/bin:/bin"}
    ) == ["abcdefgh1"]
    with pytest.raises(SecretInRecordingError, match="known secret value"):
        RecordingFile(TEST_ID, [make_interaction(output=canary)]).save(tmp_path / "r.yaml")
    assert not (tmp_path / "r.yaml").exists()


def test_several_secrets_are_all_listed() -> None:
    text = (
        "a: "
        + SECRET_SHAPES["OpenAI API key"]
        + "\nb: "
        + SECRET_SHAPES["AWS access key id"]
        + "\n"
    )
    assert find_secrets(text, []) == ["sk-Z… (OpenAI API key)", "AKIA… (AWS access key id)"]
    assert find_secrets("api_key: |\n  " + RANDOM_TAIL + "\n", []) == [
        "Zq81… ('api_key' field value)"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Use sk-learn for classical ML.",
        "pip install sk-learn-is-a-great-library-for-machine-learning",
        "Bearer token authentication sends a token in the header.",
        "Authorization: Bearer <token>",
        "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
        "authorization: the process of granting someone access",
        "api_key: ${OPENAI_API_KEY}",
        "api_key=os.environ['OPENAI_API_KEY']",
        "client = OpenAI(api_key=api_key)",
        'api_key: "***"',
        "api_key: REDACTED",
        'x-api-key: ""',
        "api_key: null",
        "max_tokens: 256\nmodel: gpt-4o-mini-2024-07-18",
        "fingerprint: 5f0c1d2e3a4b5c6d7e8f9a0b",
        "akia1234567890abcdef is not an AWS key id",
        "my password is abc123",
    ],
)
def test_ordinary_text_is_not_a_secret(text: str) -> None:
    assert find_secrets(text, known_values=["abc123"]) == []


def test_a_typical_recording_has_no_false_positives() -> None:
    text = valid_text()
    assert find_secrets(text, known_values=[]) == []


# --- concurrency and crashes -------------------------------------------------------------------


def _update_worker(path: str, worker: int, count: int) -> None:
    # Small interactions: each update re-reads and rewrites the whole file, so the test's cost
    # grows with the square of its entries.
    for index in range(count):
        call = Call(Label("c", f"w{worker}", index), RecordedRequest("p", "e", {"worker": worker}))
        interaction = Interaction.record(call, body="ok", latency_s=0.0)
        update(Path(path), [interaction], replace_test=False, test=TEST_ID, known_secrets=[])


def test_concurrent_processes_lose_no_entries(tmp_path: Path) -> None:
    path = tmp_path / "__recordings__" / "test_a" / "test_x.yaml"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_update_worker, args=(str(path), w, 25)) for w in range(8)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0] * 8
    recording = RecordingFile.load(path)
    assert len(recording) == 200
    assert {(item.label.input, item.label.sample) for item in recording.interactions} == {
        (f"w{w}", s) for w in range(8) for s in range(25)
    }
    assert sorted(os.listdir(path.parent)) == ["test_x.yaml"]


KILLED_WRITER = textwrap.dedent(
    """
    import os, random, sys, time
    from pathlib import Path
    from pytest_chatexp._recording import Call, Interaction, Label, RecordedRequest, update

    path, seed, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if mode == "stall-in-write":
        # After the first round (file fsync + directory fsync), announce the temp file's fsync
        # and stall there, so the parent can kill between writing the temp file and renaming it.
        real_fsync, calls = os.fsync, []

        def stalling_fsync(fd):
            calls.append(fd)
            if len(calls) > 2:
                print("writing", flush=True)
                time.sleep(60)
            real_fsync(fd)

        os.fsync = stalling_fsync
    rng = random.Random(seed)
    for round in range(10**9):
        words = [rng.choice(["refund", "order", "sorry", "policy", "days"]) for _ in range(4000)]
        interactions = []
        for index in range(30):
            text = "\\n".join(" ".join(words[i : i + 10]) for i in range(index, 4000, 10))
            request = RecordedRequest("openai", "e", {"prompt": text})
            call = Call(Label("c", f"i{index}", 0), request)
            body = {"out": text, "round": round}
            interactions.append(Interaction.record(call, body=body, latency_s=0.1))
        update(path, interactions, replace_test=True, test="t", known_secrets=[])
        print(round, flush=True)
    """
)


def run_and_kill(path: Path, seed: int, mode: str, wait_for: list[str], delay: float) -> None:
    """Start a writer, wait for its ``wait_for`` lines and ``delay`` seconds, then SIGKILL it."""
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), str(seed), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    try:
        assert [writer.stdout.readline().strip() for _ in wait_for] == wait_for
        time.sleep(delay)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
    assert writer.returncode == -signal.SIGKILL


def test_a_writer_killed_at_random_moments_never_leaves_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "__recordings__" / "test_a" / "test_big.yaml"
    rng = random.Random()
    for attempt in range(5):
        # One full write first, then kill it anywhere: reading, rendering, writing, renaming.
        run_and_kill(path, attempt, "free", ["0"], delay=rng.uniform(0.0, 0.4))
        assert len(RecordingFile.load(path)) == 30
    # A lock file left by a killed writer blocks nobody.
    update(path, [], replace_test=True, test="t", known_secrets=[])
    assert len(RecordingFile.load(path)) == 0


def test_a_writer_killed_between_write_and_rename_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "__recordings__" / "test_a" / "test_big.yaml"
    run_and_kill(path, 0, "stall-in-write", ["0", "writing"], delay=0.0)
    recording = RecordingFile.load(path)
    assert {item.response["body"]["round"] for item in recording.interactions} == {0}
    (temp,) = path.parent.glob(".test_big.yaml.tmp-*")
    assert temp.stat().st_size > path.stat().st_size / 2  # the new content was being written
    old = time.time() - 120
    os.utime(temp, (old, old))
    update(path, [], replace_test=True, test="t", known_secrets=[])
    assert sorted(os.listdir(path.parent)) == ["test_big.yaml"]


def test_fallback_lock_excludes_and_breaks_stale_locks(tmp_path: Path) -> None:
    lock = tmp_path / ".r.yaml.lock"
    inside: list[int] = []
    overlaps: list[bool] = []

    def hold(worker: int) -> None:
        for _ in range(20):
            with _exclusive_create_lock(lock):
                inside.append(worker)
                overlaps.append(len(inside) > 1)
                time.sleep(0.001)
                inside.remove(worker)

    threads = [threading.Thread(target=hold, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(overlaps) == 80 and not any(overlaps)
    assert not lock.exists()

    lock.touch()
    old = time.time() - 120
    os.utime(lock, (old, old))
    with _exclusive_create_lock(lock):  # a dead writer's lock is broken, not waited on forever
        assert lock.exists()


# --- replay-miss explanations ------------------------------------------------------------------


def recorded() -> list[Interaction]:
    return [make_interaction(make_call("support-v2", "refund", sample)) for sample in (0, 1)] + [
        make_interaction(make_call("support-v2", "shipping", 0)),
        make_interaction(make_call("support-v1", "refund", 0, model="gpt-4o")),
    ]


def test_describe_request() -> None:
    assert describe_request(Label("support-v2", "refund", 0)) == (
        "model config 'support-v2', input 'refund', sample 0"
    )


def explained(wanted: Call, recorded: list[Interaction]) -> str:
    """The miss as the terminal shows it."""
    return explain_miss(wanted, recorded).render()


def test_a_miss_is_a_record_of_the_changes() -> None:
    miss = explain_miss(make_call(input="cancel", temperature=0.5), recorded())
    assert miss.label == Label("support-v2", "cancel", 0)
    assert miss.new_input and not miss.new_config
    assert (miss.closest, miss.relation) == (Label("support-v2", "refund", 0), "same config")
    assert miss.changes == (
        Change(
            "messages[1].content",
            "changed",
            '"Customer message for refund"',
            '"Customer message for cancel"',
        ),
        Change("temperature", "changed", "0.2", "0.5"),
    )
    assert Miss.from_json(json.loads(json.dumps(miss.to_json()))) == miss
    assert Miss.from_json({"label": "nonsense"}) is None
    text = explain_miss(
        make_call(messages=[{"role": "system", "content": "a\nb"}]), recorded()
    ).changes[0]
    assert text.kind == "text" and text.path == "messages[0].content"
    assert all(line[:1] in (" ", "-", "+") for line in text.diff)


def test_miss_with_no_recording() -> None:
    assert explained(make_call(), []) == (
        "no recorded response for model config 'support-v2', input 'refund', sample 0.\n"
        "This test has no recorded interactions (no recording file, or it is empty)."
    )


def test_miss_from_a_changed_system_prompt_shows_a_line_diff() -> None:
    prompt = SYSTEM_PROMPT.replace("two sentences", "three sentences") + "Be kind.\n"
    wanted = make_call(
        messages=[
            {"role": "system", "content": prompt},
            {"role": "user", "content": "Customer message for refund"},
        ]
    )
    assert explained(wanted, recorded()) == textwrap.dedent(
        """\
        no recorded response for model config 'support-v2', input 'refund', sample 0.
        Closest recording: model config 'support-v2', input 'refund', sample 0 (same label).
        Request changes since it was recorded:
          messages[0].content changed:
               You are a support agent for Acme.
              -Answer in two sentences.
              +Answer in three sentences.
               Never promise refunds.
              +Be kind."""
    )


def test_miss_from_scalar_changes() -> None:
    wanted = make_call(
        sample=1,
        temperature=0.7,
        seed=None,
        model="gpt-4o",
        provider="azure",
        endpoint="acme.openai.azure.com/openai",
    )
    report = explained(wanted, recorded())
    assert (
        "Closest recording: model config 'support-v2', input 'refund', sample 1 (same label)."
        in report
    )
    assert report.splitlines()[-5:] == [
        "  provider: 'openai' -> 'azure'",
        "  endpoint: 'api.openai.com/v1' -> 'acme.openai.azure.com/openai'",
        '  model: "gpt-4o-mini" -> "gpt-4o"',
        "  seed removed (was 7)",
        "  temperature: 0.2 -> 0.7",
    ]


def test_miss_from_an_added_tool() -> None:
    tool = {"type": "function", "function": {"name": "lookup_order"}}
    base = [make_interaction(make_call(tools=[tool]))]
    new_tool = {"type": "function", "function": {"name": "refund"}}
    report = explained(make_call(tools=[tool, new_tool]), base)
    assert report.splitlines()[-1] == (
        '  tools[1] added: {"function": {"name": "refund"}, "type": "function"}'
    )
    inserted = explained(make_call(tools=[new_tool, tool]), base)
    assert inserted.splitlines()[-1].startswith("  tools[0] added: ")  # aligned, not 2 changes


def test_miss_for_a_new_input() -> None:
    report = explained(make_call(input="cancel"), recorded())
    lines = report.splitlines()
    assert lines[1] == "input 'cancel' is new: nothing was recorded for it."
    assert lines[2:] == [
        "Closest recording: model config 'support-v2', input 'refund', sample 0 (same config).",
        "Request changes since it was recorded:",
        '  messages[1].content: "Customer message for refund" -> "Customer message for cancel"',
    ]


def test_miss_for_a_new_config_lists_the_recorded_ones() -> None:
    report = explained(make_call("support-v3", model="gpt-4o", temperature=0.5), recorded())
    # The most similar request across configs is the v1 one, which has the same model.
    assert report.splitlines()[1:] == [
        "model config 'support-v3' is new: the recording has 'support-v1', 'support-v2'.",
        "Closest recording: model config 'support-v1', input 'refund', sample 0 "
        "(most similar request).",
        "Request changes since it was recorded:",
        "  temperature: 0.2 -> 0.5",
    ]


def test_miss_with_an_unchanged_request_blames_the_recording() -> None:
    call = make_call()
    stale = Interaction("0" * 24, call.label, call.request, {"body": {}, "latency_s": 0.1})
    assert explained(call, [stale]).splitlines()[1:] == [
        "Closest recording: model config 'support-v2', input 'refund', sample 0 (same label).",
        "The request is unchanged, so this recording was made by an incompatible version "
        "of pytest-chatexp: re-record with --chatexp-record=all.",
    ]


def test_miss_for_an_extra_sample() -> None:
    report = explained(make_call(sample=2), recorded())
    assert report.splitlines()[1:] == [
        "Closest recording: model config 'support-v2', input 'refund', sample 1 "
        "(same config and input).",
        "The request is unchanged, but sample 2 was never recorded "
        "(recorded samples: 0, 1); were samples added?",
    ]


def test_long_explanations_are_capped() -> None:
    params: dict[str, Any] = {f"param_{i:02}": i for i in range(60)}
    wanted = make_call(**params)
    lines = explained(wanted, recorded()).splitlines()
    assert len(lines) <= 41
    assert lines[-1].startswith("  ... ") and lines[-1].endswith(" more differences")
    shown = sum(1 for line in lines if line.startswith("  param_"))
    assert lines[-1] == f"  ... {60 - shown} more differences"


def test_a_later_turn_is_its_own_labelled_entry_and_turn_0_keeps_the_old_key(
    tmp_path: Path,
) -> None:
    request = RecordedRequest("openai", "api.openai.com/v1/chat/completions", {"model": "m"})
    first = Call(Label("c", "i", 0), request)
    later = Call(Label("c", "i", 0, turn=2), request)
    # Recordings made before turns existed keep their fingerprints.
    assert first.fingerprint == fingerprint(
        provider="openai", endpoint=request.endpoint, body=request.body, sample_index=0
    )
    assert later.fingerprint != first.fingerprint
    path = tmp_path / "r.yaml"
    recording = RecordingFile("t::x")
    for call in (later, first):
        recording.add(Interaction.record(call, body={"n": call.label.turn}, latency_s=0.1))
    recording.save(path)
    text = path.read_text()
    assert text.count("turn:") == 1 and "    turn: 2\n" in text
    loaded = RecordingFile.load(path)
    assert [item.label.turn for item in loaded.interactions] == [0, 2]
    assert loaded.get(later.fingerprint) is not None
    assert Label("c", "i", 0, turn=2).describe() == "model config 'c', input 'i', sample 0, turn 2"


def test_a_turn_must_be_a_whole_number(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    recording = RecordingFile("t::x")
    call = Call(Label("c", "i", 0, turn=1), RecordedRequest("openai", "e", {"model": "m"}))
    recording.add(Interaction.record(call, body={}, latency_s=0.1))
    recording.save(path)
    path.write_text(path.read_text().replace("turn: 1", "turn: -1"))
    with pytest.raises(CorruptRecordingError, match=r"label.turn must be an integer of at least 0"):
        RecordingFile.load(path)


@pytest.mark.parametrize("test", ["a\n\n", "\n", "b\n"])
def test_a_name_ending_in_newlines_still_loads_as_one_document(test: str) -> None:
    # Such a name is a "|+" block, whose own dump ends the document with "...".
    for interactions in ([], [make_interaction(make_call())]):
        loaded = yaml.safe_load(RecordingFile(test, interactions).render())
        assert loaded["test"] == test
        assert len(loaded["interactions"]) == len(interactions)
