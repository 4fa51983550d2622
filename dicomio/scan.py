"""Scan folders/files for DICOM images: headers only, read ahead of the parser, every file accounted for.

Pixels are not read here (``dcmread(stop_before_pixels=True)``): the scan must be fast on
a CD of thousands of files.  :func:`collect_files` is the one place that walks folders
for DICOM files; :func:`scan_file` reads one file's header (what it holds comes from
:mod:`dicomio.headers`, the hand-parsed pixel element that detects truncated files and
records native frame offsets from :mod:`dicomio.dicom_bytes`); :func:`build_result`
groups the files into series.  Every file not used ends up as a :class:`SkippedFile`
with a reason a user understands; a bad file never stops the scan.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from dicomio.assemble import FrameCandidate, SeriesInfo, assemble_series
from dicomio.dicom_bytes import _ends_inside_an_element
from dicomio.grouping import series_uid_of, series_warning, sop_warning, split_acquisitions, study_warning
from dicomio.headers import FileScan, SeriesCache, _read_dataset, _scan_dataset, _skip_reason
from dicomio.model import ScanResult, SkippedFile

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]


# -- one file --------------------------------------------------------------------------


def scan_file(path: Path, series_cache: SeriesCache | None = None) -> FileScan:
    """Read one file's header; never raises for a bad file (it is returned as skipped).

    ``series_cache`` (shared by one scan) lets files of an already seen series skip
    re-reading the series-level attributes.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fp:
            ds, has_dicm = _read_dataset(fp)
            cut_short = _ends_inside_an_element(ds, size)
            return _scan_dataset(
                path, fp, ds, size, has_dicm=has_dicm, cut_short=cut_short, series_cache=series_cache
            )
    except Exception as exc:  # a bad file never stops the scan: it is reported as skipped
        return FileScan(path, skipped=SkippedFile(path, _skip_reason(exc)))


# -- folders ---------------------------------------------------------------------------

#: Files whose reading the kernel is asked to start ahead of the one being parsed.
_READAHEAD_FILES = 16
#: Bytes of each file read ahead: the header (and the start of the pixel data).
_READAHEAD_BYTES = 64 * 1024


def scan_workers() -> int:
    """Threads for the header scan: one (a plain loop in the calling thread).

    Parsing a header is pure Python (pydicom, about 1.4 ms per file), so threads only add
    GIL contention: on 2 cores a 600-file warm scan took 2.0 s with 8 threads, 1.14 s with one
    worker thread and 0.82 s as a plain loop (issue 15).  A cold disk is kept busy by
    :func:`_read_ahead` instead of by threads waiting on it.
    """
    return 1


