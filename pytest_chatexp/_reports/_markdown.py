"""The Markdown report: a run's verdict for a reviewer, as a step summary or a PR comment.

GitHub-flavoured Markdown, in order of what a reviewer needs first: the verdict and totals; what
changed in prompts and configs (calls that missed their recordings, with the changed fields as a
``diff`` block, and calls re-recorded, with their token and cost deltas: ``_md_changes``); the
failing tests and cases; the cases an interval left inconclusive; every experiment's numbers;
the samples adaptive sampling drew per case, of its maximum, and the calls it saved; and the
transcripts of tool loops and conversations (``_md_turns``), last, as the first left
out when the report is cut.

Everything taken from the report is escaped (``_md``). The output is bounded (about
``MAX_BYTES``; GitHub allows 1 MiB per step summary and 64 KiB per comment) and deterministic:
same report in, same text out. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .._util import interval_text
from ._entries import CaseEntry, RunEntry, TestEntry, VerdictEntry
from ._format import cache_text, money, unsent_text
from ._format import seconds as _seconds
from ._md import (
    breakable,
    cell,
    code,
    fenced,
    html_text,
    pass_rate,
    reasoning_details,
    row,
    text,
    tokens,
)
from ._md_changes import Block, changed_section
from ._md_turns import transcripts_section
from ._sampling import decided_by, drawn_text, saved_text, totals
from ._status import case_status, outcome_status

__all__ = ["MAX_BYTES", "render_markdown"]

MAX_BYTES: Final = 60_000
_OUTPUT_CHARS: Final = 120  # an output excerpt in a table cell
_REASON_CHARS: Final = 160  # a failure reason in a table cell
_FAILURE_CHARS: Final = 3_000  # a test's failure text, in its <details> block
_MAX_TESTS: Final = 25  # tests detailed per section
_MAX_CASE_ROWS: Final = 10  # failing cases per test
_MAX_EXPERIMENT_ROWS: Final = 200
_OPEN_EXPERIMENT_ROWS: Final = 10  # more rows than this: the table is collapsed
_MAX_SAMPLING_ROWS: Final = 50  # cases per adaptively sampled experiment


def render_markdown(run: RunEntry) -> str:
    """The report as GitHub-flavoured Markdown (a ``str`` ending in a newline)."""
    tests = list(run.tests)
    blocks: list[Block] = [Block("title", _title(run))]
    blocks += changed_section(tests)
    blocks += _failing_section(tests, {test.test for test in tests if test.miss is not None})
    blocks += _inconclusive_section(tests)
    blocks += _experiments_section(tests)
    blocks += _sampling_section(tests)
    blocks += transcripts_section(tests)
    return _bounded(blocks, MAX_BYTES)


def _bounded(blocks: Sequence[Block], limit: int) -> str:
    note_room = 400
    kept: list[str] = []
    size = 0
    for number, block in enumerate(blocks):
        cost = len(block.text.encode("utf-8")) + 2
        if size + cost > limit - note_room:
            left_out = ", ".join(dict.fromkeys(b.section for b in blocks[number:]))
            kept.append(
                f"_Report cut at {limit // 1000} KB to stay within GitHub's limits; left out: "
                f"{left_out}. The JSON report (`--chatexp-json`) has everything._"
            )
            break
        kept.append(block.text)
        size += cost
    return "\n\n".join(kept) + "\n"


# -- title and totals ---------------------------------------------------------------------------


def _title(run: RunEntry) -> str:
    totals, tests = run.totals, run.tests
    count = totals.tests if totals.tests is not None else len(tests)
    failed = totals.failed
    if failed is None:
        failed = sum(1 for test in tests if outcome_status(test) == "fail")
    skipped = sum(1 for test in tests if test.outcome == "skipped")
    xfailed = sum(1 for test in tests if test.outcome == "xfailed")
    noun = "test" if count == 1 else "tests"
    if not count:
        verdict = "no chatexp tests ran"
    elif failed:
        verdict = f"{failed} of {count} {noun} failing"
    else:
        verdict = f"all {count} {noun} passed" if count > 1 else "1 test passed"
        others = [f"{skipped} skipped"] if skipped else []
        others += [f"{xfailed} xfailed"] if xfailed else []
        if others:
            passed = count - skipped - xfailed
            verdict = f"{passed} of {count} {noun} passed, {', '.join(others)}"
    calls, experiments = totals.calls, totals.experiments
    parts = [
        f"{experiments:,} experiment{'s' if experiments != 1 else ''}",
        f"{calls:,} call{'s' if calls != 1 else ''} ({totals.replayed:,} replayed, "
        f"{totals.live:,} live{unsent_text(totals.skipped, ', {}')})",
        f"{tokens(totals.total_tokens)} tokens ({tokens(totals.prompt_tokens)} "
        f"prompt + {tokens(totals.generation_tokens)} generation"
        + cache_text(totals.cached_tokens, totals.cache_write_tokens, "; {}")
        + ")",
        "cost unknown" if totals.cost_usd is None else f"cost {money(totals.cost_usd)}",
    ]
    if run.record_modes:
        parts.append(f"record mode {', '.join(text(mode) for mode in run.record_modes)}")
    return f"## pytest-chatexp: {verdict}\n\n" + ", ".join(parts) + "."


# -- failing tests ------------------------------------------------------------------------------


def _failing_section(tests: Sequence[TestEntry], missed: set[str]) -> list[Block]:
    failing = [(test, _failing_cases(test)) for test in tests if outcome_status(test) == "fail"]
    # A test that only missed its recordings is told above, in full.
    failing = [(test, cases) for test, cases in failing if test.test not in missed or cases]
    if not failing:
        return []
    section = "failing tests"
    blocks = [Block(section, "### Failing tests")]
    blocks += [Block(section, _failing_block(test, cases)) for test, cases in failing[:_MAX_TESTS]]
    if len(failing) > _MAX_TESTS:
        blocks.append(Block(section, f"_... and {len(failing) - _MAX_TESTS} more failing tests._"))
    return blocks


def _failing_cases(test: TestEntry) -> list[CaseEntry]:
    """The cases that failed their verdict (``_status``), with a failing sample to show."""
    return [
        case
        for case in test.cases()
        if case_status(case) == "fail" and any(sample.failure for sample in case.samples)
    ]


def _failing_block(test: TestEntry, cases: Sequence[CaseEntry]) -> str:
    """A failing test: its failing cases (``_failing_cases``) as a table, then its failure text."""
    lines = [f"#### {code(test.test)} ({text(test.outcome)})"]
    if cases:
        lines += [
            "",
            row(["Config", "Input", "Passed", "First failure", "Output"]),
            row(["---", "---", "---:", "---", "---"]),
        ]
        for case in cases[:_MAX_CASE_ROWS]:
            checked = [sample for sample in case.samples if sample.checked]
            passed = sum(1 for sample in checked if not sample.failure)
            first = next(sample for sample in case.samples if sample.failure)
            lines.append(
                row(
                    [
                        code(case.config, table=True),
                        code(case.input, table=True),
                        pass_rate(passed, len(checked)) + _interval(case, failed=True),
                        f"sample {first.index}: {cell(first.failure or '', _REASON_CHARS)}",
                        cell(_output(case, first.index), _OUTPUT_CHARS)
                        + reasoning_details(first.reasoning, table=True),
                    ]
                )
            )
        if len(cases) > _MAX_CASE_ROWS:
            lines += ["", f"_... and {len(cases) - _MAX_CASE_ROWS} more failing cases._"]
    failure = test.failure
    if failure is not None and failure.strip():
        if len(failure) > _FAILURE_CHARS:
            failure = "[...]\n" + failure[-_FAILURE_CHARS:].split("\n", 1)[-1]
        lines += [
            "",
            "<details><summary>Failure text</summary>",
            "",
            fenced(failure, "text"),
            "",
            "</details>",
        ]
    elif not cases:
        lines += ["", "No failure text was recorded."]
    return "\n".join(lines)


def _interval(case: CaseEntry, *, failed: bool) -> str:
    """``, 95% interval [44%, 97%]`` of the case's first failed (or inconclusive) verdict that
    has one, else nothing."""
    verdict = _judged_by(case, failed=failed)
    if verdict is None or verdict.interval is None or verdict.confidence is None:
        return ""
    return ", " + interval_text(*verdict.interval, verdict.confidence)


def _judged_by(case: CaseEntry, *, failed: bool) -> VerdictEntry | None:
    for verdict in case.verdicts or ():
        if verdict.failed if failed else verdict.outcome == "inconclusive":
            return verdict
    return None


def _inconclusive_section(tests: Sequence[TestEntry]) -> list[Block]:
    """The cases whose pass-rate interval holds the bar: the samples could not tell."""
    rows = []
    for test in tests:
        for case in test.cases():
            verdict = _judged_by(case, failed=False)
            if verdict is None or case_status(case) != "inconclusive":
                continue
            bar = verdict.min_pass_rate
            rows.append(
                row(
                    [
                        code(test.test, table=True),
                        code(case.config, table=True),
                        code(case.input, table=True),
                        pass_rate(verdict.passed or 0, verdict.samples or 0)
                        + _interval(case, failed=False),
                        "?" if bar is None else f"{bar:.0%}",
                        text(verdict.policy or "fail"),
                    ]
                )
            )
    if not rows:
        return []
    header = [
        row(["Test", "Config", "Input", "Passed", "Bar", "Policy"]),
        row(["---", "---", "---", "---:", "---:", "---"]),
    ]
    body = "\n".join(header + rows[:_MAX_EXPERIMENT_ROWS])
    if len(rows) > _MAX_EXPERIMENT_ROWS:
        body += f"\n\n_... and {len(rows) - _MAX_EXPERIMENT_ROWS} more inconclusive cases._"
    what = (
        f"{len(rows)} case{'s' if len(rows) != 1 else ''} inconclusive: the bar lies inside "
        "the interval of the pass rate, so the samples cannot tell; more samples would decide."
    )
    return [Block("inconclusive cases", f"### Inconclusive cases\n\n{what}\n\n{body}")]


def _output(case: CaseEntry, index: int) -> str:
    """What the model answered in sample ``index``: its text, else its tool calls."""
    item = case.output(index)
    if item is None:
        return ""
    if isinstance(item.output, str) and item.output:
        return item.output
    calls = []
    for call in item.tool_calls:
        calls.append(f"{_str(call.name)}({_str(call.arguments)})")
    return ("tool calls: " + ", ".join(calls)) if calls else ""


def _str(value: object) -> str:
    return "" if value is None else str(value)


# -- experiments --------------------------------------------------------------------------------


def _experiments_section(tests: Sequence[TestEntry]) -> list[Block]:
    """One row per model config under a row naming its test: six columns, narrow enough for
    GitHub's job-summary pane and a pull-request comment (long test ids break at their parts)."""
    experiments = [experiment for test in tests for experiment in test.experiments]
    rows: list[str] = []
    configs = 0
    for experiment in experiments:
        rows.append(row([f"**{breakable(experiment.test)}**", "", "", "", ""]))
        for config in experiment.configs:
            configs += 1
            checked = pass_rate(config.passed, config.checked)
            samples = f"{config.samples:,} sample{'s' if config.samples != 1 else ''}"
            rows.append(
                row(
                    [
                        f"<code>{breakable(config.name)}</code><br>{breakable(config.model)}",
                        checked if config.checked else f"{checked}<br>{samples}",
                        tokens(config.total_tokens)
                        + cache_text(config.cached_tokens, config.cache_write_tokens, "<br>{}")
                        + "<br>"
                        + ("cost unknown" if config.cost_usd is None else money(config.cost_usd)),
                        f"{_seconds(config.latency_p50_s)}<br>{_seconds(config.latency_p95_s)}",
                        f"{config.replayed:,} / {config.live:,}"
                        + unsent_text(config.skipped, "<br>{}"),
                    ]
                )
            )
    if not rows:
        return []
    header = [
        row(["Test / config, model", "Pass rate", "Tokens, cost", "p50, p95", "Replayed / live"]),
        row(["---", *["---:"] * 4]),
    ]
    body = header + rows[:_MAX_EXPERIMENT_ROWS]
    if len(rows) > _MAX_EXPERIMENT_ROWS:
        body += ["", f"_... and {len(rows) - _MAX_EXPERIMENT_ROWS} more rows._"]
    table = "\n".join(body)
    count = len(experiments)
    what = (
        f"{count} experiment{'s' if count != 1 else ''}, "
        f"{configs} model config{'s' if configs != 1 else ''}"
    )
    if configs > _OPEN_EXPERIMENT_ROWS:
        table = f"<details><summary>{what}</summary>\n\n{table}\n\n</details>"
    else:
        table = f"{what}:\n\n{table}"
    return [Block("experiments", f"### Experiments\n\n{table}")]


