"""The Markdown report: a run's verdict for a reviewer, as a step summary or a PR comment.

GitHub-flavoured Markdown, in order of what a reviewer needs first: the verdict and totals; what
changed in prompts and configs (calls that missed their recordings, with the changed fields as a
``diff`` block, and calls re-recorded, with their token and cost deltas); the failing tests and
cases; and every experiment's numbers.

Everything taken from the report (model outputs, failure texts, test and config names) is
escaped, so it cannot break a table, close a code block, inject HTML or mention anyone. The
output is bounded (about ``MAX_BYTES``; GitHub allows 1 MiB per step summary and 64 KiB per
comment) and deterministic: same report in, same text out. Stdlib only.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ._format import money, percent
from ._format import number as _number
from ._format import seconds as _seconds
from ._status import case_status, outcome_status

__all__ = ["MAX_BYTES", "render_markdown"]

MAX_BYTES: Final = 60_000
_OUTPUT_CHARS: Final = 120  # an output excerpt in a table cell
_REASON_CHARS: Final = 160  # a failure reason in a table cell
_FAILURE_CHARS: Final = 3_000  # a test's failure text, in its <details> block
_MAX_TESTS: Final = 25  # tests detailed per section
_MAX_CASE_ROWS: Final = 10  # failing cases per test
_MAX_CHANGE_ROWS: Final = 50
_MAX_EXPERIMENT_ROWS: Final = 200
_OPEN_EXPERIMENT_ROWS: Final = 10  # more rows than this: the table is collapsed
_MISS: Final = "no matching recording"


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as GitHub-flavoured Markdown (a ``str`` ending in a newline)."""
    tests = [_map(test) for test in _list(report.get("tests"))]
    misses = [(test, miss) for test in tests if (miss := _parse_miss(test)) is not None]
    blocks: list[_Block] = [_Block("title", _title(report, tests))]
    blocks += _changed_section(tests, misses)
    blocks += _failing_section(tests, {_str(test.get("test")) for test, _ in misses})
    blocks += _experiments_section(tests)
    return _bounded(blocks, MAX_BYTES)


@dataclass(frozen=True)
class _Block:
    """A piece of the report that is kept or left out whole (so no table or fence is cut)."""

    section: str
    text: str


def _bounded(blocks: Sequence[_Block], limit: int) -> str:
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


def _title(report: Mapping[str, Any], tests: Sequence[Mapping[str, Any]]) -> str:
    totals = _map(report.get("totals"))
    count = _int(totals.get("tests"), default=len(tests))
    failed = _int(
        totals.get("failed"),
        default=sum(1 for test in tests if outcome_status(test) == "fail"),
    )
    skipped = sum(1 for test in tests if test.get("outcome") == "skipped")
    noun = "test" if count == 1 else "tests"
    if not count:
        verdict = "no chatexp tests ran"
    elif failed:
        verdict = f"{failed} of {count} {noun} failing"
    else:
        verdict = f"all {count} {noun} passed" if count > 1 else "1 test passed"
        if skipped:
            verdict = f"{count - skipped} of {count} {noun} passed, {skipped} skipped"
    calls = _int(totals.get("calls"))
    experiments = _int(totals.get("experiments"))
    cost = totals.get("cost_usd")
    parts = [
        f"{experiments:,} experiment{'s' if experiments != 1 else ''}",
        f"{calls:,} call{'s' if calls != 1 else ''} ({_int(totals.get('replayed')):,} replayed, "
        f"{_int(totals.get('live')):,} live)",
        f"{_tokens(totals.get('total_tokens'))} tokens ({_tokens(totals.get('prompt_tokens'))} "
        f"prompt + {_tokens(totals.get('generation_tokens'))} generation)",
        "cost unknown" if _number(cost) is None else f"cost {money(cost)}",
    ]
    modes = [_str(mode) for mode in _list(report.get("record_modes")) if _str(mode)]
    if modes:
        parts.append(f"record mode {', '.join(_text(mode) for mode in modes)}")
    return f"## pytest-chatexp: {verdict}\n\n" + ", ".join(parts) + "."


# -- changed prompts and configs ----------------------------------------------------------------


@dataclass
class _MissCase:
    """One explained miss in a recording-miss message: a case and the differences found."""

    case: str  # "model config 'x', input 'y', sample 0"
    relation: str = ""  # how the closest recording relates, e.g. "same label"
    notes: list[str] = field(default_factory=list)  # sentences, e.g. "input 'lost' is new ..."
    diff: list[str] = field(default_factory=list)  # lines of a ``diff`` block


