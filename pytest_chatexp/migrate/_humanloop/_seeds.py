"""Logs -> seed recordings: the plugin's own recording files, so the generated test's first run
replays the answers Humanloop logged, with no server and no key.

The requests are the ones the generated test will send: the prompt file and dataset, as
planned, are loaded with the plugin's loaders, planned with ``ExperimentSpec`` and built by the
plugin's providers; the recording is keyed and written by ``_recording``. A log seeds the
call of its config and datapoint (same inputs, same messages); the latest log wins.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..._calls._exchange import base_url_for, provider_for
from ..._calls._recorder import recorded_call_of
from ..._errors import ChatexpError
from ..._experiment._files import load_dataset, load_model_configs
from ..._experiment._spec import ExperimentSpec
from ..._recording import Interaction, RecordingFile, recording_path
from ..._recording._text import refuse_secrets
from .._records import ConfigRecord, DatasetRow, MigrationError, PlannedFile, Unmapped
from ._answers import answer_body
from ._configs import ConfigSource
from ._data import LogRecord

__all__ = ["SeedResult", "match_logs", "seed_files"]


@dataclass(frozen=True, slots=True)
class SeedResult:
    files: tuple[PlannedFile, ...]
    seeded: int  # calls answered by a log
    unseeded: tuple[str, ...]  # "config x row" left to record


def _comparable(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    return [(str(m.get("role")), m.get("content")) for m in messages]


def _row_messages(row: DatasetRow) -> list[tuple[str, Any]]:
    return [(m.role, m.content) for m in row.messages]


def match_logs(
    logs: Sequence[LogRecord],
    configs: Sequence[ConfigSource],
    rows: Sequence[DatasetRow],
    used: set[str],
) -> tuple[dict[tuple[str, str], LogRecord], list[Unmapped]]:
    """Each log's (config name, row id), the latest log per pair; the others listed, with why."""
    chosen: dict[tuple[str, str], LogRecord] = {}
    notes: list[Unmapped] = []
    for log in logs:
        config = _config_of(log, configs)
        if config is None:
            notes.append(Unmapped(log.where, f"log {log.id}: its config is none of those imported"))
            continue
        inputs = {k: v for k, v in log.inputs.items() if k in used}
        row = next(
            (
                r
                for r in rows
                if dict(r.inputs) == inputs and _row_messages(r) == _comparable(log.messages)
            ),
            None,
        )
        if row is None:
            notes.append(
                Unmapped(log.where, f"log {log.id}: its inputs and messages match no datapoint")
            )
            continue
        key = (config.record.name, row.id)
        earlier = chosen.get(key)
        if earlier is not None and earlier.created_at > log.created_at:
            log, earlier = earlier, log
        if earlier is not None:
            notes.append(
                Unmapped(
                    earlier.where,
                    f"log {earlier.id}: a later log of '{key[0]}' on row '{key[1]}' is its seed",
                )
            )
        chosen[key] = log
    return chosen, notes


def _config_of(log: LogRecord, configs: Sequence[ConfigSource]) -> ConfigSource | None:
    for config in configs:
        if log.config_ids & config.ids:
            return config
    if log.config is not None:
        same = [c for c in configs if _sends_alike(c.record, log.config.record)]
        if same:
            return same[0]
    if log.config is None and not log.config_ids and len(configs) == 1:
        return configs[0]
    return None


def _sends_alike(a: ConfigRecord, b: ConfigRecord) -> bool:
    return (a.provider, a.model, a.chat_template, dict(a.params)) == (
        b.provider,
        b.model,
        b.chat_template,
        dict(b.params),
    )


def seed_files(
    chosen: Mapping[tuple[str, str], LogRecord],
    prompts: PlannedFile,
    dataset: PlannedFile,
    module_file: str,
    test_name: str,
) -> SeedResult:
    """The recording of each row that has a log, as ``__recordings__/...`` files."""
    with tempfile.TemporaryDirectory(prefix="chatexp-humanloop-") as folder:
        for planned in (prompts, dataset):
            (Path(folder) / planned.path.name).write_text(planned.text, encoding="utf-8")
        try:
            configs = load_model_configs(Path(folder) / prompts.path.name)
            inputs = load_dataset(Path(folder) / dataset.path.name)
            spec = ExperimentSpec(test_name, tuple(configs), tuple(inputs))
        except ChatexpError as exc:  # the emitters checked both: this is our own mistake
            raise MigrationError(f"internal error: the planned files do not load: {exc}") from None
    by_row: dict[str, list[Interaction]] = {}
    unseeded: list[str] = []
    for call in spec.calls:
        key = (call.config.display_name, str(call.input.id))
        log = chosen.get(key)
        if log is None:
            unseeded.append(f"'{key[0]}' on row '{key[1]}'")
            continue
        provider = provider_for(call)
        wire = provider.build_request(call, base_url=base_url_for(call, provider))
        recorded = recorded_call_of(call, provider, wire)
        body = answer_body(log, call.config.provider, call.config.model)
        interaction = Interaction.record(recorded, body=body, latency_s=log.latency_s or 0.0)
        by_row.setdefault(key[1], []).append(interaction)
    files = []
    for row_id, interactions in by_row.items():
        name = f"{test_name}[{row_id}]"
        path = recording_path(Path(module_file), name)
        recording = RecordingFile(f"{module_file}::{name}", interactions)
        try:
            text = recording.render()
            refuse_secrets(path, text, None)
        except ChatexpError as exc:
            raise MigrationError(f"cannot write the seed recording {path}: {exc}") from None
        files.append(PlannedFile(PurePosixPath(path.as_posix()), text))
    seeded = sum(len(items) for items in by_row.values())
    return SeedResult(tuple(files), seeded, tuple(unseeded))
