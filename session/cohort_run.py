"""``endplate cohort CASES_OR_FOLDERS... --out REPORT.(json|csv|html|pdf)``: the results table
of a clinical series, from case files alone (no DICOM needed).

Folders are walked for ``*.json`` (backups ``*.bak`` are not cases); every file that is not
a readable case is listed in the report with its reason, never dropped silently.  Cases are
read one at a time and reduced to their summary (:func:`measure.cohort.summarize_case`), so
memory grows with the numbers kept, not with the cases.  The report is written atomically.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from measure.casefile import CaseFileError, load_case
from measure.cohort import CaseSummary, CohortAccumulator, CohortFilters, summarize_case
from measure.cohort_report import cohort_csv, cohort_html, cohort_pdf

__all__ = ["CohortFilters", "build_cohort", "run_cohort", "write_report"]

REPORT_FORMATS = (".json", ".csv", ".html", ".pdf")


def _case_files(inputs: Sequence[Path], skipped: Callable[[str, str], None]) -> Iterator[Path]:
    for item in inputs:
        if item.is_dir():
            for root, dirs, files in os.walk(
                item, onerror=lambda e: skipped(str(e.filename), f"cannot read: {e.strerror}")
            ):
                dirs.sort()
                for name in sorted(files):
                    if name.endswith(".json"):
                        yield Path(root) / name
        elif item.exists():
            yield item
        else:
            skipped(str(item), "no such file or folder")


#: Below this many files one process reads them all (starting workers costs ~0.5 s each).
PARALLEL_FROM_FILES = 400
_CHUNK = 100


def _summarize(path: Path, filters: CohortFilters) -> tuple[CaseSummary | None, str | None]:
    """One file's summary, or why it is not a case (never raises for a bad file)."""
    try:
        case = load_case(path, clean_temps=False)
        results = case.measure()
    except CaseFileError as exc:
        return None, str(exc)
    except ValueError as exc:
        return None, f"cannot be measured: {exc}"
    return summarize_case(case, results, filters), None


def _summarize_chunk(
    paths: list[Path], filters: CohortFilters
) -> list[tuple[Path, CaseSummary | None, str | None]]:
    return [(path, *_summarize(path, filters)) for path in paths]


def build_cohort(
    inputs: Sequence[Path],
    filters: CohortFilters,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> CohortAccumulator:
    """Read every case under ``inputs`` into the accumulator; ``progress(done, total)``
    as files are read, ``cancelled()`` checked between chunks (the app runs it in a worker).

    Large cohorts are read by one process per core (``spawn``: safe beside Qt's threads),
    in chunks whose results come back in file order, so the report does not depend on the
    number of workers."""
    acc = CohortAccumulator()
    paths = list(_case_files(inputs, acc.skip))
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    done = 0

    def take(items: list[tuple[Path, CaseSummary | None, str | None]]) -> None:
        nonlocal done
        for path, summary, reason in items:
            if reason is not None:
                acc.skip(str(path), reason)
            elif summary is not None:
                acc.add(summary)
        done += len(items)
        if progress is not None:
            progress(done, len(paths))

    if n_workers <= 1 or len(paths) < PARALLEL_FROM_FILES:
        for chunk in chunks:
            if cancelled is not None and cancelled():
                break
            take(_summarize_chunk(chunk, filters))
        return acc
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        futures = [pool.submit(_summarize_chunk, chunk, filters) for chunk in chunks]
        try:
            for future in futures:  # in file order
                if cancelled is not None and cancelled():
                    break
                take(future.result())
        finally:
            for future in futures:
                future.cancel()
    return acc


def write_report(acc: CohortAccumulator, out: Path) -> None:
    """The report in the format of ``out``'s suffix, written atomically."""
    table = acc.table()
    suffix = out.suffix.lower()
    if suffix == ".json":
        data = (json.dumps(table, indent=2, allow_nan=False) + "\n").encode("utf-8")
    elif suffix == ".csv":
        data = cohort_csv(table).encode("utf-8")
    elif suffix == ".html":
        data = cohort_html(acc, table).encode("utf-8")
    else:
        data = cohort_pdf(acc, table)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_cohort(inputs: Sequence[Path], out: Path, filters: CohortFilters, force: bool = False) -> int:
    """Exit 0 when the report is written (1 when some files were not read), 2 when refused."""
    if out.suffix.lower() not in REPORT_FORMATS:
        print(f"endplate: error: {out}: the report is .json, .csv, .html or .pdf", file=sys.stderr)
        return 2
    if out.exists() and not force:
        print(f"endplate: error: {out} exists; add --force to replace it", file=sys.stderr)
        return 2
    if not out.parent.is_dir():
        print(f"endplate: error: the folder {out.parent} does not exist", file=sys.stderr)
        return 2
    acc = build_cohort(inputs, filters)
    try:
        write_report(acc, out)
    except OSError as exc:
        print(f"endplate: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"cohort: {len(acc.cases)} cases, {sum(len(c.levels) for c in acc.cases)} levels -> {out}")
    for path, reason in acc.skipped:
        print(f"cohort: not read: {path}: {reason}")
    return 1 if acc.skipped else 0
