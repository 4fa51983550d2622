"""Scan folders/files for DICOM images: headers only, read ahead of the parser, every file accounted for.

Pixels are not read here (headers up to the pixel data only): the scan must be fast on
a CD of thousands of files.  :func:`collect_files` is the one place that walks folders
for DICOM files; :func:`scan_file` reads one file's header, byte by byte for the common
native little endian files (:mod:`dicomio.fast_header`), else with pydicom
(``stop_before_pixels``; the hand-parsed pixel element that detects truncated files and
records native frame offsets from :mod:`dicomio.dicom_bytes`); what a header holds comes
from :mod:`dicomio.headers`; :func:`build_result`
groups the files into series.  Every file not used ends up as a :class:`SkippedFile`
with a reason a user understands; a bad file never stops the scan.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import re
import stat
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, cast

from pydicom.dataset import Dataset

from dicomio.assemble import FrameCandidate, SeriesInfo, assemble_series
from dicomio.dicom_bytes import _ends_inside_an_element, _Skip
from dicomio.fast_header import read_fast_header
from dicomio.grouping import series_uid_of, series_warning, sop_warning, split_acquisitions, study_warning
from dicomio.headers import FileScan, SeriesCache, _read_dataset, _scan_dataset, _skip_reason
from dicomio.model import ScanResult, SeriesStack, SkippedFile
from dicomio.pixel_errors import budget_problem, decode_budget_bytes, decoded_nbytes

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]


# -- one file --------------------------------------------------------------------------


def _not_a_file(mode: int) -> str | None:
    """Why an entry of this ``st_mode`` is not scanned (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        what = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        what = "a socket"
    elif stat.S_ISCHR(mode):
        what = "a character device"
    elif stat.S_ISBLK(mode):
        what = "a block device"
    else:
        what = "not a regular file"
    return f"not a file: {what}, not a regular file; it was not opened"


def _open_regular(path: Path) -> tuple[BinaryIO, int]:
    """Open ``path`` for reading without blocking, and only when it is a regular file.

    ``O_NONBLOCK``: opening a FIFO (swapped in after the folder was listed) must not wait
    for a writer.  Returns the file and its size.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        problem = _not_a_file(st.st_mode)
        if problem is not None:
            raise _Skip(problem)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def scan_file(path: Path, series_cache: SeriesCache | None = None, *, fast: bool = True) -> FileScan:
    """Read one file's header; never raises for a bad file (it is returned as skipped).

    ``series_cache`` (shared by one scan) lets files of an already seen series skip
    re-reading the series-level attributes.  Only regular files are opened; the header read
    is bounded (:func:`dicomio.dicom_bytes.read_bounded_header`).  ``fast``: files of the
    common shape are parsed byte by byte (:mod:`dicomio.fast_header`), the rest by
    pydicom; ``fast=False`` reads every file with pydicom (the reference the fast reader
    is tested against).
    """
    if not isinstance(path, Path):
        path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scan = _scan_fast(path, series_cache) if fast else None
        if scan is None:
            del caught[:]  # what the fast reader decoded before declining is decoded again
            scan = _scan_file(path, series_cache)
    for w in caught:
        text = str(w.message)
        _log.warning("%s: %s", path, text)  # every pydicom warning goes to the log
        if scan.skipped is None and _MATTERS.search(text):
            # The text shown for this series (description, patient) may be garbled: say so.
            scan.warnings.append(f"{path.name}: {text}")
    return scan


#: pydicom warnings worth a series warning: the character set (names and descriptions may
#: be shown wrongly).  Others (VR lookups, value checks) only go to the log.
_MATTERS = re.compile(r"encoding|character set|charset", re.IGNORECASE)
_log = logging.getLogger("endplate.dicom")


def _scan_fast(path: Path, series_cache: SeriesCache | None) -> FileScan | None:
    """The scan of a file of the common shape (:mod:`dicomio.fast_header`); None for any
    other file, and for any file that is not a good image: pydicom reads those, so that
    what a user is told about them does not depend on which reader read them."""
    try:
        fp, size = _open_regular(path)
        with fp:
            header = read_fast_header(fp, size)
            return _scan_dataset(
                path,
                fp,
                cast(Dataset, header.dataset),  # it has the Dataset API _scan_dataset uses
                size,
                has_dicm=True,
                cut_short=False,
                series_cache=series_cache,
                pixel_element=header.pixel,
            )
    except Exception:  # Decline, or a file to be reported (by the pydicom reading)
        return None


def _scan_file(path: Path, series_cache: SeriesCache | None) -> FileScan:
    try:
        fp, size = _open_regular(path)
        with fp:
            ds, has_dicm, end = _read_dataset(fp)
            cut_short = end.at_zeros is None and _ends_inside_an_element(ds, size)
            return _scan_dataset(
                path,
                fp,
                ds,
                size,
                has_dicm=has_dicm,
                cut_short=cut_short,
                series_cache=series_cache,
                zeros_at=end.at_zeros,
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

    Parsing a header is pure Python (about 0.2 ms per file with :mod:`dicomio.fast_header`,
    1.4 ms with pydicom), so threads only add GIL contention: on 2 cores a 600-file warm
    scan (with pydicom) took 2.0 s with 8 threads, 1.14 s with one worker thread and 0.82 s
    as a plain loop (issue 15).  A cold disk is kept busy by :func:`_read_ahead` instead of
    by threads waiting on it.
    """
    return 1


def _read_ahead(paths: Sequence[Path], whole_budget: list[int]) -> None:
    """Ask the kernel to start reading ``paths`` (``POSIX_FADV_WILLNEED``), so that a cold
    disk reads the next files while this thread parses the current one.

    Whole files while ``whole_budget[0]`` (bytes, spent here) lasts, then headers only:
    the pixels of a series are read next when it is opened, and a cold disk reading them
    during the scan instead of after it cuts a cold load by a third (issue 15); a folder larger
    than the budget (a CD of many series) has only its headers read ahead.
    """
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue  # the scan reports it when it reaches the file
        try:
            length = _READAHEAD_BYTES
            if whole_budget[0] > 0:
                size = os.fstat(fd).st_size
                if size <= whole_budget[0]:
                    whole_budget[0] -= size
                    length = 0  # to the end of the file
                else:
                    whole_budget[0] = 0
            fadvise(fd, 0, length, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _whole_file_budget() -> int:
    """Bytes of whole files a scan reads ahead: half the decode budget (which is at most
    3/4 of the memory available), so that read-ahead never pushes out what it reads."""
    return decode_budget_bytes() // 2


def _scan_in_order(
    files: Sequence[Path],
    series_cache: SeriesCache,
    progress: ProgressCallback | None,
    cancel: CancelCallback | None,
) -> list[FileScan]:
    """The plain-loop scan: one file after the other, the disk read ahead of the parser."""
    scans: list[FileScan] = []
    total = len(files)
    whole_budget = [_whole_file_budget()]
    for i, p in enumerate(files):
        if cancel is not None and cancel():
            break
        if i % _READAHEAD_FILES == 0:
            _read_ahead(
                files[i + _READAHEAD_FILES : i + 2 * _READAHEAD_FILES]
                if i
                else files[: 2 * _READAHEAD_FILES],
                whole_budget,
            )
        scans.append(scan_file(p, series_cache))
        if progress is not None:
            progress(i + 1, total)
    return scans


def _entry_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "unreadable: a symbolic link loop (the link points back to itself); it was not followed"
    if isinstance(exc, FileNotFoundError):
        return "unreadable: a broken symbolic link (its target does not exist)"
    return f"unreadable: {exc.strerror or exc}"


def collect_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[SkippedFile]]:
    """All regular files under ``paths`` (recursive, sorted, each once), and every other entry
    with its reason: missing paths, FIFOs, sockets, devices, broken links, folders that
    cannot be listed, and links back to a folder already being scanned (a loop)."""
    files: list[Path] = []
    skipped: list[SkippedFile] = []
    seen_files: set[tuple[int, int]] = set()
    seen_dirs: dict[tuple[int, int], Path] = {}

    def add(p: Path, st: os.stat_result) -> None:
        key = (st.st_dev, st.st_ino)
        if key not in seen_files:
            seen_files.add(key)
            files.append(p)

    def walk(top: Path, top_stat: os.stat_result) -> None:
        pending = [(top, top_stat)]
        while pending:
            folder, st = pending.pop()
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                first = seen_dirs[key]
                if folder != first:
                    what = "loop" if first in folder.parents else "to a folder scanned already"
                    skipped.append(
                        SkippedFile(
                            folder,
                            f"unreadable: a symbolic link {what}: this folder is {first}, "
                            "already scanned; it was not followed again",
                        )
                    )
                continue
            seen_dirs[key] = folder
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                skipped.append(
                    SkippedFile(
                        folder,
                        f"unreadable: the folder cannot be listed ({exc.strerror or exc}); "
                        "the files in it were not scanned",
                    )
                )
                continue
            subfolders = []
            for entry in entries:
                p = Path(entry.path)
                try:
                    est = entry.stat(follow_symlinks=True)
                except OSError as exc:
                    skipped.append(SkippedFile(p, _entry_problem(exc)))
                    continue
                if stat.S_ISDIR(est.st_mode):
                    subfolders.append((p, est))
                elif (problem := _not_a_file(est.st_mode)) is not None:
                    skipped.append(SkippedFile(p, problem))
                else:
                    add(p, est)
            pending.extend(reversed(subfolders))  # depth first, in name order

    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()
        except OSError as exc:
            reason = (
                "unreadable: no such file or folder"
                if isinstance(exc, FileNotFoundError)
                else _entry_problem(exc)
            )
            skipped.append(SkippedFile(p, reason))
            continue
        if stat.S_ISDIR(st.st_mode):
            walk(p, st)
        elif (problem := _not_a_file(st.st_mode)) is not None:
            skipped.append(SkippedFile(p, problem))
        else:
            add(p, st)
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


def _stack_too_large(stack: SeriesStack) -> str | None:
    """The loader's decode-budget refusal for the whole stack (each file passed its own)."""
    _, rows, columns = stack.geometry.shape
    nbytes = decoded_nbytes(stack.pixel_format, rows, columns, stack.n_images)
    what = f"series {stack.description or stack.series_uid!r}, {stack.n_images} x {rows} x {columns} pixels,"
    problem = budget_problem(nbytes, what)
    return None if problem is None else f"too large: {problem}"


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
            # the same sentence from many files (e.g. every slice's orientation) is said once
            warnings = list(dict.fromkeys(uid_notes + [w for s in file_scans for w in s.warnings]))
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
                too_big = _stack_too_large(stack)
                if too_big is not None:  # listed, it would only fail to load: its files are skipped
                    paths = sorted({Path(f.path) for f in stack.frames})
                    result.skipped.extend(SkippedFile(p, too_big) for p in paths)
                    continue
                result.stacks.append(stack)
    result.stacks.sort(
        key=lambda s: (s.study_date or "", s.study_uid, s.series_number or 0, s.series_uid, s.stack_index)
    )
    result.skipped.sort(key=lambda s: str(s.path))
    return result


@contextmanager
def _old_objects_not_collected() -> Iterator[None]:
    """The objects that exist before a scan are left out of the cyclic collector's passes
    while it runs (``gc.freeze``), so the scan's many small objects trigger only passes
    over the young ones.

    A 600-file scan allocates enough to trigger full passes over every object the process
    holds (pydicom's dictionaries, numpy, the app): ~40 ms of a ~0.16 s warm scan
    (issue 15).  Collection stays enabled (or disabled, as :mod:`app.gc_guard` keeps it
    in the app): garbage the scan makes is still collected as usual.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
    with _old_objects_not_collected():
        return _scan_paths(paths, workers=workers, progress=progress, cancel=cancel)


def _scan_paths(
    paths: Sequence[Path | str],
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> ScanResult:
    """:func:`scan_paths` itself."""
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
