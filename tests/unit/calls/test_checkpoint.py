"""Checkpoints: answers written in batches on a thread of their own, each answer once, in order,
and far fewer writes than answers (one per answer would make a big recording quadratic)."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_chatexp._calls import _checkpoint
from pytest_chatexp._calls._checkpoint import Checkpoints
from pytest_chatexp._recording import Call, Interaction, Label, RecordedRequest


def interaction(index: int) -> Interaction:
    call = Call(
        Label(config="c", input=f"i{index}", sample=0),
        RecordedRequest(provider="openai", endpoint="127.0.0.1/v1/chat", body={"n": index}),
    )
    return Interaction.record(call, body={"ok": index}, latency_s=0.0)


def test_batches_hold_each_answer_once_in_order_and_writes_are_few(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_checkpoint, "MIN_INTERVAL_S", 0.0)
    batches: list[list[Interaction]] = []
    written = threading.Event()

    def write(batch: list[Interaction]) -> None:
        # A write costs in proportion to the whole file so far, as re-rendering a recording does.
        time.sleep(0.0005 * (1 + sum(map(len, batches))) / 100)
        batches.append(batch)
        written.set()

    checkpoints = Checkpoints(write)
    added = [interaction(i) for i in range(2000)]
    for item in added:
        checkpoints.add(item)
    assert written.wait(10)
    time.sleep(0.2)
    checkpoints.close()
    flat = [item for batch in batches for item in batch]
    assert flat == added[: len(flat)]  # each once, in order: the final write holds the rest
    assert checkpoints.writes == len(batches) < 100


def test_a_failed_write_stops_the_checkpoints_and_close_still_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_checkpoint, "MIN_INTERVAL_S", 0.0)
    calls: list[int] = []

    def write(batch: list[Interaction]) -> None:
        calls.append(len(batch))
        raise OSError("disk full")

    checkpoints = Checkpoints(write)
    checkpoints.add(interaction(0))
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    for index in range(1, 50):
        checkpoints.add(interaction(index))
    time.sleep(0.1)
    checkpoints.close()
    assert calls == [1]  # the final write says why, once
    assert checkpoints.writes == 0
