"""Checks graded by a model: ``judge`` (a rubric, PASS/FAIL) and ``similar_to`` (a score).

A grader is an ordinary ``ModelConfig`` (provider, model, base URL, temperature...). The check
replaces its chat template with a fixed grading prompt and, before any sample is checked, grades
every sample in ONE experiment run through the running test (``active_test().run``): the calls
go concurrently through the session's runner and into the test's own recording, so in CI the
grader's answers replay like the model's and a judged check gives the same verdict offline.
Samples that would make the same grading request (same conversation, same response) are graded
once and share the verdict. Votes (``votes=``, ``graders=``, ``confirm_on_fail=``,
``agreement=``) are further samples of the same grading requests: ``_votes.py``; calibration
against labelled examples: ``_calibration.py``.
Changing the rubric, the reference or the grader changes the grading requests, so under record
mode ``none`` the replay misses and says so, naming the grader config (``judge:<grader>``).

The grading prompts (``{{...}}`` are filled per sample; values are inserted verbatim):

``judge`` -- system::

    You are a strict grader of a chat model's responses. You are given a rubric, the
    conversation the model was given, and the model's response. Decide only whether the
    response satisfies every requirement of the rubric. Do not reward effort, politeness or
    length the rubric does not ask for; if the response does not clearly satisfy the rubric,
    it fails.
    Answer with exactly two lines:
    line 1: PASS or FAIL, and nothing else
    line 2: a one-line reason

user::

    Rubric:
    {{rubric}}

    Conversation:
    {{conversation}}

    Response:
    {{response}}

    Does the response satisfy the rubric? Line 1: PASS or FAIL. Line 2: the reason.

``similar_to`` -- system::

    You are a strict grader of semantic similarity. Compare a chat model's response with a
    reference answer and score how closely the response conveys the same meaning: 1 means the
    same meaning (wording may differ), 0 means unrelated or contradictory. Ignore style and
    length; lower the score for missing, extra or contradicting facts.
    Answer with a JSON object only: {"score": <a number from 0 to 1>}

user::

    Reference answer:
    {{reference}}

    Response:
    {{response}}

The conversation is the sample's non-system messages as sent (``user: ...`` lines, with any
assistant or tool turns), or its input variables as JSON when it has none; the response is the
sample's text output, or its tool calls (``name(arguments)``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from .._experiment._config import ModelConfig
from .._experiment._result import Sample
from ._votes import GradedCheck, Grading, Reading, graded_check, grading_configs, make_panel

__all__ = [
    "JUDGE_SYSTEM_PROMPT",
    "JUDGE_USER_PROMPT",
    "SIMILARITY_SYSTEM_PROMPT",
    "SIMILARITY_USER_PROMPT",
    "judge",
    "similar_to",
]

JUDGE_SYSTEM_PROMPT = """\
You are a strict grader of a chat model's responses. You are given a rubric, the conversation \
the model was given, and the model's response. Decide only whether the response satisfies every \
requirement of the rubric. Do not reward effort, politeness or length the rubric does not ask \
for; if the response does not clearly satisfy the rubric, it fails.
Answer with exactly two lines:
line 1: PASS or FAIL, and nothing else
line 2: a one-line reason"""

JUDGE_USER_PROMPT = """\
Rubric:
{{rubric}}

Conversation:
{{conversation}}

Response:
{{response}}

Does the response satisfy the rubric? Line 1: PASS or FAIL. Line 2: the reason."""

SIMILARITY_SYSTEM_PROMPT = """\
You are a strict grader of semantic similarity. Compare a chat model's response with a \
reference answer and score how closely the response conveys the same meaning: 1 means the same \
meaning (wording may differ), 0 means unrelated or contradictory. Ignore style and length; \
lower the score for missing, extra or contradicting facts.
Answer with a JSON object only: {"score": <a number from 0 to 1>}"""

SIMILARITY_USER_PROMPT = """\
Reference answer:
{{reference}}