# -- adaptive sampling --------------------------------------------------------------------------


def _sampling_section(tests: Sequence[TestEntry]) -> list[Block]:
    """Per experiment sampled adaptively: its samples drawn, maximum and samples saved (the
    terminal line's numbers), and per case the samples drawn of its maximum and what decided
    it: the sequential test settled it, or the raw pass rate did."""
    section = "adaptive sampling"
    experiments = [e for test in tests for e in test.experiments if e.adaptive]
    if not experiments:
        return []
    what = (
        "Samples drawn per case, of its maximum; *settled*: the sequential test gave the "
        "verdict, *raw rate*: the pass rate of the samples drawn did."
    )
    blocks = [Block(section, f"### Adaptive sampling\n\n{what}")]
    for experiment in experiments:
        cases = experiment.adaptive
        lines = [f"{code(experiment.test)}: {saved_text(*totals(cases))}.", ""]
        lines += [row(["Config", "Input", "Drawn", "Verdict"]), row(["---", "---", "---:", "---"])]
        for case in cases[:_MAX_SAMPLING_ROWS]:
            verdict = "?" if case.ok is None else ("pass" if case.ok else "fail")
            lines.append(
                row(
                    [
                        code(case.config, table=True),
                        code(case.input, table=True),
                        drawn_text(case),
                        f"{verdict} ({decided_by(case)})",
                    ]
                )
            )
        if len(cases) > _MAX_SAMPLING_ROWS:
            lines += ["", f"_... and {len(cases) - _MAX_SAMPLING_ROWS} more cases._"]
        table = "\n".join(lines)
        if len(cases) > _OPEN_EXPERIMENT_ROWS:
            summary = html_text(f"{experiment.test}: {saved_text(*totals(cases))}")
            table = f"<details><summary>{summary}</summary>\n\n{table}\n\n</details>"
        blocks.append(Block(section, table))
    return blocks
