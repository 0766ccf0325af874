"""The HTML report: one self-contained page (inline CSS and JS, nothing fetched) for a run report.

Everything is rendered server-side, every string from the report escaped (model outputs are
untrusted), so the page reads fine with JavaScript disabled; the small inline script only adds
the "only failing" filter and the search box, and it reads the page through ``textContent`` and
toggles classes: it never parses markup. Same report in, byte-identical page out.

Statuses (``_status``): a test's is its pytest outcome; a cell's (input x config) the verdict
of the assertions that judged the case, against the bar each set; a sample *fails* when a check
gave it a ``failure``. A row and an experiment fail when a cell or model config in them fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .._util import interval_text, percent
from ._entries import (
    CaseEntry,
    ConfigEntry,
    ExperimentEntry,
    OutputEntry,
    RunEntry,
    SampleEntry,
    TestEntry,
)
from ._format import cache_text, money, plural, unsent_text
from ._format import seconds as _seconds
from ._html_assets import CSS, JS
from ._html_changes import changes_table
from ._html_parts import escaped as _e
from ._html_parts import prompt as _prompt
from ._html_parts import reasoning
from ._html_parts import text as _text
from ._html_parts import tool_call as _tool_call
from ._html_turns import transcript
from ._sampling import SamplingEntry, case_text, saved_text, totals
from ._status import Status, case_status, config_status, outcome_status, sample_status, worst

__all__ = ["render_html"]

_STATUS_LABEL: dict[Status, str] = {
    "fail": "✗ fail",
    "inconclusive": "? inconclusive",
    "pass": "✓ pass",
    "unchecked": "\u2013 unchecked",
}
_INPUT_VALUE_LIMIT = 240


def render_html(run: RunEntry) -> str:
    """The report as one HTML document (a ``str`` ending in a newline)."""
    tests = list(run.tests)
    body = [
        _header(run, tests),
        '<main id="main">',
        _failures(tests),
        *(_test(test, number) for number, test in enumerate(tests, 1)),
        '<p id="no-match" class="muted" hidden>Nothing matches the filter.</p>',
        "</main>",
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="pytest-chatexp">',
            f"<title>{_e(_title(run))}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            f"<script>{JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


# -- page parts ---------------------------------------------------------------------------------


def _title(run: RunEntry) -> str:
    failed = run.totals.failed or 0
    state = f"{failed} failed" if failed else "all passed"
    return f"pytest-chatexp report: {run.totals.tests or 0} tests, {state}"


def _header(run: RunEntry, tests: Sequence[TestEntry]) -> str:
    totals = run.totals
    failed_tests = sum(1 for test in tests if outcome_status(test) == "fail")
    facts = [
        ("Tests", _int(totals.tests), f"{failed_tests} failing" if failed_tests else ""),
        ("Experiments", _int(totals.experiments), ""),
        ("Calls", _int(totals.calls), ""),
        (
            "Replayed / live",
            f"{_int(totals.replayed)} / {_int(totals.live)}",
            unsent_text(totals.skipped),
        ),
        (
            "Tokens",
            _int(totals.total_tokens),
            f"{_int(totals.prompt_tokens)} prompt · {_int(totals.generation_tokens)} generated"
            + cache_text(totals.cached_tokens, totals.cache_write_tokens, " · {}"),
        ),
        ("Cost", money(totals.cost_usd), ""),
        ("Record mode", ", ".join(run.record_modes) or "—", ""),
    ]
    items = "".join(
        f'<div class="fact{" bad" if name == "Tests" and failed_tests else ""}">'
        f"<dt>{_e(name)}</dt><dd>{_e(value)}"
        + (f'<span class="sub">{_e(sub)}</span>' if sub else "")
        + "</dd></div>"
        for name, value, sub in facts
    )
    status: Status = "fail" if failed_tests else "pass"
    return (
        '<header class="top">'
        '<a class="skip" href="#main">Skip to results</a>'
        f'<h1>pytest-chatexp report <span class="badge {status}">'
        f"{_e('failures' if failed_tests else 'all passed')}</span></h1>"
        f'<dl class="totals">{items}</dl>'
        "</header>"
        '<div class="controls" id="controls" role="search" hidden>'
        '<label class="toggle"><input type="checkbox" id="only-failing"> Only failing</label>'
        '<label class="search">Search <input type="search" id="search" '
        'placeholder="input, output, config…" autocomplete="off"></label>'
        '<span id="filter-status" class="muted" role="status" aria-live="polite"></span>'
        "</div>"
        '<noscript><p class="muted">Filtering and search need JavaScript; '
        "the whole report is shown.</p></noscript>"
    )


def _failures(tests: Sequence[TestEntry]) -> str:
    failed = [
        (number, test) for number, test in enumerate(tests, 1) if outcome_status(test) == "fail"
    ]
    if not failed:
        return ""
    parts = [
        '<section class="failures" aria-labelledby="failures-title" data-status="fail">',
        f'<h2 id="failures-title">Failures ({len(failed)})</h2>',
    ]
    for number, test in failed:
        text = test.failure
        parts.append(
            '<details open class="failure-item">'
            f'<summary><span class="badge fail">{_e(test.outcome)}</span> '
            f'<a href="#test-{number}">{_e(test.test)}</a></summary>'
            + (
                f'<pre class="failure-text">{_e(text)}</pre>'
                if text
                else '<p class="muted">No failure text recorded.</p>'
            )
            + "</details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _test(test: TestEntry, number: int) -> str:
    status = outcome_status(test)
    outcome = test.outcome
    outcome_class = {"passed": "pass", "failed": "fail", "error": "fail"}.get(outcome, "unchecked")
    parts = [
        f'<section class="test" id="test-{number}" data-status="{status}" '
        f'aria-labelledby="test-{number}-title">',
        f'<h2 id="test-{number}-title"><span class="badge {outcome_class}">{_e(outcome)}</span> '
        f'<span class="test-id">{_e(test.test)}</span></h2>',
    ]
    if not test.experiments:
        parts.append('<p class="muted">No experiment recorded.</p>')
    for index, experiment in enumerate(test.experiments, 1):
        parts.append(_experiment(test, experiment, f"test-{number}-x{index}"))
    if test.changes:
        parts.append(changes_table(test.changes))
    parts.append("</section>")
    return "\n".join(parts)


def _experiment(test: TestEntry, experiment: ExperimentEntry, anchor: str) -> str:
    configs, cases = experiment.configs, experiment.cases
    config_names = _unique([row.name for row in configs] + [case.config for case in cases])
    input_ids = _unique(case.input for case in cases)
    by_key = {(case.config, case.input): case for case in cases}
    cell_status = {key: case_status(case) for key, case in by_key.items()}
    row_status = {
        input_id: worst(cell_status.get((name, input_id), "unchecked") for name in config_names)
        for input_id in input_ids
    }
    status = worst([*row_status.values(), *(config_status(row) for row in configs)])
    name = experiment.test
    wall = experiment.wall_time_s
    title = f"Experiment {name}" if name and name != test.test else "Experiment"
    parts = [
        f'<section class="experiment" id="{anchor}" data-status="{status}" '
        f'aria-labelledby="{anchor}-title">',
        f'<h3 id="{anchor}-title">{_e(title)} <span class="muted small">'
        f"{len(config_names)} configs &times; {len(input_ids)} inputs"
        + (f" · {_e(_seconds(wall))} wall time" if wall is not None else "")
        + "</span></h3>",
        _config_table(configs, anchor),
    ]
    if experiment.adaptive:  # the terminal line's numbers
        saved = saved_text(*totals(experiment.adaptive))
        parts.append(f'<p class="sampling">Adaptive sampling: {_e(saved)}.</p>')
    if not cases:
        parts.append('<p class="muted">No cases in this report (outputs were not recorded).</p>')
    else:
        parts.append(
            _matrix(config_names, input_ids, by_key, cell_status, row_status, anchor, experiment)
        )
    parts.append("</section>")
    return "\n".join(parts)


def _config_table(configs: Sequence[ConfigEntry], anchor: str) -> str:
    if not configs:
        return ""
    head = "".join(
        f'<th scope="col"{" class=num" if numeric else ""}>{_e(label)}</th>'
        for label, numeric in (
            ("Config", False),
            ("Model", False),
            ("Pass rate", False),
            ("Samples", True),
            ("Tokens (prompt / gen / total)", True),
            ("Cost", True),
            ("Latency p50", True),
            ("Latency p95", True),
            ("Replayed / live", True),
        )
    )
    rows = []
    for row in configs:
        status = config_status(row)
        rows.append(
            f'<tr data-status="{status}">'
            f'<th scope="row">{_e(row.name)}'
            f'<span class="sub mono">{_e(row.model_config_id)}</span></th>'
            f'<td class="mono">{_e(row.model)}</td>'
            f'<td class="{status}">{_pass_rate(row, status)}</td>'
            f'<td class="num">{_int(row.samples)}</td>'
            f'<td class="num">{_int(row.prompt_tokens)} / '
            f"{_int(row.generation_tokens)} / {_int(row.total_tokens)}"
            # (counts only: nothing from the report's text to escape)
            + cache_text(row.cached_tokens, row.cache_write_tokens, '<span class="sub">{}</span>')
            + f'</td><td class="num">{_e(money(row.cost_usd))}</td>'
            f'<td class="num">{_e(_seconds(row.latency_p50_s))}</td>'
            f'<td class="num">{_e(_seconds(row.latency_p95_s))}</td>'
            f'<td class="num">{_int(row.replayed)} / {_int(row.live)}'
            + unsent_text(row.skipped, '<span class="sub">{}</span>')
            + "</td></tr>"
        )
    return (
        f'<div class="scroll" role="region" tabindex="0" aria-label="Model configs">'
        f'<table class="configs" id="{anchor}-configs">'
        "<caption>Per model config</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _pass_rate(row: ConfigEntry, status: Status) -> str:
    checked, passed = row.checked, row.passed
    if not checked:
        return '<span class="muted">unchecked</span>'
    return (
        f'<span class="rate"><span class="bar" aria-hidden="true">'
        f'<span class="fill {status}" style="width:{100 * passed / checked:.0f}%"></span></span>'
        f"{passed}/{checked} ({percent(passed, checked)})</span>"
    )


def _matrix(
    config_names: Sequence[str],
    input_ids: Sequence[str],
    by_key: Mapping[tuple[str, str], CaseEntry],
    cell_status: Mapping[tuple[str, str], Status],
    row_status: Mapping[str, Status],
    anchor: str,
    experiment: ExperimentEntry,
) -> str:
    head = '<th scope="col" class="corner">Input \\ Config</th>' + "".join(
        f'<th scope="col" class="config-head">{_e(name)}</th>' for name in config_names
    )
    rows = []
    for input_id in input_ids:
        cells = []
        first = next(
            (by_key[(name, input_id)] for name in config_names if (name, input_id) in by_key),
            None,
        )
        for name in config_names:
            case = by_key.get((name, input_id))
            if case is None:
                cells.append(
                    '<td class="cell" data-status="unchecked"><span class="muted">'
                    "no case</span></td>"
                )
                continue
            sampling = experiment.sampling(name, input_id)
            cells.append(_cell(case, cell_status[(name, input_id)], name, input_id, sampling))
        rows.append(
            f'<tr class="case-row" data-status="{row_status[input_id]}">'
            f'<th scope="row" class="input-head">{_input_header(input_id, first)}</th>'
            f"{''.join(cells)}</tr>"
        )
    return (
        f'<div class="scroll" role="region" tabindex="0" aria-label="Matrix: inputs by configs">'
        f'<table class="matrix" id="{anchor}-matrix">'
        "<caption>Matrix: inputs (rows) &times; model configs (columns)</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _input_header(input_id: str, case: CaseEntry | None) -> str:
    variables = case.inputs if case is not None else None
    shown = ""
    if variables is not None:
        items = [
            f"<dt>{_e(str(key))}</dt><dd>{_e(_clip(_text(value), _INPUT_VALUE_LIMIT))}</dd>"
            for key, value in variables.items()
            if key != "id"
        ]
        if items:
            shown = f'<dl class="vars">{"".join(items)}</dl>'
    return f'<span class="input-id">{_e(input_id)}</span>{shown}'


def _cell(
    case: CaseEntry, status: Status, config: str, input_id: str, sampling: SamplingEntry | None
) -> str:
    data = {item.index: item for item in case.outputs}
    samples = list(case.samples) or [  # no per-sample record: show the outputs unjudged
        SampleEntry(index, False, None, None, None, None) for index in sorted(data)
    ]
    rendered = [_sample(sample, data.get(sample.index)) for sample in samples]
    usage = case.usage
    tokens = (
        " / ".join(_int(count) for count in usage) + " tokens"
        if usage is not None
        else "tokens unknown"
    )
    costs = [sample.cost_usd for sample in samples]
    cost = (
        money(sum(c for c in costs if c is not None))
        if costs and None not in costs
        else "cost unknown"
    )
    verdict = _cell_verdict(case, samples, status)
    prompt = _prompt(case.prompt)
    facts = [tokens, cost] + ([case_text(sampling)] if sampling is not None else [])
    return (
        f'<td class="cell {status}" data-status="{status}" '
        f'aria-label="{_e(config)} &times; {_e(input_id)}: {_e(verdict)}">'
        f'<div class="cell-head"><span class="badge {status}">{_e(verdict)}</span>'
        f'<span class="muted small">{_e(" · ".join(facts))}</span></div>'
        f'<ol class="samples">{"".join(rendered)}</ol>{prompt}</td>'
    )


def _cell_verdict(case: CaseEntry, samples: Sequence[SampleEntry], status: Status) -> str:
    """The cell's badge: the samples that passed and, when the case failed, the bar it missed;
    a verdict with an interval or a reducer says so."""
    verdicts = case.verdicts or ()
    missed = [verdict for verdict in verdicts if verdict.failed]
    undecided = [verdict for verdict in verdicts if verdict.outcome == "inconclusive"]
    shown = (missed or undecided or [v for v in verdicts if v.interval or v.reducer])[:1]
    if shown:
        verdict = shown[0]
        text = f"{_int(verdict.passed)}/{_int(verdict.samples)} passed"
        if verdict.interval is not None and verdict.confidence is not None:
            text += f", {interval_text(*verdict.interval, verdict.confidence)}"
        if verdict.reducer is not None:
            estimate = "" if verdict.estimate is None else f" = {verdict.estimate:.0%}"
            text += f", {verdict.reducer}{estimate}"
        bar = verdict.min_pass_rate
        # A counting reducer (at_least, majority) holds the case to no rate.
        held_to_bar = verdict.reducer is None or verdict.estimate is not None
        if verdict.failed and bar is not None and held_to_bar:
            text += f", needs {bar:.0%}"
        if verdict.outcome == "inconclusive":
            text += ", inconclusive"
        return text
    failing = sum(1 for sample in samples if sample_status(sample) == "fail")
    if not failing:
        return _STATUS_LABEL[status].split(" ", 1)[1]
    if status == "fail":  # a report from before verdicts: every sample had to pass
        return f"{failing}/{len(samples)} failing"
    passed = sum(1 for sample in samples if sample_status(sample) == "pass")
    return f"{passed}/{len(samples)} passed" + ("" if status == "pass" else ", no bar set")


def _sample(sample: SampleEntry, data: OutputEntry | None) -> str:
    status = sample_status(sample)
    meta = [f"#{_int(sample.index)}"]
    if sample.turns:
        meta.append(plural(len(sample.turns), "turn"))
    if data is not None and data.finish_reason:
        meta.append(f"finish: {data.finish_reason}")
    if sample.latency_s is not None:
        meta.append(_seconds(sample.latency_s))
    if sample.replayed is not None:
        meta.append("replayed" if sample.replayed else "live")
    if sample.cost_usd is not None:
        meta.append(money(sample.cost_usd))
    body: list[str] = []
    if data is None:
        body.append('<p class="muted">No output recorded.</p>')
    else:
        output = data.output
        tool_calls = data.tool_calls
        if output:
            body.append(f'<pre class="output">{_e(_text(output))}</pre>')
        elif not tool_calls:
            body.append('<p class="muted small">(empty output)</p>')
        body.extend(_tool_call(call) for call in tool_calls)
    if sample.reasoning is not None and not sample.turns:  # a transcript shows it per turn
        body.append(reasoning(sample.reasoning))
    if sample.turns:
        body.append(transcript(sample))
    if sample.failure:
        body.append(f'<p class="sample-failure">{_e(sample.failure)}</p>')
    return (
        f'<li class="sample {status}" data-status="{status}">'
        f'<div class="sample-head"><span class="mark {status}">{_e(_STATUS_LABEL[status])}</span>'
        f'<span class="muted small">{_e(" · ".join(meta))}</span></div>'
        f"{''.join(body)}</li>"
    )


# -- formatting ---------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _int(value: int | float | None) -> str:
    """A count; a dash when unknown (never 0)."""
    return "—" if value is None else f"{int(value):,}"
