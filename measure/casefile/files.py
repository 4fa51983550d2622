"""Reading and writing case files: atomic saves with a backup, never into a DICOM folder.

Saving goes through :func:`dicomio.atomic.atomic_write` (temporary file in the same
folder, fsync, ``os.replace``, fsync of the folder), so a crash or power cut leaves either
the old file or the new one, never half of one, and the previous version is kept as
``NAME.bak``.  Series paths are written relative to the case file where possible, and a
measurement snapshot (:mod:`measure.results_json`) is recomputed at every save.

Two sessions on one file: load and save record a :class:`~measure.file_stamp.FileStamp`;
a save to the case's own file first checks (under a lock on the folder, so that two
savers cannot both pass the check) that the file is still what this session last read or
wrote, and refuses with :class:`CaseConflictError` otherwise.  Temporary files of
interrupted saves (their writer gone, :func:`dicomio.atomic.stale_temps`) are removed at
the next open and the next save; a concurrent writer's temporary is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dicomio.atomic import atomic_write, remove_stale_temps
from measure.case import Case
from measure.casefile.codec import case_from_dict, case_to_dict
from measure.casefile.errors import CaseConflictError, CaseFileError
from measure.casefile.limits import MAX_NESTING, too_deep_in_text
from measure.casefile.schema import validate_case_dict
from measure.file_stamp import FileStamp
from measure.results_json import case_results_json

_log = logging.getLogger("endplate.casefile")


def backup_path(path: Path) -> Path:
    """Where the previous version of a case file is kept: ``NAME.bak``."""
    return path.with_name(path.name + ".bak")


def load_case(path: Path | str, *, clean_temps: bool = True) -> Case:
    """Read, validate and migrate a case file.  Raises :class:`CaseFileError`.

    ``clean_temps``: also remove what interrupted saves of it left (opening a case to work
    on it).  Batch readers that never save (exports, the cohort report) pass False: listing
    the folder for every file of a 10,000-case folder made reading it quadratic."""
    path = Path(path).expanduser()
    source = f"case file {path}"
    try:
        raw, stamp = _read_with_stamp(path)
    except FileNotFoundError:
        raise CaseFileError(f"cannot open {source}: no such file", path) from None
    except IsADirectoryError:
        raise CaseFileError(
            f"cannot open {source}: it is a folder; expected a .json case file", path
        ) from None
    except OSError as exc:
        raise CaseFileError(f"cannot read {source}: {exc.strerror or exc}", path) from None
    hint = ""
    if backup_path(path).is_file():
        hint = f" The previous version is in {backup_path(path).name}."
    if not raw.strip():
        raise CaseFileError(f"{source} is empty; expected a JSON case file.{hint}", path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseFileError(
            f"{source} is not UTF-8 text (byte {exc.start}); expected a JSON case file.{hint}", path
        ) from None
    try:
        data = json.loads(text)
    except RecursionError:
        deep = too_deep_in_text(text) or "(top level)"
        raise CaseFileError(
            f"{source} is not a valid case file: field {deep} is nested more than {MAX_NESTING} levels "
            "deep; expected plain values, lists and objects",
            path,
            field=deep,
        ) from None
    except json.JSONDecodeError as exc:
        raise CaseFileError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(the file may be truncated or damaged).{hint}",
            path,
        ) from None
    try:
        case = case_from_dict(data, source)
    except CaseFileError as exc:
        exc.path = path
        raise
    path = path.absolute()
    case.mark_saved(path)
    case.file_stamp = stamp
    if clean_temps:
        _clean_stale_temps(path)
    return case


#: Case files larger than this are refused before they are read (a case is kilobytes).
MAX_CASE_FILE_BYTES = 64 * 1024 * 1024


def _read_with_stamp(path: Path) -> tuple[bytes, FileStamp]:
    """The bytes and the stamp of the same version (``fstat`` of the descriptor read)."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if info.st_size > MAX_CASE_FILE_BYTES:
            raise CaseFileError(
                f"case file {path} is {info.st_size / 1e6:.0f} MB; expected a case file of at most "
                f"{MAX_CASE_FILE_BYTES // (1024 * 1024)} MB",
                path,
            )
        raw = handle.read(MAX_CASE_FILE_BYTES + 1)
    return raw, FileStamp(len(raw), info.st_mtime_ns, hashlib.sha256(raw).hexdigest())


def _clean_stale_temps(path: Path) -> None:
    """Remove what interrupted saves of ``path`` (and of its backup) left; never fails."""
    try:
        removed = remove_stale_temps(path) + remove_stale_temps(backup_path(path))
    except OSError:
        return
    if removed:
        _log.info("removed %d temporary file(s) of interrupted saves of %s", removed, path)


def current_stamp(path: Path) -> FileStamp | None:
    """The stamp of ``path`` now (None when it does not exist or cannot be read)."""
    try:
        return _read_with_stamp(path)[1]
    except (OSError, CaseFileError):
        return None


