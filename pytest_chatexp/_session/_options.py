"""The arguments of ``@pytest.mark.chatexp`` and of the ``chatexp_config`` fixture.

Both take the same keyword-only options, validated by one class, so a typo or a wrong type is an
error naming the argument wherever it was written. Markers on the module, class and function
merge key by key, the closest winning; the ``chatexp_config`` fixture sits below them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from .._calls._exchange import format_for
from .._errors import InvalidExperimentError
from .._experiment._agents import DEFAULT_MAX_TURNS, SimulatedUser
from .._experiment._config import OPAQUE_PROVIDERS, ModelConfig, TemplateMessage
from .._experiment._files import resolve_inputs, resolve_model_configs
from .._experiment._humanloop import ChatMessage
from .._experiment._inputs import Input
from .._experiment._spec import ExperimentSpec, SampleRange
from .._experiment._subsample import Subsample, stratum_of
from .._experiment._templates import check_all_used, referenced
from .._validation import describe_validation_error
from ..checks._sequential import AdaptivePlan
from ..checks._verdict import SampleCheck

__all__ = [
    "CaseSelection",
    "ExperimentOptions",
    "merge_marker_kwargs",
    "parse_options",
    "split_selections",
]


class ExperimentOptions(BaseModel):
    """What a test declares about its experiment.

    - ``model_configs``: a ModelConfig, a mapping of its fields, a prompt file path (YAML/JSON,
      relative to the test file), or a list mixing these.
    - ``inputs``: a list of mappings (template variables) or ``Input`` objects, or a dataset file
      path (JSONL, JSON, CSV, YAML). Omitted: one case without variables.
    - ``messages``: messages sent after each config's chat template (may use ``{{var}}``).
    - ``num_samples``: generations per config x input (default 1); a range ``(min, max)``
      samples adaptively: ``min`` per case, then more for the cases whose
      verdict on ``checks`` against ``min_pass_rate`` is not settled at ``confidence``, up to
      ``max`` (``checks/_sequential.py``). The checks are then asserted for the test.
    - ``concurrency``: at most this many calls of this experiment at once (never more than the
      session's ``--chatexp-concurrency``).
    - ``timeout``: seconds each call may take.
    - ``split``: ``"configs"``, ``"inputs"`` or ``"cases"`` makes one pytest item per model config,
      per input, or per both, so ``-k``, ``--lf`` and xdist work per case.
    - ``tool_handlers``: functions (sync or async) running the configs' tools, by tool name, for
      tools declared without one (in prompt files); the model is called again with their
      results until it answers without a tool call.
    - ``max_turns``: model calls one sample may make in a tool loop or conversation (default 10).
    - ``simulated_user``: a ``SimulatedUser`` writing the next user message after each answer.
    - ``share``: on a module or class marker, its tests that declare the same experiment run
      it once (``_sharing``); not part of the experiment.
    - ``subsample``: run at most this many of the inputs, chosen by ``subsample_seed`` (default
      0) and in proportion to the values of the field ``stratify`` names, when it does
      (``_experiment/_subsample.py``); ``--chatexp-subsample`` overrides it for a quick run.
    """

    # ``model_configs`` is a marker argument: pydantic < 2.10 warns on the ``model_`` prefix.
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, protected_namespaces=()
    )

    model_configs: Any = None
    inputs: Any = None
    messages: tuple[TemplateMessage, ...] = ()
    num_samples: int | tuple[int, int] = 1  # checked by _sample_count, one message each
    checks: tuple[Any, ...] | None = None
    min_pass_rate: StrictFloat | StrictInt | None = None
    confidence: StrictFloat | None = None
    concurrency: StrictInt | None = Field(default=None, ge=1, le=4096)
    timeout: StrictFloat | StrictInt | None = Field(default=None, gt=0, allow_inf_nan=False)
    split: Literal["configs", "inputs", "cases"] | None = None
    tool_handlers: dict[str, Any] = Field(default_factory=dict)
    max_turns: StrictInt = Field(default=DEFAULT_MAX_TURNS, ge=1, le=1000)
    simulated_user: SimulatedUser | None = None
    share: StrictBool = False
    subsample: StrictInt | None = Field(default=None, ge=1)
    subsample_seed: StrictInt = 0
    stratify: str | None = Field(default=None, min_length=1)

    def overridden(self, subsample: int | None, seed: int | None) -> ExperimentOptions:
        """These options with the command line's subsample and seed, where it gives them."""
        update = {"subsample": subsample, "subsample_seed": seed}
        update = {name: value for name, value in update.items() if value is not None}
        return self.model_copy(update=update) if update else self

    @field_validator("num_samples", mode="before")
    @classmethod
    def _sample_count(cls, value: Any) -> Any:
        """A count, or a (min, max) range of two integers; each range bound is checked with
        the other adaptive arguments (``sample_range``), to name them together."""
        if isinstance(value, list | tuple):
            if len(value) != 2 or not all(_is_int(bound) for bound in value):
                raise PydanticCustomError("range_type", "a range must be two integers, (min, max)")
            return tuple(value)
        if not _is_int(value):
            raise PydanticCustomError("int_type", "Input should be a valid integer")
        if value < 1:
            raise PydanticCustomError(
                "greater_than_equal", "Input should be greater than or equal to 1"
            )
        if value > _MAX_SAMPLES:
            raise PydanticCustomError(
                "less_than_equal", f"Input should be less than or equal to {_MAX_SAMPLES}"
            )
        return value

    def to_spec(self, *, name: str, base_dir: Path, render: bool = True) -> ExperimentSpec:
        """Resolve files and build the validated spec.

        With ``render`` every template is rendered once, so a missing variable fails here,
        before any call.
        """
        if self.model_configs is None:
            configs: list[ModelConfig] = []
        else:
            _check_types("model_configs", self.model_configs, (ModelConfig, Mapping, str, Path))
            configs = resolve_model_configs(
                self.model_configs, base_dir=base_dir, where="model_configs"
            )
        for config in configs:
            format_for(config)  # an InvalidExperimentError for a provider nobody serves
        if self.inputs is not None:
            _check_types("inputs", self.inputs, (Input, Mapping, str, Path))
        inputs = resolve_inputs(self.inputs, base_dir=base_dir, where="inputs")
        declared = {str(row.id) for row in inputs}
        if self.subsample is not None:
            inputs = Subsample(self.subsample, self.subsample_seed, self.stratify).apply(inputs)
        elif self.stratify is not None:  # checked now, not first on a quick subsampled run
            for row in inputs:
                stratum_of(row, self.stratify)
        adaptive = self.sample_range()
        spec = ExperimentSpec(
            name=name,
            model_configs=tuple(configs),
            inputs=tuple(inputs),
            messages=self.messages,
            num_samples=self.num_samples
            if isinstance(self.num_samples, int)
            else self.num_samples[1],
            concurrency=self.concurrency,
            timeout=float(self.timeout) if self.timeout is not None else None,
            tool_handlers=self.tool_handlers,
            max_turns=self.max_turns,
            simulated_user=self.simulated_user,
            adaptive=adaptive,
            left_out=frozenset(declared - {str(row.id) for row in inputs}),
        )
        _check_variables_used(spec)
        if render:
            spec.calls  # noqa: B018  (renders, so a missing variable fails here)
        return spec

    def sample_range(self) -> SampleRange | None:
        """Adaptive sampling as declared, checked; None for a fixed ``num_samples``."""
        declared = {
            name: value
            for name, value in (
                ("checks", self.checks),
                ("min_pass_rate", self.min_pass_rate),
                ("confidence", self.confidence),
            )
            if value is not None
        }
        if isinstance(self.num_samples, int):
            if declared:
                raise InvalidExperimentError(
                    f"{', '.join(f'{name}=' for name in declared)} apply to adaptive sampling, "
                    f"with a range num_samples=(min, max); num_samples={self.num_samples} is a "
                    "fixed count (assert fixed samples in the test body with assert_samples)"
                )
            return None
        minimum, maximum = self.num_samples
        shown = f"num_samples=({minimum}, {maximum})"
        missing = [
            f"{name}=" for name in ("checks", "min_pass_rate", "confidence") if name not in declared
        ]
        if missing:
            raise InvalidExperimentError(
                f"{shown} samples adaptively, which needs {', '.join(missing)} too: checks=[...] "
                "are the SampleChecks judging each sample, min_pass_rate= the bar a case's pass "
                "rate must reach, confidence= (e.g. 0.95) how sure a verdict must be to stop early"
            )
        checks = tuple(self.checks or ())
        if not checks:
            raise InvalidExperimentError(f"{shown}: checks= is empty; give at least one check")
        for position, check in enumerate(checks):
            if not isinstance(check, SampleCheck):
                raise InvalidExperimentError(
                    f"checks[{position}] must be a SampleCheck (from pytest_chatexp.checks), "
                    f"got {type(check).__name__} {check!r:.60}"
                )
        try:
            plan = AdaptivePlan(
                minimum, maximum, float(self.min_pass_rate or 0.0), float(self.confidence or 0.0)
            )
        except ValueError as exc:
            argument = (
                f"confidence={self.confidence}"
                if "confidence" in str(exc)
                else f"min_pass_rate={self.min_pass_rate}"
                if "bar" in str(exc)
                else shown
            )
            raise InvalidExperimentError(f"{argument}: {exc}") from None
        return SampleRange(plan.minimum, plan.maximum, plan.bar, plan.confidence, checks)


_MAX_SAMPLES = 10_000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_variables_used(spec: ExperimentSpec) -> None:
    """Every input variable must reach a prompt, unless a config may use it out of sight (an
    app, a server-side template). A variable one config of an A/B uses is used."""
    if any(config.provider in OPAQUE_PROVIDERS for config in spec.model_configs):
        return
    shared = _placeholders_of(
        [*(m for c in spec.model_configs for m in c.chat_template), *spec.messages]
    )
    if spec.simulated_user is not None:
        shared |= set(referenced(spec.simulated_user.goal))
    for case_input in spec.inputs:
        used = shared | _placeholders_of([*case_input.messages, *case_input.turns])
        if used <= case_input.inputs.keys():  # else rendering names what is missing, better
            check_all_used(case_input.inputs, used, where=f"input '{case_input.id}'")


def _placeholders_of(messages: Iterable[ChatMessage]) -> set[str]:
    return {name for message in messages for name in referenced(message.text)}


def _check_types(field: str, value: Any, allowed: tuple[type, ...]) -> None:
    items = value if isinstance(value, list | tuple) else [value]
    if isinstance(value, list | tuple) and not value:
        raise InvalidExperimentError(f"'{field}' is an empty list")
    for position, item in enumerate(items):
        if not isinstance(item, allowed):
            names = ", ".join(kind.__name__ for kind in allowed)
            where = f"{field}[{position}]" if isinstance(value, list | tuple) else field
            raise InvalidExperimentError(
                f"'{where}' must be one of {names}; got {type(item).__name__} {item!r:.60}"
            )


def parse_options(kwargs: Mapping[str, Any], *, source: str) -> ExperimentOptions:
    """Validate keyword arguments; ``source`` says where they were written, for the message."""
    try:
        return ExperimentOptions.model_validate(dict(kwargs))
    except ValidationError as exc:
        problems = describe_validation_error(exc, known_fields=ExperimentOptions.model_fields)
        problems = problems.replace("unknown field", "unknown argument")
        raise InvalidExperimentError(f"{source}: {problems}") from None


def merge_marker_kwargs(marks: Iterable[Any]) -> dict[str, Any]:
    """Merge chatexp markers given closest first (as ``iter_markers`` yields them)."""
    merged: dict[str, Any] = {}
    for mark in reversed(list(marks)):
        if mark.args:
            raise InvalidExperimentError(
                "the chatexp marker takes keyword arguments only "
                f"(got positional {', '.join(repr(arg) for arg in mark.args)}); write e.g. "
                "@pytest.mark.chatexp(model_configs=[...], inputs=[...])"
            )
        merged.update(mark.kwargs)
    return merged


@dataclass(frozen=True, slots=True)
class CaseSelection:
    """The part of an experiment one split pytest item runs."""

    config: str | None = None
    input: str | None = None

    def apply(self, spec: ExperimentSpec) -> ExperimentSpec:
        configs = tuple(c for c in spec.model_configs if self.config in (None, c.display_name))
        inputs = tuple(i for i in spec.inputs if self.input in (None, i.id))
        return replace(spec, model_configs=configs, inputs=inputs)


def split_selections(spec: ExperimentSpec, split: str) -> list[tuple[str, CaseSelection]]:
    """The pytest ids and selections of a split experiment."""
    configs = [c.display_name for c in spec.model_configs]
    inputs = [str(i.id) for i in spec.inputs]
    if split == "configs":
        return [(name, CaseSelection(config=name)) for name in configs]
    if split == "inputs":
        return [(case, CaseSelection(input=case)) for case in inputs]
    return [
        (f"{name}-{case}", CaseSelection(config=name, input=case))
        for name in configs
        for case in inputs
    ]
