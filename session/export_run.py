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
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dicomio.atomic import OutputExistsError, atomic_write, check_writable
from measure.case import Case
from measure.casefile import load_case
from measure.export.pseudonymize import PatientIdentity
from measure.export.records import CaseRecords, build_case_records
from session.case_images import CaseImages

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


def _load(path: Path, key: str | None) -> _Loaded:
    case = load_case(path)
    identity = PatientIdentity.of(
        case.patient.name or "", case.patient.id or "", case.patient.birth_date, key, case.case_id
    )
    images = CaseImages(case)
    notes: list[str] = []
    try:
        stir = images.stir_results()
    except (ValueError, OSError) as exc:
        stir = {}
        notes.append(f"STIR edema analysis not exported: {exc}")
    records = build_case_records(case, case.measure(), identity, stir=stir, notes=notes)
    return _Loaded(path, case, records, images)


def _write(path: Path, data: bytes, force: bool) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, data, overwrite=force)


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
    try:
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

    loaded: list[_Loaded] = []
    for path in case_paths:
        path = Path(path)
        say(f"reading {path.name}")
        try:
            loaded.append(_load(path, pseudonymize_key))
        except (ValueError, OSError, ArithmeticError) as exc:  # CaseFileError is a ValueError
            summary.failed.append((path, str(exc)))
        except Exception as exc:  # a bug must not stop the other cases; the log has it
            _log.exception("export: case %s failed", path)
            summary.failed.append((path, f"the case could not be exported ({type(exc).__name__}: {exc})"))
    if not loaded:
        return summary

    try:
        if fmt == "csv":
            from measure.export.csv_export import csv_text

            data = csv_text([c.records for c in loaded]).encode("utf-8")
            summary.written.append(_write(out, data, force))
            summary.exported.extend(c.path for c in loaded)
        elif fmt == "parquet":
            from measure.export.parquet_export import parquet_bytes

            summary.written.append(_write(out, parquet_bytes([c.records for c in loaded]), force))
            summary.exported.extend(c.path for c in loaded)
        elif fmt == "json":
            from measure.export.json_export import json_text

            data = json_text([c.records for c in loaded]).encode("utf-8")
            summary.written.append(_write(out, data, force))
            summary.exported.extend(c.path for c in loaded)
        elif fmt == "fhir":
            from measure.export.fhir_export import fhir_text

            say("building the FHIR bundle")
            study_uids = [
                {tp.id: c.images.study_uid_of(tp.series_uids) for tp in c.records.timepoints} for c in loaded
            ]
            text = fhir_text([c.records for c in loaded], study_uids)
            summary.written.append(_write(out, text.encode("utf-8"), force))
            summary.exported.extend(c.path for c in loaded)
            for c in loaded:
                summary.notes.extend(f"{c.path.name}: {m}" for m in c.images.missing_series)
        elif fmt == "pdf":
            from measure.export.pdf_report import pdf_bytes

            say("rendering the PDF report")
            pages = [(c.records, c.images.key_images()) for c in loaded]
            summary.written.append(_write(out, pdf_bytes(pages), force))
            summary.exported.extend(c.path for c in loaded)
        else:
            _export_sr(loaded, out, force, summary, say)
    except OSError as exc:
        summary.error = f"The output {out} could not be written: {exc.strerror or exc}."
        summary.exported.clear()
    return summary


def _export_sr(
    loaded: list[_Loaded], out: Path, force: bool, summary: ExportSummary, say: Callable[[str], None]
) -> None:
    from measure.export.sr_export import safe_file_part, timepoint_sr

    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for item in loaded:
        try:
            files: list[tuple[Path, bytes]] = []
            for tp in item.records.timepoints:
                if not any(item.records.landmarks.get((tp.id, r.level)) for r in item.records.rows_of(tp.id)):
                    continue
                say(f"writing the SR of {item.path.name}, timepoint {tp.id}")
                name = f"{safe_file_part(item.records.case_id or item.path.stem)}_{safe_file_part(tp.id)}"
                while name in used:
                    name += "_"
                used.add(name)
                target = out / f"{name}.dcm"
                check_writable(target, force)
                files.append((target, timepoint_sr(item.records, tp.id, item.images)))
            if not files:
                raise ValueError("no timepoint of this case has landmarks; there is nothing to put in an SR")
            for target, data in files:
                summary.written.append(atomic_write(target, data, overwrite=force))
            summary.exported.append(item.path)
        except (ValueError, OSError) as exc:
            summary.failed.append((item.path, str(exc)))


def send_sr_files(node_text: str, summary: ExportSummary) -> None:
    """Send the SR files an export wrote to a PACS node; sets ``sent_to`` or ``send_error``."""
    from dicomio.pacs.errors import PacsError
    from session.pacs_run import send_files
    from session.pacs_settings import resolve_node

    if not summary.written:
        return
    try:
        node = resolve_node(node_text)
        send_files(node, summary.written)
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
        send_sr_files(send, summary)
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
