"""Checks graded by a model: ``judge`` (a rubric, PASS/FAIL) and ``similar_to`` (a score).

A grader is an ordinary ``ModelConfig`` (provider, model, base URL, temperature...). The check
replaces its chat template with a fixed grading prompt and, before any sample is checked, grades
every sample in ONE experiment run through the running test (``active_test().run``): the calls
go concurrently through the session's runner and into the test's own recording, so in CI the
grader's answers replay like the model's and a judged check gives the same verdict offline.
Samples that would make the same grading request (same conversation, same response) are graded
once and share the verdict.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._experiment._config import ModelConfig
from .._experiment._inputs import Input
from .._experiment._result import Sample
from .._experiment._spec import ExperimentSpec
from ._running import active_test
from ._verdict import SampleCheck

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

# What a grader makes of one grading answer: None when the sample passes, else the reason.
_Reading = Callable[[str], str | None]


def judge(rubric: str, *, grader: ModelConfig) -> SampleCheck:
    """A check graded by a model against ``rubric``: the sample passes when it answers PASS.

    ``grader`` supplies provider, model, base URL and sampling parameters; its chat template,
    tools and response format are replaced by the grading prompt (module docstring), and it is
    named ``judge:<grader name>`` in recordings and errors. Every sample is graded in one
    concurrent experiment of the running test, recorded and replayed like the test's own calls.
    A FAIL reads ``judged FAIL: <the grader's reason>``; an answer that does not start with
    PASS or FAIL fails the sample with ``the grader's answer could not be read: '...'``.

    Example: ``assert_samples(chatexp, judge("Apologises for the delay", grader=GPT), min_pass_rate=0.8)``
    """  # noqa: E501
    if not isinstance(rubric, str) or not rubric.strip():
        raise ValueError("judge() needs a non-empty rubric")
    config = _grader_config(
        grader,
        prefix="judge",
        system=JUDGE_SYSTEM_PROMPT,
        user=JUDGE_USER_PROMPT,
        response_format=None,
    )
    name = f"judge({_short(rubric)})"

    def variables(sample: Sample) -> dict[str, str]:
        return {
            "rubric": rubric.strip(),
            "conversation": _conversation(sample),
            "response": _response(sample),
        }

    grading = _Grading(name=name, config=config, variables=variables, read=_read_verdict)
    return SampleCheck(name, grading.check, grading.prepare)


def similar_to(reference: str, *, grader: ModelConfig, min_score: float = 0.8) -> SampleCheck:
    """A check that a model scores the sample's meaning at least ``min_score`` (0..1) like
    ``reference``.

    The grader (named ``similar_to:<grader name>``) is asked for ``{"score": <0..1>}`` with
    ``response_format={"type": "json_object"}``; a lower score fails the sample with
    ``similarity 0.42 < 0.8``, and an answer that is not such an object fails it with the
    answer's excerpt. Graded in one recorded experiment, like ``judge``.

    Example: ``assert_samples(chatexp, similar_to("Open 9 to 5, Monday to Friday", grader=GPT))``
    """
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError("similar_to() needs a non-empty reference")
    if isinstance(min_score, bool) or not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be between 0 and 1, got {min_score!r}")
    config = _grader_config(
        grader,
        prefix="similar_to",
        system=SIMILARITY_SYSTEM_PROMPT,
        user=SIMILARITY_USER_PROMPT,
        response_format={"type": "json_object"},
    )
    name = f"similar_to({_short(reference)})"

    def variables(sample: Sample) -> dict[str, str]:
        return {"reference": reference.strip(), "response": _response(sample)}

    def read(answer: str) -> str | None:
        score = _read_score(answer)
        if isinstance(score, str):
            return score
        return None if score >= min_score else f"similarity {score!r} < {min_score!r}"

    grading = _Grading(name=name, config=config, variables=variables, read=read)
    return SampleCheck(name, grading.check, grading.prepare)


# --- the grading experiment --------------------------------------------------------------------


@dataclass
class _Grading:
    """Grades samples in one experiment per ``prepare`` and remembers each sample's reason.

    Verdicts are kept for the running test only, keyed by sample identity (samples are not
    hashable); the samples themselves are kept alongside, so an id is never reused meanwhile.
    """

    name: str
    config: ModelConfig
    variables: Callable[[Sample], dict[str, str]]
    read: _Reading
    _test: object | None = None
    _reasons: dict[int, tuple[Sample, str | None]] | None = None

    def prepare(self, samples: Sequence[Sample]) -> None:
        test = active_test(f"{self.name.split('(', 1)[0]}()")
        if self._test is not test or self._reasons is None:
            self._test, self._reasons = test, {}
        reasons = self._reasons
        todo = list({id(s): s for s in samples if id(s) not in reasons}.values())
        if not todo:
            return
        # Samples with the same conversation and response (common at temperature 0) make the
        # same grading request: grade it once, so live and replayed runs give the same verdict
        # (identical requests share one recorded answer) and no call is paid for twice.
        groups: dict[str, tuple[dict[str, str], list[Sample]]] = {}
        for sample in todo:
            variables = self.variables(sample)
            key = json.dumps(variables, sort_keys=True)
            groups.setdefault(key, (variables, []))[1].append(sample)
        distinct = list(groups.values())
        ids = _unique_ids([members[0] for _, members in distinct])
        spec = ExperimentSpec(
            name=f"{test.node_id} {self.config.display_name}",
            model_configs=(self.config,),
            inputs=tuple(
                Input(id=case_id, inputs=variables)
                for case_id, (variables, _) in zip(ids, distinct, strict=True)
            ),
        )
        result = test.run(spec)  # a plugin error fails the test there, message only
        answers = {str(graded.input.id): graded for graded in result.samples}
        for case_id, (_, members) in zip(ids, distinct, strict=True):
            reason = self.read(_answer_text(answers[case_id]))
            for sample in members:
                reasons[id(sample)] = (sample, reason)

    def check(self, sample: Sample) -> str | None:
        known = self._reasons.get(id(sample)) if self._reasons is not None else None
        if known is None or known[0] is not sample:
            self.prepare([sample])  # checked without assert_samples: grade this one alone
            assert self._reasons is not None
            known = self._reasons[id(sample)]
        return known[1]


def _grader_config(
    grader: ModelConfig,
    *,
    prefix: str,
    system: str,
    user: str,
    response_format: dict[str, Any] | None,
) -> ModelConfig:
    if not isinstance(grader, ModelConfig):
        raise TypeError(f"{prefix}() needs grader=ModelConfig(...), got {type(grader).__name__}")
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


def _unique_ids(samples: Sequence[Sample]) -> list[str]:
    """``<config>/<input>#<index>`` per sample, whitespace-free, made unique with ``~2``..."""
    ids: list[str] = []
    seen: set[str] = set()
    for sample in samples:
        base = "_".join(f"{sample.config.display_name}/{sample.input.id}#{sample.index}".split())
        case_id, count = base, 1
        while case_id in seen:
            count += 1
            case_id = f"{base}~{count}"
        seen.add(case_id)
        ids.append(case_id)
    return ids


# --- what the grader is shown ------------------------------------------------------------------


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


def _answer_text(graded: Sample) -> str:
    return graded.output or ""


def _read_verdict(answer: str) -> str | None:
    """None for PASS; ``judged FAIL: <reason>``; or why the answer could not be read."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    match = _VERDICT.match(lines[0]) if lines else None
    if match is None:
        return f"the grader's answer could not be read: {_excerpt(answer)}"
    if match.group(1).upper() == "PASS":
        return None
    reason = _trim(lines[0][match.end() :])
    if not reason and len(lines) > 1:
        reason = _trim(lines[1])
        if reason.lower().startswith("reason:"):
            reason = reason[len("reason:") :].strip()
    return f"judged FAIL: {reason or '(no reason given)'}"


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
