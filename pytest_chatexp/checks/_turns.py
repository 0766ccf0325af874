"""Checks on the turns of a tool loop or a conversation: how many, what the tools returned,
and any check applied to one turn, to each turn, to each reply or to the final answer only.

A sample of a loop is its whole run: output checks see the final answer, tool checks every
tool call of every turn. These narrow a check to a part of the run, e.g.
``each_reply(not_contains("I cannot"))`` on every answer of a conversation, or
``final_answer(no_tool_calls())``. A failing reason names the part: ``turn 2: ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .._experiment._result import Sample
from ._verdict import SampleCheck

__all__ = [
    "each_reply",
    "each_turn",
    "final_answer",
    "no_tool_errors",
    "reply",
    "tool_result",
    "turn_count",
]

_RESULT_SHOWN = 120


def turn_count(*, min: int | None = None, max: int | None = None) -> SampleCheck:
    """The model answered in at least ``min`` and at most ``max`` turns (model calls).

    Example: ``assert_samples(chatexp, turn_count(max=3))``
    """
    for name, value in (("min", min), ("max", max)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"turn_count(): {name} must be an int of at least 1, got {value!r}")
    if min is None and max is None:
        raise TypeError("turn_count() needs min=, max= or both")

    def check(sample: Sample) -> str | None:
        count = len(sample.model_turns)
        if (min is not None and count < min) or (max is not None and count > max):
            return f"{count} turn{'s' * (count != 1)}{_ended(sample)}"
        return None

    bounds = ", ".join(f"{k}={v}" for k, v in (("min", min), ("max", max)) if v is not None)
    return SampleCheck(f"turn_count({bounds})", check)


def tool_result(name: str, expected: str | Callable[[str], bool] | None = None) -> SampleCheck:
    """The tool ``name`` ran and some result of it was not an error and contains ``expected``
    (text) or satisfies it (a function of the result text).

    Example: ``assert_samples(chatexp, tool_result("lookup_order", '"status": "delivered"'))``
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"tool_result(): the tool name is a non-empty string, got {name!r}")

    def matches(text: str) -> bool:
        if expected is None:
            return True
        return expected in text if isinstance(expected, str) else bool(expected(text))

    def check(sample: Sample) -> str | None:
        results = [result for result in sample.tool_results if result.name == name]
        if not results:
            ran = sorted({result.name for result in sample.tool_results})
            return f"{name} never ran (ran: {', '.join(ran) or 'no tool'})"
        if any(not result.error and matches(result.result) for result in results):
            return None
        shown = "; ".join(_clip(result.result) for result in results[:3])
        return f"{name} returned {shown}"

    shown = "" if expected is None else f", {expected!r}" if isinstance(expected, str) else ", …"
    return SampleCheck(f"tool_result({name!r}{shown})", check)


def no_tool_errors() -> SampleCheck:
    """No tool the plugin ran gave an error result (its handler raised, or the model sent
    invalid arguments or called a tool nobody declared).

    Example: ``assert_samples(chatexp, no_tool_errors())``
    """

    def check(sample: Sample) -> str | None:
        errors = [result for result in sample.tool_results if result.error]
        if not errors:
            return None
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{errors[0].name}: {_clip(errors[0].result)}{more}"

    return SampleCheck("no_tool_errors()", check)


def final_answer(*checks: SampleCheck) -> SampleCheck:
    """``checks`` on the model's last turn alone: its answer, its tool calls.

    Example: ``assert_samples(chatexp, final_answer(no_tool_calls(), contains("refund")))``
    """
    return _on_parts(
        "final_answer(", checks, lambda s: [("final answer", s.part(s.model_turns[-1:]))]
    )


def each_turn(*checks: SampleCheck) -> SampleCheck:
    """``checks`` on every model turn alone (a tool-calling turn included).

    Example: ``assert_samples(chatexp, each_turn(valid_tool_arguments()))``
    """
    return _on_parts(
        "each_turn(", checks, lambda s: [(f"turn {t.index}", s.part([t])) for t in s.model_turns]
    )


def each_reply(*checks: SampleCheck) -> SampleCheck:
    """``checks`` on the answer to every user message of a conversation (``Sample.replies``).

    Example: ``assert_samples(chatexp, each_reply(not_contains("As an AI")))``
    """
    return _on_parts(
        "each_reply(", checks, lambda s: [(f"reply {n}", part) for n, part in enumerate(s.replies)]
    )


def reply(n: int, *checks: SampleCheck) -> SampleCheck:
    """``checks`` on the answer to user message ``n`` (0 is the first; -1 the last).

    Example: ``assert_samples(chatexp, reply(1, called("issue_refund")))``
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"reply(): n must be an int, got {n!r}")

    def parts(sample: Sample) -> list[tuple[str, Sample | str]]:
        replies = sample.replies
        if not -len(replies) <= n < len(replies):
            return [(f"reply {n}", f"the conversation has {len(replies)} replies")]
        return [(f"reply {n % len(replies)}", replies[n])]

    return _on_parts(f"reply({n}, ", checks, parts)


def _on_parts(
    head: str,
    checks: Sequence[SampleCheck],
    parts_of: Callable[[Sample], Sequence[tuple[str, Sample | str]]],
) -> SampleCheck:
    """A check passing when every part of a sample passes every one of ``checks``; a part
    given as text is a failure already (a reply that does not exist). ``head`` starts its
    name: ``"each_turn("``."""
    function = head.split("(")[0]
    if not checks:
        raise TypeError(f"{function}() needs at least one check")
    for check in checks:
        if not isinstance(check, SampleCheck):
            raise TypeError(f"{function}(): expected checks, got {check!r}")
    name = head + ", ".join(check.name for check in checks) + ")"
    # Parts are made once per sample, so checks that grade in ``prepare`` (judges) find them.
    made: dict[int, tuple[Sample, Sequence[tuple[str, Sample | str]]]] = {}

    def parts(sample: Sample) -> Sequence[tuple[str, Sample | str]]:
        known = made.get(id(sample))
        if known is None or known[0] is not sample:
            known = made[id(sample)] = (sample, parts_of(sample))
        return known[1]

    def prepare(samples: Sequence[Sample]) -> None:
        views = [
            part for sample in samples for _, part in parts(sample) if isinstance(part, Sample)
        ]
        for check in checks:
            if check.prepare is not None:
                check.prepare(views)

    def on_parts(sample: Sample) -> str | None:
        for where, part in parts(sample):
            if isinstance(part, str):
                return part
            for inner in checks:
                reason = inner(part)
                if reason is not None:
                    return f"{where}: {inner.name}: {reason}"
        return None

    has_prepare = any(check.prepare is not None for check in checks)
    return SampleCheck(name, on_parts, prepare if has_prepare else None)


def _ended(sample: Sample) -> str:
    reason = sample.finish_reason
    return f" (finish_reason {reason!r})" if reason else ""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _RESULT_SHOWN else text[: _RESULT_SHOWN - 1] + "…")
