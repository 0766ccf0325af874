"""The fast recording reader agrees with PyYAML whenever it answers, and answers for our files.

``_block_yaml.load`` is only a fast path: PyYAML's safe loader is the referee. Two properties
hold it there: on anything our dumper writes it gives PyYAML's data, and on hand-broken text it
either gives PyYAML's data or declines (never a different answer, never an answer where PyYAML
raises).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_chatexp._recording._block_yaml import NotInSubset, load
from pytest_chatexp._recording._text import _Loader, dump_yaml

ROOT = Path(__file__).parents[3]

# Text that stresses YAML: indicators, quotes, colons, hashes, line breaks, spaces at the ends,
# strings PyYAML resolves to other types, and any unicode.
_TRICKY = st.sampled_from(
    [
        "", " ", "-", "- x", "a: b", "a:", "#x", "x #y", "'", '"', "''", "\\", "yes", "No", "on",
        "null", "~", "1", "-1", "+1", "0x1f", "010", "1_000", "1e5", "1.0e+5", ".5", "-.inf",
        ".nan", "2024-02-30", "12:30", "<<", "=", "@x", "%x", "`x", "|", ">", "{}", "[]", "{a}",
        "? x", "!tag", "&a", "*a", "a\nb", "a\n", "a\n\n", "\na", " a\nb", "a \nb", "a\tb",
        "a\rb", "\x85", "\u2028", "\ufeff", "\x00", "\x7f", "é", "😀", "\u00a0", "a\\nb",
    ]
)  # fmt: skip
_TEXT = st.one_of(_TRICKY, st.text(max_size=30), st.text(alphabet=" :-#'\"\n|>ab", max_size=12))
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    _TEXT,
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=25,
)


def _pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


@settings(max_examples=400, deadline=None)
@given(_JSON)
@example({"messages": [{"content": "line one\nline two\n", "role": "user"}], "n": -1.5})
@example({"a": ["x", {"b": [], "c": {}}, "y"], "d": {"e": {"f": "g: h"}}})
def test_it_reads_what_the_dumper_writes_as_pyyaml_does(data: Any) -> None:
    text = dump_yaml({"root": data})
    try:
        fast = load(text)
    except NotInSubset:
        return
    assert fast == _pyyaml(text)
    assert repr(fast) == repr(_pyyaml(text))  # 1 vs 1.0 vs True: types must match too


@st.composite
def _broken(draw: st.DrawFn) -> str:
    """A document our dumper wrote, then edited by a careless hand."""
    lines = dump_yaml({"root": draw(_JSON), "tail": draw(_TEXT)}).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["insert", "indent", "dedent", "delete", "duplicate", "text"]))
        if edit == "insert":
            column = draw(st.integers(0, len(lines[index])))
            pieces = [" ", "- ", ": ", "#", "'", '"', "|", "\\", "{", "x", "--- ", "... "]
            piece = draw(st.sampled_from(pieces))
            lines[index] = lines[index][:column] + piece + lines[index][column:]
        elif edit == "indent":
            lines[index] = " " * draw(st.integers(1, 3)) + lines[index]
        elif edit == "dedent":
            lines[index] = lines[index][draw(st.integers(1, 3)) :]
        elif edit == "delete" and len(lines) > 1:
            del lines[index]
        elif edit == "duplicate":
            lines.insert(index, lines[index])
        else:
            lines[index] = draw(_TEXT).replace("\n", " ")
    return "\n".join(lines)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_broken())
# Found by chance in CI: "- #" opens an empty item (null) and a comment, not a mapping.
@example("root:\n- #'': null\n")
@example("root:\n- #x\n- # a: b\ntail: x\n")
# Document markers at the start of a later line: PyYAML refuses a second document.
@example("root: 1\n--- tail: x\n")
@example("root:\n  a: |\n    x\n... tail: x\n")
def test_on_broken_text_it_agrees_with_pyyaml_or_declines(text: str) -> None:
    try:
        fast = load(text)
    except NotInSubset:
        return
    expected = _pyyaml(text)  # must not raise: the fast path never accepts invalid YAML
    assert repr(fast) == repr(expected)


@pytest.mark.parametrize(
    "text",
    [
        "a: [x]\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: |2-\n   lead\n  x\n",
        "a: >\n  folded\n",
        "a: 'multi\n  line'\n",
        "a: 017\n",
        "? complex\n: key\n",
        "--- \na: 1\n",
        "a: 1\n...\n",
        "a: b\n  c\n",
        "a:\n    b: 1\n",
        "a: 1",
        "a: x # comment\n",
        "- - nested\n",
        "a:\n- 1\n- - 2\n",
        "- #'': null\n",
        "a: 1\n--- b: 2\n",
        "a: 1\n... b: 2\n",
        "a: 1\nb: 2\na: 3\n",  # a repeated key: the safe loader names both lines
    ],
)
def test_what_it_does_not_handle_goes_to_pyyaml(text: str) -> None:
    with pytest.raises(NotInSubset):
        load(text)


def test_special_floats_match_pyyaml() -> None:
    text = "a: .NaN\nb: -.inf\nc: +.INF\nd: 1.5e+3\ne: -0.0\nf: 1.0e5\n"
    fast = load(text)
    assert math.isnan(fast.pop("a")) and math.isnan(_pyyaml(text)["a"])
    assert fast == {"b": -math.inf, "c": math.inf, "d": 1500.0, "e": -0.0, "f": "1.0e5"}
    assert repr(fast) == repr({k: v for k, v in _pyyaml(text).items() if k != "a"})


def test_every_committed_recording_takes_the_fast_path() -> None:
    # The speed of a replay rests on this: if the dumper's output drifts out of the subset,
    # every recording silently falls back to PyYAML.
    files = sorted(ROOT.glob("**/__recordings__/**/*.yaml"))
    files = [path for path in files if ".venv" not in path.parts]
    assert len(files) >= 8
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert load(text) == _pyyaml(text), path
