"""Shared experiments in the reports: each member test has a record of the one run (its
``shared`` names it), and every total counts it once. Stdlib only: the xdist controller loads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._records import ExperimentRecord

__all__ = ["counted_once"]


def counted_once(records: Iterable[ExperimentRecord]) -> list[ExperimentRecord]:
    """The records whose numbers totals add up: all, but one per shared experiment. Of its
    members' records, the one with the most live calls: under xdist, the worker that ran it
    live, where the others replayed what it recorded."""
    counted: list[ExperimentRecord] = []
    shared: dict[str, ExperimentRecord] = {}
    for record in records:
        name = record.get("shared")
        if name is None:
            counted.append(record)
        elif name not in shared or _live(record) > _live(shared[name]):
            shared[name] = record
    return counted + [shared[name] for name in sorted(shared)]


def _live(record: ExperimentRecord) -> int:
    return sum(int(row["live"]) for row in record["configs"])
