"""What a session's live calls spent, as plain data: the budget ledger and per-config call counts.

Stdlib only: the terminal summary reads the ledger in the xdist controller, which never imports
the rest of the plugin. The runner notes each HTTP attempt here (``note_attempt``) so that retries
are counted as data, even for a call that finally fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Attempts",
    "CallTally",
    "ConfigTally",
    "Ledger",
    "LedgerState",
    "counting_attempts",
    "note_attempt",
]


@dataclass
class LedgerState:
    """The session's live spending: settled calls, reservations of calls in flight, refusals."""

    spent_tokens: int = 0
    spent_cost: float = 0.0
    reserved_tokens: int = 0
    reserved_cost: float = 0.0
    calls: int = 0  # live calls settled (answered or failed)
    unknown_usage: int = 0  # of those answered, how many reported no usage (settled at estimate)
    refused: int = 0  # calls the budget did not let out
    stopped: str | None = None  # why the budget stopped the session's live calls


class Ledger:
    """The ledger: in memory, or in a JSON file shared (under a lock) by xdist workers."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._state = LedgerState()
        self._lock = threading.Lock()

    def state(self) -> LedgerState:
        with self.locked() as state:
            return dataclasses.replace(state)

    @contextlib.contextmanager
    def locked(self) -> Iterator[LedgerState]:
        """The state, for reading and changing as one step: no other thread or worker sees it
        or changes it in between (what makes a reservation hold under concurrency)."""
        with self._lock:
            if self.path is None:
                yield self._state
                return
            import fcntl

            with self.path.open("a+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.seek(0)
                text = handle.read()
                state = LedgerState(**json.loads(text)) if text.strip() else LedgerState()
                yield state
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(dataclasses.asdict(state)))
                handle.flush()


@dataclass
class ConfigTally:
    """One model config's calls in one experiment run, counted as they happen."""

    replayed: int = 0  # answered from the recording
    live: int = 0  # sent to the provider (at least one HTTP attempt)
    failed: int = 0  # of the live calls, those that got no answer
    retries: int = 0  # HTTP attempts beyond each live call's first
    skipped: int = 0  # never sent: the endpoint's circuit breaker was open (not live)
    batched: int = 0  # of the live calls, those answered through a batch API
    # Each answered call's (prompt, generation) tokens, read only if a record needs them (the
    # experiment raised): parsing every answer twice would cost a large run real time.
    answers: list[Callable[[], tuple[int | None, int | None]]] = field(default_factory=list)

    def tokens(self) -> tuple[int | None, int | None]:
        """(prompt, generation) tokens of the answered calls; None where one is unknown."""
        prompt: int | None = 0
        generation: int | None = 0
        for answer in self.answers:
            more_prompt, more_generation = answer()
            prompt = None if prompt is None or more_prompt is None else prompt + more_prompt
            generation = (
                None
                if generation is None or more_generation is None
                else generation + more_generation
            )
        return prompt, generation


@dataclass
class CallTally:
    """Every call of one experiment run, by model config name; kept even when the run fails."""

    configs: dict[str, ConfigTally] = field(default_factory=dict)

    def of(self, config: str) -> ConfigTally:
        return self.configs.setdefault(config, ConfigTally())

    @property
    def calls(self) -> int:
        """Calls answered from recordings or sent to a provider."""
        return sum(tally.replayed + tally.live for tally in self.configs.values())

    @property
    def skipped(self) -> int:
        """Calls not sent because their endpoint was down (``_breaker``)."""
        return sum(tally.skipped for tally in self.configs.values())


@dataclass
class Attempts:
    """HTTP requests sent for one call (every sender notes each one: the runner, an app's
    recording transport); 0 when none went out."""

    count: int = 0


_ATTEMPTS: ContextVar[Attempts | None] = ContextVar("chatexp_attempts", default=None)


@contextlib.contextmanager
def counting_attempts() -> Iterator[Attempts]:
    """Count the HTTP attempts the runner makes for the call sent inside this block. A context
    variable, because each call is sent by its own task and the runner's retries happen deep
    inside it."""
    attempts = Attempts()
    token = _ATTEMPTS.set(attempts)
    try:
        yield attempts
    finally:
        _ATTEMPTS.reset(token)


def note_attempt() -> None:
    """One HTTP request for the current call is about to go out."""
    attempts = _ATTEMPTS.get()
    if attempts is not None:
        attempts.count += 1
