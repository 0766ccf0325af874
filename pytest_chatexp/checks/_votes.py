"""The grading experiments behind ``judge`` and ``similar_to``: who votes, how often, and how
the votes make a verdict.

A ``Panel`` is the graders (each a grading ``ModelConfig``), the votes each casts per sample, and
the rule: the majority of the votes, with ``agreement`` the share of them that must agree.
A vote is one sample of a grading experiment run through the running test (``test.run``): the
same runner, recording, budget and price table as the test's own calls, so every vote is
counted, priced, reserved against the caps, recorded, and replayed in CI. Vote ``i`` of a grader
is sample index ``i`` of its grading request, so with one grader and one vote the experiment
is exactly the one graders made before votes existed, and old recordings still replay.

``confirm_on_fail`` grades in two rounds: the first grader's vote 0 for every request, then
the remaining votes only for the requests that vote failed (``ExperimentSpec.only``, and
``first_sample`` for the first grader's later votes). A passing sample costs one call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._experiment._config import ModelConfig
from .._experiment._inputs import Input
from .._experiment._result import Sample
from .._experiment._spec import ExperimentSpec
from ._running import active_test
from ._verdict import SampleCheck

if TYPE_CHECKING:
    from ._running import RunningTest

__all__ = ["GradedCheck", "Grading", "Panel", "Reading", "Vote", "make_panel", "tally"]


@dataclass(frozen=True, slots=True)
class Reading:
    """What a grader's one answer says: whether the sample passes, the grader's reason (or why
    the answer could not be read), and the failure message a lone failing vote gives."""

    passed: bool
    reason: str
    failure: str | None  # None when ``passed``


@dataclass(frozen=True, slots=True)
class Vote:
    """One grader's answer on one sample: ``grader`` is the grader config's own name, ``index``
    the vote's sample index (the recording's ``sample``), ``reason`` the grader's reason."""

    grader: str
    index: int
    passed: bool
    reason: str
    failure: str | None = None  # what this vote alone would say; None when it passed

    def __str__(self) -> str:
        return f"{self.grader}#{self.index} {'PASS' if self.passed else 'FAIL'}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Panel:
    """Who grades and how votes decide (validated by ``make_panel``)."""

    what: str  # "judge" or "similar_to": the check's name in errors
    graders: tuple[ModelConfig, ...]  # the grading configs, named "<what>:<grader>"
    names: tuple[str, ...]  # the graders' own names, as votes show them
    votes: int = 1
    confirm_on_fail: bool = False
    agreement: float | None = None

    @property
    def total(self) -> int:
        """Votes per sample, over every grader."""
        return self.votes * len(self.graders)

    @property
    def counted(self) -> str:
        if len(self.graders) == 1:
            return f"votes={self.votes}"
        return f"{len(self.graders)} graders x votes={self.votes}"

    def decide(self, votes: Sequence[Vote]) -> str | None:
        """The sample's verdict: None when it passes, else why not (every vote's reason)."""
        return tally(votes, agreement=self.agreement)


def make_panel(
    what: str,
    graders: tuple[ModelConfig, ...],
    names: tuple[str, ...],
    votes: int,
    confirm_on_fail: bool,
    agreement: float | None,
) -> Panel:
    """A validated ``Panel``: a bad ``judge()`` or ``similar_to()`` call fails where the test
    module declares it (at collection), naming the argument."""
    __tracebackhide__ = True
    if isinstance(votes, bool) or not isinstance(votes, int):
        raise ValueError(f"{what}(): votes must be a whole number, got {votes!r}")
    if votes < 1:
        raise ValueError(f"{what}(): votes must be at least 1, got {votes}")
    if not isinstance(confirm_on_fail, bool):
        raise ValueError(
            f"{what}(): confirm_on_fail must be True or False, got {confirm_on_fail!r}"
        )
    if agreement is not None and (
        isinstance(agreement, bool)
        or not isinstance(agreement, int | float)
        or not 0.0 < agreement <= 1.0
    ):
        raise ValueError(
            f"{what}(): agreement must be a share of the votes in (0, 1], got {agreement!r}"
        )
    panel = Panel(what, graders, names, votes, confirm_on_fail, agreement)
    total = panel.total
    # A tie has no majority; an agreement bar above one half settles it (a tie fails).
    if total % 2 == 0 and (agreement is None or agreement <= 0.5):
        raise ValueError(
            f"{what}(): {panel.counted} make {total} votes, which can tie 50/50 under the "
            "majority rule: use an odd number of votes, or agreement= above 0.5"
        )
    if confirm_on_fail and total == 1:
        raise ValueError(
            f"{what}(): confirm_on_fail needs more than one vote to confirm a failure: "
            "pass votes=3 (or several graders)"
        )
    return panel


