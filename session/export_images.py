"""The DICOM images of an export run: each folder scanned once, however many cases share it.

A registry export of 1,000 cases of one study folder used to scan that folder 1,000 times
(0.25-0.4 s a case).  :class:`ExportImages` keeps, for one run, the scan of every series
path (keyed by its resolved path and modification time, so a folder changed during the
run is scanned again) and one :class:`~session.library.SeriesLibrary` per distinct set of
series paths (cases that point at the same folders see exactly the stacks they would see
alone, and decode each volume once).  Only the most recent libraries are kept, so memory
stays bounded whatever the number of cases.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from dicomio.model import ScanResult
from dicomio.scan import scan_paths
from measure.case import Case
from session.case_images import CaseImages
from session.library import SeriesLibrary

#: Libraries (with their decoded volumes) kept for cases that share series paths.
KEPT_LIBRARIES = 2


def _key(path: Path) -> tuple[str, int]:
    resolved = path.resolve()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError:
        mtime = -1
    return str(resolved), mtime


class ExportImages:
    """Scans and libraries shared by the cases of one export run."""

    def __init__(self, kept_libraries: int = KEPT_LIBRARIES) -> None:
        self._scans: dict[tuple[str, int], ScanResult] = {}
        self._libraries: OrderedDict[tuple[tuple[str, int], ...], SeriesLibrary] = OrderedDict()
        self._kept = kept_libraries
        self.scanned_paths: list[str] = []  # every scan made, in order (no path twice)
        self._file_ids: set[tuple[int, int]] = set()  # (device, inode) of every image file scanned

    def scan(self, paths: list[Path]) -> ScanResult:
        """The scan of ``paths``: each path read once per run, the results merged."""
        merged = ScanResult()
        for path in paths:
            key = _key(path)
            found = self._scans.get(key)
            if found is None:
                found = scan_paths([path])
                self._scans[key] = found
                self.scanned_paths.append(key[0])
                self._remember_files(found)
            merged.stacks.extend(found.stacks)
            merged.skipped.extend(found.skipped)
        return merged

    def _remember_files(self, result: ScanResult) -> None:
        for stack in result.stacks:
            for frame in stack.frames:
                try:
                    st = os.stat(frame.path)
                except OSError:
                    continue
                self._file_ids.add((st.st_dev, st.st_ino))

    def source_file(self, path: Path) -> bool:
        """True when ``path`` is (a name of) an image file scanned in this run."""
        try:
            st = path.stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self._file_ids

    def case_images(self, case: Case) -> CaseImages:
        """The images of ``case``, from the run's scans (and a library shared with the cases
        that use exactly the same series paths)."""
        paths = sorted({_key(case.series_path(ref.series_uid)) for ref in case.series})
        key = tuple(paths)
        library = self._libraries.get(key)
        if library is None:
            library = SeriesLibrary()
            self._libraries[key] = library
            while len(self._libraries) > self._kept:
                _, old = self._libraries.popitem(last=False)
                old.clear()
        else:
            self._libraries.move_to_end(key)
        return CaseImages(case, library, scan=self.scan)