@dataclass
class _Miss:
    """A test's recording-miss failure, parsed from its failure text."""

    headline: str  # "4 of 4 calls have no matching recording (record mode 'none'); ..."
    fix: str = ""  # the command to record with
    cases: list[_MissCase] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "... and 2 more cases"


_HEADLINE = re.compile(r"((?:the call has|\d+ of \d+ calls have) no matching recording.*)$")
_CASE = re.compile(r"^no recorded response for (.+?)\.$")
_CLOSEST = re.compile(r"^Closest recording: .+ \((.+)\)\.$")
_SCALAR = re.compile(r"^(?P<path>.+?): (?P<old>.+?) -> (?P<new>.+)$")
_REMOVED = re.compile(r"^(?P<path>.+?) removed \(was (?P<old>.*)\)$")
_ADDED = re.compile(r"^(?P<path>.+?) added: (?P<new>.*)$")
_TEXT_CHANGED = re.compile(r"^(?P<path>.+?) changed:$")


def _parse_miss(test: Mapping[str, Any]) -> _Miss | None:
    """The recording-miss message in a test's failure text (see ``_recorder._miss_message`` and
    ``_recording._diff.explain_miss``), or None when the test did not fail for one."""
    failure = test.get("failure")
    if not isinstance(failure, str) or _MISS not in failure:
        return None
    lines = failure.splitlines()
    start = next(number for number, line in enumerate(lines) if _MISS in line)
    prefix = "E   " if lines[start].startswith("E   ") else ""  # in a traceback's E lines
    body: list[str] = []
    for line in lines[start + 1 :]:
        if prefix and not line.startswith("E"):
            break
        body.append(line[len(prefix) :] if prefix else line)
    headline = lines[start][len(prefix) :].strip()
    found = _HEADLINE.search(headline)
    miss = _Miss(headline=found.group(1) if found else headline)
    current: _MissCase | None = None
    for line in body:
        stripped = line.strip()
        if current is not None and line.startswith("      "):
            # A line of a text diff (a blank prompt line too): its first character is the mark.
            text = line[6:]
            current.diff.append(text if text[:1] in (" ", "-", "+") else " " + text.strip())
            continue
        if not stripped:
            continue
        if stripped.startswith("To record, run:"):
            miss.fix = stripped.removeprefix("To record, run:").strip()
            break
        if (case := _CASE.match(stripped)) is not None:
            current = _MissCase(case=case.group(1))
            miss.cases.append(current)
        elif current is None:
            miss.notes.append(stripped)
        elif (closest := _CLOSEST.match(stripped)) is not None:
            current.relation = closest.group(1)
        elif stripped == "Request changes since it was recorded:":
            continue
        elif line.startswith("  "):  # a difference's headline
            current.diff += _difference_lines(stripped)
        elif stripped.startswith("... and ") and stripped.endswith(" more cases"):
            miss.notes.append(stripped)
        else:
            current.notes.append(stripped)
    return miss


def _difference_lines(headline: str) -> list[str]:
    """One difference of ``explain_miss`` as lines of a ``diff`` block."""
    if headline.startswith("... "):
        return [" " + headline]
    if (text := _TEXT_CHANGED.match(headline)) is not None:
        return [f"@@ {text.group('path')} @@"]
    if (removed := _REMOVED.match(headline)) is not None:
        return [f"-{removed.group('path')}: {removed.group('old')}"]
    if (added := _ADDED.match(headline)) is not None:
        return [f"+{added.group('path')}: {added.group('new')}"]
    if (scalar := _SCALAR.match(headline)) is not None:
        path = scalar.group("path")
        return [f"-{path}: {scalar.group('old')}", f"+{path}: {scalar.group('new')}"]
    return [" " + headline]


def _changed_section(
    tests: Sequence[Mapping[str, Any]], misses: Sequence[tuple[Mapping[str, Any], _Miss]]
) -> list[_Block]:
    changed = [test for test in tests if _list(test.get("changes"))]
    if not misses and not changed:
        return []
    section = "changed prompts and configs"
    blocks = [_Block(section, "### Changed prompts and configs")]
    if misses:
        count = len(misses)
        blocks.append(
            _Block(
                section,
                f"#### Calls without a matching recording\n\n{count} "
                f"test{'s' if count != 1 else ''} made calls that match no recording: a prompt, "
                "an input or a setting changed since it was recorded.",
            )
        )
        blocks += [_Block(section, _miss_block(test, miss)) for test, miss in misses[:_MAX_TESTS]]
        if len(misses) > _MAX_TESTS:
            blocks.append(_Block(section, f"_... and {len(misses) - _MAX_TESTS} more tests._"))
    if changed:
        blocks.append(_Block(section, _changes_block(tests, changed)))
    return blocks


