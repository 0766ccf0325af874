"""The Markdown report: what a reviewer reads in a step summary or a PR comment.

Unit tests render crafted run reports (escaping, caps, the changed-prompt diff, token and cost
deltas); end-to-end tests run whole sessions against the reference server with
``--chatexp-markdown`` and read the file written.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from pytest_chatexp._calls._misses import MissedCalls
from pytest_chatexp._recording import Label
from pytest_chatexp._recording._diff import Change, Miss
from pytest_chatexp._reports._entries import read_run
from pytest_chatexp._reports._markdown import MAX_BYTES
from pytest_chatexp._reports._markdown import render_markdown as render_run
from pytest_chatexp._reports._run import build_run_report
from pytest_chatexp.testing import ReferenceServer
from tests._suite import record_of

# -- crafting reports ---------------------------------------------------------------------------


def _row(
    name: str = "v1",
    *,
    model: str = "m",
    samples: int = 2,
    checked: int = 2,
    passed: int = 2,
    prompt: int = 10,
    generation: int = 5,
    cost: float | None = None,
    replayed: int = 2,
) -> dict[str, Any]:
    return {
        "name": name,
        "model": model,
        "model_config_id": f"config_{name}",
        "samples": samples,
        "checked": checked,
        "passed": passed,
        "prompt_tokens": prompt,
        "generation_tokens": generation,
        "total_tokens": prompt + generation,
        "cost_usd": cost,
        "latency_p50_s": 0.25,
        "latency_p95_s": 1.5,
        "replayed": replayed,
        "live": samples - replayed,
    }


def _case(
    config: str,
    input_id: str,
    outputs: list[str],
    failures: list[str | None],
    *,
    costs: list[float | None] | None = None,
) -> dict[str, Any]:
    return {
        "config": config,
        "input": input_id,
        "chat_response": {
            "data": [
                {"output": output, "tool_calls": None, "finish_reason": "stop", "index": index}
                for index, output in enumerate(outputs)
            ]
        },
        "samples": [
            {
                "index": index,
                "failure": failure,
                "checked": True,
                "cost_usd": costs[index] if costs else None,
                "latency_s": 0.1,
                "replayed": True,
            }
            for index, failure in enumerate(failures)
        ],
    }


def _test(
    test_id: str,
    *,
    outcome: str = "passed",
    failure: str | None = None,
    configs: list[dict[str, Any]] | None = None,
    cases: list[dict[str, Any]] | None = None,
    changes: list[dict[str, Any]] | None = None,
    miss: MissedCalls | None = None,
) -> dict[str, Any]:
    experiments = []
    if configs is not None:
        experiments.append(
            {"test": test_id, "wall_time_s": 0.1, "configs": configs, "cases": cases or []}
        )
    return {
        "test": test_id,
        "outcome": outcome,
        "failure": failure,
        "experiments": experiments,
        "changes": changes or [],
        "recording_miss": None if miss is None else miss.to_json(),
    }


def _change(
    config: str,
    input_id: str,
    sample: int,
    *,
    old: tuple[int, int] | None,
    new: tuple[int, int],
) -> dict[str, Any]:
    return {
        "config": config,
        "input": input_id,
        "sample": sample,
        "new": old is None,
        "old_prompt_tokens": old[0] if old else None,
        "old_generation_tokens": old[1] if old else None,
        "old_total_tokens": sum(old) if old else None,
        "new_prompt_tokens": new[0],
        "new_generation_tokens": new[1],
        "new_total_tokens": sum(new),
    }


def render_markdown(report: Any) -> str:
    """The Markdown for a run report, read as the report files are."""
    return render_run(read_run(report))


def _render(*tests: dict[str, Any], mode: str = "none") -> str:
    return render_markdown(build_run_report(map(record_of, tests), record_mode=mode))


def _outside_code_blocks(text: str) -> str:
    return re.sub(r"^(`{3,})[a-z]*\n.*?^\1$", "", text, flags=re.MULTILINE | re.DOTALL)


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


MISS = """\
chatexp: test_support.py::test_support: 4 of 6 calls have no matching recording (record mode 'none'); recording __recordings__/test_support/test_support.yaml.
no recorded response for 2 cases that changed alike: model config 'support-v2', inputs 'refund', 'late'.
Each compared with its closest recording (same label).
Request changes since it was recorded:
  messages[0].content changed:
       You are a support agent for Acme.
      -Answer in one short paragraph.
      +Answer in two short paragraphs.
       Never promise refunds.
  temperature: 0.2 -> 0.7
  tools[1] added: {"function": {"name": "refund"}}
  stop removed (was ["\\n"])
