"""Every YAML file the plugin reads goes through one safe loader: no alias bombs, no repeated keys,
no file read past a size bound.

A "billion laughs" file is a few hundred bytes of anchors and aliases that expand to billions of
values: before the loader refused aliases, a 3.4 KB recording or a 483-byte prompt file ran for
minutes and ended in a MemoryError. The inner sessions run in a subprocess with a timeout, so a
regression fails the test instead of taking the machine's memory.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from pytest_chatexp._errors import DatasetError
from pytest_chatexp._reading import (
    MAX_FILE_BYTES,
    FileTooLarge,
    YamlProblem,
    load_yaml,
    read_bounded,
)
from pytest_chatexp._recording import RecordingFile
from pytest_chatexp.testing import ReferenceServer
from tests._suite import assert_clean

PACKAGE = Path(__file__).parents[3] / "pytest_chatexp"

# Nine levels of nine aliases: 9**9 (387 million) strings once expanded.
LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)

TEST_FILE = """
import pytest

@pytest.mark.chatexp(model_configs=CONFIGS, inputs=INPUTS)
def test_x(chatexp):
    assert chatexp.outputs
"""


CONFIG = '[{"model": "m", "chat_template": [{"role": "user", "content": "{{q}}"}]}]'


def _suite(pytester: pytest.Pytester, *, configs: str, inputs: str = '[{"q": "hi"}]') -> None:
    pytester.makepyfile(test_x=TEST_FILE.replace("CONFIGS", configs).replace("INPUTS", inputs))


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=60)
    return result, time.monotonic() - started


def test_an_alias_bomb_in_a_prompt_file_is_refused_at_once(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    bomb = "name: c\nmodel: m\nother:\n" + "".join(f"  {line}\n" for line in LAUGHS.splitlines())
    assert len(bomb) < 600
    pytester.path.joinpath("prompts.yaml").write_text(bomb)
    _suite(pytester, configs='"prompts.yaml"')
    result, seconds = _run(pytester)
    assert result.ret != 0
    assert "prompts.yaml:4: invalid YAML: the anchor &a is not allowed" in result.stdout.str()
    assert_clean(result)
    assert seconds < 30
    assert len(server.requests) == 0


def test_an_alias_bomb_in_a_dataset_is_refused_at_once(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.path.joinpath("cases.yaml").write_text(LAUGHS + "inputs:\n- q: *i\n")
    _suite(pytester, configs=CONFIG, inputs='"cases.yaml"')
    result, _ = _run(pytester)
    assert result.ret != 0
    assert "cases.yaml:1: invalid YAML: the anchor &a is not allowed" in result.stdout.str()
    assert len(server.requests) == 0


def test_an_alias_bomb_in_a_recording_is_refused_at_once(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    _suite(pytester, configs=CONFIG)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=1)
    recording = pytester.path / "__recordings__" / "test_x" / "test_x.yaml"
    # A hand edit: the recorded answer's body becomes the laughs.
    head, _, rest = recording.read_text().partition("  response:\n    body:\n")
    laughs = "".join(f"      {line}\n" for line in LAUGHS.splitlines())
    bomb = head + "  response:\n    body:\n" + laughs + rest[rest.index("    latency_s") :]
    recording.write_text(bomb)
    assert len(bomb.encode()) < 4000
    result, seconds = _run(pytester, "--chatexp-record=none")
    result.assert_outcomes(errors=1)
    line = head.count("\n") + 3
    output = result.stdout.str()
    assert f"recording {recording} is corrupt: invalid YAML at line {line}, column 10: " in output
    assert "the anchor &a is not allowed" in output
    assert seconds < 30


def test_a_key_given_twice_in_a_prompt_file_names_both_lines(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    pytester.path.joinpath("prompts.yaml").write_text(
        "- name: c\n  model: m\n  chat_template:\n  - role: user\n    content: hi\n"
        "    content: '{{q}}'\n"
    )
    _suite(pytester, configs='"prompts.yaml"')
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*prompts.yaml:6: invalid YAML: the key 'content' is repeated (first at line 5)*"]
    )
    assert len(server.requests) == 0


def test_a_key_given_twice_in_a_dataset_is_an_error(tmp_path: Path) -> None:
    from pytest_chatexp._experiment._files import load_dataset

    path = tmp_path / "cases.yml"
    path.write_text("- id: a\n  q: one\n- id: b\n  q: two\n  q: three\n")
    with pytest.raises(DatasetError, match=r"cases.yml:5: invalid YAML: the key 'q' is repeated"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        ("a: &x 1\n", "the anchor &x is not allowed", 1),
        ("a: 1\nb: *x\n", "the alias *x is not allowed", 2),  # before "undefined alias"
        ("- &x [1]\n- *x\n", "the anchor &x is not allowed", 1),
        ("a:\n  <<: {b: 1}\n", "merge keys (<<) are not allowed", 2),
        ("a: 1\nb:\n  c: 1\n  c: 2\n", "the key 'c' is repeated (first at line 3)", 4),
        ("{1: a, 0x1: b}\n", "the key 1 is repeated (first at line 1)", 1),
        ("a: [1\n", "did not find expected ',' or ']'", 2),
    ],
)
def test_the_loader_refuses_with_the_line(text: str, problem: str, line: int) -> None:
    with pytest.raises(YamlProblem) as info:
        load_yaml(text)
    assert problem in info.value.problem
    assert info.value.line == line


def test_text_that_only_looks_like_aliases_loads() -> None:
    text = "a: '*x &y'\nb: \"**bold**\"\nc: x*y&z\n"
    assert load_yaml(text) == {"a": "*x &y", "b": "**bold**", "c": "x*y&z"}


def test_files_past_the_size_bound_are_refused_unread(
    pytester: pytest.Pytester, tmp_path: Path, server: ReferenceServer
) -> None:
    prompts = pytester.path / "prompts.yaml"
    with prompts.open("wb") as stream:  # sparse: no disk space used
        stream.write(b"model: m\n")
        stream.truncate(MAX_FILE_BYTES + 1)
    _suite(pytester, configs='"prompts.yaml"')
    result = pytester.runpytest()
    assert result.ret != 0
    assert "prompts.yaml: cannot be read (it is larger than 64 MiB" in result.stdout.str()

    recording = tmp_path / "r.yaml"
    recording.write_bytes(b"")
    with recording.open("r+b") as stream:
        stream.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(Exception, match=r"recording .*r.yaml is corrupt: it is larger than 64 MiB"):
        RecordingFile.load(recording)


def test_read_bounded_reads_what_the_size_does_not_say(tmp_path: Path) -> None:
    """It asks for the bytes the file's size gives, not for the limit (a 64 MiB buffer per
    read): a file whose size says nothing (/proc) is still read whole, and the limit still
    holds to the byte."""
    status = Path("/proc/self/status")
    if status.exists():  # size 0, content not
        assert status.stat().st_size == 0
        assert read_bounded(status).startswith(b"Name:")
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 100)
    assert read_bounded(exact, limit=100) == b"x" * 100
    with pytest.raises(FileTooLarge):
        read_bounded(exact, limit=99)
    assert read_bounded(tmp_path / "exact", limit=1000) == b"x" * 100
    (tmp_path / "empty").write_bytes(b"")
    assert read_bounded(tmp_path / "empty") == b""


def test_no_module_loads_yaml_but_the_safe_loader() -> None:
    loads = re.compile(r"\byaml\.(?:load|safe_load|full_load|unsafe_load|load_all)\(")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        # The reference server stands alone (it cannot import _reading): its --humanloop-config
        # reader refuses the same (tests/sessions/test_provider_humanloop.py).
        if path.name not in ("_reading.py", "_humanloop_file.py")
        and loads.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
