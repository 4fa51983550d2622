"""Where a case is offered to be saved: a folder of cases, never a DICOM source folder.

A reader saving a new case should not have to walk to a folder each time: the dialog
starts in the folder of the last case saved (still there), else next to the case's DICOM
folder (in its parent, when writable), else in ``~/Endplate cases``; the file is named
after the patient's ID and the first timepoint's date.  A folder that holds the case's
DICOM files is never offered (the case file refuses it anyway).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from measure.case import Case

#: Where new cases go when no case has been saved yet.
DEFAULT_FOLDER_NAME = "Endplate cases"


def _safe_name(text: str) -> str:
    """``text`` as a file name: letters, digits, ``-`` and ``_`` only, at most 40 characters."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40]


def suggested_file_name(case: Case) -> str:
    """``<patient id>_<first date>.json`` from what the case knows, else ``case.json``."""
    patient = case.patient
    who = _safe_name(patient.id or patient.name or "")
    dates = [tp.date for tp in case.ordered_timepoints() if tp.date]
    parts = [p for p in (who, dates[0] if dates else "") if p]
    return "_".join(parts) + ".json" if parts else "case.json"


def holds_case_images(case: Case, folder: Path) -> bool:
    """Does ``folder`` hold (or lie inside) the DICOM files of one of the case's series?"""
    real = Path(os.path.realpath(folder))
    for ref in case.series:
        source = Path(os.path.realpath(case.series_path(ref.series_uid)))
        base = source if source.is_dir() else source.parent
        if real == base or base in real.parents:
            return True
    return False


def suggested_case_path(case: Case, recent_cases: Sequence[Path], home: Path) -> Path:
    """The path the Save dialog starts with: the case's own file when it has one; else a
    free name in the last case's folder (when it exists and holds none of the case's
    images), else in the parent of the first series' folder (when writable and free of the
    case's images), else in ``home / "Endplate cases"``."""
    if case.file_path is not None:
        return Path(case.file_path)
    candidates = [Path(p).parent for p in recent_cases[:1]]
    source = case.series_path(case.series[0].series_uid) if case.series else None
    if source is not None and source.exists():  # images moved away: their old place is no hint
        candidates.append((source if source.is_dir() else source.parent).parent)
    folder = home / DEFAULT_FOLDER_NAME
    for candidate in candidates:
        if candidate.is_dir() and os.access(candidate, os.W_OK) and not holds_case_images(case, candidate):
            folder = candidate
            break
    name = suggested_file_name(case)
    path = folder / name
    n = 2
    while path.exists():
        path = folder / f"{Path(name).stem}-{n}.json"
        n += 1
    return path
