"""Checkpoints: a test's newly recorded answers written while its experiment still runs, so a
run killed part-way (SIGKILL, a CI job's timeout, Ctrl-C) keeps what it paid for, and the next
run with ``--chatexp-record=new`` replays it and sends only the rest.

Writing a recording is O(file): it is re-read, merged and rendered whole (``update``). Done
after every call, a first recording of N calls would cost O(N^2), on the event-loop thread. So
the writes run on a thread of their own, one at a time, each taking every answer recorded since
the one before, and the next one waits ``RATIO`` times as long as the last took (and at least
``MIN_INTERVAL_S``): the writer is busy at most 1/(1 + RATIO) of the time, and the total
rendering stays proportional to the experiment's length, whatever its size. The event loop
only appends to a list under a lock. A run killed between two writes loses the answers of
that interval alone (``MIN_INTERVAL_S`` seconds, or ``RATIO`` times the last write).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from .._recording import Interaction

__all__ = ["Checkpoints"]

MIN_INTERVAL_S = 2.0  # not Final: a test may shorten it
RATIO: Final = 4.0


class Checkpoints:
    """The background writer of one test's recording; ``close`` before its final write."""

    def __init__(self, write: Callable[[list[Interaction]], object]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[Interaction] = []
        self._thread: threading.Thread | None = None
        self._closing = False
        self._failed = False  # a write failed: the final write will say why, once
        self.writes = 0  # for tests: how many checkpoints were written

    def add(self, interaction: Interaction) -> None:
        """An answer was recorded (on the event loop: no file work here)."""
        with self._lock:
            if self._failed:
                return
            self._pending.append(interaction)
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(
                    target=self._run, name="pytest-chatexp-checkpoints", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def close(self) -> None:
        """Stop writing (a write in progress finishes first): the caller writes everything."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._closing = True
            self._pending.clear()
            self._wake.notify()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        due = time.monotonic() + MIN_INTERVAL_S
        while True:
            with self._lock:
                while not self._closing and (not self._pending or time.monotonic() < due):
                    self._wake.wait(None if not self._pending else max(0.0, due - time.monotonic()))
                if self._closing:
                    return
                batch, self._pending = self._pending, []
            started = time.monotonic()
            try:
                self._write(batch)
            except Exception:  # a secret, a full disk: the final write raises it for the test
                with self._lock:
                    self._failed = True
                    self._pending.clear()
                return
            self.writes += 1
            finished = time.monotonic()
            due = finished + max(MIN_INTERVAL_S, RATIO * (finished - started))
