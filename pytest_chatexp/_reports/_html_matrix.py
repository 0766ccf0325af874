"""One experiment of the HTML viewer: its model configs' table and its matrix, inputs (rows) by
model configs (columns), each row marked for the filters.

A row carries its filter marks as classes, worked out here once: ``f-fail`` (a cell failed),
``f-inc`` (a cell was left inconclusive), ``f-chg`` (this run re-recorded a case and its answer
changed), ``f-dif`` (the configs answered differently). The page's script only toggles classes
on the page's root, so filtering 10,000 cells reads no text and parses no markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._util import percent
from ._entries import CaseEntry, ConfigEntry
from ._format import cache_text, money, unsent_text
from ._format import seconds as _seconds
from ._html_cell import answer_key, cell, changed, count
from ._html_fold import Matrix
from ._html_parts import escaped as _e
from ._html_parts import text as _text
from ._sampling import saved_text, totals
from ._status import Status, case_status, config_status, worst

__all__ = ["experiment", "matrix_status"]

_INPUT_VALUE_LIMIT = 160


def matrix_status(matrix: Matrix) -> Status:
    return worst(
        [*(case_status(case) for case in matrix.cases.values())]
        + [config_status(row) for row in matrix.configs]
    )


def experiment(matrix: Matrix, test_name: str, lazy: list[str] | None = None) -> str:
    name = matrix.name
    title = f"Experiment {name}" if name and name != test_name else "Experiment"
    wall = matrix.wall_time_s
    folded = f" · folded from {matrix.items} items" if matrix.items > 1 else ""
    parts = [
        f'<section class="experiment" id="{matrix.anchor}" data-status="{matrix_status(matrix)}" '
        f'aria-labelledby="{matrix.anchor}-title">',
        f'<h3 id="{matrix.anchor}-title">{_e(title)} <span class="muted small">'
        f"{len(matrix.columns)} configs &times; {len(matrix.inputs)} inputs{folded}"
        + (f" · {_e(_seconds(wall))} wall time" if wall is not None else "")
        + "</span></h3>",
        _config_table(matrix.configs, matrix.anchor),
    ]
    if matrix.adaptive:  # the terminal line's numbers
        saved = saved_text(*totals(matrix.adaptive))
        parts.append(f'<p class="sampling">Adaptive sampling: {_e(saved)}.</p>')
    if not matrix.cases:
        parts.append('<p class="muted">No cases in this report (outputs were not recorded).</p>')
    else:
        parts.append(_matrix(matrix, lazy))
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
            f'<td class="num">{count(row.samples)}</td>'
            f'<td class="num">{count(row.prompt_tokens)} / '
            f"{count(row.generation_tokens)} / {count(row.total_tokens)}"
            # (counts only: nothing from the report's text to escape)
            + cache_text(row.cached_tokens, row.cache_write_tokens, '<span class="sub">{}</span>')
            + f'</td><td class="num">{_e(money(row.cost_usd))}</td>'
            f'<td class="num">{_e(_seconds(row.latency_p50_s))}</td>'
            f'<td class="num">{_e(_seconds(row.latency_p95_s))}</td>'
            f'<td class="num">{count(row.replayed)} / {count(row.live)}'
            + unsent_text(row.skipped, '<span class="sub">{}</span>')
            + "</td></tr>"
        )
    return (
        f'<details class="configs-box" open><summary>Model configs ({len(configs)})</summary>'
        f'<div class="scroll" role="region" tabindex="0" aria-label="Model configs">'
        f'<table class="configs" id="{anchor}-configs">'
        "<caption>Per model config</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>"
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


def _matrix(matrix: Matrix, lazy: list[str] | None) -> str:
    head = '<th scope="col" class="corner">Input \\ Config</th>' + "".join(
        f'<th scope="col" class="config-head">{_e(name)}</th>' for name in matrix.columns
    )
    rows = [_row(matrix, input_id, lazy) for input_id in matrix.inputs]
    return (
        f'<div class="scroll" role="region" tabindex="0" aria-label="Matrix: inputs by configs">'
        f'<table class="matrix" id="{matrix.anchor}-matrix">'
        "<caption>Matrix: inputs (rows) &times; model configs (columns)</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _row(matrix: Matrix, input_id: str, lazy: list[str] | None) -> str:
    present = [
        (name, matrix.cases[(name, input_id)])
        for name in matrix.columns
        if (name, input_id) in matrix.cases
    ]
    statuses = {name: case_status(case) for name, case in present}
    keys = {name: answer_key(case) for name, case in present}
    # The answers that differ: those unlike the most common answer in the row.
    common = max(keys.values(), key=list(keys.values()).count) if keys else ""
    differs = {name for name, key in keys.items() if key != common}
    cells = []
    for name in matrix.columns:
        case = matrix.cases.get((name, input_id))
        if case is None:
            cells.append(
                '<td class="cell" data-status="unchecked"><span class="muted">no case</span></td>'
            )
            continue
        cells.append(
            cell(
                case,
                statuses[name],
                name,
                input_id,
                matrix.sampling.get((name, input_id)),
                matrix.changes.get((name, input_id), ()),
                name in differs,
                lazy,
            )
        )
    status = worst(statuses.values())
    flags = [
        flag
        for flag, on in (
            ("f-fail", status == "fail"),
            ("f-inc", "inconclusive" in statuses.values()),
            (
                "f-chg",
                any(changed(matrix.changes.get((name, input_id), ())) for name in statuses),
            ),
            ("f-dif", bool(differs)),
        )
        if on
    ]
    first = present[0][1] if present else None
    return (
        f'<tr class="case-row{"".join(" " + flag for flag in flags)}" data-status="{status}">'
        f'<th scope="row" class="input-head">{_input_header(input_id, first)}</th>'
        f"{''.join(cells)}</tr>"
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


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
