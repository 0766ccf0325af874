"""What an importer plans before anything is written: typed records, never loose dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from .._errors import ChatexpError

__all__ = [
    "CaseChecks",
    "CheckLine",
    "ConfigRecord",
    "DatasetRow",
    "MigrationError",
    "MigrationPlan",
    "PlannedFile",
    "TemplateMessage",
    "TestModulePlan",
    "Unmapped",
]


class MigrationError(ChatexpError):
    """Input an importer cannot read: the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Unmapped:
    """A feature of the source with no equivalent here: listed by the command and left as a
    TODO comment in the generated module."""

    where: str  # file and field, e.g. "promptfooconfig.yaml: tests[2].assert[0]"
    what: str  # what was not carried over, and what to do about it


@dataclass(frozen=True, slots=True)
class TemplateMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """One model config of the prompt file: a prompt paired with a provider."""

    name: str
    provider: str
    model: str
    chat_template: tuple[TemplateMessage, ...]
    # Sampling parameters and endpoint fields under ModelConfig's own names (temperature, ...).
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """One dataset row: template variables in ``inputs``; everything else a check may want
    (the source's description, expected values, variables no prompt uses) in ``metadata``."""

    id: str
    inputs: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # Messages sent after the chat template (a Humanloop datapoint's chat history).
    messages: tuple[TemplateMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckLine:
    """A check of the generated module: Python source for a ``SampleCheck`` (``code``), or, when
    the source assertion cannot map, a TODO comment (``code`` is None)."""

    source: str  # the assertion it came from, e.g. "tests[0].assert[1] icontains"
    code: str | None
    comment: str | None = None  # why it is approximate, or (with no code) the TODO


@dataclass(frozen=True, slots=True)
class CaseChecks:
    """What one dataset row's samples are checked with, beyond the checks every row has."""

    input_id: str
    checks: tuple[CheckLine, ...] = ()
    max_cost_usd: float | None = None  # per sample
    max_latency_s: float | None = None  # per sample


@dataclass(frozen=True, slots=True)
class TestModulePlan:
    """The generated test module: the prompt file and dataset it runs, and its checks."""

    __test__ = False  # not a pytest test class, whatever its name

    module_name: str
    docstring: str
    model_configs_file: str
    dataset_file: str
    num_samples: int
    grader: ConfigRecord | None
    default_checks: tuple[CheckLine, ...]
    cases: tuple[CaseChecks, ...]
    todos: tuple[Unmapped, ...]
    # What DEFAULT_CHECKS stands for in the source tool, said above it.
    default_note: str = "Checked on every row (promptfoo's defaultTest)."
    # Source placed after the marker: check stubs to finish by hand (evaluators' code).
    stubs: str = ""


@dataclass(frozen=True, slots=True)
class PlannedFile:
    path: PurePosixPath  # relative to the output folder
    text: str


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """Everything one import writes, and what it could not carry over."""

    source: str  # the file imported
    files: tuple[PlannedFile, ...]
    unmapped: tuple[Unmapped, ...]
    summary: str  # one line: what became what
    # Said after the TODOs, not in the module: e.g. logs that seed no recording, and why.
    notes: tuple[Unmapped, ...] = ()
