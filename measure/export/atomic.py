"""Atomic, no-clobber file writes: a reader never sees half a file, and nothing is lost.

Write to a temporary file in the destination folder, fsync it, then ``os.replace`` it
onto the final name (atomic on POSIX and Windows within one file system), then fsync the
folder so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class OutputExistsError(FileExistsError):
    """The output exists and ``--force`` was not given."""


def check_writable(path: Path, force: bool) -> None:
    """Raise :class:`OutputExistsError` (a full sentence) when ``path`` exists and not ``force``."""
    if path.exists() and not force:
        raise OutputExistsError(
            f"The output file {path} already exists; it was not overwritten (use --force to replace it)."
        )


def write_bytes_atomic(path: Path, data: bytes, *, force: bool) -> Path:
    """Write ``data`` to ``path`` atomically; refuse to overwrite unless ``force``."""
    path = Path(path)
    check_writable(path, force)
    if path.exists() and path.is_dir():
        raise IsADirectoryError(f"The output {path} is a folder; expected a file name.")
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(folder)
    return path


def write_text_atomic(path: Path, text: str, *, force: bool) -> Path:
    """UTF-8 text version of :func:`write_bytes_atomic` (newlines written as given)."""
    return write_bytes_atomic(path, text.encode("utf-8"), force=force)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
