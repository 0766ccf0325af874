"""``--chatexp-shard I/N``: one job of a CI matrix runs a fixed part of the chatexp tests.

A chatexp test's shard is the SHA-256 of its node id, modulo N. It depends on nothing but the
id: not on the other tests, the order of collection, ``-k`` or ``-m``, the worker an xdist
run gives it, or the size of its experiment (known for a ``chatexp_config`` fixture's only at
setup), so every job of a matrix agrees without talking to the others, adding a test moves no
other test, and a failing test's shard is the same when it is re-run alone. Balancing by the
calls each test plans would even out the jobs better, but every test added or grown would
reshuffle the others between jobs. Tests without chatexp run in shard 1 only: the N jobs
together run every test exactly once, as one unsharded run does.

Stdlib only: it is imported at collection of any run given the option.
"""

from __future__ import annotations

import hashlib

import pytest

__all__ = ["select_shard", "shard_of"]


def shard_of(node_id: str, count: int) -> int:
    """The 1-based shard of ``count`` that runs the test ``node_id``."""
    digest = hashlib.sha256(node_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_shard(config: pytest.Config, items: list[pytest.Item], shard: tuple[int, int]) -> None:
    """Deselect the tests of the other shards (pytest counts them as deselected)."""
    index, count = shard
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if item.get_closest_marker("chatexp") is not None:
            mine = shard_of(item.nodeid, count) == index
        else:
            mine = index == 1
        (kept if mine else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
