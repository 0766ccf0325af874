"""The shared helpers in ``pytest_chatexp._util``: one copy each, used by several stages."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pytest_chatexp._util import json_path, write_atomic


@pytest.mark.parametrize(
    ("parts", "plain", "jsonpath"),
    [
        ([], "", "$"),
        (["messages", 0, "content"], "messages[0].content", "$.messages[0].content"),
        ([0, "a"], "[0].a", "$[0].a"),
        (["content-type"], "content-type", '$["content-type"]'),
        (["a.b", "odd key", "é"], '["a.b"]["odd key"]["é"]', '$["a.b"]["odd key"]["é"]'),
        (["_x9"], "_x9", "$._x9"),
        (["9x"], '["9x"]', '$["9x"]'),
    ],
)
def test_json_path_in_both_forms(parts: list[str | int], plain: str, jsonpath: str) -> None:
    # The recordings' form reads dashed header names plainly; JSONPath (RFC 9535) shorthand
    # names cannot hold a dash, so the checks' form quotes them.
    assert json_path(parts) == plain
    assert json_path(parts, root="$") == jsonpath


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "report.md"
    write_atomic(path, "first\n")
    write_atomic(path, "second: é\n")
    assert path.read_bytes() == "second: é\n".encode()
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.md"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "\udc80")  # an unpaired surrogate: UTF-8 cannot hold it
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_gc_paused_pauses_the_collector_and_restores_its_state() -> None:
    import gc

    from pytest_chatexp._util import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("the block failed")
    assert gc.isenabled()  # re-enabled on the way out of a failure too
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_shared_strings_keep_one_copy_of_keys_and_short_values() -> None:
    from pytest_chatexp import _util

    text = '{"choices": [{"message": {"role": "assistant", "content": "%s"}}], "n": 1.5}'
    first, second = (
        _util.shared_strings(json.loads(text % content))
        for content in ("A long answer, longer than any key or model name.", "Short.")
    )
    assert first == json.loads(text % "A long answer, longer than any key or model name.")
    key_a, key_b = next(iter(first)), next(iter(second))
    assert key_a is key_b  # one "choices" for both answers
    role_a = first["choices"][0]["message"]["role"]
    assert role_a is second["choices"][0]["message"]["role"]
    # A long value is its answer's own: the cache holds only what repeats cheaply.
    assert first["choices"][0]["message"]["content"] not in _util._SHARED


def test_shared_strings_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_chatexp import _util

    monkeypatch.setattr(_util, "_SHARED", {})
    monkeypatch.setattr(_util, "_SHARED_MAX", 10)
    values = _util.shared_strings([f"id-{n}" for n in range(100)])
    assert values == [f"id-{n}" for n in range(100)]
    assert len(_util._SHARED) == 10


def test_shared_strings_give_back_a_value_too_deep_to_walk() -> None:
    from pytest_chatexp import _util

    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    assert _util.shared_strings(deep) is deep
