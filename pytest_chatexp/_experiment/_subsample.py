"""Deterministic subsampling of an experiment's inputs: ``n`` rows, a seed, optionally stratified.

The same rows are chosen on every machine, Python version and run: each row is ranked by the
SHA-256 of the seed and its id (never ``hash()``, which is salted per process, nor ``random``'s
global state), and the stratified quotas are computed in integers. Ranking by id rather than by
position keeps a row's chance of being chosen independent of the rows around it: adding a row
to a dataset changes at most one of an unstratified sample's rows.

Stratified, ``n`` is shared out in proportion to each stratum's size with largest-remainder
rounding (every stratum gets the floor of its exact share, then the strata with the largest
remainders one more each, ties broken by a hash of the seed and the stratum), so each stratum's
count is within one of its exact share and the counts add up to ``n``. Within a stratum the
rows are ranked as above. The chosen rows keep the dataset's order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from .._errors import InvalidExperimentError
from ._inputs import Input

__all__ = ["Subsample", "stratum_of", "subsample"]

_DOMAIN: Final = "pytest-chatexp subsample"
_PARTS: Final = ("inputs", "metadata")


@dataclass(frozen=True, slots=True)
class Subsample:
    """How to subsample: at most ``n`` rows, chosen by ``seed``, in proportion to the values of
    ``stratify`` (a field of each row's metadata or variables) when given."""

    n: int
    seed: int = 0
    stratify: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise InvalidExperimentError(
                f"subsample={self.n!r}: the number of inputs to keep must be an integer >= 1"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidExperimentError(f"subsample_seed={self.seed!r} must be an integer")
        if self.stratify is not None and (not isinstance(self.stratify, str) or not self.stratify):
            raise InvalidExperimentError(
                f"stratify={self.stratify!r} must name a field of the inputs (e.g. 'language', "
                "or 'metadata.language')"
            )

    def apply(self, inputs: Sequence[Input]) -> list[Input]:
        return subsample(inputs, self.n, seed=self.seed, stratify=self.stratify)


def _rank(seed: int, *parts: str) -> bytes:
    """A row's (or stratum's) place in the order ``seed`` gives: the same everywhere."""
    text = "\0".join((_DOMAIN, str(seed), *parts))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def stratum_of(row: Input, field: str) -> str:
    """The stratum of ``row``: the value of ``field`` in its metadata, else in its variables
    (``metadata.x`` or ``inputs.x`` chooses), as canonical JSON text."""
    part, _, name = field.partition(".")
    places: tuple[str, ...] = (part,) if part in _PARTS and name else _PARTS[::-1]
    key = name if part in _PARTS and name else field
    for place in places:
        values: dict[str, Any] = getattr(row, place)
        if key in values:
            return json.dumps(values[key], sort_keys=True, ensure_ascii=False, default=str)
    fields = sorted({*row.metadata, *row.inputs})
    raise InvalidExperimentError(
        f"stratify='{field}': input '{row.id}' has no field '{key}' in "
        f"{' or '.join(places)} (its fields: {', '.join(fields) or 'none'})"
    )


def quotas(sizes: dict[str, int], n: int, seed: int) -> dict[str, int]:
    """``n`` shared out in proportion to ``sizes``, by largest remainder (``n`` <= their sum)."""
    total = sum(sizes.values())
    shares = {key: divmod(n * size, total) for key, size in sizes.items()}
    given = {key: whole for key, (whole, _) in shares.items()}
    left = n - sum(given.values())
    # The largest remainders first; equal ones by a hash of the seed and the stratum.
    order = sorted(sizes, key=lambda key: (-shares[key][1], _rank(seed, "stratum", key)))
    for key in order[:left]:
        given[key] += 1
    return given


def subsample(
    inputs: Sequence[Input], n: int, *, seed: int = 0, stratify: str | None = None
) -> list[Input]:
    """At most ``n`` of ``inputs`` (each with its id), in their order; all of them when there
    are no more than ``n``. Every row must hold the ``stratify`` field, when one is given."""
    Subsample(n, seed, stratify)  # checks the arguments
    rows = list(inputs)
    strata = [stratum_of(row, stratify) for row in rows] if stratify is not None else None
    if n >= len(rows):
        return rows
    ranks = [_rank(seed, "row", str(row.id)) for row in rows]
    if strata is None:
        chosen = set(sorted(range(len(rows)), key=ranks.__getitem__)[:n])
    else:
        members: dict[str, list[int]] = {}
        for position, stratum in enumerate(strata):
            members.setdefault(stratum, []).append(position)
        counts = quotas({key: len(group) for key, group in members.items()}, n, seed)
        chosen = {
            position
            for key, group in members.items()
            for position in sorted(group, key=ranks.__getitem__)[: counts[key]]
        }
    return [row for position, row in enumerate(rows) if position in chosen]
