"""``endplate export CASE... --format F --out PATH``: load, flatten, write; report per case.

A case that cannot be read (or measured, or, for the SR, whose images are gone) is
reported by name and the others are still exported.  Exit status: 0 all exported, 1 some
failed, 2 nothing exported.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from measure.export.atomic import OutputExistsError, check_writable, write_bytes_atomic, write_text_atomic
from measure.export.pseudonymize import PatientIdentity
from measure.export.records import CaseRecords, build_case_records

if TYPE_CHECKING:
    from measure.case import Case
    from measure.export.sources import CaseSources

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "sr", "fhir", "pdf")
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

    @property
    def exit_status(self) -> int:
        """0 every case exported, 1 some failed, 2 nothing exported."""
        if self.error is not None or not self.exported:
            return 2
        return 1 if self.failed else 0


@dataclass
class _Loaded:
    path: Path
    case: Case
    records: CaseRecords
    _sources: CaseSources | None = None

    @property
    def sources(self) -> CaseSources:
        if self._sources is None:
            from measure.export.sources import case_sources

            self._sources = case_sources(self.case)
        return self._sources


def case_measurements(case: Case) -> dict[str, Any]:
    """The ``endplate measure --json`` dict of a case (measure.report + STIR)."""
    from measure.report import measurements_dict

    data = measurements_dict(case)
    try:
        from measure.edema import add_stir_to_measurements

        add_stir_to_measurements(case, data)  # a "stir" object per vertebra, as `measure --json`
    except (ImportError, ValueError, OSError) as exc:
        data.setdefault("notes", []).append(f"STIR edema analysis not exported: {exc}")
    return data


def _load(path: Path, key: str | None) -> _Loaded:
    from measure.casefile import load_case

    case = load_case(path)
    identity = PatientIdentity.of(
        case.patient.name or "", case.patient.id or "", case.patient.birth_date, key
    )
    return _Loaded(path, case, build_case_records(case, case_measurements(case), identity))


def _study_uids(item: _Loaded) -> dict[str, str | None]:
    return {tp.id: item.sources.study_uid_of(tp.series_uids) for tp in item.records.timepoints}


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

            summary.written.append(write_text_atomic(out, csv_text([c.records for c in loaded]), force=force))
            summary.exported.extend(c.path for c in loaded)
        elif fmt == "json":
            from measure.export.json_export import json_text

            summary.written.append(
                write_text_atomic(out, json_text([c.records for c in loaded]), force=force)
            )
            summary.exported.extend(c.path for c in loaded)
        elif fmt == "fhir":
            from measure.export.fhir_export import fhir_text

            say("building the FHIR bundle")
            text = fhir_text([c.records for c in loaded], [_study_uids(c) for c in loaded])
            summary.written.append(write_text_atomic(out, text, force=force))
            summary.exported.extend(c.path for c in loaded)
            for c in loaded:
                summary.notes.extend(f"{c.path.name}: {m}" for m in c.sources.missing_series)
        elif fmt == "pdf":
            from measure.export.pdf_report import pdf_bytes

            say("rendering the PDF report")
            pages = [(c.records, c.case, c.sources) for c in loaded]
            summary.written.append(write_bytes_atomic(out, pdf_bytes(pages), force=force))
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
                files.append((target, timepoint_sr(item.records, tp.id, item.sources)))
            if not files:
                raise ValueError("no timepoint of this case has landmarks; there is nothing to put in an SR")
            for target, data in files:
                summary.written.append(write_bytes_atomic(target, data, force=force))
            summary.exported.append(item.path)
        except (ValueError, OSError) as exc:
            summary.failed.append((item.path, str(exc)))


def run_export(cases: list[Path], fmt: str, out: Path, pseudonymize_key: str | None, force: bool) -> int:
    """The ``endplate export`` verb: prints what was written and each failure; exit status."""
    summary = export_cases(cases, fmt, out, pseudonymize_key=pseudonymize_key, force=force)
    for path, message in summary.failed:
        print(f"endplate export: {path}: {message}", file=sys.stderr)
    if summary.error is not None:
        print(f"endplate export: {summary.error}", file=sys.stderr)
    for note in summary.notes:
        print(f"endplate export: note: {note}", file=sys.stderr)
    if summary.exported:
        n = len(summary.exported)
        where = summary.written[0] if len(summary.written) == 1 else f"{len(summary.written)} files in {out}"
        print(f"exported {n} case{'s' if n != 1 else ''} ({fmt}) to {where}")
    elif summary.error is None:
        print("endplate export: nothing was exported", file=sys.stderr)
    return summary.exit_status
