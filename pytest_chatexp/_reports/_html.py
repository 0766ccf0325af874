"""The HTML report: a viewer in one self-contained page (inline CSS and JS, nothing fetched).

One matrix per experiment, inputs (rows) by model configs (columns): the items of a split or
parametrized test are folded back into their experiment (``_html_fold``). Rows are compact (a
verdict, the first answer clipped, tokens, cost, latency); a cell's detail (every sample, its
transcript and tool calls, the prompt, and for a re-recorded call the previous answer beside the
new) is a closed ``<details>``; past ``LAZY_CELLS`` cells, the details are carried as data and
built when opened, so a page of 10,000 cells loads in about a second. A table of contents lists
the experiments.

Everything is rendered server-side, every string from the report escaped (model outputs are
untrusted), so the page reads fine with JavaScript disabled; the inline script (``_html_script``)
adds the filters (failing, inconclusive, changed since the recording, outputs that differ
across configs) and the search box by toggling classes. Same report in,
byte-identical page out.

Statuses (``_status``): a test's is its pytest outcome; a cell's (input x config) the verdict
of the assertions that judged the case, against the bar each set; a sample *fails* when a check
gave it a ``failure``. A row and an experiment fail when a cell or model config in them fails.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from typing import Final

from ._entries import RunEntry, TestEntry
from ._format import cache_text, money, unsent_text
from ._html_assets import CSS
from ._html_cell import count as _int
from ._html_changes import changes_table
from ._html_fold import Group, Matrix, fold
from ._html_matrix import experiment, matrix_status
from ._html_parts import escaped as _e
from ._html_script import JS
from ._status import Status, outcome_status, worst

__all__ = ["render_html"]

# Above this many cells, each cell's detail is carried as packed data and built when it is
# opened: a browser parses 10,000 cells' samples, transcripts and prompts in seconds.
LAZY_CELLS: Final = 2000

# (class on the page's root, the row mark it keeps, label, tooltip)
_FILTERS = (
    ("only-fail", "f-fail", "Failing", "rows where a cell missed its bar"),
    ("only-inc", "f-inc", "Inconclusive", "rows where an interval left a cell undecided"),
    ("only-chg", "f-chg", "Changed since recording", "rows this run re-recorded with a new answer"),
    ("only-dif", "f-dif", "Outputs differ", "rows where the configs answered differently"),
)


def render_html(run: RunEntry) -> str:
    """The report as one HTML document (a ``str`` ending in a newline)."""
    tests = list(run.tests)
    groups = fold(tests)
    cells = sum(len(matrix.cases) for group in groups for matrix in group.matrices)
    lazy: list[str] | None = [] if cells > LAZY_CELLS else None
    sections = [_group(group, lazy) for group in groups]
    body = [
        _header(run, tests),
        '<div class="layout">',
        _toc(groups),
        '<main id="main">',
        _failures(tests, groups),
        *sections,
        '<p id="no-match" class="muted" hidden>Nothing matches the filter.</p>',
        "</main>",
        "</div>",
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
            *([_lazy_data(lazy)] if lazy is not None else []),
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
        '<span class="filters" role="group" aria-label="Show only">Show only '
        + "".join(
            f'<label class="toggle" title="{_e(tip)}"><input type="checkbox" '
            f'data-root="{root}" data-mark="{mark}" id="{root}"> {_e(label)}</label>'
            for root, mark, label, tip in _FILTERS
        )
        + "</span>"
        '<label class="search">Search <input type="search" id="search" '
        'placeholder="input, output, config…" autocomplete="off"></label>'
        '<span id="filter-status" class="muted" role="status" aria-live="polite"></span>'
        "</div>"
        '<noscript><p class="muted">Filtering and search (and, on a large page, the cells\' '
        "details) need JavaScript; the whole report is shown.</p></noscript>"
    )


def _failures(tests: Sequence[TestEntry], groups: Sequence[Group]) -> str:
    anchors = {id(item): group.anchor for group in groups for item in group.items}
    failed = [test for test in tests if outcome_status(test) == "fail"]
    if not failed:
        return ""
    parts = [
        '<section class="failures" aria-labelledby="failures-title" data-status="fail">',
        f'<h2 id="failures-title">Failures ({len(failed)})</h2>',
    ]
    opened = " open" if len(failed) <= 3 else ""  # many: a list to open, not a wall of text
    for test in failed:
        text = test.failure
        parts.append(
            f'<details{opened} class="failure-item">'
            f'<summary><span class="badge fail">{_e(test.outcome)}</span> '
            f'<a href="#{anchors[id(test)]}">{_e(test.test)}</a></summary>'
            + (
                f'<pre class="failure-text">{_e(text)}</pre>'
                if text
                else '<p class="muted">No failure text recorded.</p>'
            )
            + "</details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _toc(groups: Sequence[Group]) -> str:
    """The table of contents: each test, and under it each of its experiments (when it ran
    several), with the rows shown of each matrix's; the script updates the counts and hides the
    entries a filter empties."""
    items = []
    for group in groups:
        entries = [
            f'<li data-for="{matrix.anchor}"><a href="#{matrix.anchor}">'
            f'<span class="dot {matrix_status(matrix)}" aria-hidden="true"></span>'
            f"{_e(_short(matrix.name))}</a> {_size(matrix)}</li>"
            for matrix in group.matrices
        ]
        single = len(group.matrices) == 1
        items.append(
            f'<li data-for="{group.anchor}"><a href="#{group.anchor}">'
            f'<span class="dot {_group_status(group)}" aria-hidden="true"></span>'
            f"{_e(_short(group.name))}</a>"
            + (f" {_size(group.matrices[0])}" if single else "")
            + (f"<ol>{''.join(entries)}</ol>" if len(entries) > 1 else "")
            + "</li>"
        )
    return (
        '<nav id="toc" aria-label="Contents"><details open><summary>Contents '
        f'<span class="muted small">({len(groups)} tests)</span></summary>'
        f"<ol>{''.join(items)}</ol></details></nav>"
    )


def _size(matrix: Matrix) -> str:
    return (
        f'<span class="muted small toc-count" data-matrix="{matrix.anchor}">'
        f"{len(matrix.columns)}&times;{len(matrix.inputs)}</span>"
    )


def _short(name: str) -> str:
    """A node id without its file: the contents' column is narrow."""
    return name.split("::", 1)[1] if "::" in name else name


