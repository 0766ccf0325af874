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

__all__ = ["Orphan", "adopt", "orphans_beside"]

# A folder is a module's recordings; one with more files than this is not scanned whole.
MAX_FILES_SCANNED: Final = 500


@dataclass(frozen=True)
class Orphan:
    """A recording file whose test no longer exists, and the requests it holds."""

    path: Path
    test: str  # the test its header names
    fingerprints: frozenset[str]


def orphans_beside(path: Path, defined: Callable[[str], bool]) -> list[Orphan]:
    """The readable recordings in ``path``'s folder, other than ``path``, whose test is not
    ``defined`` any more. Unreadable files are left to the run that owns them."""
    try:
        candidates = sorted(path.parent.glob("*.yaml"))[:MAX_FILES_SCANNED]
    except OSError:
        return []
    found: list[Orphan] = []
    for candidate in candidates:
        if candidate == path or candidate.name.endswith(".shared.yaml"):
            continue  # its own, or the recording of experiments tests share
        with contextlib.suppress(ChatexpError):
            recording = RecordingFile.load(candidate)
            if recording.test and not defined(recording.test):
                keys = frozenset(item.fingerprint for item in recording.interactions)
                found.append(Orphan(candidate, recording.test, keys))
    return found


def adopt(orphan: Orphan, path: Path, test: str, known_secrets: Iterable[str]) -> RecordingFile:
    """Move ``orphan``'s recording to ``path``, as ``test``'s: written there (atomically,
    under its lock, secrets refused as always), then the old file removed."""
    recording = RecordingFile(test, RecordingFile.load(orphan.path).interactions)
    recording.save(path, known_secrets=known_secrets)
    with contextlib.suppress(FileNotFoundError):  # another worker adopted it first
        orphan.path.unlink()
    return recording
