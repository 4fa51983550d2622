"""The one atomic file writer: case files, exports and recovery copies all go through it.

A reader never sees half a file and a crash or power cut loses nothing: the bytes go to
a new, uniquely named hidden file in the destination folder (``.NAME.<pid>-<random>.tmp``,
created with ``O_EXCL``),
which is flushed and fsynced, then ``os.replace``-d onto the final name (atomic on POSIX
and Windows within one file system), then the folder is fsynced so that the rename
itself survives.  With ``backup`` the previous version is kept under that name, and only
once the new file is in place: a failed write leaves the file and its old backup exactly
as they were.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path

_log = logging.getLogger("endplate.files")


class OutputExistsError(FileExistsError):
    """The output exists and overwriting it was not allowed."""


def check_writable(path: Path, force: bool) -> None:
    """Raise :class:`OutputExistsError` (a full sentence) when ``path`` exists and not ``force``."""
    if path.exists() and not force:
        raise OutputExistsError(
            f"The output file {path} already exists; it was not overwritten (use --force to replace it)."
        )


def temp_name(path: Path) -> Path:
    """A new hidden temporary name beside ``path``: ``.NAME.<pid>-<random>.tmp`` (unique per
    call, so writers never collide; the pid says whose it is when it is left behind)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


#: A temporary file older than this is stale whoever wrote it (a save takes seconds; the
#: pid of a writer on another machine of a shared folder cannot be checked).
STALE_AFTER_S = 3600.0


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # ours: maybe another thread is writing it right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else (EPERM)
        return True
    return True


def stale_temps(path: Path, *, now: float | None = None) -> list[Path]:
    """Temporary files of earlier writes of ``path`` that were interrupted.

    Only names this module makes (``.NAME.<pid>-<hex>.tmp``, or the older ``.NAME.<hex>.tmp``)
    count, and only when their writer is gone: the pid is no running process, or the file is
    older than :data:`STALE_AFTER_S`.  A concurrent writer's temporary is never listed.
    """
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:(\d+)-)?[0-9a-f]{{12}}\.tmp$")
    now = time.time() if now is None else now
    stale = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return []
    for p in entries:
        match = pattern.match(p.name)
        if match is None:
            continue
        try:
            info = p.lstat()
        except OSError:
            continue
        if not p.is_file() or p.is_symlink():
            continue
        old = now - info.st_mtime > STALE_AFTER_S
        pid = match.group(1)
        if old or (pid is not None and not _pid_alive(int(pid))):
            stale.append(p)
    return stale


def remove_stale_temps(path: Path) -> int:
    """Delete :func:`stale_temps` of ``path``; returns how many went (errors are ignored)."""
    removed = 0
    for old in stale_temps(path):
        with contextlib.suppress(OSError):
            old.unlink()
            removed += 1
    return removed


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (network shares) refuse; the data itself was fsynced
    finally:
        os.close(fd)