def _group_status(group: Group) -> Status:
    return worst(outcome_status(item) for item in group.items)


def _group(group: Group, lazy: list[str] | None) -> str:
    status = _group_status(group)
    items = group.items
    if len(items) == 1 and items[0].test == group.name:
        outcome = items[0].outcome
        badge = f'<span class="badge {_outcome_class(outcome)}">{_e(outcome)}</span> '
        listed = ""
    else:
        failed = sum(1 for item in items if outcome_status(item) == "fail")
        badge = (
            f'<span class="badge {status}">{len(items)} items'
            f"{f', {failed} failed' if failed else ''}</span> "
        )
        listed = (
            '<details class="items"><summary>Items</summary><ul>'
            + "".join(
                f'<li id="{group.anchor}-i{number}"><span class="badge '
                f'{_outcome_class(item.outcome)}">{_e(item.outcome)}</span> '
                f'<span class="test-id">{_e(item.test)}</span></li>'
                for number, item in enumerate(items, 1)
            )
            + "</ul></details>"
        )
    parts = [
        f'<section class="test" id="{group.anchor}" data-status="{status}" '
        f'aria-labelledby="{group.anchor}-title">',
        f'<h2 id="{group.anchor}-title">{badge}<span class="test-id">{_e(group.name)}</span></h2>',
        listed,
    ]
    if not group.matrices:
        parts.append('<p class="muted">No experiment recorded.</p>')
    parts.extend(experiment(matrix, group.name, lazy) for matrix in group.matrices)
    if group.changes:
        parts.append(changes_table(group.changes))
    parts.append("</section>")
    return "\n".join(part for part in parts if part)


def _outcome_class(outcome: str) -> str:
    return {"passed": "pass", "failed": "fail", "error": "fail"}.get(outcome, "unchecked")


def _lazy_data(details: list[str]) -> str:
    """The cells' details as a JSON array, gzipped and in base64 in an inert script element
    (the browser unpacks it with its own ``DecompressionStream``): a browser parses a page at
    a few megabytes a second, and the details of 10,000 cells are most of its bytes. Base64
    holds no ``<``: no text in it can close the element. ``mtime=0``: the same bytes each run."""
    data = json.dumps(details, ensure_ascii=False, separators=(",", ":")).encode()
    packed = base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")
    return f'<script type="application/gzip;base64" id="cell-details">{packed}</script>'
