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
import math
import re
import uuid
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
    """Bundle entries (``{"fullUrl", "resource"}``) of one case; ``study_uids`` per timepoint
    (replaced by keyed UIDs when the case is pseudonymised, as in the SR)."""
    identity = case.identity
    study_uids = {tp: identity.uid(uid) for tp, uid in study_uids.items()}
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


#: Problems named in a validation failure (the rest are counted).
MAX_REPORTED_PROBLEMS = 3


def _validation_error(exc: Any, what: str) -> ValueError:
    _log.warning("FHIR validation failed:\n%s", exc)
    problems = exc.errors()
    named = []
    for error in problems[:MAX_REPORTED_PROBLEMS]:
        where = ".".join(str(part) for part in error.get("loc", ())) or what
        named.append(f"{where} ({error.get('msg', 'invalid')})")
    more = len(problems) - len(named)
    tail = f", and {more} more problem{'s' if more != 1 else ''}" if more > 0 else ""
    return ValueError(
        f"The FHIR {what} does not validate against FHIR R4B, so it was not written: "
        + "; ".join(named)
        + tail
        + "."
    )


# -- streaming: one entry at a time, validated by shape --------------------------------

#: FHIR primitive formats checked on every value (fhir.resources' own patterns).
_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_NO_SPACE = re.compile(r"\S+")
_FORMATS: dict[str, re.Pattern[str]] = {
    "birthDate": _DATE,
    "effectiveDateTime": _DATETIME,
    "code": _CODE,
    "gender": _CODE,
    "status": _CODE,
    "resourceType": _CODE,
    "system": _NO_SPACE,
    "fullUrl": _NO_SPACE,
    "reference": _NO_SPACE,
}
_INT32 = 2**31


def _shape(value: Any) -> Any:
    """The structure of a JSON value: keys and value types, not the values themselves."""
    if isinstance(value, dict):
        return tuple((k, _shape(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("list", tuple(_shape(v) for v in value))
    return type(value).__name__


def _checked_shape(value: Any, key: str = "") -> Any:
    """:func:`_shape` of ``value``, or None when one of its values fails :func:`_check_values`.

    One walk for both (every entry of an export is checked: ~0.2 M values for 1,000 cases),
    without building the path of each value; the path is made only for an entry that fails.
    """
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            shape = _checked_shape(v, k)
            if shape is None:
                return None
            items.append((k, shape))
        return tuple(items)
    if isinstance(value, list):
        members = []
        for v in value:
            shape = _checked_shape(v, key)
            if shape is None:
                return None
            members.append(shape)
        return ("list", tuple(members))
    if isinstance(value, str):
        pattern = _FORMATS.get(key)
        if not value or (pattern is not None and pattern.fullmatch(value) is None):
            return None
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -_INT32 <= value < _INT32:
            return None
    elif isinstance(value, float) and not math.isfinite(value):
        return None
    return type(value).__name__


def _check_values(value: Any, where: str, key: str = "") -> None:
    """Every primitive value: non-empty strings in FHIR's formats, finite numbers, int32."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_values(v, f"{where}.{k}", k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_values(v, f"{where}.{i}", key)
    elif isinstance(value, str):
        pattern = _FORMATS.get(key)
        if not value or (pattern is not None and pattern.fullmatch(value) is None):
            raise ValueError(
                f"The FHIR bundle does not validate against FHIR R4B, so it was not written: "
                f"{where} ({value!r} is not a valid {key or 'string'})."
            )
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -_INT32 <= value < _INT32:
            raise ValueError(
                f"The FHIR bundle does not validate against FHIR R4B, so it was not written: "
                f"{where} ({value} is outside FHIR's 32-bit integer)."
            )
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"The FHIR bundle does not validate against FHIR R4B, so it was not written: "
            f"{where} ({value} is not a finite decimal)."
        )


class EntryValidator:
    """Validates bundle entries one at a time, each new shape against the FHIR R4B model.

    The guarantee is the same as validating the whole bundle: an entry whose structure
    (keys, nesting, value types) has not been seen in this export is validated in full by
    ``fhir.resources`` (a one-entry Bundle, so ``fullUrl`` and the resource are both
    checked); an entry with the structure of an entry already validated differs only in
    its primitive values, and those are all checked here (non-empty strings, FHIR's date,
    dateTime, code and uri formats, finite decimals, 32-bit integers).  A 1,000-case
    export has a few dozen shapes, so pydantic runs a few dozen times, not 200,000.
    """

    def __init__(self) -> None:
        self._seen: set[Any] = set()
        self.validated = 0  # entries validated by the FHIR model (for the benchmark and tests)
        self.checked = 0  # entries checked by shape and values

    def check(self, entry: dict[str, Any], where: str = "entry") -> None:
        """Raise ValueError (one sentence) when ``entry`` is not a valid Bundle entry."""
        shape = _checked_shape(entry)
        if shape is None:
            _check_values(entry, where)  # raises, naming the value
            raise AssertionError(f"{where}: refused by the fast check only")  # pragma: no cover
        self.checked += 1
        if shape in self._seen:
            return
        from fhir.resources.R4B.bundle import Bundle
        from pydantic import ValidationError

        try:
            Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": [entry]})
        except ValidationError as exc:
            raise _validation_error(exc, "bundle") from None
        self._seen.add(shape)
        self.validated += 1


#: The bundle is written one entry per line (JSON all the same): a registry's loader can
#: stream it, and the C JSON encoder (no indent) writes it ten times faster than indent=2.
BUNDLE_HEAD = '{"resourceType": "Bundle", "type": "collection", "entry": [\n'
BUNDLE_TAIL = "\n]}\n"


def entry_text(entry: dict[str, Any]) -> str:
    """One entry as its line of the bundle (entries are joined by ``",\n"``)."""
    return json.dumps(entry, ensure_ascii=False, allow_nan=False)


def case_entries_text(case: CaseRecords, study_uids: dict[str, str | None], validator: EntryValidator) -> str:
    """The validated entries of one case, ready to stream (ValueError when one is invalid)."""
    entries = case_resources(case, study_uids)
    for i, entry in enumerate(entries):
        validator.check(entry, f"{case.case_id or 'case'} entry {i}")
    return ",\n".join(entry_text(e) for e in entries)
