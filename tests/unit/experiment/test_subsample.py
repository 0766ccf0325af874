"""Deterministic subsampling: the same rows on every machine and run, proportional strata.

The hard-coded selections below are the point: they were computed once and must never change,
whatever the machine, the Python version or the process's hash seed, since CI shards and
developers' quick runs must agree on which rows a subsample holds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_chatexp import Input, InvalidExperimentError
from pytest_chatexp._experiment._subsample import quotas, subsample

LANGS = ["en", "fr", "de"]
ROWS = [
    Input(
        id=f"row-{i:02d}",
        inputs={"q": str(i)},
        metadata={"lang": LANGS[i % 3] if i < 15 else "en"},
    )
    for i in range(20)
]


def ids(rows: list[Input]) -> list[str | None]:
    return [row.id for row in rows]


def test_known_selections_never_change() -> None:
    assert ids(subsample(ROWS, 5, seed=7)) == ["row-00", "row-04", "row-11", "row-15", "row-18"]
    assert ids(subsample(ROWS, 5)) == ["row-04", "row-09", "row-13", "row-16", "row-18"]
    # en 10 rows, fr 5, de 5; 7 rows: exact shares 3.5, 1.75, 1.75 -> 3, 2, 2.
    assert ids(subsample(ROWS, 7, seed=7, stratify="lang")) == [
        "row-00",
        "row-04",
        "row-07",
        "row-11",
        "row-14",
        "row-15",
        "row-18",
    ]


def test_the_same_in_another_process_whatever_its_hash_seed() -> None:
    code = (
        "from tests.unit.experiment.test_subsample import ROWS, ids, subsample;"
        "print(ids(subsample(ROWS, 6, seed=3, stratify='metadata.lang')))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[3],  # the repository, where ``tests`` is a package
        ).stdout
        for seed in ("1", "2", "random")
    }
    assert outputs == {str(ids(subsample(ROWS, 6, seed=3, stratify="lang"))) + "\n"}


def test_rows_keep_their_order_and_all_are_kept_when_n_is_large() -> None:
    chosen = subsample(ROWS, 12, seed=1)
    assert ids(chosen) == sorted(ids(chosen))  # type: ignore[type-var]
    assert subsample(ROWS, 20) == ROWS and subsample(ROWS, 500, stratify="lang") == ROWS


def test_a_row_is_chosen_by_its_id_not_its_position() -> None:
    # Rows ranked by a hash of their id: reversing the dataset chooses the same rows.
    assert set(ids(subsample(ROWS[::-1], 8, seed=5))) == set(ids(subsample(ROWS, 8, seed=5)))
    # One row added changes at most one row of an unstratified sample.
    more = [*ROWS, Input(id="row-new", inputs={"q": "x"}, metadata={"lang": "fr"})]
    before, after = set(ids(subsample(ROWS, 8, seed=5))), set(ids(subsample(more, 8, seed=5)))
    assert len(before - after) <= 1


def test_seeds_choose_differently() -> None:
    samples = {tuple(ids(subsample(ROWS, 5, seed=seed))) for seed in range(10)}
    assert len(samples) >= 8


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n": 0}, "subsample=0: the number of inputs to keep must be an integer >= 1"),
        ({"n": -3}, "subsample=-3"),
        ({"n": True}, "subsample=True"),
        ({"n": 3, "seed": "x"}, "subsample_seed='x' must be an integer"),
        (
            {"n": 3, "stratify": "topic"},
            "stratify='topic': input 'row-00' has no field 'topic' in metadata or inputs "
            "(its fields: lang, q)",
        ),
        (
            {"n": 3, "stratify": "inputs.lang"},
            "stratify='inputs.lang': input 'row-00' has no field 'lang' in inputs",
        ),
    ],
)
def test_bad_arguments_name_the_field(arguments: dict, message: str) -> None:
    n = arguments.pop("n")
    with pytest.raises(InvalidExperimentError, match="^" + re.escape(message)):
        subsample(ROWS, n, **arguments)


def test_a_stratum_may_be_a_variable_and_any_json_value() -> None:
    rows = [Input(id=f"r{i}", inputs={"level": i % 2, "q": "x"}) for i in range(10)]
    chosen = subsample(rows, 4, seed=2, stratify="level")
    assert Counter(row.inputs["level"] for row in chosen) == {0: 2, 1: 2}


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8),
    data=st.data(),
    seed=st.integers(min_value=0, max_value=2**40),
)
def test_stratified_quotas_are_proportional(
    sizes: list[int], data: st.DataObject, seed: int
) -> None:
    total = sum(sizes)
    n = data.draw(st.integers(min_value=1, max_value=total))
    rows = [
        Input(id=f"s{stratum}-{k}", inputs={"q": "x"}, metadata={"group": f"g{stratum}"})
        for stratum, size in enumerate(sizes)
        for k in range(size)
    ]
    chosen = subsample(rows, n, seed=seed, stratify="group")
    assert len(chosen) == n
    counts = Counter(row.metadata["group"] for row in chosen)
    for stratum, size in enumerate(sizes):
        exact = Fraction(n * size, total)
        got = counts.get(f"g{stratum}", 0)
        assert exact - 1 < got < exact + 1 and got <= size
    # Largest remainders: a stratum rounded up never has a smaller remainder than one rounded
    # down.
    given_quotas = quotas({f"g{i}": size for i, size in enumerate(sizes)}, n, seed)
    up = [
        Fraction(n * s, total) % 1
        for i, s in enumerate(sizes)
        if given_quotas[f"g{i}"] * total > n * s
    ]
    down = [
        Fraction(n * s, total) % 1
        for i, s in enumerate(sizes)
        if given_quotas[f"g{i}"] * total < n * s
    ]
    assert not up or not down or min(up) >= max(down)