no recorded response for model config 'support-v2', input 'lost', sample 0.
input 'lost' is new: nothing was recorded for it.
Closest recording: model config 'support-v2', input 'late', sample 0 (same config).
Request changes since it was recorded:
  messages[1].content: "late?" -> "lost?"
no recorded response for model config 'support-v2', input 'other', sample 0.
Closest recording: model config 'support-v2', input 'other', sample 0 (same label).
The request is unchanged, so this recording was made by an incompatible version of pytest-chatexp: re-record with --chatexp-record=all.
To record, run: pytest --chatexp-record=new 'test_support.py::test_support'"""


def _support_change() -> tuple[Change, ...]:
    return (
        Change(
            "messages[0].content",
            "text",
            diff=(
                " You are a support agent for Acme.",
                "-Answer in one short paragraph.",
                "+Answer in two short paragraphs.",
                " Never promise refunds.",
            ),
        ),
        Change("temperature", "changed", "0.2", "0.7"),
        Change("tools[1]", "added", new='{"function": {"name": "refund"}}'),
        Change("stop", "removed", old='["\\n"]'),
    )


def _label(input_id: str, sample: int = 0, config: str = "support-v2") -> Label:
    return Label(config, input_id, sample)


# The miss the MISS text tells, as the record the JSON report carries.
MISSED = MissedCalls(
    test="test_support.py::test_support",
    mode="none",
    recording="__recordings__/test_support/test_support.yaml",
    recording_exists=True,
    record_command="pytest --chatexp-record=new 'test_support.py::test_support'",
    misses=(
        Miss(
            _label("refund"),
            closest=_label("refund"),
            relation="same label",
            changes=_support_change(),
        ),
        Miss(
            _label("late"), closest=_label("late"), relation="same label", changes=_support_change()
        ),
        Miss(
            _label("lost"),
            new_input=True,
            closest=_label("late"),
            relation="same config",
            changes=(Change("messages[1].content", "changed", '"late?"', '"lost?"'),),
        ),
        Miss(_label("other"), closest=_label("other"), relation="same label"),
    ),
    total=6,
)


def test_the_miss_record_renders_the_terminal_message() -> None:
    assert f"chatexp: {MISSED.test}: {MISSED.render()}" == MISS
    assert MissedCalls.from_json(json.loads(json.dumps(MISSED.to_json()))) == MISSED
    # Samples of one case share their explanation: shown once.
    sample = Miss(_label("late", 1), closest=_label("late", 1), relation="same label")
    more = dataclasses.replace(MISSED, misses=(*MISSED.misses, sample), total=7)
    assert more.render().splitlines()[1:] == MISS.splitlines()[1:]
    assert more.headline().startswith("5 of 7 calls have no matching recording")


# -- title and totals ---------------------------------------------------------------------------


def test_title_and_totals_of_a_passing_run() -> None:
    text = _render(
        _test("t.py::test_a", configs=[_row(cost=0.0002511)]),
        _test("t.py::test_b", configs=[_row("v2", prompt=20, cost=0.01)]),
    )
    lines = text.splitlines()
    assert lines[0] == "## pytest-chatexp: all 2 tests passed"
    assert lines[2] == (
        "2 experiments, 4 calls (4 replayed, 0 live), 40 tokens (30 prompt + 10 generation), "
        "cost $0.0103, record mode none."
    )
    assert "### Changed prompts and configs" not in text
    assert "### Failing tests" not in text


def test_title_counts_failing_tests_and_says_cost_unknown() -> None:
    text = _render(
        _test("t.py::test_a", configs=[_row(cost=None)]),
        _test("t.py::test_b", outcome="failed", failure="boom", configs=[_row("v2", cost=0.5)]),
        _test("t.py::test_c", outcome="error", failure="setup broke"),
    )
    assert text.startswith("## pytest-chatexp: 2 of 3 tests failing\n\n")
    assert ", cost unknown, record mode none.\n" in text
    assert _render().startswith("## pytest-chatexp: no chatexp tests ran\n")


# -- escaping -----------------------------------------------------------------------------------


def test_model_outputs_cannot_break_a_table_or_inject_html() -> None:
    evil = "a | b `code` <script>alert(1)</script>\n**bold** [x](http://e) @octocat &amp;"
    text = _render(
        _test(
            "t.py::test_evil",
            outcome="failed",
            failure="AssertionError: <img src=x onerror=alert(1)>",
            configs=[_row(passed=0)],
            cases=[_case("v1", "in|put", [evil, evil], ["no <b>match</b> | here", None])],
        )
    )
    markdown = _outside_code_blocks(text)
    assert "<script>" not in markdown and "<img" not in markdown and "<b>" not in markdown
    row = next(line for line in text.splitlines() if line.startswith("| `v1`"))
    assert row == (
        "| `v1` | `in\\|put` | 1/2 (50%) | sample 0: no &lt;b&gt;match&lt;/b&gt; \\| here | "
        "a \\| b \\`code\\` &lt;script&gt;alert(1)&lt;/script&gt;<br>\\*\\*bold\\*\\* "
        "\\[x\\](http://e) @\u200boctocat &amp;amp; |"
    )
    assert _unescaped_pipes(row) == 6  # five cells
    # The failure text sits in a code block: shown as it is, never parsed as HTML.
    assert "```text\nAssertionError: <img src=x onerror=alert(1)>\n```" in text


def test_every_table_row_has_its_columns_whatever_the_names() -> None:
    text = _render(
        _test(
            "t.py::test_x[a|b`c]",
            outcome="failed",
            failure="x",
            configs=[_row("con|fig`", passed=0)],
            cases=[_case("con|fig`", "i\nj", ["out"], ["bad\nreason | x"])],
        )
    )
    tables = [line for line in text.splitlines() if line.startswith("| ")]
    widths = {line.split(" | ")[0]: _unescaped_pipes(line) for line in tables}
    assert set(widths.values()) <= {6, 10}  # failing cases: 5 cells; experiments: 9
    assert "| `` con\\|fig` `` | `i j` | 0/1 (0%) | sample 0: bad<br>reason \\| x | out |" in text
    assert "#### ``t.py::test_x[a|b`c]`` (failed)" in text


def test_a_fence_longer_than_any_backtick_run_in_the_text() -> None:
    failure = "before\n```\n</details>\n````\nafter"
    text = _render(_test("t.py::test_a", outcome="error", failure=failure))
    assert f"`````text\n{failure}\n`````\n\n</details>" in text


# -- caps ---------------------------------------------------------------------------------------


def test_long_outputs_and_many_failing_cases_are_capped() -> None:
    cases = [_case("v1", f"input-{n:02}", ["word " * 100], ["x" * 500]) for n in range(14)]
    text = _render(
        _test(
            "t.py::test_a",
            outcome="failed",
            failure="F" * 10_000,
            configs=[_row(samples=14, checked=14, passed=0, replayed=14)],
            cases=cases,
        )
    )
    rows = [line for line in text.splitlines() if line.startswith("| `v1` | `input-")]
    assert len(rows) == 10
    reason, output = rows[0].removesuffix(" |").split(" | ")[3:5]
    assert reason == "sample 0: " + "x" * 159 + "…"
    assert output == ("word " * 24).strip() + "…"  # 120 characters with the ellipsis
    assert "_... and 4 more failing cases._" in text
    assert "```text\n[...]\n" + "F" * 3_000 + "\n```" in text  # its last 3,000 characters
    assert len(text) < 10_000


def test_the_report_stays_within_its_byte_limit_with_a_note() -> None:
    tests = [
        _test(
            f"t.py::test_{n:03}",
            outcome="failed",
            failure="E   " + "é" * 2_900,
            configs=[_row(passed=0)],
            cases=[_case("v1", "i", ["y" * 200], ["z" * 200])],
        )
        for n in range(40)
    ]
    text = _render(*tests)
    assert len(text.encode("utf-8")) <= MAX_BYTES
    assert text.startswith("## pytest-chatexp: 40 of 40 tests failing")
    assert text.rstrip().endswith(
        "_Report cut at 60 KB to stay within GitHub's limits; left out: failing tests, "
        "experiments. The JSON report (`--chatexp-json`) has everything._"
    )
    assert text.count("```") % 2 == 0  # no code block left open
    assert text.count("<details>") == text.count("</details>")


def test_experiments_table_collapses_beyond_ten_rows() -> None:
    few = _render(_test("t.py::test_a", configs=[_row(f"c{n}") for n in range(10)]))
    many = _render(_test("t.py::test_a", configs=[_row(f"c{n}") for n in range(11)]))
    header = "| Test / config, model | Pass rate | Tokens, cost | p50, p95 | Replayed / live |"
    assert f"1 experiment, 10 model configs:\n\n{header}" in few
    assert "<details>" not in few
    assert f"<details><summary>1 experiment, 11 model configs</summary>\n\n{header}" in many
    assert many.rstrip().endswith("</details>")
    # The test named once, on a row of its own (breakable at its parts), then its configs.
    assert "| **t.py::<wbr>test\\_a** |  |  |  |  |\n| <code>c0</code><br>m | 2/2 (100%) | " in few
    assert (
        "| <code>c0</code><br>m | 2/2 (100%) | 15<br>cost unknown | 250 ms<br>1.50 s | 2 / 0 |"
        in few
    )
    assert few.count("**t.py::<wbr>test\\_a**") == 1


# -- changed prompts and configs ----------------------------------------------------------------


def test_a_recording_miss_shows_the_changed_fields_as_a_diff() -> None:
    text = _render(
        _test("test_support.py::test_support", outcome="error", failure=MISS, miss=MISSED)
    )
    expected = """\
