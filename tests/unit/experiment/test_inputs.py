"""Inputs: flat and structured rows, case ids, and dataset files (JSONL, JSON, CSV, YAML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_chatexp import ChatMessage, DatasetError, Input, InvalidExperimentError, load_dataset
from pytest_chatexp._experiment._files import resolve_inputs
from pytest_chatexp._experiment._inputs import input_from_row


def _resolve(value: Any, base_dir: Path = Path(".")) -> list[Input]:
    return resolve_inputs(value, base_dir=base_dir, where="inputs")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- rows -------------------------------------------------------------------------------------


def test_flat_row_is_all_variables() -> None:
    row = input_from_row({"question": "why?", "n": 3, "inputs_extra": [1]}, where="w")
    assert row.inputs == {"question": "why?", "n": 3, "inputs_extra": [1]}
    assert row.id is None
    assert row.messages == ()


def test_structured_row() -> None:
    row = input_from_row(
        {
            "id": "greeting",
            "inputs": {"name": "Ada"},
            "messages": [{"role": "user", "content": "Hi {{name}}"}],
            "metadata": {"tag": "smoke"},
        },
        where="w",
    )
    assert row.id == "greeting"
    assert row.inputs == {"name": "Ada"}
    assert row.messages == (ChatMessage(role="user", content="Hi {{name}}"),)
    assert row.metadata == {"tag": "smoke"}


@pytest.mark.parametrize(
    "row",
    [{"messages": [{"role": "user", "content": "hi"}]}, {"inputs": {"a": 1}}],
    ids=["messages-only", "inputs-only"],
)
def test_structured_row_needs_only_inputs_or_messages(row: dict[str, Any]) -> None:
    parsed = input_from_row(row, where="w")
    assert parsed.inputs == row.get("inputs", {})
    assert len(parsed.messages) == len(row.get("messages", []))


def test_row_with_inputs_and_other_keys_is_flat() -> None:
    # "inputs" beside a non-structured key is just a variable called "inputs".
    row = input_from_row({"inputs": "raw text", "question": "q"}, where="w")
    assert row.inputs == {"inputs": "raw text", "question": "q"}


@pytest.mark.parametrize(("given", "case_id"), [("capital", "capital"), (7, "7")])
def test_flat_id_is_case_id_and_stays_a_variable(given: Any, case_id: str) -> None:
    row = input_from_row({"id": given, "q": "x"}, where="w")
    assert row.id == case_id
    assert row.inputs == {"id": given, "q": "x"}


def test_structured_id_is_not_a_variable() -> None:
    row = input_from_row({"id": 5, "inputs": {"q": "x"}}, where="w")
    assert row.id == "5"
    assert row.inputs == {"q": "x"}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (3, "inputs[2]: expected a mapping of template variables, got int"),
        ("text", "inputs[2]: expected a mapping of template variables, got str"),
        ({"inputs": "x", "messages": []}, "inputs[2]: 'inputs'"),
        ({"messages": [{"role": "robot"}]}, "inputs[2]: 'messages[0].role'"),
    ],
    ids=["int", "str", "inputs-not-mapping", "bad-role"],
)
def test_bad_row_error_names_the_row(row: Any, expected: str) -> None:
    with pytest.raises(InvalidExperimentError) as excinfo:
        input_from_row(row, where="inputs[2]")
    assert str(excinfo.value).startswith(expected)


def test_input_objects_pass_through() -> None:
    given = Input(id="x", inputs={"a": 1})
    assert input_from_row(given, where="w") is given


# --- ids --------------------------------------------------------------------------------------


def test_auto_ids_follow_position() -> None:
    inputs = _resolve([{"a": 1}, {"id": "named", "a": 2}, {"a": 3}])
    assert [i.id for i in inputs] == ["input-0", "named", "input-2"]


def test_no_inputs_is_one_case_without_variables() -> None:
    assert _resolve(None) == [Input(id="input-0")]


def test_single_mapping_is_one_case() -> None:
    assert _resolve({"a": 1}) == [Input(id="input-0", inputs={"a": 1})]


@pytest.mark.parametrize(
    "rows",
    [
        [{"id": "a"}, {"id": "a"}],
        [{"id": "a", "x": 1}, {"id": "a", "inputs": {"x": 2}}],
        [{"id": 1}, {"id": "1"}],
    ],
    ids=["flat", "flat-and-structured", "int-and-str"],
)
def test_duplicate_ids_rejected(rows: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidExperimentError, match=r"^inputs: two inputs share the id '(a|1)'"):
        _resolve(rows)


def test_non_mapping_in_list_names_its_position() -> None:
    with pytest.raises(InvalidExperimentError, match=r"^inputs\[1\]: expected a mapping.*got int"):
        _resolve([{"a": 1}, 3])


def test_resolve_mixes_rows_and_dataset_paths(tmp_path: Path) -> None:
    _write(tmp_path, "more.jsonl", '{"id": "f1", "a": 1}\n{"a": 2}\n')
    inputs = _resolve([{"id": "inline", "a": 0}, "more.jsonl"], base_dir=tmp_path)
    assert [i.id for i in inputs] == ["inline", "f1", "input-2"]
    assert [i.inputs["a"] for i in inputs] == [0, 1, 2]


# --- dataset files ----------------------------------------------------------------------------


def test_jsonl_with_blank_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "d.jsonl",
        '{"id": "a", "q": "one"}\n\n   \n{"inputs": {"q": "two"}, "messages": []}\n\n',
    )
    rows = load_dataset(path)
    assert [(r.id, r.inputs) for r in rows] == [
        ("a", {"id": "a", "q": "one"}),
        (None, {"q": "two"}),
    ]


def test_jsonl_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"q": "one"}\r\n{"q": "two"}\r\n')
    assert [r.inputs for r in load_dataset(path)] == [{"q": "one"}, {"q": "two"}]


def test_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    # U+2028 is legal unescaped inside a JSON string; json.dumps(ensure_ascii=False) writes it.
    value = "first\u2028second\x85third"
    path = _write(tmp_path, "d.jsonl", json.dumps({"q": value}, ensure_ascii=False) + "\n")
    assert [r.inputs for r in load_dataset(path)] == [{"q": value}]


def test_jsonl_bad_line_names_path_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.jsonl", '{"q": 1}\n\n{"q": \n')
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(path)
    assert str(excinfo.value).startswith(f"{path}:3: invalid JSON: ")


def test_jsonl_non_mapping_line_names_path_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.jsonl", '{"q": 1}\n[1, 2]\n')
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(path)
    assert str(excinfo.value) == f"{path}:2: expected a mapping of template variables, got list"


@pytest.mark.parametrize(
    "data",
    [
        [{"id": "a", "q": 1}, {"q": 2}],
        {"inputs": [{"id": "a", "q": 1}, {"q": 2}]},
    ],
    ids=["list", "wrapped"],
)
def test_json_dataset(tmp_path: Path, data: Any) -> None:
    rows = load_dataset(_write(tmp_path, "d.json", json.dumps(data)))
    assert [(r.id, r.inputs["q"]) for r in rows] == [("a", 1), (None, 2)]


def test_json_dataset_must_be_a_list(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.json", '{"q": 1}')
    with pytest.raises(DatasetError, match="expected a list of rows, got dict"):
        load_dataset(path)


def test_json_dataset_bad_row_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.json", '[{"q": 1}, "oops"]')
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(path)
    assert str(excinfo.value) == f"{path}: row 1: expected a mapping of template variables, got str"


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_dataset(tmp_path: Path, suffix: str) -> None:
    text = (
        "- {id: a, q: one}\n- inputs: {q: two}\n  messages:\n    - {role: user, content: '{{q}}'}\n"
    )
    rows = load_dataset(_write(tmp_path, "d" + suffix, text))
    assert rows[0] == Input(id="a", inputs={"id": "a", "q": "one"})
    assert rows[1].inputs == {"q": "two"}
    assert rows[1].messages == (ChatMessage(role="user", content="{{q}}"),)


def test_yaml_dataset_non_mapping_row_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.yaml", "- {q: 1}\n- 5\n")
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(path)
    assert str(excinfo.value) == f"{path}: row 1: expected a mapping of template variables, got int"


def test_csv_dataset(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "d.csv", 'id,question,style\ncap,"capital of France, please",brief\n,2+2,\n'
    )
    rows = load_dataset(path)
    assert rows[0] == Input(
        id="cap", inputs={"id": "cap", "question": "capital of France, please", "style": "brief"}
    )
    # CSV values are strings; an empty id column is still an id.
    assert rows[1].inputs == {"id": "", "question": "2+2", "style": ""}


def test_csv_quoted_newline_is_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.csv", 'q,n\n"line one\nline two",1\nnext,2\n')
    assert [r.inputs for r in load_dataset(path)] == [
        {"q": "line one\nline two", "n": "1"},
        {"q": "next", "n": "2"},
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [("a,b\n1,2\n3\n", 3), ("a,b\n1,2\n3,4\n5,6,7\n", 4)],
    ids=["short", "long"],
)
def test_csv_ragged_row_rejected_with_line(tmp_path: Path, text: str, line: int) -> None:
    path = _write(tmp_path, "d.csv", text)
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(path)
    assert str(excinfo.value) == (
        f"{path}:{line}: the row has a different number of columns than the header"
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("d.jsonl", "", "the dataset has no rows"),
        ("d.jsonl", "\n\n", "the dataset has no rows"),
        ("d.json", "[]", "the dataset has no rows"),
        ("d.yaml", "[]\n", "the dataset has no rows"),
        ("d.csv", "a,b\n", "the dataset has no rows"),
        ("d.csv", "", "the CSV file has no header row"),
        ("d.txt", "a", "unsupported dataset type '.txt' (use .jsonl, .json, .csv or .yaml)"),
    ],
)
def test_empty_or_unsupported_dataset(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(path)
    assert str(excinfo.value) == f"{path}: {expected}"


@pytest.mark.parametrize("name", ["missing.jsonl", "missing.csv", "missing.json"])
def test_missing_dataset_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(tmp_path / name)
    assert str(excinfo.value) == f"{tmp_path / name}: file not found"
