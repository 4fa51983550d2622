"""``endplate case set CASE TIMEPOINT.FIELD VALUE`` and ``endplate case import CSV CASE...``:
clinical outcomes entered from the command line or in bulk from a spreadsheet.

A timepoint is named by its id or, when one timepoint has it, its kind ("pre-op").  Every
value is checked (:mod:`measure.clinical`) and the cross-field rules (dates in order, a
follow-up after the procedure) are checked before anything is written; the case file is
saved atomically with its backup (:func:`measure.casefile.save_case`).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from measure.case import Case
from measure.casefile import CaseFileError, load_case, save_case
from measure.clinical import CLINICAL_FIELDS, ClinicalRecord, set_clinical_field


class ClinicalEntryError(ValueError):
    """A clinical value or field the case refuses, in one sentence."""


def timepoint_named(case: Case, name: str) -> str:
    """The id of the timepoint called ``name`` (its id, or a kind only one timepoint has)."""
    ids = [tp.id for tp in case.timepoints]
    if name in ids:
        return name
    by_kind = [tp.id for tp in case.timepoints if tp.kind == name]
    if len(by_kind) == 1:
        return by_kind[0]
    if by_kind:
        raise ClinicalEntryError(
            f"{len(by_kind)} timepoints are {name!r} ({', '.join(by_kind)}); name one by its id"
        )
    raise ClinicalEntryError(
        f"the case has no timepoint {name!r}; its timepoints are {', '.join(ids) or 'none'}"
    )


def set_field(case: Case, timepoint: str, field_name: str, value: str) -> None:
    """Set one clinical field of a timepoint, refusing a value or a case that breaks a rule."""
    if field_name not in CLINICAL_FIELDS:
        raise ClinicalEntryError(
            f"unknown clinical field {field_name!r}; expected one of {', '.join(CLINICAL_FIELDS)}"
        )
    tp_id = timepoint_named(case, timepoint)
    try:
        record = set_clinical_field(case.clinical(tp_id), field_name, value)
    except (TypeError, ValueError) as exc:
        raise ClinicalEntryError(f"timepoint {tp_id}: {exc}") from None
    previous = case.set_clinical(tp_id, record)
    problems = case.clinical_problems()
    if problems:
        case.set_clinical(tp_id, previous)
        raise ClinicalEntryError(problems[0])


def run_case_set(case_path: Path, target: str, value: str) -> int:
    """``case set``: exit 0 when written, 2 with one line on stderr when refused."""
    timepoint, dot, field_name = target.rpartition(".")
    if not dot or not timepoint:
        print(f"endplate: error: {target!r}: expected TIMEPOINT.FIELD, e.g. pre-op.vas", file=sys.stderr)
        return 2
    try:
        case = load_case(case_path)
        set_field(case, timepoint, field_name, value)
        save_case(case, case_path)
    except (CaseFileError, ClinicalEntryError) as exc:
        print(f"endplate: error: {case_path}: {exc}", file=sys.stderr)
        return 2
    print(f"{case_path}: {timepoint}.{field_name} = {value!r}")
    return 0


def run_case_import(csv_path: Path, case_paths: Sequence[Path]) -> int:
    """``case import``: a CSV with columns ``case_id``, ``timepoint`` and any clinical fields,
    one row per case and timepoint, applied to the case files with that id.  All rows of a
    case are checked before it is written; a refused row names its line and the case is left
    unchanged.  Exit 0 when every row was applied, 1 when some were refused, 2 on bad input."""
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"endplate: error: cannot read {csv_path}: {exc}", file=sys.stderr)
        return 2
    missing = [c for c in ("case_id", "timepoint") if c not in columns]
    unknown = [c for c in columns if c not in ("case_id", "timepoint", *CLINICAL_FIELDS)]
    if missing or unknown:
        what = (
            f"missing column(s) {', '.join(missing)}"
            if missing
            else f"unknown column(s) {', '.join(unknown)}"
        )
        print(f"endplate: error: {csv_path}: {what}", file=sys.stderr)
        return 2
    cases: dict[str, tuple[Path, Case]] = {}
    for path in case_paths:
        try:
            case = load_case(path)
        except CaseFileError as exc:
            print(f"endplate: error: {exc}", file=sys.stderr)
            return 2
        cases[case.case_id] = (path, case)
    status = 0
    by_case: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, row in enumerate(rows, start=2):
        by_case.setdefault(row["case_id"], []).append((line, row))
    for case_id, items in by_case.items():
        if case_id not in cases:
            print(
                f"endplate: {csv_path}: case {case_id!r} (line {items[0][0]}) is not in the case files given"
            )
            status = 1
            continue
        path, case = cases[case_id]
        try:
            for line, row in items:
                for name in CLINICAL_FIELDS:
                    if name in row and row[name] is not None and row[name].strip():
                        try:
                            set_field(case, row["timepoint"], name, row[name])
                        except ClinicalEntryError as exc:
                            raise ClinicalEntryError(f"line {line}: {exc}") from None
            save_case(case, path)
        except (ClinicalEntryError, CaseFileError) as exc:
            print(f"endplate: {csv_path}: case {case_id!r} not changed: {exc}")
            status = 1
            continue
        print(f"{path}: {len(items)} row(s) applied")
    return status


def record_from_texts(case: Case, timepoint_id: str, texts: dict[str, str]) -> ClinicalRecord | None:
    """The record a form's texts describe (field -> text, ``""`` = not recorded), checked
    field by field and against the case's cross-field rules; None when nothing is recorded.
    Raises :class:`ClinicalEntryError` with the first problem as a sentence."""
    record = ClinicalRecord()
    for name in CLINICAL_FIELDS:
        text = texts.get(name, "")
        try:
            record = set_clinical_field(record, name, text)
        except (TypeError, ValueError) as exc:
            raise ClinicalEntryError(str(exc)) from None
    previous = case.set_clinical(timepoint_id, record)
    try:
        problems = case.clinical_problems()
    finally:
        case.set_clinical(timepoint_id, previous)
    if problems:
        raise ClinicalEntryError(problems[0])
    return None if record.empty else record


def record_texts(record: ClinicalRecord | None) -> dict[str, str]:
    """The form's texts of a record (the inverse of :func:`record_from_texts`)."""
    texts = {name: "" for name in CLINICAL_FIELDS}
    if record is None:
        return texts
    for name in CLINICAL_FIELDS:
        value = getattr(record, name)
        if name == "complications":
            texts[name] = "; ".join(
                ":".join(
                    p
                    for p in (
                        c.kind,
                        c.location,
                        None
                        if c.symptomatic is None
                        else ("symptomatic" if c.symptomatic else "asymptomatic"),
                        c.level,
                        c.text or None,
                    )
                    if p
                )
                for c in value
            )
        elif name == "new_fractures":
            texts[name] = "; ".join(
                ":".join(p for p in (n.level, "adjacent" if n.adjacent else "remote", n.date) if p)
                for n in value
            )
        elif isinstance(value, bool):
            texts[name] = "yes" if value else "no"
        elif isinstance(value, float) and value.is_integer():
            texts[name] = str(int(value))
        elif value is not None:
            texts[name] = str(value)
    return texts