### Changed prompts and configs

#### Calls without a matching recording

1 test made calls that match no recording: a prompt, an input or a setting changed since it was recorded.

**`test_support.py::test_support`**: 4 of 6 calls have no matching recording (record mode 'none'); recording `__recordings__/test_support/test_support.yaml`.

Model config `support-v2`, inputs `refund`, `late` (closest recording: same label):

```diff
@@ messages[0].content @@
 You are a support agent for Acme.
-Answer in one short paragraph.
+Answer in two short paragraphs.
 Never promise refunds.
-temperature: 0.2
+temperature: 0.7
+tools[1]: {"function": {"name": "refund"}}
-stop: ["\\n"]
```

Model config `support-v2`, input `lost` (closest recording: same config):
- input 'lost' is new: nothing was recorded for it.

```diff
-messages[1].content: "late?"
+messages[1].content: "lost?"
```

Model config `support-v2`, input `other` (closest recording: same label):
- The request is unchanged, so this recording was made by an incompatible version of pytest-chatexp: re-record with --chatexp-record=all.

To record: `pytest --chatexp-record=new 'test_support.py::test_support'`
"""
    assert expected in text
    # Told in full above: not repeated as a failing test.
    assert "### Failing tests" not in text


def test_a_miss_inside_a_traceback_is_told_from_its_record() -> None:
    failure = "\n".join(
        [
            "    def test_it(chatexp_runner):",
            ">       chatexp_runner.run(spec)",
            *(f"E   {line}" if line else "E" for line in MISS.splitlines()[:9]),
            "E   To record, run: pytest --chatexp-record=new 'x.py::test_it'",
            "",
            "x.py:3: RecordingMissError",
        ]
    )
    missed = dataclasses.replace(
        MISSED,
        test="x.py::test_it",
        record_command="pytest --chatexp-record=new 'x.py::test_it'",
        misses=(dataclasses.replace(MISSED.misses[0], changes=_support_change()[:1]),),
    )
    text = _render(_test("x.py::test_it", outcome="failed", failure=failure, miss=missed))
    assert "```diff\n@@ messages[0].content @@\n You are a support agent for Acme.\n" in text
    assert "-Answer in one short paragraph.\n+Answer in two short paragraphs.\n" in text
    assert "To record: `pytest --chatexp-record=new 'x.py::test_it'`" in text
    assert "recording `__recordings__/test_support/test_support.yaml`." in text
    # The failure text is not read: without the record, the test is an ordinary failure.
    plain = _render(_test("x.py::test_it", outcome="failed", failure=failure))
    assert "```diff" not in plain and "### Failing tests" in plain


def test_a_blank_prompt_line_stays_in_the_diff() -> None:
    diff = (" Be brief.", " ", "-Old rule.", "+New rule.", "... 3 more diff lines")
    missed = MissedCalls(
        test="t.py::test_a",
        mode="none",
        recording="r.yaml",
        recording_exists=True,
        record_command="pytest --chatexp-record=new 't.py::test_a'",
        misses=(
            Miss(
                Label("c", "i", 0),
                closest=Label("c", "i", 0),
                relation="same label",
                changes=(Change("messages[0].content", "text", diff=diff),),
            ),
        ),
    )
    assert missed.render().splitlines()[5:10] == [
        "       Be brief.",
        "       ",
        "      -Old rule.",
        "      +New rule.",
        "      ... 3 more diff lines",
    ]
    text = _render(_test("t.py::test_a", outcome="error", failure="x", miss=missed))
    assert (
        "```diff\n@@ messages[0].content @@\n Be brief.\n \n-Old rule.\n+New rule.\n"
        " ... 3 more diff lines\n```"
    ) in text


def test_a_miss_without_a_recording_file() -> None:
    missed = MissedCalls(
        test="t.py::test_a",
        mode="none",
        recording="__recordings__/t/test_a.yaml",
        recording_exists=False,
        record_command="pytest --chatexp-record=new 't.py::test_a'",
        misses=(Miss(Label("c", "i", 0), recorded=False),),
    )
    assert missed.render() == (
        "the call has no matching recording (record mode 'none'); "
        "no recording file yet (__recordings__/t/test_a.yaml).\n"
        "To record, run: pytest --chatexp-record=new 't.py::test_a'"
    )
    text = _render(_test("t.py::test_a", outcome="error", failure="x", miss=missed))
    assert (
        "**`t.py::test_a`**: the call has no matching recording (record mode 'none'); "
        "no recording file yet (`__recordings__/t/test_a.yaml`)."
    ) in text
    assert "```diff" not in text


def test_a_moved_endpoint_is_told_as_the_fix() -> None:
    missed = dataclasses.replace(
        MISSED, misses=MISSED.misses[:1], fixes=("Point base_url back at api.example.com.",)
    )
    assert missed.render().splitlines()[-1] == "Point base_url back at api.example.com."
    text = _render(_test(missed.test, outcome="error", failure="x", miss=missed))
    assert "- Point base\\_url back at api.example.com." in text
    assert "To record:" not in text


def test_rerecorded_calls_with_token_deltas() -> None:
    changes = [
        _change("v1", "a", 0, old=(40, 10), new=(48, 12)),
        _change("v1", "a", 1, old=(40, 10), new=(48, 8)),
        _change("v1", "b", 0, old=None, new=(30, 7)),
        _change("v2", "a", 0, old=(20, 10), new=(20, 10)),
    ]
    configs = [_row("v1", samples=3), _row("v2", samples=1)]
    text = _render(_test("t.py::test_a", configs=configs, changes=changes), mode="new")
    assert (
        "4 calls answered anew while recording, 3 of them replacing a previous answer "
        "(tokens: before -> after)."
    ) in text
    assert (
        "| Test, config | Re-recorded | Prompt tokens | Generation tokens | Total tokens | New calls |"
        in text
    )
    assert (
        "| t.py::<wbr>test\\_a<br><code>v1</code> | 2 | 80 -> 96 (+16, +20.0%) | 20 -> 20 (no change) "
        "| 100 -> 116 (+16, +16.0%) | 1 (37 tokens) |"
    ) in text
    assert (
        "| t.py::<wbr>test\\_a<br><code>v2</code> | 1 | 20 -> 20 (no change) | 10 -> 10 (no change) "
        "| 30 -> 30 (no change) | — |"
    ) in text
    shrunk = _render(
        _test(
            "t.py::test_b",
            configs=[_row("v1")],
            changes=[_change("v1", "a", 0, old=(30, 12), new=(15, 12))],
        )
    )
    assert "| 30 -> 15 (-15, -50.0%) | 12 -> 12 (no change) | 42 -> 27 (-15, -35.7%) |" in shrunk


def test_cost_deltas_come_from_the_costs_the_changes_carry() -> None:
    # Model m costs $1 per million prompt tokens and $2 per million generation tokens.
    def cost(prompt: int, generation: int) -> float:
        return (prompt * 1.0 + generation * 2.0) / 1_000_000

    priced = {
        **_change("v1", "a", 0, old=(100, 50), new=(132, 41)),
        "model": "m",
        "old_cost_usd": cost(100, 50),
        "new_cost_usd": cost(132, 41),
        "prompt_price_usd": 1.0,
        "generation_price_usd": 2.0,
    }
    configs = [_row("v1", samples=1, replayed=1, prompt=132, generation=41, cost=cost(132, 41))]
    text = _render(_test("t.py::test_a", configs=configs, changes=[priced]), mode="new")
    # 32 more prompt tokens ($0.000032), 9 fewer generation tokens (-$0.000018).
    assert "| Total tokens | Cost | New calls |" in text
    assert "| 150 -> 173 (+23, +15.3%) | +$0.000014 | — |" in text

    # A report written before changes carried costs: no cost is guessed.
    unpriced = _change("v1", "a", 0, old=(100, 50), new=(132, 41))
    alone = _render(_test("t.py::test_a", configs=configs, changes=[unpriced]), mode="new")
    assert "| Total tokens | Cost |" not in alone
    assert "| 150 -> 173 (+23, +15.3%) | — |" in alone

    # Beside a priced config, one whose model has no price reads unknown, not $0.
    other = {**_change("v2", "a", 0, old=(10, 5), new=(10, 6)), "model": "x"}
    both = _render(
        _test("t.py::test_a", configs=[*configs, _row("v2")], changes=[priced, other]), mode="new"
    )
    assert "| 15 -> 16 (+1, +6.7%) | unknown | — |" in both


def test_unknown_token_counts_are_not_shown_as_zero() -> None:
    change = {**_change("v1", "a", 0, old=(10, 5), new=(12, 5)), "old_prompt_tokens": None}
    change["old_total_tokens"] = None
    new = {**_change("v1", "b", 0, old=None, new=(3, 4)), "new_total_tokens": None}
    text = _render(_test("t.py::test_a", configs=[_row("v1")], changes=[change, new]))
    assert "| unknown -> 12 | 5 -> 5 (no change) | unknown -> 17 | 1 (unknown tokens) |" in text


def test_output_is_deterministic_whatever_the_order_of_changes() -> None:
    changes = [
        _change("b", "x", 0, old=(1, 1), new=(2, 2)),
        _change("a", "y", 1, old=(3, 3), new=(3, 4)),
        _change("a", "y", 0, old=(3, 3), new=(3, 5)),
    ]
    first = _render(_test("t.py::test_a", configs=[_row("a"), _row("b")], changes=changes))
    second = _render(_test("t.py::test_a", configs=[_row("a"), _row("b")], changes=changes[::-1]))
    assert first == second
    assert first.index("<code>a</code> | 2 |") < first.index("<code>b</code> | 1 |")


# -- whole sessions -----------------------------------------------------------------------------

FAILING_SUITE = """
import pytest
from pytest_chatexp import ModelConfig
from pytest_chatexp import checks as c

