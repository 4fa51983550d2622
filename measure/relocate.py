"""Find a case's series again after their folders moved: match by SeriesInstanceUID.

A case file remembers where each series was; folders get renamed, copied to another
disk or re-exported from PACS.  The UID does not change, so a search under a folder the
user points at finds them again.  The search is dicomio's folder scan
(:func:`dicomio.scan.find_series_files`): a file counts exactly when it would load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from dicomio.scan import find_series_files
from measure.case import Case, SeriesRef

_log = logging.getLogger("endplate.relocate")


def series_location(files: Iterable[Path]) -> Path:
    """The path that stands for a series: its file if it is one file, else the deepest
    folder holding all its files."""
    paths = sorted({Path(os.path.abspath(p)) for p in files})
    if not paths:
        raise ValueError("a series location needs at least one file")
    if len(paths) == 1:
        return paths[0]
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def find_series(case: Case, search_root: Path | str) -> dict[str, Path]:
    """Where the case's series are under ``search_root``: ``{series_uid: path}``.

    Only series that were found are in the result.
    """
    root = Path(search_root).expanduser()
    if not root.exists():
        raise ValueError(f"cannot search for series under {root}: no such folder")
    wanted = {ref.series_uid for ref in case.series}
    if not wanted:
        return {}
    files = find_series_files(root, wanted)
    return {uid: series_location(paths) for uid, paths in files.items() if paths}


def missing_series(case: Case) -> list[SeriesRef]:
    """Series references whose path does not exist (any more)."""
    return [ref for ref in case.series if not case.series_path(ref.series_uid).exists()]


def apply_relocation(case: Case, found: Mapping[str, Path]) -> dict[str, SeriesRef]:
    """Point the case's series at the paths found (one batched event).

    Returns the previous references of the series that changed, for undo.  The new
    paths are stored absolute; saving the case makes them relative where possible.
    """
    previous: dict[str, SeriesRef] = {}
    with case.batch():
        for uid, path in found.items():
            ref = case.series_ref(uid)
            if ref is None:
                continue
            new_path = str(Path(path).absolute())
            if case.series_path(uid).resolve() == Path(new_path).resolve():
                continue
            old = case.assign_series(replace(ref, path=new_path))
            if old is not None:
                previous[uid] = old
    return previous
