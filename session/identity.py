"""Is it the same patient? The check that keeps another patient's images out of a case.

Two identities are the same patient when their patient IDs match; without an ID on both
sides, when name and birth date match.  Names compare as DICOM person names do in
practice: case, spaces and the ``^`` separators do not count.  When neither rule can
decide (nothing to compare), the answer is None: the case is not refused for a blank.
"""

from __future__ import annotations

import re

from measure.case_values import Patient


def _name_key(name: str | None) -> str:
    return re.sub(r"[\s^]+", " ", (name or "").strip()).strip().casefold()


def same_patient(a: Patient, b: Patient) -> bool | None:
    """True, False, or None when there is nothing to compare."""
    if a.id and b.id:
        return a.id.strip() == b.id.strip()
    if _name_key(a.name) and _name_key(b.name) and a.birth_date and b.birth_date:
        return _name_key(a.name) == _name_key(b.name) and a.birth_date == b.birth_date
    return None


def is_blank(patient: Patient) -> bool:
    return not (patient.id or patient.name or patient.birth_date or patient.sex)


def describe(patient: Patient) -> str:
    """``DOE^JANE (ID P0001, born 1950-04-02, F)``; "an unnamed patient" when blank."""
    name = (patient.name or "").strip() or "unnamed patient"
    details = [f"ID {patient.id}" if patient.id else "no ID"]
    if patient.birth_date:
        details.append(f"born {patient.birth_date}")
    if patient.sex:
        details.append(patient.sex)
    return f"{name} ({', '.join(details)})"


def conflict_sentence(case_patient: Patient, series_patient: Patient, what: str) -> str | None:
    """The sentence that names both patients when ``what`` (e.g. "the series SAG T1") is not
    of the case's patient; None when it is, or when it cannot be told."""
    if same_patient(case_patient, series_patient) is not False:
        return None
    return (
        f"{what[:1].upper()}{what[1:]} belongs to {describe(series_patient)}, but the open case is "
        f"{describe(case_patient)}."
    )
