"""The runner's event-loop thread closes what it leaves suspended before the loop closes."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from pytest_chatexp._calls._runner import _LoopThread


@contextmanager
def unraisables() -> Iterator[list[Any]]:
    """What is reported as unraisable inside (a never-awaited ``aclose`` is)."""
    seen: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        yield seen
    finally:
        sys.unraisablehook = previous


def test_a_stream_given_up_on_is_closed_before_the_loop_closes() -> None:
    # An answer read in part (too large, or a stream ended early) can leave the HTTP stack's
    # async generators suspended; closing them is the loop's work, so it happens before close().
    closed: list[str] = []
    kept: list[AsyncIterator[int]] = []

    async def stream() -> AsyncIterator[int]:
        try:
            for chunk in range(10):
                yield chunk
        finally:
            closed.append("closed")

    async def read_one() -> int:
        chunks = stream()
        kept.append(chunks)  # still referenced when the loop stops, as httpcore's may be
        return await chunks.__anext__()

    thread = _LoopThread()
    assert thread.run(read_one()) == 0
    with unraisables() as seen:
        thread.stop()
        kept.clear()
        gc.collect()
    assert closed == ["closed"]
    assert seen == []


def test_stopping_a_loop_never_started_is_a_no_op() -> None:
    thread = _LoopThread()
    thread.stop()
    assert thread.run(_answer()) == 42  # and it starts afresh on the next use
    thread.stop()


async def _answer() -> int:
    return 42