def tally(votes: Sequence[Vote], *, agreement: float | None) -> str | None:
    """A lone vote speaks for itself (the message graders gave before votes existed); several
    pass on a majority of PASS votes holding at least ``agreement`` of them."""
    if len(votes) == 1:
        return votes[0].failure
    passes = sum(vote.passed for vote in votes)
    share = passes / len(votes)
    listed = "; ".join(map(str, votes))
    if 2 * passes > len(votes) and (agreement is None or share >= agreement):
        return None
    majority = max(passes, len(votes) - passes)
    if agreement is not None and majority / len(votes) < agreement:
        return (
            f"the graders disagree: {passes} of {len(votes)} votes PASS, agreement "
            f"{majority / len(votes):.0%} < {agreement:.0%} required; votes: {listed}"
        )
    return f"judged FAIL by {len(votes) - passes} of {len(votes)} votes; votes: {listed}"


# --- the grading experiments -------------------------------------------------------------------


@dataclass
class Grading:
    """Grades samples per ``prepare`` and remembers each sample's votes for the running test.

    Votes are kept for the running test only, keyed by sample identity (samples are not
    hashable); the samples themselves are kept alongside, so an id is never reused meanwhile.
    """

    name: str
    panel: Panel
    # The grading prompt's variables for a (conversation, response) the grader is shown.
    texts: Callable[[str, str], dict[str, str]]
    read: Callable[[str], Reading]
    shown: Callable[[Sample], tuple[str, str]]  # a sample's conversation and response
    _test: object | None = None
    _votes: dict[int, tuple[Sample, tuple[Vote, ...]]] = field(default_factory=dict)

    @property
    def what(self) -> str:
        return f"{self.panel.what}()"

    def prepare(self, samples: Sequence[Sample]) -> None:
        test = active_test(self.what)
        if self._test is not test:
            self._test, self._votes = test, {}
        known = self._votes
        todo = list({id(s): s for s in samples if id(s) not in known}.values())
        if not todo:
            return
        # Samples with the same conversation and response (common at temperature 0) make the
        # same grading request: grade it once, so live and replayed runs give the same verdict
        # (identical requests share one recorded answer) and no call is paid for twice.
        groups: dict[str, tuple[dict[str, str], list[Sample]]] = {}
        for sample in todo:
            variables = self.texts(*self.shown(sample))
            key = json.dumps(variables, sort_keys=True)
            groups.setdefault(key, (variables, []))[1].append(sample)
        distinct = list(groups.values())
        ids = _unique_ids([members[0] for _, members in distinct])
        votes = self.grade(test, list(zip(ids, (v for v, _ in distinct), strict=True)))
        for case_id, (_, members) in zip(ids, distinct, strict=True):
            for sample in members:
                known[id(sample)] = (sample, votes[case_id])

    def votes(self, sample: Sample) -> tuple[Vote, ...]:
        """The sample's votes, grading it alone if no ``prepare`` saw it."""
        known = self._votes.get(id(sample)) if self._test is not None else None
        if known is None or known[0] is not sample:
            self.prepare([sample])  # checked without assert_samples: grade this one alone
            known = self._votes[id(sample)]
        return known[1]

    def check(self, sample: Sample) -> str | None:
        return self.panel.decide(self.votes(sample))

    def grade(
        self, test: RunningTest, requests: Sequence[tuple[str, dict[str, str]]]
    ) -> dict[str, tuple[Vote, ...]]:
        """Every request's votes, by its input id: one experiment, or two rounds under
        ``confirm_on_fail`` (the second only for the requests whose first vote failed)."""
        panel = self.panel
        inputs = tuple(Input(id=case_id, inputs=variables) for case_id, variables in requests)
        if not panel.confirm_on_fail:
            return self._collect(test, inputs, panel.graders, votes=panel.votes)
        first = self._collect(test, inputs, panel.graders[:1], votes=1)
        failed = [case_id for case_id, (vote,) in first.items() if not vote.passed]
        more: list[dict[str, tuple[Vote, ...]]] = []
        if failed and panel.votes > 1:  # the first grader's later votes: indexes 1..votes-1
            more.append(
                self._collect(
                    test, inputs, panel.graders[:1], votes=panel.votes - 1, start=1, only=failed
                )
            )
        if failed and len(panel.graders) > 1:
            more.append(
                self._collect(test, inputs, panel.graders[1:], votes=panel.votes, only=failed)
            )
        return {
            case_id: votes + tuple(v for round_ in more for v in round_.get(case_id, ()))
            for case_id, votes in first.items()
        }

    def _collect(
        self,
        test: RunningTest,
        inputs: tuple[Input, ...],
        graders: tuple[ModelConfig, ...],
        *,
        votes: int,
        start: int = 0,
        only: Sequence[str] | None = None,
    ) -> dict[str, tuple[Vote, ...]]:
        """One grading experiment: ``votes`` samples per grader and request, from ``start``."""
        spec = ExperimentSpec(
            name=f"{test.node_id} {'+'.join(g.display_name for g in graders)}",
            model_configs=graders,
            inputs=inputs,
            num_samples=votes,
            first_sample=start,
            only=(
                None
                if only is None
                else frozenset((g.display_name, case_id) for g in graders for case_id in only)
            ),
        )
        result = test.run(spec)  # a plugin error fails the test there, message only
        names = dict(
            zip((g.display_name for g in self.panel.graders), self.panel.names, strict=True)
        )
        collected: dict[str, list[Vote]] = {}
        order = {g.display_name: i for i, g in enumerate(graders)}
        for graded in sorted(result.samples, key=lambda s: (order[s.config.display_name], s.index)):
            reading = self.read(graded.output or "")
            collected.setdefault(str(graded.input.id), []).append(
                Vote(
                    grader=names[graded.config.display_name],
                    index=graded.index,
                    passed=reading.passed,
                    reason=reading.reason,
                    failure=reading.failure,
                )
            )
        return {case_id: tuple(votes_) for case_id, votes_ in collected.items()}


