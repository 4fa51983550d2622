"""DICOM SR export: one TID 1500 Measurement Report per case timepoint (``dicomio.sr``).

This module only translates :class:`~measure.export.records.CaseRecords` (numbers,
landmarks, pseudonymised identity) and the source image headers into the plain
:class:`dicomio.sr.SrDocument` the writer takes.
"""

from __future__ import annotations

import re

from dicomio.sr import SrDocument, SrMeasurement, SrPatient, SrRegionalAngle, SrVertebra, sr_bytes
from measure.export.codes import (
    ABSENT,
    FRACTURE_TYPE,
    FRACTURE_TYPE_VALUES,
    MEASUREMENT_LANDMARKS,
    PRESENT,
    REGIONAL_ANGLE,
    STIR_FLAG,
    VERTEBRA_MEASUREMENTS,
    Coding,
    level_coding,
)
from measure.export.records import CaseRecords
from measure.export.sources import CaseSources

_ENDPLATE_POINTS = {"superior": ("sup_ant", "sup_post"), "inferior": ("inf_ant", "inf_post")}


def _case_name(case_id: str) -> str:
    """``"case X, "`` for a message, or nothing for a case without an id."""
    return f"case {case_id}, " if case_id else ""


def _ucum(code: str, meaning: str) -> Coding:
    return Coding("UCUM", code, meaning)


def _sr_patient(case: CaseRecords, timepoint_date: str, accession: str = "") -> SrPatient:
    """The SR's patient and study as the case holds them (pseudonymised when asked):
    ``timepoint_date`` (ISO, already shifted) becomes the study date."""
    identity = case.identity
    study_date = timepoint_date.replace("-", "") if len(timepoint_date) == 10 else ""
    if identity.pseudonymized:
        # DICOM DA cannot hold a year alone: the birth date is left empty and the age in
        # years at this timepoint (from the years only, so +/- 1) is written instead.
        age = ""
        if identity.birth_date and timepoint_date[:4].isdigit():
            years = int(timepoint_date[:4]) - int(identity.birth_date)
            if 0 <= years < 1000:
                age = f"{years:03d}Y"
        return SrPatient(
            identity.name,
            identity.patient_id,
            "",
            age,
            pseudonymized=True,
            accession_number=accession,
            study_date=study_date,
            uid_secret=identity.uid_secret,
        )
    return SrPatient(
        identity.name,
        identity.patient_id,
        identity.birth_date.replace("-", ""),
        accession_number=accession,
        study_date=study_date,
    )


def safe_file_part(text: str) -> str:
    """A file-name-safe version of an id ("pre op/1" -> "pre_op_1")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def timepoint_sr(case: CaseRecords, timepoint_id: str, sources: CaseSources) -> bytes:
    """The SR file bytes of one timepoint; ValueError (a sentence) when it cannot be written."""
    tp = next(t for t in case.timepoints if t.id == timepoint_id)
    rows = case.rows_of(timepoint_id)
    vertebrae = []
    evidence: dict[str, object] = {}
    frames: list[str] = []
    for row in rows:
        landmarks = case.landmarks.get((timepoint_id, row.level), {})
        if not landmarks:
            continue
        sops = dict.fromkeys(lm.sop_uid for lm in landmarks.values() if lm.sop_uid)
        images = [im for sop in sops if (im := sources.image(sop)) is not None]
        if not images:  # e.g. landmarks on a reformat: reference the series' first image
            for lm in landmarks.values():
                first = sources.first_image(lm.series_uid)
                if first is not None:
                    images = [first]
                    break
        if not images:
            series = sorted({lm.series_uid for lm in landmarks.values()})
            raise ValueError(
                f"{_case_name(case.case_id)}timepoint {timepoint_id}: the source images of {row.level} "
                f"(series {', '.join(series)}) were not found; the SR must reference them "
                "(check the series paths in the case file)."
            )
        for im in images:
            evidence[str(im.header.SOPInstanceUID)] = im.header
        for_uid = str(images[0].header.get("FrameOfReferenceUID", ""))
        if not for_uid:
            raise ValueError(
                f"case {case.case_id}: the image {images[0].path} has no FrameOfReferenceUID; "
                "SR landmark coordinates need one."
            )
        frames.append(for_uid)
        values = row.as_dict()
        measurements = []
        for m in VERTEBRA_MEASUREMENTS:
            value = values.get(m.key)
            if value is None:
                continue
            keys = tuple(k for k in MEASUREMENT_LANDMARKS.get(m.key, ()) if k in landmarks)
            measurements.append(
                SrMeasurement(m.coding, float(value), _ucum(m.unit.code, m.unit.meaning), keys)
            )
        qualitative: list[tuple[Coding, Coding]] = []
        if row.fracture_type in FRACTURE_TYPE_VALUES:
            qualitative.append((FRACTURE_TYPE, FRACTURE_TYPE_VALUES[str(row.fracture_type)]))
        if row.stir_flag is not None:
            qualitative.append((STIR_FLAG, PRESENT if row.stir_flag else ABSENT))
        vertebrae.append(
            SrVertebra(
                level=row.level,
                finding_site=level_coding(row.level),
                landmarks_mm={k: lm.position_mm for k, lm in landmarks.items()},
                measurements=measurements,
                source_sop_uids=[str(im.header.SOPInstanceUID) for im in images],
                frame_of_reference_uid=for_uid,
                qualitative=qualitative,
            )
        )
    if not vertebrae:
        raise ValueError(
            f"{_case_name(case.case_id)}timepoint {timepoint_id}: no landmarks are placed; no SR to write."
        )
    regional = []
    for r in case.regional:
        if r.timepoint_id != timepoint_id or r.angle_deg is None:
            continue
        lines = []
        for level, endplate in ((r.upper_level, r.upper_endplate), (r.lower_level, r.lower_endplate)):
            lms = case.landmarks.get((timepoint_id, level), {})
            keys = _ENDPLATE_POINTS.get(endplate, ())
            if all(k in lms for k in keys):
                lines.append([lms[k].position_mm for k in keys])
        regional.append(
            SrRegionalAngle(
                label=f"{r.upper_level} {r.upper_endplate} - {r.lower_level} {r.lower_endplate}",
                finding_sites=[level_coding(r.upper_level), level_coding(r.lower_level)],
                measurement=SrMeasurement(
                    REGIONAL_ANGLE.coding,
                    float(r.angle_deg),
                    _ucum(REGIONAL_ANGLE.unit.code, REGIONAL_ANGLE.unit.meaning),
                ),
                endplate_lines_mm=lines if len(lines) == 2 else [],
            )
        )
    order = [t.id for t in case.timepoints].index(timepoint_id) + 1
    doc = SrDocument(
        evidence=list(evidence.values()),  # type: ignore[arg-type]
        frame_of_reference_uid=frames[0],
        timepoint_id=timepoint_id,
        timepoint_kind=tp.kind,
        patient=_sr_patient(
            case, tp.date, next((r.accession_number for r in rows if r.accession_number), "")
        ),
        vertebrae=vertebrae,
        regional=regional,
        series_description=f"Endplate measurements {tp.kind}",
        timepoint_order=order,
    )
    try:
        return sr_bytes(doc)
    except ValueError as exc:
        raise ValueError(
            f"{_case_name(case.case_id)}timepoint {timepoint_id}: the SR could not be built: {exc}"
        ) from None
