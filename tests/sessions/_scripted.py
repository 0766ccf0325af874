"""Scripted answers for the reference server: per prompt marker, a list of replies in order.

Several calls with the same prompt (the samples of a case) get different answers, the i-th call
the i-th reply, so a test can make a case pass on some samples and fail on others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from pytest_chatexp.testing import ReferenceServer

__all__ = ["answers", "script"]


def script(server: ReferenceServer, replies: Mapping[str, Sequence[str]]) -> None:
    """Answer the calls whose last user message holds each key with its replies, in order."""
    lock = threading.Lock()
    queues = {key: list(values) for key, values in replies.items()}

    def reply_for(key: str) -> Callable[[object], str]:
        def reply(request: object) -> str:
            with lock:
                return queues[key].pop(0)

        return reply

    for key in replies:
        server.add_rule(reply_for(key), when=key)


def answers(bad: Sequence[int], total: int = 10) -> list[str]:
    """``total`` replies, "bad" at the places in ``bad`` and "ok" elsewhere."""
    return ["bad" if index in bad else "ok" for index in range(total)]
