"""Which timepoint a series joins, and the series reference the case keeps for it.

Domain rules that used to live in the main window: the app turns an
:class:`AssignmentPlan` into undoable commands, the session computes it.

* A series the reader starts measuring on, not yet assigned, joins the timepoint of its
  study date if there is one; else it becomes the pre-op timepoint (the first one) or a
  dated follow-up.  Post-op is never guessed: the reader assigns it.
* Assigning to a kind reuses the timepoint of that kind (for follow-ups: of that date),
  filling in its date when it had none; the case's patient is filled in from the series'
  DICOM when the case has none yet.
* The series reference records the geometry of the stack the landmarks are placed on
  (the display stack: a reformat's orientation and pixel spacing, not the axial source's),
  which is what the engine's one-pixel uncertainty needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from dicomio.dates import dicom_date_iso
from dicomio.geometry import StackGeometry
from dicomio.model import SeriesStack
from measure.case import Case
from measure.case_values import Patient, SeriesIdentity, SeriesRef, Timepoint
from session.identity import is_blank


@dataclass(frozen=True)
class AssignmentPlan:
    """What assigning one series means for the case, in the order to apply it."""

    timepoint_id: str
    add_timepoint: Timepoint | None  # a new timepoint, added first
    update_timepoint: Timepoint | None  # an existing timepoint whose date is filled in
    series: SeriesRef
    #: The case's patient, filled in from the series' DICOM when the case has none yet.
    patient: Patient | None = None


def new_timepoint_id(case: Case, kind: str) -> str:
    """``pre-op``, ``post-op``, ``follow-up``, then ``follow-up-2``... (ids must be unique)."""
    existing = {tp.id for tp in case.timepoints}
    if kind not in existing:
        return kind
    n = 2
    while f"{kind}-{n}" in existing:
        n += 1
    return f"{kind}-{n}"


def default_assignment(case: Case, study_date: str | None) -> tuple[str, str | None]:
    """(kind, ISO date) for a series of ``study_date`` (DICOM DA) the reader starts measuring on."""
    date = dicom_date_iso(study_date)
    for t in case.timepoints:
        if date is not None and t.date == date:
            return t.kind, date
    has_pre = any(t.kind == "pre-op" for t in case.timepoints)
    return ("follow-up" if has_pre else "pre-op"), date


def series_path(stack: SeriesStack) -> str:
    """Where a stack's files are, absolute: the file itself when the series is one file (a
    multi-frame image, or one image beside other series: reopening reads that file, not
    its whole folder), else the folder, or the deepest one that holds all its files."""
    files = {Path(f.path).absolute() for f in stack.frames}
    if len(files) == 1:
        return str(files.pop())
    return os.path.commonpath([str(p.parent) for p in files])


def series_ref_from_stack(
    stack: SeriesStack | None,
    series_uid: str,
    timepoint: str,
    *,
    display_geometry: StackGeometry | None = None,
    reformat: bool = False,
    existing: SeriesRef | None = None,
) -> SeriesRef:
    """The case's reference to a series: where it is, what it is, the measured geometry.

    ``display_geometry`` is the geometry of the stack shown (a reformat's); without it the
    stack's own.  Without a stack (not scanned in this session) the existing reference is
    kept, moved to ``timepoint``.
    """
    if stack is None:
        if existing is None:
            raise ValueError(
                f"series {series_uid} is neither scanned nor in the case; open its folder first."
            )
        return replace(existing, timepoint=timepoint)
    geometry = display_geometry if display_geometry is not None else stack.geometry
    path = series_path(stack) if stack.frames else (existing.path if existing is not None else "")
    orientation = tuple(float(x) for x in geometry.first.orientation)
    row_mm, col_mm = (float(x) for x in geometry.first.pixel_spacing_mm)
    return SeriesRef(
        series_uid=series_uid,
        timepoint=timepoint,
        path=path or ".",
        description=stack.description,
        modality=stack.modality,
        sequence=stack.sequence,
        orientation=(
            orientation[0],
            orientation[1],
            orientation[2],
            orientation[3],
            orientation[4],
            orientation[5],
        ),
        pixel_spacing_mm=(row_mm, col_mm),
        reformat=reformat,
        identity=series_identity(stack),
        window=existing.window if existing is not None else None,
        generated_uid=stack.generated_series_uid,
    )


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def series_identity(stack: SeriesStack) -> SeriesIdentity:
    """Patient and study as the stack's DICOM header says (DICOM dates as ISO dates)."""
    attrs = stack.attributes
    sex = _text(attrs.get("PatientSex"))
    return SeriesIdentity(
        patient_name=_text(stack.patient_name),
        patient_id=_text(stack.patient_id),
        patient_birth_date=dicom_date_iso(_text(attrs.get("PatientBirthDate"))),
        patient_sex=sex.upper() if sex and sex.upper() in ("M", "F", "O") else None,
        study_uid=_text(stack.study_uid),
        study_date=dicom_date_iso(stack.study_date),
        study_description=_text(stack.study_description),
        accession_number=_text(attrs.get("AccessionNumber")),
    )


def plan_assignment(case: Case, kind: str, date: str | None, series: SeriesRef) -> AssignmentPlan:
    """Assign ``series`` to the timepoint of ``kind`` (and ``date``, ISO), new or existing
    (the plan's series reference names that timepoint, whatever ``series.timepoint`` was).

    An existing timepoint of that kind is reused: for a follow-up only one of the same
    date; for pre-op and post-op one without a date or of the same date (its date is then
    filled in).
    """
    patient = None
    if series.identity is not None and is_blank(case.patient) and not is_blank(series.identity.patient):
        patient = series.identity.patient
    for t in case.timepoints:
        same_date = t.date == date if kind == "follow-up" else (date is None or t.date in (date, None))
        if t.kind == kind and same_date:
            update = replace(t, date=date) if date is not None and t.date != date else None
            return AssignmentPlan(t.id, None, update, replace(series, timepoint=t.id), patient)
    tp_id = new_timepoint_id(case, kind)
    return AssignmentPlan(
        tp_id, Timepoint(tp_id, kind, date), None, replace(series, timepoint=tp_id), patient
    )