def _miss_block(test: Mapping[str, Any], miss: _Miss) -> str:
    lines = [f"**{_code(_str(test.get('test')))}**: {_headline(miss.headline)}"]
    # Cases that changed the same way share one diff.
    groups: dict[tuple[tuple[str, ...], tuple[str, ...], str], list[str]] = {}
    for case in miss.cases:
        key = (tuple(case.diff), tuple(case.notes), case.relation)
        groups.setdefault(key, []).append(case.case)
    for (diff, notes, relation), cases in groups.items():
        closest = f" (closest recording: {_text(relation)})" if relation else ""
        lines += ["", f"{_case_labels(cases)}{closest}:"]
        lines += [f"- {_text(note)}" for note in notes]
        if diff:
            lines += ["", _fenced("\n".join(diff), "diff")]
    if miss.notes:
        lines += ["", *(f"- {_text(note)}" for note in miss.notes)]
    if miss.fix:
        lines += ["", f"To record: {_code(miss.fix)}"]
    return "\n".join(lines)


_TOKEN_KINDS: Final = ("prompt", "generation", "total")


_WHERE = re.compile(
    r"^(?P<head>.+\)); (?P<where>recording|no recording file yet) \(?(?P<path>.+?)\)?\.$"
)
_LABEL = re.compile(
    r"^model config '(?P<config>.*)', input '(?P<input>.*)', sample (?P<sample>\d+)$"
)


def _headline(headline: str) -> str:
    """The miss message's first line, its recording file's path as code."""
    found = _WHERE.match(headline)
    if found is None:
        return _text(headline)
    path = _code(found.group("path"))
    where = (
        f"recording {path}"
        if found.group("where") == "recording"
        else f"no recording file yet ({path})"
    )
    return f"{_text(found.group('head'))}; {where}."


def _case_labels(cases: Sequence[str]) -> str:
    """``model config `a`, inputs `x`, `y``` for the cases of a diff, config by config."""
    inputs: dict[str, list[str]] = {}
    others: list[str] = []
    for case in cases:
        label = _LABEL.match(case)
        if label is None:
            others.append(_text(case))
            continue
        name = label.group("input")
        sample = label.group("sample")
        shown = _code(name) + (f" (sample {sample})" if sample != "0" else "")
        inputs.setdefault(label.group("config"), []).append(shown)
    parts = [
        f"Model config {_code(config)}, input{'s' if len(shown) > 1 else ''} {', '.join(shown)}"
        for config, shown in inputs.items()
    ]
    return "; ".join(parts + others)


@dataclass
class _Delta:
    """Re-recorded calls of a test and model config: their tokens before and after."""

    rerecorded: int = 0
    new: int = 0
    new_tokens: int = 0  # of calls with no previous answer
    old: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TOKEN_KINDS, 0))
    now: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TOKEN_KINDS, 0))


