"""``endplate export CASE... --format F --out PATH``: load, find the images, measure, write.

The one entry point of every registry export (the CLI verb and the app's Export dialog):
each case file is loaded, its images found once (:class:`~session.case_images.CaseImages`),
measured (engine and STIR), flattened into records (pseudonymised when a key is given)
and handed to the pure exporters of :mod:`measure.export`; every file is written through
:func:`dicomio.atomic.atomic_write`.  A case that cannot be read (or measured, or, for the
SR, whose images are gone) is reported by name and the others are still exported.  Exit
status: 0 all exported, 1 some failed, 2 nothing exported.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomio.atomic import AtomicBatch, AtomicStream, OutputExistsError, atomic_write, check_writable
from measure.case import Case
from measure.casefile import backup_path, load_case
from measure.export.pseudonymize import PatientIdentity
from measure.export.records import CaseRecords, build_case_records
from session.case_images import CaseImages
from session.export_images import ExportImages

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "sr", "fhir", "pdf", "parquet")
_log = logging.getLogger("endplate.export")


@dataclass
class ExportSummary:
    """What an export did: files written, cases exported, cases that failed and why."""

    format: str
    written: list[Path] = field(default_factory=list)
    exported: list[Path] = field(default_factory=list)  # case files that made it out
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (case file, sentence)
    error: str | None = None  # a problem that stopped the whole export (bad --out, ...)
    notes: list[str] = field(default_factory=list)
    sent_to: str | None = None  # the PACS node the SR files went to
    send_error: str | None = None  # why they could not be sent (the files are written)

    @property
    def exit_status(self) -> int:
        """0 every case exported (and sent), 1 some failed, 2 nothing exported or not sent."""
        if self.error is not None or not self.exported or self.send_error is not None:
            return 2
        return 1 if self.failed else 0


@dataclass
class _Loaded:
    path: Path
    case: Case
    records: CaseRecords
    images: CaseImages


def _load(path: Path, key: str | None, run_images: ExportImages) -> _Loaded:
    case = load_case(path, clean_temps=False)
    identity = PatientIdentity.of(
        case.patient.name or "", case.patient.id or "", case.patient.birth_date, key, case.case_id
    )
    images = run_images.case_images(case)
    notes: list[str] = []
    try:
        stir = images.stir_results()
    except (ValueError, OSError) as exc:
        stir = {}
        notes.append(f"STIR edema analysis not exported: {exc}")
    records = build_case_records(case, case.measure(), identity, stir=stir, notes=notes)
    return _Loaded(path, case, records, images)


class _OutputWriteError(OSError):
    """Writing the output failed (a full disk, a read-only folder): the whole export stops."""


def _write(path: Path, data: bytes, force: bool) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, data, overwrite=force)


class InputOverwriteError(ValueError):
    """The output names one of the export's inputs; refused whatever ``force`` says."""


