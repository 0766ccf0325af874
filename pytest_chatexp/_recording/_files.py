"""Recording files on disk: atomic writes under a per-file lock, and what killed writers left.

A recording is written to a temporary file in its folder, fsynced and renamed over the old one,
under an exclusive lock on ``.<name>.lock`` (pytest-xdist workers may record into one file), so
a reader sees the old file or the new one, never a mix.

A writer killed mid-write leaves its lock file and perhaps a partial ``.<name>.tmp-*`` file.
With ``flock`` (POSIX) neither blocks anyone -- the kernel releases a dead holder's lock -- and
whoever holds a file's lock knows that every temporary file of that file is a dead writer's,
since temporary files are only made under the lock. So every write into a folder first sweeps
it: every leftover whose lock it can take at once is removed; a lock held by a live writer is
left to that writer, which removes its lock file itself.

Every file-system failure becomes a RecordingError naming the recording and the cause, with the
old recording intact and no temporary file left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from .._errors import RecordingError

try:
    import fcntl
except ImportError:  # Windows
    _HAVE_FLOCK = False
else:
    _HAVE_FLOCK = True

__all__ = [
    "check_writable",
    "experiment_locked",
    "reason",
    "write_pieces_if_changed",
    "writing_locked",
]

# Without flock a lock or temporary file this old cannot belong to a live writer (writes take
# milliseconds): it is what a killed writer left behind.
_STALE_AFTER_S: Final = 60.0
_LOCK_POLL_S: Final = 0.01
_LEFTOVER: Final = re.compile(r"\.(.+\.yaml)\.(?:lock|tmp-[0-9a-f]+)")


@contextlib.contextmanager
def writing_locked(path: Path) -> Iterator[None]:
    """Around writing the recording at ``path``: its folder made and swept, its lock held, and
    any OSError turned into a RecordingError that names the file."""
    try:
        _prepare_folder(path.parent)
        with _lock(_lock_path(path), wait=True):
            yield
    except OSError as exc:
        raise RecordingError(
            f"cannot write recording {path}: {reason(exc, path)}. Nothing was written: the "
            "previous recording, if any, is unchanged."
        ) from None


@contextlib.contextmanager
def experiment_locked(path: Path) -> Iterator[None]:
    """Around running the experiment recorded at ``path`` (a shared one, which xdist workers
    may reach together): one process at a time, the next one reading what the first wrote.
    Its own lock file (``.<name>.run-lock``), not the write lock, which the run takes to write."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(path.with_name(f".{path.name}.run-lock"), wait=True)
        lock.__enter__()
    except OSError as exc:
        raise RecordingError(f"cannot lock recording {path}: {reason(exc, path)}") from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def reason(exc: OSError, path: Path) -> str:
    """``exc`` in words: its cause, and the file it concerns when not ``path`` itself (a lock
    file, a folder that could not be made)."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    other = exc.filename is not None and os.fsdecode(exc.filename) != str(path)
    return f"{cause} ({exc.filename})" if other else cause


def check_writable(path: Path) -> None:
    """Raise RecordingError now unless a recording can be written at ``path`` (its folder can
    be made, files made and removed in it, and ``path`` is not a folder): before any live call
    is paid for, not after."""
    with writing_locked(path):  # made and removed the lock file: the folder takes writes
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))


def _prepare_folder(folder: Path) -> None:
    """Make ``folder`` and remove what killed writers left in it (a listing when there is
    nothing to remove: far less than the fsyncs of the write that follows)."""
    folder.mkdir(parents=True, exist_ok=True)
    with os.scandir(folder) as entries:
        targets = {m[1] for entry in entries if (m := _LEFTOVER.fullmatch(entry.name))}
    for name in sorted(targets):
        target = folder / name
        with _lock(_lock_path(target), wait=False) as held:
            if held:
                _remove_leftover_temps(target)


def write_pieces_if_changed(path: Path, pieces: Iterable[str]) -> None:
    """Atomically make ``path`` hold the text of ``pieces``: written piece by piece to a
    temporary file beside it, compared with the old file as it goes, fsynced and renamed over
    it, then the rename persisted. Unchanged content is not rewritten (the temporary file is
    removed). A failure while the pieces are made (a secret, data YAML cannot hold) leaves the
    old file as it was and no temporary file. Memory stays one piece, whatever the file's size.

    Call it inside ``writing_locked(path)``.
    """
    _remove_leftover_temps(path)
    try:
        old: BinaryIO | None = path.open("rb")
    except FileNotFoundError:
        old = None
    temporary = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    try:
        same = old is not None
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as stream:
                for piece in pieces:
                    data = piece.encode("utf-8")
                    if same:
                        assert old is not None
                        same = old.read(len(data)) == data
                    stream.write(data)
                if same:
                    assert old is not None
                    same = old.read(1) == b""
                if not same:
                    stream.flush()
                    os.fsync(stream.fileno())
            if same:
                os.unlink(temporary)
                return
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):  # never hide the failure that got us here
                os.unlink(temporary)
            raise
    finally:
        if old is not None:
            old.close()
    _fsync_directory(path.parent)


def _remove_leftover_temps(path: Path) -> None:
    """Remove the temporary files of ``path`` that no live writer owns. Call it holding the
    lock: with flock that is every one of them; without, those older than any write takes."""
    prefix = f".{path.name}.tmp-"
    cutoff = time.time() - _STALE_AFTER_S
    with os.scandir(path.parent) as entries:
        for entry in entries:
            if entry.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    if _HAVE_FLOCK or entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (POSIX); Windows cannot open directories and needs no fsync."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- locking ------------------------------------------------------------------------------------


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def _flock_lock(lock_path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive ``flock`` on ``lock_path``, which is deleted on release; yields whether it
    is held (without ``wait``, False when another process holds it).

    Deleting a lock file is racy when done naively: a waiter may already have opened the
    file being deleted and then "hold" a lock on an orphaned inode while a third process locks
    a new file at the same path. So a lock only counts once the path, after locking, still
    names the locked inode; otherwise the waiter retries on the current file. The holder
    deletes the file *before* releasing it, so every waiter on the old inode sees it gone.
    The kernel releases a flock when its holder dies, so a killed writer blocks no one: its
    leftover file is simply locked and deleted by the next writer.
    """
    flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, flags)
            held: bool | None = _names_inode(lock_path, fd)
        except BlockingIOError:
            held = None  # another process holds it, and we were not to wait
        except BaseException:
            os.close(fd)
            raise
        if held:
            break
        os.close(fd)
        if held is None:
            yield False
            return
    try:
        yield True
    finally:
        try:
            os.unlink(lock_path)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)


def _names_inode(path: Path, fd: int) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


@contextlib.contextmanager
def _exclusive_create_lock(lock_path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Best-effort lock where ``flock`` does not exist: whoever creates ``lock_path`` holds it.

    A lock file left by a killed writer is broken once it is older than any write can take.
    """
    while True:
        try:
            os.close(os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(lock_path).st_mtime < time.time() - _STALE_AFTER_S:
                    os.unlink(lock_path)
                    continue
            if not wait:
                yield False
                return
            time.sleep(_LOCK_POLL_S)
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)


_lock = _flock_lock if _HAVE_FLOCK else _exclusive_create_lock