def _changes_block(tests: Sequence[Mapping[str, Any]], changed: Sequence[Mapping[str, Any]]) -> str:
    prices = _PriceBook(tests)
    rows: list[tuple[str, str, _Delta, float | None]] = []
    for test in changed:
        deltas: dict[str, _Delta] = {}
        for change in map(_map, _list(test.get("changes"))):
            delta = deltas.setdefault(_str(change.get("config")), _Delta())
            old_total = change.get("old_total_tokens")
            if change.get("new") or old_total is None:
                delta.new += 1
                delta.new_tokens += _int(change.get("new_total_tokens"))
                continue
            delta.rerecorded += 1
            for kind in _TOKEN_KINDS:
                delta.old[kind] += _int(change.get(f"old_{kind}_tokens"))
                delta.now[kind] += _int(change.get(f"new_{kind}_tokens"))
        for config in sorted(deltas):
            delta = deltas[config]
            cost = prices.cost_delta(
                test,
                config,
                delta.now["prompt"] - delta.old["prompt"],
                delta.now["generation"] - delta.old["generation"],
            )
            rows.append((_str(test.get("test")), config, delta, cost if delta.rerecorded else None))
    calls = sum(delta.rerecorded + delta.new for _, _, delta, _ in rows)
    rerecorded = sum(delta.rerecorded for _, _, delta, _ in rows)
    with_cost = any(cost is not None for *_, cost in rows)
    header = ["Test", "Config", "Re-recorded", "Prompt tokens", "Generation tokens", "Total tokens"]
    header += ["Cost", "New calls"] if with_cost else ["New calls"]
    table = [_row(header), _row(["---"] * 2 + ["---:"] * (len(header) - 2))]
    for test_id, config, delta, cost in rows[:_MAX_CHANGE_ROWS]:
        cells = [_code(test_id, table=True), _code(config, table=True), f"{delta.rerecorded:,}"]
        cells += [
            _token_delta(delta.old[kind], delta.now[kind]) if delta.rerecorded else "—"
            for kind in _TOKEN_KINDS
        ]
        if with_cost:
            cells.append("—" if cost is None else _signedmoney(cost))
        cells.append(f"{delta.new:,} ({delta.new_tokens:,} tokens)" if delta.new else "—")
        table.append(_row(cells))
    lines = [
        "#### Re-recorded calls",
        "",
        f"{calls:,} call{'s' if calls != 1 else ''} answered anew while recording, "
        f"{rerecorded:,} of them replacing a previous answer (tokens: before -> after).",
        "",
        *table,
    ]
    if len(rows) > _MAX_CHANGE_ROWS:
        lines += ["", f"_... and {len(rows) - _MAX_CHANGE_ROWS} more rows._"]
    return "\n".join(lines)


def _token_delta(old: int, new: int) -> str:
    change = new - old
    if not change:
        return f"{old:,} -> {new:,} (no change)"
    percent = f", {100 * change / old:+.1f}%" if old else ""
    return f"{old:,} -> {new:,} ({change:+,}{percent})"


class _PriceBook:
    """Per model, the prices (USD per prompt and per generation token) that the report's costs
    imply, solved from every (prompt tokens, generation tokens, cost) it holds: config rows, and
    the cost of each re-recorded sample. A cost delta is given only when these determine it."""

    _TOLERANCE: Final = 1e-8  # costs in config rows are rounded to 8 decimals

    def __init__(self, tests: Sequence[Mapping[str, Any]]) -> None:
        self._points: dict[str, list[tuple[float, float, float]]] = {}
        for test in tests:
            for row in _config_rows(test):
                cost = _number(row.get("cost_usd"))
                if cost is not None:
                    self._add(
                        row,
                        _int(row.get("prompt_tokens")),
                        _int(row.get("generation_tokens")),
                        cost,
                    )
            for change in map(_map, _list(test.get("changes"))):
                cost = _sample_cost(test, change)
                config = _config_row(test, _str(change.get("config")))
                if cost is not None and config is not None:
                    prompt = _int(change.get("new_prompt_tokens"))
                    self._add(config, prompt, _int(change.get("new_generation_tokens")), cost)

    def _add(self, row: Mapping[str, Any], prompt: int, generation: int, cost: float) -> None:
        if prompt or generation:
            self._points.setdefault(_str(row.get("model")), []).append((prompt, generation, cost))

    def cost_delta(
        self, test: Mapping[str, Any], config: str, prompt: int, generation: int
    ) -> float | None:
        row = _config_row(test, config)
        points = self._points.get(_str(row.get("model"))) if row is not None else None
        if not points:
            return None
        if not prompt and not generation:
            return 0.0
        spp = sum(p * p for p, _, _ in points)
        sgg = sum(g * g for _, g, _ in points)
        spg = sum(p * g for p, g, _ in points)
        determinant = spp * sgg - spg * spg
        if determinant > 1e-9 * spp * sgg:  # two independent points: both prices are known
            spc = sum(p * c for p, _, c in points)
            sgc = sum(g * c for _, g, c in points)
            per_prompt = (spc * sgg - sgc * spg) / determinant
            per_generation = (sgc * spp - spc * spg) / determinant
            if not all(
                abs(per_prompt * p + per_generation * g - c) <= self._TOLERANCE + 1e-6 * c
                for p, g, c in points
            ):
                return None  # the costs disagree (shards priced differently?): no estimate
            return per_prompt * prompt + per_generation * generation
        # Every point on one line: only a delta along that line is determined.
        p0, g0, c0 = max(points, key=lambda point: point[0] ** 2 + point[1] ** 2)
        norm = p0 * p0 + g0 * g0
        if abs(prompt * g0 - generation * p0) > 1e-9 * math.sqrt(norm) * math.hypot(
            prompt, generation
        ):
            return None
        return c0 * (prompt * p0 + generation * g0) / norm