def _same_path(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file or folder (spelling, links, hard links)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_input(out: Path, inputs: Sequence[tuple[Path, str]]) -> None:
    for path, what in inputs:
        if _same_path(out, path):
            raise InputOverwriteError(
                f"The output {out} is {what}; an export never overwrites its input, "
                "whatever --force says (choose another output name)."
            )


def _case_file_inputs(path: Path) -> list[tuple[Path, str]]:
    return [
        (path, f"the case file {path.name}"),
        (backup_path(path), f"the backup of the case file {path.name}"),
    ]


def _source_inputs(case: Case) -> list[tuple[Path, str]]:
    inputs: list[tuple[Path, str]] = []
    for ref in case.series:
        folder = case.series_path(ref.series_uid)
        inputs.append((folder, f"the DICOM source {folder} of series {ref.series_uid}"))
    return inputs


class _Stream:
    """Where a one-file export goes while it runs: a hidden temporary file, named at the end."""

    def __init__(self, fmt: str, out: Path, force: bool) -> None:
        self.fmt = fmt
        self.out = out
        self.force = force
        self.file: AtomicStream | None = None
        self.count = 0
        self.pages: list[tuple[CaseRecords, dict[str, Any]]] = []  # pdf: pages kept (small)
        self.tables: list[CaseRecords] = []  # parquet: one table, written at the end
        self.validator: Any = None

    def _write(self, head: str, text: str) -> None:
        """Append ``text`` (after ``head`` when the file is new); a failure stops the export."""
        try:
            if self.file is None:
                folder = self.out.parent if str(self.out.parent) else Path(".")
                folder.mkdir(parents=True, exist_ok=True)
                self.file = AtomicStream(self.out, overwrite=self.force)
                self.file.write(head.encode("utf-8"))
            self.file.write(text.encode("utf-8"))
        except OSError as exc:
            raise _OutputWriteError(exc.errno, exc.strerror or str(exc)) from exc

    def add(self, item: _Loaded, say: Callable[[str], None]) -> None:
        """Write one case (built in full first, so a failing case writes nothing)."""
        if self.fmt == "csv":
            from measure.export.csv_export import csv_case_rows, csv_header

            self._write(csv_header(), csv_case_rows(item.records))
        elif self.fmt == "json":
            from measure.export.json_export import json_case_text, json_head

            text = json_case_text(item.records)
            self._piece(json_head(), text)
        elif self.fmt == "fhir":
            from measure.export.fhir_export import BUNDLE_HEAD, EntryValidator, case_entries_text

            if self.validator is None:
                self.validator = EntryValidator()
            uids = {tp.id: item.images.study_uid_of(tp.series_uids) for tp in item.records.timepoints}
            self._piece(BUNDLE_HEAD, case_entries_text(item.records, uids, self.validator))
        elif self.fmt == "parquet":  # one columnar table: the rows are kept (no images)
            self.tables.append(item.records)
        else:  # pdf: one document, laid out at the end; a page's key image is one 8-bit slice
            say(f"drawing the key images of {item.path.name}")
            self.pages.append((item.records, item.images.key_images()))
        self.count += 1

    def _piece(self, head: str, text: str) -> None:
        self._write(head, ("" if self.file is None else ",\n") + text)

    def finish(self, say: Callable[[str], None]) -> Path:
        if self.fmt == "pdf":
            from measure.export.pdf_report import pdf_bytes

            say("rendering the PDF report")
            return _write(self.out, pdf_bytes(self.pages), self.force)
        if self.fmt == "parquet":
            from measure.export.parquet_export import parquet_bytes

            return _write(self.out, parquet_bytes(self.tables), self.force)
        from measure.export.fhir_export import BUNDLE_TAIL
        from measure.export.json_export import JSON_TAIL

        self._write("", {"json": JSON_TAIL, "fhir": BUNDLE_TAIL}.get(self.fmt, ""))
        assert self.file is not None
        return self.file.commit()

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


def export_cases(
    case_paths: Sequence[Path | str],
    fmt: str,
    out: Path | str,
    *,
    pseudonymize_key: str | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportSummary:
    """Export case files to ``out`` in format ``fmt``; never raises for a bad case.

    ``out`` is a file for csv, json, fhir and pdf (all cases in one file) and a folder
    for sr (one file per case timepoint: ``CASEID_TIMEPOINT.dcm``).  ``progress`` gets
    one short sentence per step (for a dialog's status line).

    Cases are streamed: each is loaded, measured and written (to a hidden temporary file,
    or the SR's temporary files) before the next is read, so memory does not grow with the
    number of cases; the output appears under its name only when every case is through,
    and a failure leaves no partial output and an earlier output untouched.  An output
    that names an input (a case file, its backup, a DICOM source file or folder) is
    refused whatever ``force`` says.
    """
    summary = ExportSummary(format=fmt)
    out = Path(out).expanduser()
    say = progress or (lambda _msg: None)
    if fmt not in EXPORT_FORMATS:
        summary.error = (
            f"The export format {fmt!r} is not known; expected one of {', '.join(EXPORT_FORMATS)}."
        )
        return summary
    if pseudonymize_key is not None and not pseudonymize_key:
        summary.error = "The pseudonymisation key is empty; give a non-empty --pseudonymize KEY."
        return summary
    paths = [Path(p) for p in case_paths]
    try:
        _refuse_input(out, [i for p in paths for i in _case_file_inputs(p)])
        if fmt == "sr":
            if out.exists() and not out.is_dir():
                raise ValueError(f"The SR output {out} is a file; expected a folder (one SR per timepoint).")
        else:
            if out.is_dir():
                raise ValueError(f"The output {out} is a folder; expected a file name for --format {fmt}.")
            check_writable(out, force)
    except (OutputExistsError, ValueError) as exc:
        summary.error = str(exc)
        return summary

    run_images = ExportImages()
    stream = _Stream(fmt, out, force) if fmt != "sr" else None
    batch = AtomicBatch(overwrite=force) if fmt == "sr" else None
    used: set[str] = set()
    exported: list[Path] = []
    try:
        for path in paths:
            say(f"reading {path.name}")
            try:
                item = _load(path, pseudonymize_key, run_images)
                _refuse_input(out, _source_inputs(item.case))
                if run_images.source_file(out):
                    raise InputOverwriteError(
                        f"The output {out} is one of the DICOM source files of {path.name}; an export "
                        "never overwrites its input, whatever --force says (choose another output name)."
                    )
                if stream is not None:
                    stream.add(item, say)
                else:
                    assert batch is not None
                    _add_sr(item, out, batch, used, force, say)
                if fmt == "fhir":
                    summary.notes.extend(f"{path.name}: {m}" for m in item.images.missing_series)
                exported.append(path)
            except InputOverwriteError:
                raise
            except _OutputWriteError:
                raise
            except (ValueError, OSError, ArithmeticError) as exc:  # CaseFileError is a ValueError
                summary.failed.append((path, str(exc)))
            except Exception as exc:  # a bug must not stop the other cases; the log has it
                _log.exception("export: case %s failed", path)
                summary.failed.append((path, f"the case could not be exported ({type(exc).__name__}: {exc})"))
        if not exported:
            if stream is not None:
                stream.discard()
            return summary
        if stream is not None:
            summary.written.append(stream.finish(say))
        else:
            assert batch is not None
            summary.written.extend(batch.commit())
        summary.exported.extend(exported)
    except InputOverwriteError as exc:
        _discard(stream, batch)
        summary.error = str(exc)
        summary.exported.clear()
        summary.written.clear()
    except OSError as exc:
        _discard(stream, batch)
        summary.error = (
            f"The output {out} could not be written: {exc.strerror or exc}; nothing was exported "
            "(no partial output was left and earlier files were not changed)."
        )
        summary.exported.clear()
        summary.written.clear()
    except BaseException:
        _discard(stream, batch)
        raise
    return summary


def _discard(stream: _Stream | None, batch: AtomicBatch | None) -> None:
    if stream is not None:
        stream.discard()
    if batch is not None:
        batch.discard()


def _add_sr(
    item: _Loaded, out: Path, batch: AtomicBatch, used: set[str], force: bool, say: Callable[[str], None]
) -> None:
    """Build the SRs of one case (all first: a failing case adds nothing), then write them to
    the batch's temporary files."""
    from measure.export.sr_export import safe_file_part, timepoint_sr

    files: list[tuple[Path, bytes]] = []
    names: list[str] = []
    for tp in item.records.timepoints:
        if not any(item.records.landmarks.get((tp.id, r.level)) for r in item.records.rows_of(tp.id)):
            continue
        say(f"writing the SR of {item.path.name}, timepoint {tp.id}")
        name = f"{safe_file_part(item.records.case_id or item.path.stem)}_{safe_file_part(tp.id)}"
        while name in used or name in names:
            name += "_"
        target = out / f"{name}.dcm"
        check_writable(target, force)
        files.append((target, timepoint_sr(item.records, tp.id, item.images)))
        names.append(name)
    if not files:
        raise ValueError("no timepoint of this case has landmarks; there is nothing to put in an SR")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for target, data in files:
            batch.add(target, data)
    except OSError as exc:
        raise _OutputWriteError(exc.errno, exc.strerror or str(exc)) from exc
    used.update(names)


def send_sr_files(
    node_text: str, summary: ExportSummary, progress: Callable[[str], None] | None = None
) -> None:
    """Send the SR files an export wrote to a PACS node; sets ``sent_to`` or ``send_error``."""
    from dicomio.pacs.errors import PacsError
    from session.pacs_run import send_files
    from session.pacs_settings import resolve_node

    if not summary.written:
        return
    try:
        node = resolve_node(node_text)
        say = progress or (lambda _m: None)
        send_files(node, summary.written, progress=lambda done, n: say(f"sent {done} of {n} SR files"))
    except (PacsError, ValueError) as exc:
        summary.send_error = str(exc)
        return
    summary.sent_to = node.describe()


def export_and_send(
    case_paths: Sequence[Path | str],
    out: Path | str,
    send: str,
    *,
    pseudonymize_key: str | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportSummary:
    """Export the SR of each case into ``out``, then send the files to the PACS node ``send``."""
    summary = export_cases(
        case_paths, "sr", out, pseudonymize_key=pseudonymize_key, force=force, progress=progress
    )
    if summary.written:
        (progress or (lambda _m: None))("sending the SR to the PACS")
        send_sr_files(send, summary, progress)
    return summary


def run_export(
    cases: list[Path],
    fmt: str,
    out: Path | None,
    pseudonymize_key: str | None,
    force: bool,
    send: str | None = None,
) -> int:
    """The ``endplate export`` verb: prints what was written and each failure; exit status.

    With ``send`` (``--format sr``), the SR files are also sent to that PACS node; without
    ``out`` they are written to a temporary folder that is removed afterwards.
    """
    if out is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="endplate-sr-") as tmp:
            return run_export(cases, fmt, Path(tmp), pseudonymize_key, force, send)
    if send is not None:
        summary = export_and_send(cases, out, send, pseudonymize_key=pseudonymize_key, force=force)
    else:
        summary = export_cases(cases, fmt, out, pseudonymize_key=pseudonymize_key, force=force)
    for path, message in summary.failed:
        print(f"endplate export: {path}: {message}", file=sys.stderr)
    if summary.error is not None:
        print(f"endplate export: {summary.error}", file=sys.stderr)
    for note in summary.notes:
        print(f"endplate export: note: {note}", file=sys.stderr)
    if summary.send_error is not None:
        print(f"endplate export: the SR was not sent: {summary.send_error}", file=sys.stderr)
    if summary.sent_to is not None:
        n = len(summary.written)
        print(
            f"endplate export: sent {n} SR file{'s' if n != 1 else ''} to {summary.sent_to}", file=sys.stderr
        )
    if summary.exported:
        n = len(summary.exported)
        where = summary.written[0] if len(summary.written) == 1 else f"{len(summary.written)} files in {out}"
        print(f"exported {n} case{'s' if n != 1 else ''} ({fmt}) to {where}")
    elif summary.error is None:
        print("endplate export: nothing was exported", file=sys.stderr)
    return summary.exit_status