@dataclass(frozen=True)
class GradedCheck(SampleCheck):
    """A check graded by models (``judge``, ``similar_to``): a ``SampleCheck`` that also tells
    each sample's votes and can be calibrated (``calibrate``)."""

    grading: Grading | None = field(default=None, compare=False, repr=False)

    def votes(self, sample: Sample) -> tuple[Vote, ...]:
        """Every vote cast on ``sample`` (grading it now if it was not graded yet)."""
        assert self.grading is not None
        return self.grading.votes(sample)


def graded_check(grading: Grading) -> GradedCheck:
    return GradedCheck(grading.name, grading.check, grading.prepare, grading=grading)


def grading_configs(
    what: str,
    grader: ModelConfig | None,
    graders: Sequence[ModelConfig] | None,
    make: Callable[[ModelConfig], ModelConfig],
) -> tuple[tuple[ModelConfig, ...], tuple[str, ...]]:
    """The grading configs (``make`` turns a grader into one) and the graders' own names."""
    __tracebackhide__ = True
    if (grader is None) == (graders is None):
        raise ValueError(f"{what}() needs exactly one of grader=ModelConfig(...) or graders=[...]")
    if graders is not None and (isinstance(graders, ModelConfig | str) or not graders):
        raise ValueError(
            f"{what}(): graders must be a non-empty list of ModelConfig, got {graders!r}"
        )
    chosen: list[ModelConfig] = []
    for one in (grader,) if graders is None else graders:
        if not isinstance(one, ModelConfig):
            raise TypeError(f"{what}() needs grader=ModelConfig(...), got {type(one).__name__}")
        chosen.append(one)
    names = tuple(one.display_name for one in chosen)
    twins = sorted({name for name in names if names.count(name) > 1})
    if twins:
        raise ValueError(
            f"{what}(): two graders are named {twins[0]!r}; give each a unique name= so their "
            "votes and recordings can be told apart"
        )
    configs = tuple(make(one) for one in chosen)
    seen: dict[str, str] = {}
    for config, name in zip(configs, names, strict=True):
        twin = seen.setdefault(config.model_config_id, name)
        if twin != name:
            raise ValueError(
                f"{what}(): graders {twin!r} and {name!r} would send identical grading requests; "
                "to ask one grader several times, pass votes="
            )
    return configs, names


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