def _changed_since(stamp: FileStamp, path: Path) -> bool:
    """Has ``path`` changed since ``stamp``?  Size and mtime first; same size and another
    mtime are settled by the content (a ``touch`` is not a conflict)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return False  # deleted or moved away: nothing would be overwritten
    except OSError:
        return True
    if info.st_size != stamp.size:
        return True
    if info.st_mtime_ns == stamp.mtime_ns:
        return False
    now = current_stamp(path)
    return now is None or now.sha256 != stamp.sha256


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the folder for the check-then-replace of a save (POSIX);
    where folders cannot be locked (Windows, some network shares) the save goes on without."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            _log.warning("could not lock %s for saving: %s", folder, exc)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _is_within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
    except ValueError:
        return False
    return True


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _check_not_source_folder(case: Case, folder: Path) -> None:
    """Refuse to write next to (or inside) the DICOM files of the case's series."""
    real_folder = _real(folder)
    for ref in case.series:
        source = _real(_absolute_series_path(case, ref.series_uid, folder))
        if source.is_dir():
            inside = _is_within(real_folder, source)
        else:  # a single file (multi-frame); a missing path holds nothing to protect
            inside = source.is_file() and source.parent == real_folder
        if inside:
            raise CaseFileError(
                f"refusing to save the case into {folder}: that folder holds the DICOM files of series "
                f"{ref.series_uid}; Endplate never writes into a DICOM source folder, choose another folder",
                field="series",
            )


def _absolute_series_path(case: Case, series_uid: str, target_folder: Path) -> Path:
    """Absolute series path; a relative path of a case never saved is relative to the
    file being written (that is what a relative path in a case file means)."""
    path = case.series_path(series_uid)
    return path if path.is_absolute() else target_folder / path


def _stored_path(target: Path, folder: Path) -> str:
    """A series path as written: relative to the case folder when the series is under the
    case folder or its parent (so a study folder moved as a whole still opens), else absolute."""
    target = Path(os.path.normpath(target))
    folder = Path(os.path.normpath(folder))
    for base, prefix in ((folder, ""), (folder.parent, "..")):
        if _is_within(target, base) and base != Path(base.anchor):
            rel = target.relative_to(base)
            parts = [prefix, *rel.parts] if prefix else list(rel.parts)
            return "/".join(parts) if parts else "."
    return str(target)


def _measurement_snapshot(case: Case) -> dict[str, Any] | None:
    try:
        return case_results_json(case, case.measure())
    except (ValueError, ArithmeticError) as exc:
        _log.warning("measurement snapshot not written: %s", exc)
        return {"error": f"measurements could not be computed: {exc}"}


def save_case(case: Case, path: Path | str, *, overwrite_changes: bool = False) -> Path:
    """Write ``case`` to ``path`` atomically, keeping the previous file as ``NAME.bak``.

    Series paths are rewritten relative to the new location where possible, and a
    ``measurements`` snapshot is recomputed.  On success the case is marked saved and
    remembers its file; on failure the previous file and its backup are untouched and
    :class:`CaseFileError` says why.  Saving to the case's own file when another program or
    session changed it since this one read or wrote it raises :class:`CaseConflictError`
    (nothing written) unless ``overwrite_changes``.  Returns the absolute path written.
    """
    path = Path(path).expanduser().absolute()
    folder = path.parent
    if not folder.is_dir():
        raise CaseFileError(f"cannot save the case to {path}: the folder {folder} does not exist", path)
    if path.is_dir():
        raise CaseFileError(f"cannot save the case to {path}: it is a folder; expected a file name", path)
    _check_not_source_folder(case, folder)

    stored = {
        ref.series_uid: _stored_path(_absolute_series_path(case, ref.series_uid, folder), folder)
        for ref in case.series
    }
    data = case_to_dict(case, stored, _measurement_snapshot(case))
    validate_case_dict(data, f"the case being saved to {path}")  # our own output must be valid
    payload = (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")

    own_file = case.file_path is not None and Path(case.file_path).absolute() == path
    with _folder_lock(folder):
        stamp = case.file_stamp if own_file and not overwrite_changes else None
        if stamp is not None and _changed_since(stamp, path):
            raise CaseConflictError(
                f"the case file {path} was changed by another program or session since this one "
                "opened or saved it; your changes were not saved: reload it, save under another "
                "name, or overwrite the other version",
                path,
            )
        try:
            atomic_write(path, payload, backup=backup_path(path))
        except OSError as exc:
            raise CaseFileError(
                f"could not save the case to {path}: {exc.strerror or exc}; the previous file is unchanged",
                path,
            ) from None
        info = path.stat()  # still ours: every saver holds the lock until its file is in place
    stamp = FileStamp(len(payload), info.st_mtime_ns, hashlib.sha256(payload).hexdigest())
    _clean_stale_temps(path)

    case.rebase(folder, stored)
    case.mark_saved(path)
    case.file_stamp = stamp
    return path
