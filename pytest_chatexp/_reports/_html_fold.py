"""The HTML viewer's grouping: a run's test items folded back into their tests and experiments.

A test split into items (``split="inputs"``, ``"configs"``, ``"cases"``, or pytest's own
parametrization) reports one experiment per item, each a sliver of the matrix. The viewer shows
one matrix per experiment: items whose node ids differ only in their parameters (``[...]``) are
one *group*, and a group's n-th experiments are one ``Matrix``, their cases and config rows
merged. When two items ran the same input under the same config name (parametrized prompts,
say), their columns are told apart by the item's parameters, so no case hides another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from .._calls._changes import ChangeRecord
from .._util import percentile
from ._entries import CaseEntry, ConfigEntry, ExperimentEntry, TestEntry
from ._format import known_cost, known_sum
from ._sampling import SamplingEntry

__all__ = ["Group", "Matrix", "fold"]


@dataclass(slots=True)
class Matrix:
    """One experiment as the viewer shows it: columns (config names), rows (input ids), the
    cases by (column, input), and each cell's re-recorded calls."""

    name: str
    anchor: str
    columns: list[str]
    inputs: list[str]
    cases: dict[tuple[str, str], CaseEntry]
    configs: list[ConfigEntry]
    sampling: dict[tuple[str, str], SamplingEntry]
    changes: dict[tuple[str, str], list[ChangeRecord]]
    wall_time_s: float | None
    adaptive: tuple[SamplingEntry, ...]
    items: int  # the test items it was folded from


@dataclass(slots=True)
class Group:
    """A test, and the items it was split or parametrized into."""

    name: str
    anchor: str
    items: list[TestEntry]
    matrices: list[Matrix] = field(default_factory=list)

    @property
    def changes(self) -> list[ChangeRecord]:
        return [change for item in self.items for change in item.changes]


def fold(tests: Sequence[TestEntry]) -> list[Group]:
    """The run's items grouped by test, in the order each test first appears."""
    groups: dict[str, Group] = {}
    for test in tests:
        base = _base(test.test)
        if base not in groups:
            groups[base] = Group(base, f"t{len(groups) + 1}", [])
        groups[base].items.append(test)
    for group in groups.values():
        depth = max((len(item.experiments) for item in group.items), default=0)
        for index in range(depth):
            members = [
                (item, item.experiments[index])
                for item in group.items
                if index < len(item.experiments)
            ]
            group.matrices.append(_matrix(group, members, f"{group.anchor}-x{index + 1}"))
    return list(groups.values())


def _base(test_id: str) -> str:
    """A node id without its parameters: ``t.py::test_x[a-b]`` -> ``t.py::test_x``."""
    if test_id.endswith("]") and "[" in test_id:
        return test_id[: test_id.index("[")]
    return test_id


def _params(test_id: str) -> str:
    return test_id[test_id.index("[") + 1 : -1] if _base(test_id) != test_id else ""


def _matrix(group: Group, members: list[tuple[TestEntry, ExperimentEntry]], anchor: str) -> Matrix:
    keys = [(case.config, case.input) for _, experiment in members for case in experiment.cases]
    # Two items ran the same case: their columns carry the item's parameters.
    qualify = len(keys) != len(set(keys)) and len(members) > 1

    def column(item: TestEntry, config: str) -> str:
        params = _params(item.test)
        return f"{config} [{params}]" if qualify and params else config

    cases: dict[tuple[str, str], CaseEntry] = {}
    rows: dict[str, list[ConfigEntry]] = {}
    sampling: dict[tuple[str, str], SamplingEntry] = {}
    changes: dict[tuple[str, str], list[ChangeRecord]] = {}
    for item, experiment in members:
        for row in experiment.configs:
            rows.setdefault(column(item, row.name), []).append(row)
        for case in experiment.cases:
            cases.setdefault((column(item, case.config), case.input), case)
        for entry in experiment.adaptive:
            sampling[(column(item, entry.config), entry.input)] = entry
        for change in item.changes:
            changes.setdefault((column(item, change.config), change.input), []).append(change)
    columns = _unique([*rows, *(name for name, _ in cases)])
    walls = [experiment.wall_time_s for _, experiment in members]
    name = members[0][1].test if len(members) == 1 else group.name
    return Matrix(
        name=_base(name) if len(members) > 1 else name,
        anchor=anchor,
        columns=columns,
        inputs=_unique(input_id for _, input_id in cases),
        cases=cases,
        configs=[_merged(name, same, cases) for name, same in rows.items()],
        sampling=sampling,
        changes={key: value for key, value in changes.items() if key in cases},
        wall_time_s=None if None in walls else sum(w for w in walls if w is not None),
        adaptive=tuple(entry for _, experiment in members for entry in experiment.adaptive),
        items=len(members),
    )


def _merged(
    name: str, rows: list[ConfigEntry], cases: dict[tuple[str, str], CaseEntry]
) -> ConfigEntry:
    """A config's rows from several items as one: counts add up (unknown stays unknown) and the
    latency percentiles are taken again over the samples the cases recorded."""
    if len(rows) == 1:
        row = rows[0]
        return row if row.name == name else _renamed(row, name)
    latencies = sorted(
        sample.latency_s
        for (column, _), case in cases.items()
        if column == name
        for sample in case.samples
        if sample.latency_s is not None
    )
    first = rows[0]
    return ConfigEntry(
        name=name,
        model=first.model,
        model_config_id=first.model_config_id,
        samples=sum(row.samples for row in rows),
        checked=sum(row.checked for row in rows),
        passed=sum(row.passed for row in rows),
        prompt_tokens=known_sum(row.prompt_tokens for row in rows),
        generation_tokens=known_sum(row.generation_tokens for row in rows),
        total_tokens=known_sum(row.total_tokens for row in rows),
        cost_usd=known_cost(row.cost_usd for row in rows),
        latency_p50_s=percentile(latencies, 50) if latencies else None,
        latency_p95_s=percentile(latencies, 95) if latencies else None,
        replayed=sum(row.replayed for row in rows),
        live=sum(row.live for row in rows),
        cases_judged=known_sum(row.cases_judged for row in rows),
        cases_failed=known_sum(row.cases_failed for row in rows),
        cases_inconclusive=known_sum(row.cases_inconclusive for row in rows),
        cached_tokens=known_sum(row.cached_tokens for row in rows),
        cache_write_tokens=known_sum(row.cache_write_tokens for row in rows),
        skipped=sum(row.skipped for row in rows),
    )


def _renamed(row: ConfigEntry, name: str) -> ConfigEntry:
    return replace(row, name=name)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