def _config_rows(test: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        _map(row)
        for experiment in _list(test.get("experiments"))
        for row in _list(_map(experiment).get("configs"))
    ]


def _config_row(test: Mapping[str, Any], config: str) -> Mapping[str, Any] | None:
    return next((row for row in _config_rows(test) if _str(row.get("name")) == config), None)


def _cases(test: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        _map(case)
        for experiment in _list(test.get("experiments"))
        for case in _list(_map(experiment).get("cases"))
    ]


def _sample_cost(test: Mapping[str, Any], change: Mapping[str, Any]) -> float | None:
    for case in _cases(test):
        if (_str(case.get("config")), _str(case.get("input"))) != (
            _str(change.get("config")),
            _str(change.get("input")),
        ):
            continue
        for sample in map(_map, _list(case.get("samples"))):
            if sample.get("index") == change.get("sample"):
                return _number(sample.get("cost_usd"))
    return None


# -- failing tests ------------------------------------------------------------------------------


def _failing_section(tests: Sequence[Mapping[str, Any]], missed: set[str]) -> list[_Block]:
    failing = [(test, _failing_cases(test)) for test in tests if outcome_status(test) == "fail"]
    # A test that only missed its recordings is told above, in full.
    failing = [
        (test, cases) for test, cases in failing if _str(test.get("test")) not in missed or cases
    ]
    if not failing:
        return []
    section = "failing tests"
    blocks = [_Block(section, "### Failing tests")]
    blocks += [_Block(section, _failing_block(test, cases)) for test, cases in failing[:_MAX_TESTS]]
    if len(failing) > _MAX_TESTS:
        blocks.append(_Block(section, f"_... and {len(failing) - _MAX_TESTS} more failing tests._"))
    return blocks


