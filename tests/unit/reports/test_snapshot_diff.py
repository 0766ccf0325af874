"""The diff a failing snapshot comparison shows: each changed sample under its own header."""

from __future__ import annotations

from pytest_chatexp._reports._snapshot import ExperimentSnapshotExtension

HEAD = "#### sample {}: finish_reason stop, 1 prompt + 1 generation tokens"


def snapshot(outputs: dict[str, list[str]], *, system: str = "Be brief.") -> str:
    """A rendered experiment of one config: per input, one sample per output."""
    lines = [
        "# pytest-chatexp experiment (format 1)",
        "",
        "## model config: bot",
        "model: m",
        "template system:",
        f"  {system}",
    ]
    for case, answers in outputs.items():
        lines += ["", f"### input: {case}", f"q: {case}"]
        for index, answer in enumerate(answers):
            lines += [HEAD.format(index), "output:", *(f"  {part}" for part in answer.split("|"))]
    return "\n".join(lines) + "\n"


def diff(old: str, new: str) -> list[str]:
    return list(ExperimentSnapshotExtension().diff_lines(new, old))


def test_an_output_that_gains_lines_is_shown_under_its_own_sample() -> None:
    # A line-position diff put this hunk under "sample 1": the inserted lines sit just before
    # sample 1's header in the old text.
    old = snapshot({"a": ["one", "two", "three"]})
    new = snapshot({"a": ["one|and more|lines", "two", "THREE"]})
    assert diff(old, new) == [
        "@@ model config 'bot', input 'a', sample 0 @@",
        "    one",
        "+   and more",
        "+   lines",
        "@@ model config 'bot', input 'a', sample 2 @@",
        "  output:",
        "-   three",
        "+   THREE",
        "(1 unchanged sample not shown)",
    ]


def test_an_output_that_loses_lines_is_shown_under_its_own_sample() -> None:
    old = snapshot({"a": ["one|two|three", "four"], "b": ["five"]})
    new = snapshot({"a": ["one", "four"], "b": ["five"]})
    assert diff(old, new) == [
        "@@ model config 'bot', input 'a', sample 0 @@",
        "    one",
        "-   two",
        "-   three",
        "(2 unchanged samples not shown)",
    ]


def test_a_changed_template_heads_its_config_and_each_answer_its_case() -> None:
    old = snapshot({"a": ["x"], "b": ["y"]})
    new = snapshot({"a": ["x"], "b": ["z"]}, system="Be kind.")
    assert diff(old, new) == [
        "@@ model config 'bot' @@",
        "  template system:",
        "-   Be brief.",
        "+   Be kind.",
        "@@ model config 'bot', input 'b', sample 0 @@",
        "  output:",
        "-   y",
        "+   z",
        "(1 unchanged sample not shown)",
    ]


def test_samples_and_inputs_that_come_and_go_are_marked() -> None:
    old = snapshot({"a": ["x", "y"], "b": ["z"]})
    new = snapshot({"a": ["x"], "c": ["w"]})
    lines = diff(old, new)
    assert "@@ model config 'bot', input 'a', sample 1 (removed) @@" in lines
    assert "@@ model config 'bot', input 'b' (removed) @@" in lines
    assert "@@ model config 'bot', input 'b', sample 0 (removed) @@" in lines
    assert "@@ model config 'bot', input 'c' (new) @@" in lines
    assert "@@ model config 'bot', input 'c', sample 0 (new) @@" in lines
    assert lines[lines.index("@@ model config 'bot', input 'c', sample 0 (new) @@") + 3] == "+   w"
    assert lines[-1] == "(1 unchanged sample not shown)"


def test_an_identical_snapshot_shows_nothing_changed() -> None:
    text = snapshot({"a": ["x", "y"]})
    assert diff(text, text) == ["(2 unchanged samples not shown)"]
