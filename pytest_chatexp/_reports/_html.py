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

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from ._format import money, percent
from ._format import seconds as _seconds
from ._status import (
    Status,
    case_status,
    case_verdicts,
    config_status,
    outcome_status,
    sample_status,
    worst,
)

__all__ = ["render_html"]

_STATUS_LABEL: dict[Status, str] = {
    "fail": "✗ fail",
    "pass": "✓ pass",
    "unchecked": "\u2013 unchecked",
}
_INPUT_VALUE_LIMIT = 240


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML document (a ``str`` ending in a newline)."""
    tests: list[Mapping[str, Any]] = list(report.get("tests") or [])
    body = [
        _header(report, tests),
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
            f"<title>{_e(_title(report))}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            *body,
            f"<script>{_JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


# -- page parts ---------------------------------------------------------------------------------


def _title(report: Mapping[str, Any]) -> str:
    totals = report.get("totals") or {}
    failed = int(totals.get("failed") or 0)
    state = f"{failed} failed" if failed else "all passed"
    return f"pytest-chatexp report: {int(totals.get('tests') or 0)} tests, {state}"


def _header(report: Mapping[str, Any], tests: Sequence[Mapping[str, Any]]) -> str:
    totals: Mapping[str, Any] = report.get("totals") or {}
    failed_tests = sum(1 for test in tests if outcome_status(test) == "fail")
    modes = [str(mode) for mode in report.get("record_modes") or [] if mode]
    facts = [
        (
            "Tests",
            f"{_int(totals.get('tests'))}",
            f"{failed_tests} failing" if failed_tests else "",
        ),
        ("Experiments", _int(totals.get("experiments")), ""),
        ("Calls", _int(totals.get("calls")), ""),
        ("Replayed / live", f"{_int(totals.get('replayed'))} / {_int(totals.get('live'))}", ""),
        (
            "Tokens",
            _int(totals.get("total_tokens")),
            f"{_int(totals.get('prompt_tokens'))} prompt · "
            f"{_int(totals.get('generation_tokens'))} generated",
        ),
        ("Cost", money(totals.get("cost_usd")), ""),
        ("Record mode", ", ".join(modes) or "—", ""),
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


def _failures(tests: Sequence[Mapping[str, Any]]) -> str:
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
        text = test.get("failure")
        parts.append(
            '<details open class="failure-item">'
            f'<summary><span class="badge fail">{_e(str(test.get("outcome")))}</span> '
            f'<a href="#test-{number}">{_e(str(test.get("test")))}</a></summary>'
            + (
                f'<pre class="failure-text">{_e(str(text))}</pre>'
                if text
                else '<p class="muted">No failure text recorded.</p>'
            )
            + "</details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _test(test: Mapping[str, Any], number: int) -> str:
    status = outcome_status(test)
    outcome = str(test.get("outcome") or "")
    experiments: list[Mapping[str, Any]] = list(test.get("experiments") or [])
    outcome_class = {"passed": "pass", "failed": "fail", "error": "fail"}.get(outcome, "unchecked")
    parts = [
        f'<section class="test" id="test-{number}" data-status="{status}" '
        f'aria-labelledby="test-{number}-title">',
        f'<h2 id="test-{number}-title"><span class="badge {outcome_class}">{_e(outcome)}</span> '
        f'<span class="test-id">{_e(str(test.get("test")))}</span></h2>',
    ]
    if not experiments:
        parts.append('<p class="muted">No experiment recorded.</p>')
    for index, experiment in enumerate(experiments, 1):
        parts.append(_experiment(test, experiment, f"test-{number}-x{index}"))
    changes = list(test.get("changes") or [])
    if changes:
        parts.append(_changes(changes))
    parts.append("</section>")
    return "\n".join(parts)


def _experiment(test: Mapping[str, Any], experiment: Mapping[str, Any], anchor: str) -> str:
    configs: list[Mapping[str, Any]] = list(experiment.get("configs") or [])
    cases: list[Mapping[str, Any]] = list(experiment.get("cases") or [])
    config_names = _unique(
        [str(row.get("name")) for row in configs] + [str(case.get("config")) for case in cases]
    )
    input_ids = _unique(str(case.get("input")) for case in cases)
    by_key = {(str(case.get("config")), str(case.get("input"))): case for case in cases}
    cell_status = {key: case_status(case) for key, case in by_key.items()}
    row_status = {
        input_id: worst(cell_status.get((name, input_id), "unchecked") for name in config_names)
        for input_id in input_ids
    }
    status = worst([*row_status.values(), *(config_status(row) for row in configs)])
    name = str(experiment.get("test") or "")
    wall = experiment.get("wall_time_s")
    title = f"Experiment {name}" if name and name != str(test.get("test")) else "Experiment"
    parts = [
        f'<section class="experiment" id="{anchor}" data-status="{status}" '
        f'aria-labelledby="{anchor}-title">',
        f'<h3 id="{anchor}-title">{_e(title)} <span class="muted small">'
        f"{len(config_names)} configs &times; {len(input_ids)} inputs"
        + (f" · {_e(_seconds(wall))} wall time" if isinstance(wall, int | float) else "")
        + "</span></h3>",
        _config_table(configs, anchor),
    ]
    if not cases:
        parts.append('<p class="muted">No cases in this report (outputs were not recorded).</p>')
    else:
        parts.append(_matrix(config_names, input_ids, by_key, cell_status, row_status, anchor))
    parts.append("</section>")
    return "\n".join(parts)


def _config_table(configs: Sequence[Mapping[str, Any]], anchor: str) -> str:
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
            f'<th scope="row">{_e(str(row.get("name")))}'
            f'<span class="sub mono">{_e(str(row.get("model_config_id") or ""))}</span></th>'
            f'<td class="mono">{_e(str(row.get("model") or ""))}</td>'
            f'<td class="{status}">{_pass_rate(row, status)}</td>'
            f'<td class="num">{_int(row.get("samples"))}</td>'
            f'<td class="num">{_int(row.get("prompt_tokens"))} / '
            f"{_int(row.get('generation_tokens'))} / {_int(row.get('total_tokens'))}</td>"
            f'<td class="num">{_e(money(row.get("cost_usd")))}</td>'
            f'<td class="num">{_e(_seconds(row.get("latency_p50_s")))}</td>'
            f'<td class="num">{_e(_seconds(row.get("latency_p95_s")))}</td>'
            f'<td class="num">{_int(row.get("replayed"))} / {_int(row.get("live"))}</td>'
            "</tr>"
        )
    return (
        f'<div class="scroll" role="region" tabindex="0" aria-label="Model configs">'
        f'<table class="configs" id="{anchor}-configs">'
        "<caption>Per model config</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _pass_rate(row: Mapping[str, Any], status: Status) -> str:
    checked = int(row.get("checked") or 0)
    passed = int(row.get("passed") or 0)
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
    by_key: Mapping[tuple[str, str], Mapping[str, Any]],
    cell_status: Mapping[tuple[str, str], Status],
    row_status: Mapping[str, Status],
    anchor: str,
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
            cells.append(_cell(case, cell_status[(name, input_id)], name, input_id))
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


def _input_header(input_id: str, case: Mapping[str, Any] | None) -> str:
    data = _data(case) if case is not None else []
    variables = data[0].get("inputs") if data else None
    shown = ""
    if isinstance(variables, Mapping):
        items = [
            f"<dt>{_e(str(key))}</dt><dd>{_e(_clip(_text(value), _INPUT_VALUE_LIMIT))}</dd>"
            for key, value in variables.items()
            if key != "id"
        ]
        if items:
            shown = f'<dl class="vars">{"".join(items)}</dl>'
    return f'<span class="input-id">{_e(input_id)}</span>{shown}'


def _cell(case: Mapping[str, Any], status: Status, config: str, input_id: str) -> str:
    data = {int(item.get("index") or 0): item for item in _data(case) if isinstance(item, Mapping)}
    samples: list[Mapping[str, Any]] = list(case.get("samples") or [])
    if not samples:  # no per-sample record: show the outputs unjudged
        samples = [{"index": index, "checked": False, "failure": None} for index in sorted(data)]
    rendered = [_sample(sample, data.get(int(sample.get("index") or 0))) for sample in samples]
    response = case.get("chat_response")
    usage = response.get("usage") if isinstance(response, Mapping) else None
    tokens = (
        f"{_int(usage.get('prompt_tokens'))} / {_int(usage.get('generation_tokens'))} / "
        f"{_int(usage.get('total_tokens'))} tokens"
        if isinstance(usage, Mapping)
        else "tokens unknown"
    )
    costs = [sample.get("cost_usd") for sample in samples]
    cost = (
        money(sum(float(c) for c in costs if isinstance(c, int | float)))
        if costs and all(isinstance(c, int | float) for c in costs)
        else "cost unknown"
    )
    verdict = _cell_verdict(case, samples, status)
    prompt = _prompt(data)
    return (
        f'<td class="cell {status}" data-status="{status}" '
        f'aria-label="{_e(config)} &times; {_e(input_id)}: {_e(verdict)}">'
        f'<div class="cell-head"><span class="badge {status}">{_e(verdict)}</span>'
        f'<span class="muted small">{_e(tokens)} · {_e(cost)}</span></div>'
        f'<ol class="samples">{"".join(rendered)}</ol>{prompt}</td>'
    )


def _cell_verdict(
    case: Mapping[str, Any], samples: Sequence[Mapping[str, Any]], status: Status
) -> str:
    """The cell's badge: the samples that passed and, when the case failed, the bar it missed."""
    missed = [verdict for verdict in case_verdicts(case) if not verdict.get("ok")]
    if missed:
        bar = missed[0].get("min_pass_rate")
        need = f", needs {bar:.0%}" if isinstance(bar, int | float) else ""
        return f"{_int(missed[0].get('passed'))}/{_int(missed[0].get('samples'))} passed{need}"
    failing = sum(1 for sample in samples if sample_status(sample) == "fail")
    if not failing:
        return _STATUS_LABEL[status].split(" ", 1)[1]
    if status == "fail":  # a report from before verdicts: every sample had to pass
        return f"{failing}/{len(samples)} failing"
    passed = sum(1 for sample in samples if sample_status(sample) == "pass")
    return f"{passed}/{len(samples)} passed" + ("" if status == "pass" else ", no bar set")