def _read_ahead(paths: Sequence[Path]) -> None:
    """Ask the kernel to start reading the headers of ``paths`` (``POSIX_FADV_WILLNEED``), so
    that a cold disk reads the next files while this thread parses the current one."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue  # the scan reports it when it reaches the file
        try:
            fadvise(fd, 0, _READAHEAD_BYTES, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _scan_in_order(
    files: Sequence[Path],
    series_cache: SeriesCache,
    progress: ProgressCallback | None,
    cancel: CancelCallback | None,
) -> list[FileScan]:
    """The plain-loop scan: one file after the other, the disk read ahead of the parser."""
    scans: list[FileScan] = []
    total = len(files)
    for i, p in enumerate(files):
        if cancel is not None and cancel():
            break
        if i % _READAHEAD_FILES == 0:
            _read_ahead(
                files[i + _READAHEAD_FILES : i + 2 * _READAHEAD_FILES] if i else files[: 2 * _READAHEAD_FILES]
            )
        scans.append(scan_file(p, series_cache))
        if progress is not None:
            progress(i + 1, total)
    return scans


def collect_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[SkippedFile]]:
    """All files under ``paths`` (recursive, sorted, each once); missing paths are skipped."""
    files: list[Path] = []
    skipped: list[SkippedFile] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs.sort()
                for name in sorted(names):
                    add(Path(root) / name)
        elif p.is_file():
            add(p)
        else:
            skipped.append(SkippedFile(p, "unreadable: no such file or folder"))
    return files, skipped


def _acquisitions(file_scans: list[FileScan]) -> list[tuple[SeriesInfo, list[FileScan], list[str]]]:
    """The files of one series UID (or one series key) as acquisitions, each with its info
    and the warnings about UIDs the files lack: files without SeriesInstanceUID get the
    generated UID of their series key, frame of reference and acquisition time
    (:mod:`dicomio.grouping`)."""
    info = file_scans[0].info
    assert info is not None
    study = [study_warning(info.study_uid)] if info.generated_study_uid else []
    if not info.series_key:
        return [(info, file_scans, study)]
    groups = split_acquisitions([(s.acquisition, s.candidates) for s in file_scans])
    found = []
    for indices in groups:
        scans = [file_scans[i] for i in indices]
        uid = series_uid_of(info.series_key, [s.acquisition for s in scans])
        # the group's own frame of reference (the cached info may be another group's): that
        # of most files, whatever their order (anonymisers may give each file its own)
        counts = Counter(s.acquisition[0] for s in scans)
        for_uid = min(counts, key=lambda u: (-counts[u], u)) or None
        own = replace(info, series_uid=uid, frame_of_reference_uid=for_uid)
        found.append((own, scans, [series_warning(uid, len(groups) > 1), *study]))
    return found


def build_result(scans: Iterable[FileScan], skipped: Iterable[SkippedFile] = ()) -> ScanResult:
    """Group file scans into series (by UID, else by series key) and assemble their stacks."""
    result = ScanResult(skipped=list(skipped))
    by_series: dict[tuple[str, ...], list[FileScan]] = {}
    for s in sorted(scans, key=lambda s: str(s.path)):
        if s.skipped is not None:
            result.skipped.append(s.skipped)
        elif s.info is not None:
            key = (
                ("key", *s.info.series_key)
                if s.info.series_key
                else ("uid", s.info.study_uid, s.info.series_uid)
            )
            by_series.setdefault(key, []).append(s)
    for series_scans in by_series.values():
        for info, file_scans, uid_notes in _acquisitions(series_scans):
            candidates = [c for s in file_scans for c in s.candidates]
            warnings = uid_notes + [w for s in file_scans for w in s.warnings]
            no_sop = {s.path for s in file_scans if s.generated_sop_uid}
            if no_sop:
                warnings.append(sop_warning(len(no_sop)))
            uids: dict[str, list[FrameCandidate]] = {}
            for c in candidates:
                uids.setdefault(c.frame.sop_instance_uid, []).append(c)
            repeated = [u for u, cs in uids.items() if len({c.frame.path for c in cs}) > 1]
            if repeated:
                warnings.append(
                    f"{len(repeated)} SOPInstanceUID(s) occur in more than one file (copies of the same "
                    "image); the copies count as duplicates."
                )
            for stack in assemble_series(info, candidates, warnings):
                stack.generated_sop_uids = any(f.path in no_sop for f in stack.frames)
                result.stacks.append(stack)
    result.stacks.sort(
        key=lambda s: (s.study_date or "", s.study_uid, s.series_number or 0, s.series_uid, s.stack_index)
    )
    result.skipped.sort(key=lambda s: str(s.path))
    return result


def scan_paths(
    paths: Sequence[Path | str],
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> ScanResult:
    """Scan folders (recursively) and files; return the stacks found and every skipped file.

    Headers are read by :func:`scan_workers` threads (default: one, a plain loop in the
    calling thread).  ``progress(done, total)`` is called from the
    calling thread after each file; ``cancel()`` is polled before each file (from the
    worker threads too, so it must be thread-safe, e.g. reading a flag): once it returns
    True the scan stops and returns what was scanned so far (files not reached are
    neither in the stacks nor in ``skipped``).
    """
    files, skipped = collect_files(paths)
    total = len(files)
    scans: list[FileScan] = []
    if progress is not None:
        progress(0, total)
    stop = threading.Event()
    series_cache: SeriesCache = {}

    def work(p: Path) -> FileScan | None:
        if stop.is_set() or (cancel is not None and cancel()):
            stop.set()
            return None
        return scan_file(p, series_cache)

    n_workers = max(1, workers if workers is not None else scan_workers())
    if n_workers == 1:
        return build_result(_scan_in_order(files, series_cache, progress, cancel), skipped)
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="dicom-scan") as pool:
        futures: list[Future[FileScan | None]] = [pool.submit(work, p) for p in files]
        for done, _ in enumerate(as_completed(futures), start=1):
            if progress is not None:
                progress(done, total)
            if cancel is not None and cancel():
                stop.set()
                for f in futures:
                    f.cancel()
                break
    # Every file finished so far counts, also those completed while cancelling.
    for future in futures:
        if future.done() and not future.cancelled():
            scan = future.result()
            if scan is not None:
                scans.append(scan)
    return build_result(scans, skipped)


def find_series_files(root: Path, series_uids: set[str]) -> dict[str, list[Path]]:
    """The files under ``root`` that hold images of the wanted series, by SeriesInstanceUID.

    For finding series again after their folders moved (their UID does not change; a UID
    generated for files without one is the same at every scan, wherever they are): the
    same scan as opening a folder (:func:`scan_paths`), so a file counts exactly when it
    would load.  Each file is listed once, sorted; a multi-frame file once for all its
    frames.  Series not found are absent from the result; a missing ``root`` finds nothing.
    """
    if not series_uids:
        return {}
    found: dict[str, set[Path]] = {}
    for stack in scan_paths([root]).stacks:
        if stack.series_uid in series_uids:
            found.setdefault(stack.series_uid, set()).update(Path(frame.path) for frame in stack.frames)
    return {uid: sorted(paths) for uid, paths in found.items()}
