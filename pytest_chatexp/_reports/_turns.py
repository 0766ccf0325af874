"""A sample's turns as the snapshot and the JSON report show them: each model call, with the
user messages it answers that no turn of the sample wrote.

Only a sample of a tool loop or a conversation has turns to show (``shows_turns``): a single
call is its output, as it always was. Each turn carries the user messages it read first (the
prompt's closing ones, then each scripted or simulated message); a message the simulated user
wrote is its own turn's output, so it is not told twice.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    last_model = max(
        (place for place, turn in enumerate(sample.turns) if turn.speaker == "assistant"),
        default=-1,
    )
    views: list[TurnView] = []
    previous: Turn | None = None
    for place, turn in enumerate(sample.turns):
        said = [message.text for message in turn.user_messages]
        if previous is not None and previous.speaker == "user" and said:
            said.pop()  # the simulated user's message: its own turn shows it
        views.append(TurnView(place + 1, turn, tuple(said), final=place == last_model))
        previous = turn
    return views
