"""FHIR R4: a Bundle (type "collection") of imaging-measurement Observations.

Per case: one Patient (pseudonymised when asked) and one Observation per measurement,
shaped like the HL7 "DICOM SR to FHIR" imaging-measurement Observation: ``code`` (our
private code plus, where one exists, the standard concept), ``valueQuantity`` with a
UCUM unit (system http://unitsofmeasure.org), ``bodySite`` = the level's SNOMED CT
vertebra, ``subject`` = the Patient, ``effectiveDateTime`` = the timepoint date, and
``derivedFrom`` = the ImagingStudy, referenced logically by its StudyInstanceUID
(``urn:dicom:uid`` / ``urn:oid:...``) when the source images were found.

Validated with ``fhir.resources.R4B`` (FHIR 4.3; the Observation, Patient and Bundle
elements used here are identical in R4 4.0.1).  fhir.resources' default package is R5.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from measure.export.codes import (
    CLINICAL_FLAGS,
    CLINICAL_MEASUREMENTS,
    CLINICAL_TEXTS,
    COMPARISON_MEASUREMENTS,
    FRACTURE_TYPE,
    FRACTURE_TYPE_VALUES,
    GRADE,
    PRIVATE_SYSTEM_URI,
    REGIONAL_ANGLE,
    SCHEME_SYSTEM_URIS,
    STIR_FLAG,
    VERTEBRA_MEASUREMENTS,
    Coding,
    MeasurementCode,
    level_coding,
)
from measure.export.records import CaseRecords

UCUM_SYSTEM = "http://unitsofmeasure.org"
_log = logging.getLogger("endplate.export")
_CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "imaging",
            "display": "Imaging",
        }
    ]
}


_SURVEY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }
    ]
}


def _coding(c: Coding) -> dict[str, str]:
    return {
        "system": SCHEME_SYSTEM_URIS.get(c.scheme, PRIVATE_SYSTEM_URI),
        "code": c.value,
        "display": c.meaning,
    }


def _code(m: MeasurementCode) -> dict[str, Any]:
    codings = [_coding(m.coding)]
    if m.generic is not None:
        codings.append(_coding(m.generic))
    return {"coding": codings, "text": m.coding.meaning}


def _body_site(level: str) -> dict[str, Any]:
    c = level_coding(level)
    return {"coding": [_coding(c)], "text": level}


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _observation(
    subject: str,
    code: dict[str, Any],
    date: str,
    study_uid: str | None,
    body_site: dict[str, Any] | None,
    value: dict[str, Any],
    note: str | None = None,
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [_CATEGORY],
        "code": code,
        "subject": {"reference": subject},
        **value,
    }
    if date:
        obs["effectiveDateTime"] = date
    if body_site is not None:
        obs["bodySite"] = body_site
    if study_uid:
        obs["derivedFrom"] = [
            {
                "type": "ImagingStudy",
                "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"},
                "display": f"StudyInstanceUID {study_uid}",
            }
        ]
    if note:
        obs["note"] = [{"text": note}]
    return obs


def _quantity(value: float, m: MeasurementCode) -> dict[str, Any]:
    return {
        "valueQuantity": {"value": value, "unit": m.unit.meaning, "system": UCUM_SYSTEM, "code": m.unit.code}
    }


def case_resources(case: CaseRecords, study_uids: dict[str, str | None]) -> list[dict[str, Any]]:
    """Bundle entries (``{"fullUrl", "resource"}``) of one case; ``study_uids`` per timepoint."""
    identity = case.identity
    patient_url = _urn()
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if identity.patient_id:
        patient["identifier"] = [
            {
                "system": "urn:endplate:pseudonym" if identity.pseudonymized else "urn:endplate:patient-id",
                "value": identity.patient_id,
            }
        ]
    if identity.name:
        patient["name"] = [{"text": identity.name}]
    if identity.birth_date:
        patient["birthDate"] = identity.birth_date  # FHIR date allows YYYY alone
    sex = {"M": "male", "F": "female", "O": "other"}.get(case.patient_sex)
    if sex:
        patient["gender"] = sex
    entries = [{"fullUrl": patient_url, "resource": patient}]
    dates = {tp.id: tp.date for tp in case.timepoints}

    def add(resource: dict[str, Any]) -> None:
        if case.case_id:  # the minimal case form has no case id: FHIR allows no empty value
            resource.setdefault("identifier", []).append(
                {"system": "urn:endplate:case", "value": case.case_id}
            )
        entries.append({"fullUrl": _urn(), "resource": resource})

    for row in case.rows:
        study = study_uids.get(row.timepoint_id)
        site = _body_site(row.level)
        values = row.as_dict()
        for m in VERTEBRA_MEASUREMENTS:
            value = values.get(m.key)
            if value is None:
                continue
            # Ordinal grades (Genant, edema extent) are integers, not quantities.
            result = {"valueInteger": int(value)} if m.unit == GRADE else _quantity(value, m)
            add(_observation(patient_url, _code(m), row.timepoint_date, study, site, result))
        if row.fracture_type is not None and row.fracture_type in FRACTURE_TYPE_VALUES:
            add(
                _observation(
                    patient_url,
                    {"coding": [_coding(FRACTURE_TYPE)], "text": FRACTURE_TYPE.meaning},
                    row.timepoint_date,
                    study,
                    site,
                    {"valueCodeableConcept": {"coding": [_coding(FRACTURE_TYPE_VALUES[row.fracture_type])]}},
                )
            )
        if row.stir_flag is not None:
            note = None
            if row.stir_reader_decision:
                note = f"reader decision: {row.stir_reader_decision}"
                if row.stir_reader_note:
                    note += f" ({row.stir_reader_note})"
            add(
                _observation(
                    patient_url,
                    {"coding": [_coding(STIR_FLAG)], "text": STIR_FLAG.meaning},
                    row.timepoint_date,
                    study,
                    site,
                    {"valueBoolean": row.stir_flag},
                    note=note,
                )
            )
    for r in case.regional:
        if r.angle_deg is None:
            continue
        label = f"{r.upper_level} {r.upper_endplate} endplate - {r.lower_level} {r.lower_endplate} endplate"
        add(
            _observation(
                patient_url,
                _code(REGIONAL_ANGLE),
                dates.get(r.timepoint_id, ""),
                study_uids.get(r.timepoint_id),
                {"text": label},
                _quantity(r.angle_deg, REGIONAL_ANGLE),
                note=r.label or None,
            )
        )
    for c in case.comparisons:
        values = {
            "correction_deg": c.correction_deg,
            "loss_of_correction_deg": c.loss_of_correction_deg,
            **{f"height_gain_{h}_mm": v for h, v in c.height_gain_mm.items()},
            **{f"restoration_{h}_pct": v for h, v in c.restoration_pct.items()},
        }
        for m in COMPARISON_MEASUREMENTS:
            value = values.get(m.key)
            if value is None:
                continue
            add(
                _observation(
                    patient_url,
                    _code(m),
                    dates.get(c.to_timepoint, ""),
                    study_uids.get(c.to_timepoint),
                    _body_site(c.level),
                    _quantity(value, m),
                    note=f"{c.kind}: timepoint {c.from_timepoint} to {c.to_timepoint}",
                )
            )
    for tp_id, cells in case.clinical.items():
        values = vars(cells)
        date = dates.get(tp_id, "")
        survey = {"category": [_SURVEY]}
        for m in CLINICAL_MEASUREMENTS:
            value = values.get(m.key)
            if value is None:
                continue
            result = {"valueInteger": int(value)} if m.unit == GRADE else _quantity(float(value), m)
            add({**_observation(patient_url, _code(m), date, None, None, result), **survey})
        for coding in CLINICAL_TEXTS:
            if values.get(coding.value):
                code = {"coding": [_coding(coding)], "text": coding.meaning}
                add(
                    {
                        **_observation(
                            patient_url, code, date, None, None, {"valueString": values[coding.value]}
                        ),
                        **survey,
                    }
                )
        for coding in CLINICAL_FLAGS:
            if values.get(coding.value) is not None:
                code = {"coding": [_coding(coding)], "text": coding.meaning}
                add(
                    {
                        **_observation(
                            patient_url, code, date, None, None, {"valueBoolean": values[coding.value]}
                        ),
                        **survey,
                    }
                )
    return entries


def fhir_bundle(cases: Sequence[CaseRecords], study_uids: Sequence[dict[str, str | None]]) -> dict[str, Any]:
    """The Bundle as a dict, validated against the FHIR R4(B) models (ValueError if not)."""
    entries: list[dict[str, Any]] = []
    for case, uids in zip(cases, study_uids, strict=True):
        entries.extend(case_resources(case, uids))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    validate_bundle(bundle)
    return bundle


#: Problems named in a validation failure (the rest are counted).
MAX_REPORTED_PROBLEMS = 3


def validate_bundle(bundle: dict[str, Any]) -> None:
    """Raise ValueError (one paragraph naming at most three fields) when ``bundle`` is not a
    valid FHIR R4B Bundle; the full report goes to the log."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        _log.warning("FHIR validation failed:\n%s", exc)
        problems = exc.errors()
        named = []
        for error in problems[:MAX_REPORTED_PROBLEMS]:
            where = ".".join(str(part) for part in error.get("loc", ())) or "the bundle"
            named.append(f"{where} ({error.get('msg', 'invalid')})")
        more = len(problems) - len(named)
        tail = f", and {more} more problem{'s' if more != 1 else ''}" if more > 0 else ""
        raise ValueError(
            "The FHIR bundle does not validate against FHIR R4B, so it was not written: "
            + "; ".join(named)
            + tail
            + "."
        ) from None


def fhir_text(cases: Sequence[CaseRecords], study_uids: Sequence[dict[str, str | None]]) -> str:
    return json.dumps(fhir_bundle(cases, study_uids), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