def _write_new(tmp: Path, data: bytes, mode: int = 0o666) -> None:
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(
    path: Path | str,
    data: bytes,
    *,
    overwrite: bool = True,
    backup: Path | None = None,
    mode: int = 0o666,
) -> Path:
    """Write ``data`` to ``path`` atomically and durably; returns ``path``.

    ``overwrite=False`` refuses an existing file (:class:`OutputExistsError`).  ``backup``
    keeps the replaced file's previous content under that name (a hard link when the file
    system allows, else a copy); a failure to keep it is logged, never fails the write.
    ``mode`` (less the umask) is the new file's permissions from its first byte on: ``0o600``
    for a file that holds secrets (the PACS settings).
    Raises ``OSError`` (the target unchanged) when the folder is missing or not writable,
    ``IsADirectoryError`` when ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"The output {path} is a folder; expected a file name.")
    check_writable(path, overwrite)
    tmp = temp_name(path)
    bak_tmp: Path | None = None
    try:
        _write_new(tmp, data, mode)
        if backup is not None and path.exists():
            bak_tmp = temp_name(backup)
            try:
                os.link(path, bak_tmp)
            except OSError:
                shutil.copy2(path, bak_tmp)
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, bak_tmp):
            if leftover is not None:
                with contextlib.suppress(OSError):
                    leftover.unlink()
        raise
    if bak_tmp is not None and backup is not None:  # the new file is in place
        try:
            os.replace(bak_tmp, backup)
        except OSError as exc:
            _log.warning("could not keep the previous version of %s as %s: %s", path, backup.name, exc)
            with contextlib.suppress(OSError):
                bak_tmp.unlink()
    fsync_folder(path.parent if str(path.parent) else Path("."))
    return path


class AtomicStream:
    """A file written piece by piece that appears under its name only when complete.

    For exports too large to hold in memory: :meth:`write` appends to a hidden temporary
    file beside ``path``; :meth:`commit` fsyncs it and renames it onto ``path`` (the same
    guarantees as :func:`atomic_write`); :meth:`discard` (or leaving a ``with`` block by
    an exception) removes it, so a failed export leaves no partial file and an earlier
    file of that name untouched.
    """

    def __init__(self, path: Path | str, *, overwrite: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(f"The output {self.path} is a folder; expected a file name.")
        check_writable(self.path, overwrite)
        self._tmp = temp_name(self.path)
        self._handle = open(self._tmp, "xb")  # noqa: SIM115 (closed by commit/discard)

    def write(self, data: bytes) -> None:
        self._handle.write(data)

    def commit(self) -> Path:
        """Make the file durable and give it its name; returns the path."""
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.discard()
            raise
        fsync_folder(self.path.parent if str(self.path.parent) else Path("."))
        return self.path

    def discard(self) -> None:
        """Forget what was written (idempotent)."""
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink()

    def __enter__(self) -> AtomicStream:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.discard()


class AtomicBatch:
    """Several files that appear together or not at all (a multi-file export).

    :meth:`add` writes each file's bytes to its hidden temporary file at once (memory stays
    bounded); :meth:`commit` renames them all onto their names.  A failure while adding
    (a full disk) or committing removes every temporary file, and a commit that fails
    halfway puts back the files it had already replaced (kept as hard links or copies until
    the end) and removes the ones it had created: nothing partial is left and earlier
    outputs are untouched.
    """

    def __init__(self, *, overwrite: bool = True) -> None:
        self._overwrite = overwrite
        self._pending: list[tuple[Path, Path]] = []  # (temporary, final)

    @property
    def paths(self) -> list[Path]:
        return [final for _, final in self._pending]

    def add(self, path: Path | str, data: bytes) -> None:
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"The output {path} is a folder; expected a file name.")
        if path in self.paths:
            raise ValueError(f"The output {path} was named twice in one export.")
        check_writable(path, self._overwrite)
        tmp = temp_name(path)
        try:
            _write_new(tmp, data)
        except BaseException:
            self.discard()
            raise
        self._pending.append((tmp, path))

    def discard(self) -> None:
        """Remove every temporary file (idempotent); the final names were never touched."""
        for tmp, _ in self._pending:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._pending.clear()

    def commit(self) -> list[Path]:
        """Rename every file onto its name; all or none (see the class)."""
        kept: list[tuple[Path, Path]] = []  # (copy of a replaced file, its name)
        created: list[Path] = []  # names that did not exist before this commit
        try:
            for tmp, final in self._pending:
                check_writable(final, self._overwrite)  # it may have appeared since add()
                if final.exists():
                    copy = temp_name(final)
                    try:
                        os.link(final, copy)
                    except OSError:
                        shutil.copy2(final, copy)
                    kept.append((copy, final))
                    os.replace(tmp, final)
                else:
                    os.replace(tmp, final)
                    created.append(final)
        except BaseException:
            for final in created:
                with contextlib.suppress(OSError):
                    final.unlink()
            for copy, final in kept:
                with contextlib.suppress(OSError):
                    os.replace(copy, final)
            self.discard()
            raise
        for copy, _ in kept:
            with contextlib.suppress(OSError):
                copy.unlink()
        folders = {final.parent if str(final.parent) else Path(".") for _, final in self._pending}
        for folder in folders:
            fsync_folder(folder)
        done = self.paths
        self._pending.clear()
        return done