def _sample(sample: Mapping[str, Any], data: Mapping[str, Any] | None) -> str:
    status = sample_status(sample)
    meta = [f"#{_int(sample.get('index'))}"]
    if data is not None and data.get("finish_reason"):
        meta.append(f"finish: {data.get('finish_reason')}")
    latency = sample.get("latency_s")
    if isinstance(latency, int | float):
        meta.append(_seconds(latency))
    if "replayed" in sample:
        meta.append("replayed" if sample.get("replayed") else "live")
    if isinstance(sample.get("cost_usd"), int | float):
        meta.append(money(sample.get("cost_usd")))
    body: list[str] = []
    if data is None:
        body.append('<p class="muted">No output recorded.</p>')
    else:
        output = data.get("output")
        tool_calls = [call for call in data.get("tool_calls") or [] if isinstance(call, Mapping)]
        if output:
            body.append(f'<pre class="output">{_e(_text(output))}</pre>')
        elif not tool_calls:
            body.append('<p class="muted small">(empty output)</p>')
        body.extend(_tool_call(call) for call in tool_calls)
    failure = sample.get("failure")
    if failure:
        body.append(f'<p class="sample-failure">{_e(str(failure))}</p>')
    return (
        f'<li class="sample {status}" data-status="{status}">'
        f'<div class="sample-head"><span class="mark {status}">{_e(_STATUS_LABEL[status])}</span>'
        f'<span class="muted small">{_e(" · ".join(meta))}</span></div>'
        f"{''.join(body)}</li>"
    )