CONFIG = ModelConfig(
    name="echo", model="ref-model", chat_template=[{"role": "user", "content": "{{question}}"}]
)

@pytest.mark.chatexp(
    model_configs=[CONFIG],
    inputs=[{"id": "pipe", "question": "a | b <script>x</script>"}, {"id": "ok", "question": "hi"}],
    num_samples=2,
)
def test_answers(chatexp):
    c.assert_samples(chatexp, c.contains("zzz"))

@pytest.mark.chatexp(model_configs=[CONFIG], inputs=[{"question": "fine"}])
def test_fine(chatexp):
    assert chatexp.outputs[0].endswith("fine")
"""


def test_a_failing_check_in_the_summary(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(test_suite=FAILING_SUITE)
    result = pytester.runpytest("--chatexp-markdown=summary.md")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["chatexp: report written to summary.md"])
    text = (pytester.path / "summary.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "## pytest-chatexp: 1 of 2 tests failing"
    assert lines[2].startswith("2 experiments, 5 calls (0 replayed, 5 live), ")
    assert lines[2].endswith(", cost unknown, record mode off.")
    assert "### Failing tests\n\n#### `test_suite.py::test_answers` (failed)\n" in text
    assert (
        "| `echo` | `pipe` | 0/2 (0%) | sample 0: contains('zzz'): does not contain 'zzz' "
        "| echo: a \\| b &lt;script&gt;x&lt;/script&gt; |"
    ) in text
    assert (
        "| `echo` | `ok` | 0/2 (0%) | sample 0: contains('zzz'): does not contain 'zzz' |" in text
    )
    assert "<details><summary>Failure text</summary>\n\n```text\n" in text
    assert "AssertionError: 2 of 2 cases fail [contains('zzz')]" in text
    assert "<script>" not in text.split("<details>")[0]
    assert "| **test\\_suite.py::<wbr>test\\_answers** |" in text
    assert "| <code>echo</code><br>ref-<wbr>model | 0/4 (0%) | " in text
    assert "| <code>echo</code><br>ref-<wbr>model | not checked<br>1 sample | " in text
    assert "### Changed prompts and configs" not in text


SUPPORT_SUITE = '''
import pytest
from pytest_chatexp import ModelConfig

SYSTEM = """You are a support agent for {{company}}.
Answer in one short paragraph.
Never promise refunds."""

CONFIG = ModelConfig(
    name="support-v2",
    model="ref-model",
    chat_template=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "{{question}}"}],
)

@pytest.mark.chatexp(
    model_configs=[CONFIG],
    inputs=[{"id": "refund", "company": "Acme", "question": "refund?"}, {"id": "late", "company": "Acme", "question": "late?"}],
    num_samples=2,
)
def test_support(chatexp):
    for case in chatexp:
        for sample in case.samples:
            assert case.input.inputs["question"] in sample.output

OTHER = ModelConfig(name="plain", model="ref-model", chat_template=[{"role": "user", "content": "{{question}}"}])

@pytest.mark.chatexp(model_configs=[OTHER], inputs=[{"question": "What are your opening hours on Sundays?"}])
def test_other(chatexp):
    assert chatexp.outputs[0].endswith("Sundays?")
'''


def test_the_ci_gate_story(pytester: pytest.Pytester, recording_session: ReferenceServer) -> None:
    pytester.makeini("[pytest]\nchatexp_prices =\n    ref-model 1.0 2.0\n")
    pytester.makepyfile(test_support=SUPPORT_SUITE)
    pytester.runpytest("--chatexp-record=all").assert_outcomes(passed=2)

    # The prompt changes: the default mode replays only, so the CI run fails on the change.
    pytester.makepyfile(
        test_support=SUPPORT_SUITE.replace(
            "Answer in one short paragraph.", "Answer in two short paragraphs, citing the policy."
        )
    )
    gate = pytester.runpytest("--chatexp-markdown=gate.md", "--chatexp-json=gate.json")
    gate.assert_outcomes(passed=1, errors=1)
    # The JSON report carries the miss as a record (what the Markdown renders from).
    report = json.loads((pytester.path / "gate.json").read_text(encoding="utf-8"))
    tests = {test["test"]: test for test in report["tests"]}
    assert tests["test_support.py::test_other"]["recording_miss"] is None
    miss = tests["test_support.py::test_support"]["recording_miss"]
    assert (miss["mode"], miss["total"], len(miss["misses"])) == ("none", 4, 4)
    assert miss["recording"] == "__recordings__/test_support/test_support.yaml"
    first = miss["misses"][0]
    assert first["relation"] == "same label" and first["closest"] == first["label"]
    assert [(change["path"], change["kind"]) for change in first["changes"]] == [
        ("messages[0].content", "text")
    ]
    text = (pytester.path / "gate.md").read_text(encoding="utf-8")
    assert text.startswith(
        "## pytest-chatexp: 1 of 2 tests failing\n\n"
        "1 experiment, 1 call (1 replayed, 0 live), 16 tokens (8 prompt + 8 generation), "
        "cost $0.000024, record mode none.\n"
    )
    assert (
        "**`test_support.py::test_support`**: 4 of 4 calls have no matching recording "
        "(record mode 'none'); recording `__recordings__/test_support/test_support.yaml`.\n\n"
        "Model config `support-v2`, inputs `refund`, `late` (closest recording: same label):\n\n"
        "```diff\n"
        "@@ messages[0].content @@\n"
        " You are a support agent for Acme.\n"
        "-Answer in one short paragraph.\n"
        "+Answer in two short paragraphs, citing the policy.\n"
        " Never promise refunds.\n"
        "```\n\n"
        "To record: `pytest --chatexp-record=new 'test_support.py::test_support'`\n"
    ) in text
    assert "### Failing tests" not in text

    # The author re-records what changed: the summary shows what it costs in tokens.
    rerecord = pytester.runpytest(
        "--chatexp-record=new", "--chatexp-markdown=rerecord.md", "--chatexp-json=rerecord.json"
    )
    rerecord.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "rerecord.json").read_text(encoding="utf-8"))
    change = next(test for test in report["tests"] if test["changes"])["changes"][0]
    assert (change["model"], change["prompt_price_usd"], change["generation_price_usd"]) == (
        "ref-model",
        1.0,
        2.0,
    )
    assert change["new_cost_usd"] - change["old_cost_usd"] == pytest.approx(3e-6)
    text = (pytester.path / "rerecord.md").read_text(encoding="utf-8")
    assert text.startswith("## pytest-chatexp: all 2 tests passed\n\n")
    assert ", record mode new.\n" in text
    # 12 more prompt words at $1 per million tokens, as priced when re-recorded.
    assert (
        "#### Re-recorded calls\n\n"
        "4 calls answered anew while recording, 4 of them replacing a previous answer "
        "(tokens: before -> after).\n\n"
        "| Test, config | Re-recorded | Prompt tokens | Generation tokens | Total tokens | Cost | New calls |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        "| test\\_support.py::<wbr>test\\_support<br><code>support-<wbr>v2</code> | 4 | 72 -> 84 (+12, +16.7%) "
        "| 44 -> 44 (no change) | 116 -> 128 (+12, +10.3%) | +$0.000012 | — |\n"
    ) in text
    assert "Calls without a matching recording" not in text


def test_reports_of_older_versions_read_as_unknown_not_zero() -> None:
    # No recording_miss, no costs in changes, mistyped numbers: read, never raised on.
    old = {
        "tests": [
            {
                "test": "t.py::test_a",
                "outcome": "failed",
                "failure": "no matching recording",  # text alone is never parsed
                "experiments": [{"test": "t.py::test_a", "configs": [{"name": "v1"}]}],
                "changes": [{"config": "v1", "sample": "0", "old_total_tokens": 3}, "junk"],
            },
            "junk",
        ],
        "totals": {"tests": "two", "cost_usd": True},
    }
    run = read_run(old)
    test = run.tests[0]
    assert test.miss is None and run.totals.tests is None and run.totals.cost_usd is None
    row = test.experiments[0].configs[0]
    assert (row.total_tokens, row.cost_usd, row.samples) == (None, None, 0)
    assert [(change.sample, change.new, change.new_total_tokens) for change in test.changes] == [
        (0, False, None)
    ]
    text = render_run(run)
    assert "Calls without a matching recording" not in text
    assert (
        "<code>v1</code> | 1 | unknown -> unknown | unknown -> unknown | 3 -> unknown | — |" in text
    )
    assert "| <code>v1</code><br> | not checked<br>0 samples | unknown<br>cost unknown | " in text
    assert read_run({}).tests == ()
