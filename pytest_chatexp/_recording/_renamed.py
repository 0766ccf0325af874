"""Recordings of renamed tests: a test with no recording whose calls are in a file left behind.

Renaming a test (or its parametrization ids) renames its recording file, so the renamed test
finds none, and the old file is listed as unused, though its requests match. A test with no
recording file looks at the other files of its folder (its module's recordings) whose test no
longer exists, for one that holds the request it wants; the miss then names that file, and
``--chatexp-adopt`` moves it to the test (its header renamed), so the calls replay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .._errors import ChatexpError
from ._store import RecordingFile

__all__ = ["Orphan", "Orphans"]

# A folder is a module's recordings; one with more files than this is not scanned whole.
MAX_FILES_SCANNED: Final = 500


@dataclass(frozen=True)
class Orphan:
    """A recording file whose test no longer exists, as read."""

    path: Path
    recording: RecordingFile

    @property
    def test(self) -> str:
        return self.recording.test  # the test its header names


class Orphans:
    """The recordings left behind in a session's recording folders, each folder read once,
    when a first test of its module has no recording: the module's other new tests look there
    too, and reading the folder per test would cost the number of tests times its files."""

    def __init__(self) -> None:
        self._by_folder: dict[Path, list[Orphan]] = {}

    def holding(
        self, path: Path, fingerprint: str, defined: Callable[[str], bool]
    ) -> Orphan | None:
        """The recording beside ``path`` (none of ``defined``'s tests') holding ``fingerprint``."""
        found = self._by_folder.get(path.parent)
        if found is None:
            found = self._by_folder[path.parent] = _read_orphans(path.parent, defined)
        return next((item for item in found if item.recording.get(fingerprint)), None)

    def adopt(self, orphan: Orphan, path: Path, test: str, secrets: Iterable[str]) -> RecordingFile:
        """Move ``orphan``'s recording to ``path``, as ``test``'s: written there (atomically,
        under its lock, secrets refused as always), then the old file removed."""
        adopted = RecordingFile(test, orphan.recording.interactions)
        adopted.save(path, known_secrets=secrets)
        with contextlib.suppress(FileNotFoundError):  # another worker adopted it first
            orphan.path.unlink()
        self._by_folder[path.parent].remove(orphan)  # no other test takes it over
        return adopted


def _read_orphans(folder: Path, defined: Callable[[str], bool]) -> list[Orphan]:
    """The readable recordings in ``folder`` whose test is not ``defined`` any more (not a
    shared experiment's). Unreadable files are left to the run that owns them."""
    try:
        candidates = sorted(folder.glob("*.yaml"))[:MAX_FILES_SCANNED]
    except OSError:
        return []
    found: list[Orphan] = []
    for candidate in candidates:
        if candidate.name.endswith(".shared.yaml"):
            continue
        with contextlib.suppress(ChatexpError):
            recording = RecordingFile.load(candidate)
            if recording.test and not defined(recording.test):
                found.append(Orphan(candidate, recording))
    return found
