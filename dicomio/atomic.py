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


def _write_new(tmp: Path, data: bytes, mode: int) -> None:
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
