"""The adaptive rounds (``_session/_adaptive.py``) without a provider: each round's spec is
answered with made-up replies, so the plan of rounds can be read off exactly."""

from __future__ import annotations

from pytest_chatexp import checks as c
from pytest_chatexp._calls._loop import SampleRun
from pytest_chatexp._experiment._config import ModelConfig
from pytest_chatexp._experiment._inputs import Input
from pytest_chatexp._experiment._result import ExperimentResult, assemble
from pytest_chatexp._experiment._spec import ExperimentSpec, SampleRange
from pytest_chatexp._session._adaptive import drive, rounds
from tests.unit._runs import drive as answer
from tests.unit._runs import reply

CONFIG = ModelConfig(name="bot", model="m", chat_template=[{"role": "user", "content": "{{q}}"}])
SPEC = ExperimentSpec(
    name="t",
    model_configs=(CONFIG,),
    inputs=tuple(Input(id=name, inputs={"q": name}) for name in ("good", "bad", "edge")),
    num_samples=10,
    adaptive=SampleRange(3, 10, 0.5, 0.9, (c.contains("OK"),)),
)


def _passes(case: str, index: int) -> bool:
    if case == "good":
        return True
    if case == "bad":
        return False
    return index % 2 == 0  # the edge case: exactly at the bar, never settled


def _run(spec: ExperimentSpec, planned: list[tuple[int, int, list[str]]]) -> ExperimentResult:
    """Answer every call of ``spec``, noting (first sample, samples, cases) of the round."""
    samples = []
    for call in spec.calls:
        run = SampleRun(call)
        answer(run, reply("OK" if _passes(str(call.input.id), call.sample_index) else "no"))
        samples.append(run.sample())
    cases = sorted({str(call.input.id) for call in spec.calls})
    planned.append((spec.first_sample, spec.num_samples, cases))
    return assemble(spec, samples, 0.0)


def test_rounds_plan_the_samples_the_nearest_undecided_case_needs_until_none_is_left() -> None:
    planned: list[tuple[int, int, list[str]]] = []
    result, failures = drive(rounds(SPEC), lambda part: _run(part, planned))
    # At a bar of 50% and 90% confidence, 3 of 3 settles nothing (0.5^3 > 10%), 4 of 4
    # settles a PASS and 0 of 4 a FAIL (0.5^4 < 10%).
    assert planned[:2] == [(0, 3, ["bad", "edge", "good"]), (3, 1, ["bad", "edge", "good"])]
    # The edge case alternates. At 2 of 4 no stop is possible before sample 7, so 3 are drawn
    # at once; after 9 samples, 5 passed, so 50% at 10 is certain (curtailed).
    assert planned[2:] == [(4, 3, ["edge"]), (7, 1, ["edge"]), (8, 1, ["edge"])]
    sampling = {s.input: (s.drawn, s.settled, s.ok) for s in result.sampling}
    assert sampling == {"good": (4, True, True), "bad": (4, True, False), "edge": (9, False, True)}
    # Cases in plan order, each with its samples in index order.
    assert [case.input.id for case in result] == ["good", "bad", "edge"]
    assert [s.index for s in result.case(input="edge").samples] == list(range(9))
    assert failures is not None and failures.startswith("1 of 3 cases fail [contains('OK')]")
    assert "bot/bad  0/4 passed (0%; 4 of at most 10 samples drawn, settled" in failures


def test_no_failure_table_when_every_case_passes() -> None:
    spec = ExperimentSpec(
        name="t",
        model_configs=(CONFIG,),
        inputs=(Input(id="good", inputs={"q": "good"}),),
        num_samples=10,
        adaptive=SampleRange(3, 10, 0.5, 0.9, (c.contains("OK"),)),
    )
    result, failures = drive(rounds(spec), lambda part: _run(part, []))
    assert failures is None
    assert [len(case.samples) for case in result] == [4]