def _failing_cases(test: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The cases that failed their verdict (``_status``), with a failing sample to show."""
    return [
        case
        for case in _cases(test)
        if case_status(case) == "fail"
        and any(_map(sample).get("failure") for sample in _list(case.get("samples")))
    ]


def _failing_block(test: Mapping[str, Any], cases: Sequence[Mapping[str, Any]]) -> str:
    """A failing test: its failing cases (``_failing_cases``) as a table, then its failure text."""
    outcome = _str(test.get("outcome"))
    lines = [f"#### {_code(_str(test.get('test')))} ({_text(outcome)})"]
    if cases:
        lines += [
            "",
            _row(["Config", "Input", "Passed", "First failure", "Output"]),
            _row(["---", "---", "---:", "---", "---"]),
        ]
        for case in cases[:_MAX_CASE_ROWS]:
            samples = [_map(sample) for sample in _list(case.get("samples"))]
            checked = [sample for sample in samples if sample.get("checked")]
            passed = sum(1 for sample in checked if not sample.get("failure"))
            first = next(sample for sample in samples if sample.get("failure"))
            index = _int(first.get("index"))
            lines.append(
                _row(
                    [
                        _code(_str(case.get("config")), table=True),
                        _code(_str(case.get("input")), table=True),
                        _pass_rate(passed, len(checked)),
                        f"sample {index}: {_cell(_str(first.get('failure')), _REASON_CHARS)}",
                        _cell(_output(case, index), _OUTPUT_CHARS),
                    ]
                )
            )
        if len(cases) > _MAX_CASE_ROWS:
            lines += ["", f"_... and {len(cases) - _MAX_CASE_ROWS} more failing cases._"]
    failure = test.get("failure")
    if isinstance(failure, str) and failure.strip():
        if len(failure) > _FAILURE_CHARS:
            failure = "[...]\n" + failure[-_FAILURE_CHARS:].split("\n", 1)[-1]
        lines += [
            "",
            "<details><summary>Failure text</summary>",
            "",
            _fenced(failure, "text"),
            "",
            "</details>",
        ]
    elif not cases:
        lines += ["", "No failure text was recorded."]
    return "\n".join(lines)


def _output(case: Mapping[str, Any], index: int) -> str:
    """What the model answered in sample ``index``: its text, else its tool calls."""
    data = [_map(item) for item in _list(_map(case.get("chat_response")).get("data"))]
    item = next((item for item in data if item.get("index") == index), None)
    if item is None:
        return ""
    output = item.get("output")
    if isinstance(output, str) and output:
        return output
    calls = []
    for call in map(_map, _list(item.get("tool_calls"))):
        function = _map(call.get("function")) or call
        calls.append(f"{_str(function.get('name'))}({_str(function.get('arguments'))})")
    return ("tool calls: " + ", ".join(calls)) if calls else ""


# -- experiments --------------------------------------------------------------------------------


def _experiments_section(tests: Sequence[Mapping[str, Any]]) -> list[_Block]:
    experiments = [
        _map(experiment) for test in tests for experiment in _list(test.get("experiments"))
    ]
    rows: list[str] = []
    for experiment in experiments:
        for number, row in enumerate(map(_map, _list(experiment.get("configs")))):
            test = _code(_str(experiment.get("test")), table=True) if number == 0 else ""
            cost = row.get("cost_usd")
            rows.append(
                _row(
                    [
                        test,
                        _code(_str(row.get("name")), table=True),
                        _text(_str(row.get("model"))),
                        f"{_int(row.get('samples')):,}",
                        _pass_rate(_int(row.get("passed")), _int(row.get("checked"))),
                        _tokens(row.get("total_tokens")),
                        "unknown" if _number(cost) is None else money(cost),
                        f"{_seconds(row.get('latency_p50_s'))} / "
                        f"{_seconds(row.get('latency_p95_s'))}",
                        f"{_int(row.get('replayed')):,} / {_int(row.get('live')):,}",
                    ]
                )
            )
    if not rows:
        return []
    columns = ["Test", "Config", "Model", "Samples", "Pass rate", "Tokens", "Cost"]
    header = [
        _row([*columns, "p50 / p95", "Replayed / live"]),
        _row(["---", "---", "---", *["---:"] * 6]),
    ]
    body = header + rows[:_MAX_EXPERIMENT_ROWS]
    if len(rows) > _MAX_EXPERIMENT_ROWS:
        body += ["", f"_... and {len(rows) - _MAX_EXPERIMENT_ROWS} more rows._"]
    table = "\n".join(body)
    count = len(experiments)
    what = (
        f"{count} experiment{'s' if count != 1 else ''}, "
        f"{len(rows)} model config{'s' if len(rows) != 1 else ''}"
    )
    if len(rows) > _OPEN_EXPERIMENT_ROWS:
        table = f"<details><summary>{what}</summary>\n\n{table}\n\n</details>"
    else:
        table = f"{what}:\n\n{table}"
    return [_Block("experiments", f"### Experiments\n\n{table}")]


# -- Markdown -----------------------------------------------------------------------------------

_ESCAPED = re.compile(r"([\\`*_\[\]~|#!])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(text: str) -> str:
    """``text`` as inline Markdown that renders as itself: Markdown punctuation escaped, HTML
    entities for ``<``, ``>`` and ``&``, no line breaks, and no @-mentions or control characters."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = html.escape(text, quote=False)
    text = _ESCAPED.sub(r"\\\1", text)
    return text.replace("@", "@\u200b").replace("\n", " ")


def _cell(text: str, limit: int) -> str:
    """``text`` clipped to ``limit`` characters, for a table cell: lines become ``<br>``."""
    clipped = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    lines = clipped.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br>".join(_text(line) for line in lines)


def _code(text: str, *, table: bool = False) -> str:
    """``text`` as a code span, on one line; in a table, with its pipes escaped."""
    text = _CONTROL.sub("", " ".join(text.splitlines())) or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    if table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def _fenced(text: str, language: str) -> str:
    """``text`` in a fenced code block whose fence no line of ``text`` can close."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _pass_rate(passed: int, checked: int) -> str:
    if not checked:
        return "not checked"
    return f"{passed}/{checked} ({percent(passed, checked)})"


def _signedmoney(value: float) -> str:
    if abs(value) < 5e-9:
        return "$0"
    return ("+" if value > 0 else "-") + money(abs(value))


# -- reading the report (JSON: anything may be missing or of another type) ------------------------


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _tokens(value: Any) -> str:
    """A token count; "unknown" when a provider reported none (never 0)."""
    return "unknown" if _number(value) is None else f"{_int(value):,}"


def _int(value: Any, *, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)
