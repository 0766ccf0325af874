"""Writing an import: every planned file, or none.

The files are written to a staging folder beside their destination first. A new output folder
is then renamed into place in one step; into an existing folder each file is moved with
``os.replace`` (atomic per file), and a failure part-way moves back what was already placed,
restoring any file ``--force`` was replacing. An existing file is never replaced without it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ._records import MigrationError, PlannedFile

__all__ = ["write_all"]


def write_all(files: Sequence[PlannedFile], out_dir: Path, *, force: bool) -> list[Path]:
    """Write ``files`` under ``out_dir``; the paths written. MigrationError when one would
    replace an existing file without ``force``, or when writing fails (nothing is left behind)."""
    targets = [out_dir / Path(planned.path) for planned in files]
    if len(set(targets)) != len(targets):
        raise MigrationError("two planned files share a path; nothing was written")
    folders = [target for target in targets if target.is_dir()]
    if folders:
        raise MigrationError(f"{folders[0]} is a folder, not a file. Nothing was written.")
    existing = [target for target in targets if target.exists()]
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        raise MigrationError(
            f"{names} already exist{'s' if len(existing) == 1 else ''}; pass --force to "
            "overwrite. Nothing was written."
        )
    parent = out_dir if out_dir.is_dir() else out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".chatexp-migrate-", dir=parent))
    except OSError as exc:
        raise MigrationError(f"cannot write to {parent}: {exc.strerror or exc}") from None
    try:
        staged = _stage(files, staging / "new")
        if not out_dir.exists():
            # A folder of its own: one rename puts every file in place at once.
            os.rename(staging / "new", out_dir)
            return targets
        _move_into(staged, targets, backups=staging / "old")
        return targets
    except OSError as exc:
        raise MigrationError(
            f"cannot write to {out_dir}: {exc.strerror or exc}. Nothing was written."
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage(files: Sequence[PlannedFile], folder: Path) -> list[Path]:
    staged: list[Path] = []
    for planned in files:
        path = folder / Path(planned.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # newline="": the planned text says exactly which line endings the file has.
        with path.open("w", encoding="utf-8", newline="") as file:
            file.write(planned.text)
        staged.append(path)
    return staged


def _move_into(staged: list[Path], targets: list[Path], *, backups: Path) -> None:
    placed: list[tuple[Path, Path | None]] = []  # each target, and the file it replaced
    try:
        for position, (source, target) in enumerate(zip(staged, targets, strict=True)):
            target.parent.mkdir(parents=True, exist_ok=True)
            backup: Path | None = None
            if target.exists():
                backups.mkdir(exist_ok=True)
                backup = backups / str(position)
                os.replace(target, backup)
            placed.append((target, backup))
            os.replace(source, target)
    except OSError:
        for target, backup in reversed(placed):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        raise
