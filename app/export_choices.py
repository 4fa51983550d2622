"""The export dialog's choices and its wording (Qt-free): formats, the request, sentences.

Kept apart from :mod:`app.export_dialog` (the widgets and the background run) so that what
the reader is told can be read, and tested, without a dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from session.export_run import ExportSummary


@dataclass(frozen=True)
class ExportFormat:
    key: str  # the ``--format`` value
    label: str
    suffix: str  # "" for a folder
    file_filter: str


EXPORT_FORMAT_CHOICES: tuple[ExportFormat, ...] = (
    ExportFormat("csv", "CSV table: one row per case × timepoint × level", ".csv", "CSV (*.csv)"),
    ExportFormat("json", "JSON: the same content, nested per case", ".json", "JSON (*.json)"),
    ExportFormat("sr", "DICOM SR (TID 1500): one file per timepoint, into a folder", "", ""),
    ExportFormat("fhir", "FHIR R4 bundle of Observations (JSON)", ".fhir.json", "FHIR JSON (*.json)"),
    ExportFormat("pdf", "PDF report: one page per case", ".pdf", "PDF (*.pdf)"),
    ExportFormat(
        "parquet", "Parquet: the CSV's table with types (DuckDB, Spark)", ".parquet", "Parquet (*.parquet)"
    ),
)
FORMATS_BY_KEY = {f.key: f for f in EXPORT_FORMAT_CHOICES}
SHORT_NAMES = {
    "csv": "CSV",
    "json": "JSON",
    "sr": "DICOM SR",
    "fhir": "FHIR",
    "pdf": "PDF",
    "parquet": "Parquet",
}

PSEUDONYM_EXPLANATION = (
    "Patient name and ID are replaced by a keyed hash (HMAC-SHA256) of this key: the same "
    "patient and key always give the same pseudonym, so keep the key to link later exports; "
    "without it the pseudonym cannot be traced back. The birth date is reduced to its year. "
    "Case id, study dates, DICOM UIDs and free-text notes are kept. The case file is not changed."
)
NO_PSEUDONYM_WARNING = "Without pseudonymisation the export carries the patient's name, ID and birth date."
OVERWRITE_LABEL = "Overwrite existing files"


@dataclass
class CurrentCase:
    """What the dialog needs to know about (and do with) the window's case."""

    title: str
    path: Callable[[], Path | None]  # the case file (None: never saved)
    is_dirty: Callable[[], bool]
    save: Callable[[], bool]  # the window's save (asks for a file name when untitled)
    is_empty: bool = False


@dataclass
class ExportRequest:
    fmt: str
    out: Path | None
    include_current: bool
    extra_cases: list[Path] = field(default_factory=list)
    pseudonymize_key: str | None = None
    force: bool = False
    send_to: str | None = None  # a PACS node (name or URL) for the SR


def dialog_wording(sentence: str) -> str:
    """Exporter sentences name CLI options; say what the dialog calls them instead."""
    for cli, ui in (
        ("(use --force to replace it)", f"(tick “{OVERWRITE_LABEL}” to replace it, or choose another name)"),
        ("give a non-empty --pseudonymize KEY", "type a key or untick “Pseudonymise”"),
        ("--pseudonymize KEY", "pseudonymisation key"),
        ("for --format ", "for the format "),
        ("--out", "output"),
    ):
        sentence = sentence.replace(cli, ui)
    return sentence


def full_stop(text: str) -> str:
    """A sentence ends with its stop (the exporter's reasons sometimes have none)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def summary_sentences(summary: ExportSummary) -> list[str]:
    """What an export did, in sentences a reader understands (no traceback, no jargon)."""
    name = SHORT_NAMES.get(summary.format, summary.format)
    lines: list[str] = []
    if summary.error is not None:
        lines.append(f"Nothing was exported. {full_stop(dialog_wording(summary.error))}")
    if summary.exported:
        n = len(summary.exported)
        cases = f"{n} case{'s' if n != 1 else ''} ({', '.join(p.name for p in summary.exported)})"
        if len(summary.written) == 1:
            lines.append(f"Exported {cases} as {name} to {summary.written[0]}.")
        else:
            folder = summary.written[0].parent if summary.written else ""
            files = ", ".join(p.name for p in summary.written)
            lines.append(f"Exported {cases} as {name}: {len(summary.written)} files in {folder} ({files}).")
    for path, reason in summary.failed:
        lines.append(f"The case file {path.name} was not exported: {full_stop(dialog_wording(reason))}")
    if not summary.exported and summary.error is None:
        lines.append("Nothing was exported: no case could be read.")
    if summary.sent_to is not None:
        lines.append(f"Sent the SR to {summary.sent_to}.")
    if summary.send_error is not None:
        lines.append(f"The SR files were written but not sent to the PACS: {full_stop(summary.send_error)}")
    lines.extend(f"Note: {full_stop(note)}" for note in summary.notes)
    return lines


def default_output(case_path: Path | None, fmt: str) -> Path | None:
    """``<case folder>/<case name>-export.<ext>`` (a folder ``…-sr`` for the SR)."""
    if case_path is None:
        return None
    stem = case_path.name.removesuffix(".json")
    if fmt == "sr":
        return case_path.parent / f"{stem}-sr"
    return case_path.parent / f"{stem}-export{FORMATS_BY_KEY[fmt].suffix}"


def with_suffix(path: Path, fmt: ExportFormat) -> Path:
    """``name.csv`` -> ``name.pdf`` (``name`` for the SR folder); other names get the suffix."""
    name = path.name
    for f in sorted(EXPORT_FORMAT_CHOICES, key=lambda f: -len(f.suffix)):
        if f.suffix and name.endswith(f.suffix):
            name = name[: -len(f.suffix)]
            break
    if fmt.key == "sr":
        return path.with_name(name) if name else path
    return path.with_name(name + fmt.suffix)
