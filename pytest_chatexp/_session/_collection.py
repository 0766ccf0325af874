"""Collection: a test's chatexp markers checked while pytest collects, split experiments
parametrized, and the specs built then kept for the items' setup.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .._errors import ChatexpError, InvalidExperimentError
from .._experiment._spec import ExperimentSpec
from ._options import ExperimentOptions, merge_marker_kwargs, parse_options, split_selections

__all__ = ["SpecCache", "fail_for", "validate_at_collection"]


def fail_for(node_id: str, exc: ChatexpError) -> BaseException:
    """The short, traceback-free failure pytest shows for a plugin error."""
    return pytest.fail.Exception(f"chatexp: {node_id}: {exc}", pytrace=False)


class SpecCache:
    """Specs the markers alone declare, built once at collection for every item of the test
    (split ones too) rather than again at each setup. Split items of one test share its
    markers, so the key is the test's file and its marks' identities."""

    def __init__(self, subsample: int | None = None, seed: int | None = None) -> None:
        self._specs: dict[tuple[object, ...], tuple[list[object], ExperimentSpec]] = {}
        self._subsample = (subsample, seed)  # --chatexp-subsample and its seed, when given

    def build(
        self, options: ExperimentOptions, name: str, base_dir: Path, *, render: bool
    ) -> ExperimentSpec:
        """The spec ``options`` declare, the command line's subsample winning over theirs."""
        return options.overridden(*self._subsample).to_spec(
            name=name, base_dir=base_dir, render=render
        )

    def remember(self, path: Path, marks: list[Any], spec: ExperimentSpec) -> None:
        self._specs[_spec_key(path, marks)] = (marks, spec)  # the marks stay alive: ids unique

    def take(self, path: Path, marks: list[Any], node_id: str) -> ExperimentSpec | None:
        """The remembered spec, named for ``node_id``; None when none was remembered."""
        key = _spec_key(path, marks)
        cached = self._specs.get(key)
        if cached is None:
            return None
        if cached[1].name == node_id:
            # Built and rendered at collection for exactly this item, which uses it once.
            return self._specs.pop(key)[1]
        return replace(cached[1], name=node_id)  # a split item, or a class's method


def _spec_key(path: Path, marks: list[Any]) -> tuple[object, ...]:
    return (str(path), *(id(mark) for mark in marks))


def validate_at_collection(metafunc: pytest.Metafunc, specs: SpecCache) -> None:
    """Check a test's chatexp markers while collecting, and parametrize split experiments.

    Types and names are always checked here. Files and templates are checked here too when the
    markers alone declare the experiment; otherwise a ``chatexp_config`` fixture completes it
    at setup, where the same checks run.
    """
    definition = metafunc.definition
    try:
        marks = list(definition.iter_markers("chatexp"))
        kwargs = merge_marker_kwargs(marks)
        options = parse_options(kwargs, source="chatexp marker")
        base_dir = Path(definition.path).parent
        spec = (
            specs.build(options, definition.nodeid, base_dir, render="inputs" in kwargs)
            if "model_configs" in kwargs and not _adaptive_incomplete(kwargs)
            else None
        )
        if spec is not None:
            _check_humanloop(spec)
            specs.remember(definition.path, marks, spec)
        if any("share" in mark.kwargs for mark in marks):
            _check_share(metafunc, kwargs)
        if options.split is not None:
            needs = ["model_configs"] + (["inputs"] if options.split != "configs" else [])
            missing = [name for name in needs if name not in kwargs]
            if spec is None or missing:
                raise InvalidExperimentError(
                    f"split='{options.split}' needs {' and '.join(f'{n}=' for n in missing)} in "
                    "the chatexp marker, because pytest creates split items before any fixture runs"
                )
            if "chatexp" not in metafunc.fixturenames:
                raise InvalidExperimentError(
                    "split= only applies to tests that use the 'chatexp' fixture"
                )
            selections = split_selections(spec, options.split)
            metafunc.parametrize(
                "chatexp",
                [selection for _, selection in selections],
                ids=[case_id for case_id, _ in selections],
                indirect=True,
            )
    except ChatexpError as exc:
        raise fail_for(definition.nodeid, exc) from None


def _check_share(metafunc: pytest.Metafunc, kwargs: dict[str, Any]) -> None:
    """``share=`` where it means something: on a module or class marker, for experiments run
    once before their tests (``_sharing``)."""
    definition = metafunc.definition
    own = [
        mark for node, mark in definition.iter_markers_with_node("chatexp") if node is definition
    ]
    if any(mark.kwargs.get("share") is True for mark in own):
        raise InvalidExperimentError(
            "share=True goes on a module or class marker (pytestmark = pytest.mark.chatexp(..., "
            "share=True)): it makes the tests there that declare the same experiment run it "
            "once; on a test function there is nothing to share with (share=False there opts "
            "the test out)"
        )
    if not kwargs.get("share"):
        return
    if "split" in kwargs:
        raise InvalidExperimentError(
            "share=True and split= cannot be combined: a split test's items each run their "
            "own part of the experiment; give this test share=False, or drop split="
        )
    if isinstance(kwargs.get("num_samples"), tuple | list):
        raise InvalidExperimentError(
            "share=True does not apply to adaptive sampling (num_samples=(min, max)): each "
            "test asserts its own checks as it draws; give this test share=False"
        )


def _check_humanloop(spec: ExperimentSpec) -> None:
    """Humanloop's own constraints (endpoint fields, v4 enums, what a stored config refuses),
    which its API would only report as a 422 once the test runs."""
    configs = [config for config in spec.model_configs if config.provider == "humanloop"]
    if configs:
        # Imported only for a Humanloop experiment: other suites never load its models.
        from .._providers._humanloop import check_config

        for config in configs:
            check_config(config)


def _adaptive_incomplete(kwargs: dict[str, Any]) -> bool:
    """A range ``num_samples`` whose checks, bar or confidence the markers leave to a
    ``chatexp_config`` fixture: the experiment is complete only at setup, checked there."""
    return isinstance(kwargs.get("num_samples"), (tuple, list)) and not all(
        name in kwargs for name in ("checks", "min_pass_rate", "confidence")
    )