Response:
{{response}}"""

_NAME_EXCERPT = 40
_ANSWER_EXCERPT = 60
# A verdict may be wrapped in markdown or quotes: "**PASS**", "# FAIL", "`pass`", "> PASS:".
_VERDICT = re.compile(r"[\s*_#>`\"'~-]*(PASS|FAIL)(?:ED)?(?![A-Za-z0-9])", re.IGNORECASE)
_REASON_TRIM = " \t*_`\"'~:.-–—"  # noqa: RUF001  (dashes a model writes after a verdict)
_FENCE = re.compile(r"\A```[A-Za-z]*\s*(.*?)\s*```\Z", re.DOTALL)


def judge(
    rubric: str,
    *,
    grader: ModelConfig | None = None,
    graders: Sequence[ModelConfig] | None = None,
    votes: int = 1,
    confirm_on_fail: bool = False,
    agreement: float | None = None,
) -> GradedCheck:
    """A check graded by a model against ``rubric``: the sample passes when it answers PASS.

    ``grader`` supplies provider, model, base URL and sampling parameters; its chat template,
    tools and response format are replaced by the grading prompt (module docstring), and it is
    named ``judge:<grader name>`` in recordings and errors. Every sample is graded in one
    concurrent experiment of the running test, recorded and replayed like the test's own calls.
    A FAIL reads ``judged FAIL: <the grader's reason>``; an answer that does not start with
    PASS or FAIL fails the sample with ``the grader's answer could not be read: '...'``.

    Robust judging (``_votes.py``): ``votes=3`` asks each grader three times (samples 0..2 of the
    grading request) and the sample passes on a majority of PASS votes; ``graders=[A, B, C]``
    instead of ``grader=`` asks several; ``agreement=0.8`` requires that share of the votes to
    agree (else the sample fails, the graders disagreeing); ``confirm_on_fail=True`` casts the
    extra votes only when the first grader's first vote fails, so a passing sample costs one
    call. A failure lists every vote and its reason; ``check.votes(sample)`` returns them.

    Example: ``assert_samples(chatexp, judge("Apologises for the delay", grader=GPT), min_pass_rate=0.8)``
    """  # noqa: E501
    __tracebackhide__ = True
    if not isinstance(rubric, str) or not rubric.strip():
        raise ValueError("judge() needs a non-empty rubric")
    configs, names = grading_configs(
        "judge",
        grader,
        graders,
        lambda one: _grader_config(
            one,
            prefix="judge",
            system=JUDGE_SYSTEM_PROMPT,
            user=JUDGE_USER_PROMPT,
            response_format=None,
        ),
    )
    panel = make_panel("judge", configs, names, votes, confirm_on_fail, agreement)
    name = f"judge({_short(rubric)})"

    def texts(conversation: str, response: str) -> dict[str, str]:
        return {"rubric": rubric.strip(), "conversation": conversation, "response": response}

    return graded_check(Grading(name, panel, texts, _read_vote, _shown))


def similar_to(
    reference: str,
    *,
    grader: ModelConfig | None = None,
    graders: Sequence[ModelConfig] | None = None,
    min_score: float = 0.8,
    votes: int = 1,
    confirm_on_fail: bool = False,
    agreement: float | None = None,
) -> GradedCheck:
    """A check that a model scores the sample's meaning at least ``min_score`` (0..1) like
    ``reference``.

    The grader (named ``similar_to:<grader name>``) is asked for ``{"score": <0..1>}`` with
    ``response_format={"type": "json_object"}``; a lower score fails the sample with
    ``similarity 0.42 < 0.8``, and an answer that is not such an object fails it with the
    answer's excerpt. Graded in one recorded experiment, like ``judge``, and with the same
    ``graders``, ``votes``, ``confirm_on_fail`` and ``agreement`` (a vote passes on a score
    of at least ``min_score``).

    Example: ``assert_samples(chatexp, similar_to("Open 9 to 5, Monday to Friday", grader=GPT))``
    """
    __tracebackhide__ = True
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError("similar_to() needs a non-empty reference")
    if isinstance(min_score, bool) or not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be between 0 and 1, got {min_score!r}")
    configs, names = grading_configs(
        "similar_to",
        grader,
        graders,
        lambda one: _grader_config(
            one,
            prefix="similar_to",
            system=SIMILARITY_SYSTEM_PROMPT,
            user=SIMILARITY_USER_PROMPT,
            response_format={"type": "json_object"},
        ),
    )
    panel = make_panel("similar_to", configs, names, votes, confirm_on_fail, agreement)
    name = f"similar_to({_short(reference)})"

    def texts(conversation: str, response: str) -> dict[str, str]:
        return {"reference": reference.strip(), "response": response}

    def read(answer: str) -> Reading:
        score = _read_score(answer)
        if isinstance(score, str):
            return Reading(passed=False, reason=score, failure=score)
        if score >= min_score:
            return Reading(passed=True, reason=f"similarity {score!r}", failure=None)
        failure = f"similarity {score!r} < {min_score!r}"
        return Reading(passed=False, reason=failure, failure=failure)

    return graded_check(Grading(name, panel, texts, read, _shown))


def _grader_config(
    grader: ModelConfig,
    *,
    prefix: str,
    system: str,
    user: str,
    response_format: dict[str, Any] | None,
) -> ModelConfig:
    return grader.variant(
        name=f"{prefix}:{grader.display_name}",
        chat_template=[
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
        response_format=response_format,
        tools=(),
        tool_choice=None,
    )


# --- what the grader is shown ------------------------------------------------------------------


def _shown(sample: Sample) -> tuple[str, str]:
    return _conversation(sample), _response(sample)


def _conversation(sample: Sample) -> str:
    turns = [
        f"{message.role}: {_message_text(message.text, message.tool_calls)}"
        for message in sample.messages
        if message.role != "system"
    ]
    if turns:
        return "\n".join(turns)
    return "inputs: " + json.dumps(
        sample.input.inputs, ensure_ascii=False, sort_keys=True, default=str
    )


def _message_text(text: str, tool_calls: Sequence[Any] | None) -> str:
    calls = [f"{call.function.name}({call.function.arguments or ''})" for call in tool_calls or ()]
    return "\n".join([text, *calls]) if text and calls else text or "\n".join(calls)


def _response(sample: Sample) -> str:
    if sample.output:
        return sample.output
    if sample.tool_calls:
        return "tool calls:\n" + "\n".join(
            f"{call.function.name}({call.function.arguments or ''})" for call in sample.tool_calls
        )
    return "(an empty response)"


# --- reading the grader's answers --------------------------------------------------------------


def _read_verdict(answer: str) -> str | None:
    """None for PASS; ``judged FAIL: <reason>``; or why the answer could not be read."""
    return _read_vote(answer).failure


def _read_vote(answer: str) -> Reading:
    """The verdict in a judge's answer, with the grader's reason (for a PASS too)."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    match = _VERDICT.match(lines[0]) if lines else None
    if match is None:
        unread = f"the grader's answer could not be read: {_excerpt(answer)}"
        return Reading(passed=False, reason=unread, failure=unread)
    reason = _trim(lines[0][match.end() :])
    if not reason and len(lines) > 1:
        reason = _trim(lines[1])
        if reason.lower().startswith("reason:"):
            reason = reason[len("reason:") :].strip()
    reason = reason or "(no reason given)"
    if match.group(1).upper() == "PASS":
        return Reading(passed=True, reason=reason, failure=None)
    return Reading(passed=False, reason=reason, failure=f"judged FAIL: {reason}")


def _trim(reason: str) -> str:
    """A reason without the punctuation and markdown around it (a final period stays)."""
    return reason.lstrip(_REASON_TRIM).rstrip(" \t*_`\"'~")


def _read_score(answer: str) -> float | str:
    """The score in ``{"score": <0..1>}``, or why the answer could not be read."""
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    unreadable = (
        f'the grader\'s answer could not be read as {{"score": <0..1>}}: {_excerpt(answer)}'
    )
    try:
        data = json.loads(text)
    except ValueError:
        return unreadable
    score = data.get("score") if isinstance(data, dict) else None
    if isinstance(score, str):
        try:
            score = float(score.strip())
        except ValueError:
            return unreadable
    if isinstance(score, bool) or not isinstance(score, int | float):
        return unreadable
    score = float(score)
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        return f"the grader's score {score!r} is not between 0 and 1: {_excerpt(answer)}"
    return score


def _excerpt(text: str, limit: int = _ANSWER_EXCERPT) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _short(text: str) -> str:
    return _excerpt(text, _NAME_EXCERPT)