def _tool_call(call: Mapping[str, Any]) -> str:
    function = call.get("function")
    function = function if isinstance(function, Mapping) else call
    name = str(function.get("name") or "?")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pretty = arguments
        else:
            pretty = json.dumps(arguments, indent=2, ensure_ascii=False)
    else:
        pretty = json.dumps(arguments, indent=2, ensure_ascii=False)
    return (
        '<div class="tool-call"><span class="tool-label">tool call</span> '
        f'<code class="tool-name">{_e(name)}</code>'
        f'<pre class="tool-args">{_e(pretty)}</pre></div>'
    )


def _prompt(data: Mapping[int, Mapping[str, Any]]) -> str:
    first = data[min(data)] if data else None
    messages = first.get("messages") if first is not None else None
    if not isinstance(messages, list) or not messages:
        return ""
    items = "".join(
        f'<li><span class="role">{_e(str(message.get("role")))}</span>'
        f'<pre class="message">{_e(_text(message.get("content")))}</pre></li>'
        for message in messages
        if isinstance(message, Mapping)
    )
    return f'<details class="prompt"><summary>Prompt</summary><ol>{items}</ol></details>'


def _changes(changes: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{_e(str(change.get('config')))}</td>"
        f"<td>{_e(str(change.get('input')))}</td>"
        f'<td class="num">{_int(change.get("sample"))}</td>'
        f"<td>{'new' if change.get('new') else 'changed'}</td>"
        f'<td class="num">{_e(_tokens_delta(change))}'
        "</td></tr>"
        for change in changes
    )
    return (
        '<div class="scroll" role="region" tabindex="0" aria-label="Recording changes">'
        '<table class="changes"><caption>Recording changes</caption><thead><tr>'
        '<th scope="col">Config</th><th scope="col">Input</th><th scope="col">Sample</th>'
        '<th scope="col">Kind</th><th scope="col">Total tokens</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


# -- formatting ---------------------------------------------------------------------------------


def _e(text: str) -> str:
    return escape(text, quote=True)


def _data(case: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    response = case.get("chat_response")
    data = response.get("data") if isinstance(response, Mapping) else None
    return [item for item in data if isinstance(item, Mapping)] if isinstance(data, list) else []


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _int(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def _tokens_delta(change: Mapping[str, Any]) -> str:
    old, new = change.get("old_total_tokens"), change.get("new_total_tokens")
    if old is None:
        return _int(new)
    return f"{_int(old)} → {_int(new)}"


_CSS = """
:root{--fg:#1d2330;--muted:#5d6675;--line:#d9dee6;--bg:#fff;--panel:#f6f7f9;
--pass:#1f7a3a;--pass-bg:#eaf6ee;--pass-line:#9fd3ae;--fail:#b3261e;--fail-bg:#fdeceb;
--fail-line:#f0a8a3;--neutral-bg:#f3f4f6;--accent:#2456c5;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
font-size:15px;line-height:1.45;color:var(--fg);background:var(--bg)}
*{box-sizing:border-box}
body{margin:0;padding:0 1.5rem 3rem}
a{color:var(--accent)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;padding:.25rem}
header.top{padding:1rem 0 .5rem}
h1{font-size:1.35rem;margin:0 0 .6rem;display:flex;gap:.6rem;align-items:center}
h2{font-size:1.1rem;margin:0 0 .6rem;display:flex;gap:.5rem;align-items:baseline;flex-wrap:wrap}
h3{font-size:1rem;margin:1rem 0 .5rem}
.totals{display:flex;flex-wrap:wrap;gap:.5rem;margin:0}
.fact{background:var(--panel);border:1px solid var(--line);border-radius:6px;
padding:.35rem .75rem;min-width:7.5rem}
.fact.bad{background:var(--fail-bg);border-color:var(--fail-line)}
.fact dt{font-size:.75rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.fact dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.sub{display:block;font-weight:400;font-size:.78rem;color:var(--muted)}
.controls{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;position:sticky;top:0;z-index:2;
background:var(--bg);padding:.5rem 0;border-bottom:1px solid var(--line)}
.controls[hidden]{display:none}
.toggle{font-weight:600;cursor:pointer}
.search input{font:inherit;padding:.25rem .5rem;border:1px solid var(--line);border-radius:4px;
min-width:16rem}
input:focus-visible,a:focus-visible,.scroll:focus-visible,summary:focus-visible{
outline:2px solid var(--accent);outline-offset:2px}
main{padding-top:1rem}
section.test{border:1px solid var(--line);border-radius:8px;padding:1rem;margin:0 0 1.25rem}
section.test[data-status=fail]{border-left:5px solid var(--fail)}
section.test[data-status=pass]{border-left:5px solid var(--pass)}
.test-id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95rem;
word-break:break-all}
.failures{background:var(--fail-bg);border:1px solid var(--fail-line);border-radius:8px;
padding:1rem;margin:0 0 1.25rem}
.failure-item summary{cursor:pointer;font-family:ui-monospace,Menlo,Consolas,monospace}
.failure-text{background:#fff;border:1px solid var(--fail-line);border-radius:4px;padding:.6rem;
max-height:24rem;overflow:auto}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:.05rem .45rem;
border-radius:999px;border:1px solid;white-space:nowrap;font-family:system-ui,sans-serif}
.badge.pass{color:var(--pass);background:var(--pass-bg);border-color:var(--pass-line)}
.badge.fail{color:var(--fail);background:var(--fail-bg);border-color:var(--fail-line)}
.badge.unchecked{color:var(--muted);background:var(--neutral-bg);border-color:var(--line)}
.muted{color:var(--muted)}.small{font-size:.8rem;font-weight:400}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
.scroll{overflow-x:auto;max-width:100%;margin:.25rem 0 .75rem}
table{border-collapse:collapse}
caption{text-align:left;font-size:.8rem;color:var(--muted);padding:0 0 .3rem}
th,td{border:1px solid var(--line);padding:.35rem .55rem;text-align:left;vertical-align:top}
thead th{background:var(--panel);font-size:.85rem}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.configs td.pass{color:var(--pass)}table.configs td.fail{color:var(--fail);font-weight:600}
.rate{display:inline-flex;align-items:center;gap:.4rem;white-space:nowrap}
.bar{display:inline-block;width:3.5rem;height:.5rem;background:var(--neutral-bg);
border:1px solid var(--line);border-radius:3px;overflow:hidden}
.fill{display:block;height:100%}.fill.pass{background:var(--pass)}.fill.fail{background:var(--fail)}
table.matrix{table-layout:auto}
table.matrix .corner{color:var(--muted);font-weight:400}
.config-head{min-width:18rem}
.input-head{background:var(--panel);min-width:10rem;max-width:18rem}
.input-id{font-weight:600;font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.vars{margin:.3rem 0 0;font-size:.8rem;font-weight:400}
.vars dt{color:var(--muted)}.vars dd{margin:0 0 .2rem;white-space:pre-wrap;word-break:break-word}
td.cell{min-width:18rem;max-width:42rem;background:var(--neutral-bg)}
td.cell.pass{background:var(--pass-bg)}td.cell.fail{background:var(--fail-bg)}
.cell-head{display:flex;justify-content:space-between;gap:.5rem;align-items:center;
margin-bottom:.35rem;flex-wrap:wrap}
ol.samples{list-style:none;margin:0;padding:0;display:grid;gap:.4rem}
li.sample{background:#fff;border:1px solid var(--line);border-left:4px solid var(--line);
border-radius:4px;padding:.35rem .5rem}
li.sample.pass{border-left-color:var(--pass)}li.sample.fail{border-left-color:var(--fail)}
.sample-head{display:flex;gap:.5rem;align-items:baseline;flex-wrap:wrap;margin-bottom:.2rem}
.mark{font-size:.78rem;font-weight:600;white-space:nowrap}
.mark.pass{color:var(--pass)}.mark.fail{color:var(--fail)}.mark.unchecked{color:var(--muted)}
pre{margin:0;white-space:pre-wrap;word-break:break-word;
font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82rem}
pre.output{font-family:inherit;font-size:.88rem}
.tool-call{margin-top:.25rem;border:1px dashed var(--line);border-radius:4px;padding:.25rem .4rem;
background:#fbfbfd}
.tool-label{font-size:.72rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.tool-name{font-weight:600;color:#6b3fa0}
.tool-args{margin-top:.15rem;color:#333}
.sample-failure{margin:.3rem 0 0;color:var(--fail);font-size:.82rem;white-space:pre-wrap;
word-break:break-word}
.sample-failure::before{content:"Check failed: ";font-weight:600}
details.prompt{margin-top:.4rem;font-size:.8rem}
details.prompt summary{cursor:pointer;color:var(--muted)}
details.prompt ol{margin:.25rem 0 0;padding-left:1.2rem}
.role{font-weight:600;color:var(--muted);font-size:.75rem;text-transform:uppercase}
.only-failing [data-status=pass],.only-failing [data-status=unchecked]{display:none}
.only-failing td.cell[data-status=pass],.only-failing td.cell[data-status=unchecked]{
display:table-cell;visibility:hidden}
.only-failing li.sample[data-status]{display:block}
.only-failing table.configs tr[data-status]{display:table-row}
.search-miss{display:none!important}
@media print{.controls{display:none}}
"""

_JS = """
(function(){
"use strict";
var root=document.documentElement,controls=document.getElementById("controls");
var box=document.getElementById("only-failing"),search=document.getElementById("search");
var status=document.getElementById("filter-status"),none=document.getElementById("no-match");
if(!controls||!box||!search||!status||!none){return;}
controls.hidden=false;
function has(node,q){return node.textContent.toLowerCase().indexOf(q)>=0;}
function apply(){
  root.classList.toggle("only-failing",box.checked);
  var q=search.value.trim().toLowerCase();
  var tests=document.querySelectorAll("section.test");
  for(var t=0;t<tests.length;t++){
    var test=tests[t],title=test.querySelector("h2"),testHit=!q||(title!==null&&has(title,q));
    var exps=test.querySelectorAll("section.experiment"),anyExp=false;
    for(var e=0;e<exps.length;e++){
      var rows=exps[e].querySelectorAll("tr.case-row"),anyRow=false;
      for(var r=0;r<rows.length;r++){
        var hit=testHit||has(rows[r],q);
        rows[r].classList.toggle("search-miss",!hit);
        anyRow=anyRow||hit;
      }
      var expHit=testHit||anyRow;
      exps[e].classList.toggle("search-miss",!expHit);
      anyExp=anyExp||expHit;
    }
    test.classList.toggle("search-miss",!(testHit||anyExp));
  }
  var all=document.querySelectorAll("tr.case-row"),shown=0;
  for(var i=0;i<all.length;i++){if(all[i].offsetParent!==null){shown++;}}
  var active=box.checked||q.length>0;
  status.textContent=active?shown+" of "+all.length+" input rows shown":"";
  var sections=document.querySelectorAll("section.test"),visible=false;
  for(var v=0;v<sections.length;v++){if(sections[v].offsetParent!==null){visible=true;break;}}
  none.hidden=!active||visible||all.length===0&&sections.length===0;
}
box.addEventListener("change",apply);
search.addEventListener("input",apply);
apply();
})();
"""
