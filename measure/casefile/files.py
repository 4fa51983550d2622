"""Reading and writing case files: atomic saves with a backup, never into a DICOM folder.

Saving goes through :func:`dicomio.atomic.atomic_write` (temporary file in the same
folder, fsync, ``os.replace``, fsync of the folder), so a crash or power cut leaves either
the old file or the new one, never half of one, and the previous version is kept as
``NAME.bak``.  Series paths are written relative to the case file where possible, and a
measurement snapshot (:mod:`measure.results_json`) is recomputed at every save.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from dicomio.atomic import atomic_write, stale_temps
from measure.case import Case
from measure.casefile.codec import case_from_dict, case_to_dict
from measure.casefile.errors import CaseFileError
from measure.casefile.schema import validate_case_dict
from measure.results_json import case_results_json

_log = logging.getLogger("endplate.casefile")


def backup_path(path: Path) -> Path:
    """Where the previous version of a case file is kept: ``NAME.bak``."""
    return path.with_name(path.name + ".bak")


def load_case(path: Path | str) -> Case:
    """Read, validate and migrate a case file.  Raises :class:`CaseFileError`."""
    path = Path(path).expanduser()
    source = f"case file {path}"
    try:
        raw = path.read_bytes()
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
    return case


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


def save_case(case: Case, path: Path | str) -> Path:
    """Write ``case`` to ``path`` atomically, keeping the previous file as ``NAME.bak``.

    Series paths are rewritten relative to the new location where possible, and a
    ``measurements`` snapshot is recomputed.  On success the case is marked saved and
    remembers its file; on failure the previous file and its backup are untouched and
    :class:`CaseFileError` says why.  Returns the absolute path written.
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

    stale = stale_temps(path) + stale_temps(backup_path(path))
    try:
        atomic_write(path, payload, backup=backup_path(path))
    except OSError as exc:
        raise CaseFileError(
            f"could not save the case to {path}: {exc.strerror or exc}; the previous file is unchanged",
            path,
        ) from None
    for old in stale:  # temporaries of an earlier save that was interrupted
        with contextlib.suppress(OSError):
            old.unlink()

    case.rebase(folder, stored)
    case.mark_saved(path)
    return path
