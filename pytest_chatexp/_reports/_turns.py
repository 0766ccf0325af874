"""A sample's turns as the snapshot and the JSON report show them: each model call, with the
user messages it answers that no turn of the sample wrote.

Only a sample of a tool loop or a conversation has turns to show (``shows_turns``): a single
call is its output, as it always was. The user messages come from the sample's transcript (the
conversation as the model under test saw it): before the first model call, the prompt's closing
user messages (what the conversation starts from); before a later one, a scripted turn. A
message the simulated user wrote is its own turn's output, so it is not told twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._experiment._humanloop import ChatMessage
from .._experiment._result import Sample, Turn

__all__ = ["TurnView", "shows_turns", "turn_views"]


@dataclass(frozen=True, slots=True)
class TurnView:
    """One model call of a sample, in order: ``number`` counts from 1 over every turn, a
    simulated user's included; ``final`` marks the last call of the model under test, whose
    answer is the sample's."""

    number: int
    turn: Turn
    user: tuple[str, ...]
    final: bool


def shows_turns(sample: Sample) -> bool:
    """Whether ``sample`` is more than its answer: more than one call, or tools run."""
    return len(sample.turns) > 1 or any(turn.tool_results for turn in sample.turns)


def turn_views(sample: Sample) -> list[TurnView]:
    transcript = sample.transcript
    last_model = max(
        (place for place, turn in enumerate(sample.turns) if turn.speaker == "assistant"),
        default=-1,
    )
    views: list[TurnView] = []
    read: int | None = None  # where the last model answer found ends; None: none found yet
    previous: Turn | None = None
    for place, turn in enumerate(sample.turns):
        user: tuple[str, ...] = ()
        found = _find(transcript, turn.message, read or 0) if turn.speaker == "assistant" else None
        if found is not None:
            start = _prompt_close(transcript, found) if read is None else read
            said = [message.text for message in transcript[start:found] if message.role == "user"]
            if previous is not None and previous.speaker == "user" and said:
                said.pop()  # the simulated user's message: its turn shows it
            user, read = tuple(said), found + 1
        views.append(TurnView(place + 1, turn, user, final=place == last_model))
        previous = turn
    return views


def _find(messages: Sequence[ChatMessage], message: ChatMessage, start: int) -> int | None:
    """Where the model's answer ``message`` is in the transcript, from ``start``: the very
    object the loop appended, else the first equal one."""
    for position in range(start, len(messages)):
        if messages[position] is message:
            return position
    for position in range(start, len(messages)):
        if messages[position] == message:
            return position
    return None


def _prompt_close(messages: Sequence[ChatMessage], end: int) -> int:
    """Where the run of user messages that closes the prompt (before ``end``) starts."""
    start = end
    while start > 0 and messages[start - 1].role == "user":
        start -= 1
    return start
