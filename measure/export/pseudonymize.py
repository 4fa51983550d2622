"""Keyed pseudonyms for exports: same patient + same key -> same pseudonym, in every format.

``--pseudonymize KEY`` replaces the patient name and id by ``HMAC-SHA256(KEY, value)``,
hex, truncated to :data:`PSEUDONYM_LENGTH` characters (64 bits: collisions are negligible
for registry sizes, and without the key the value cannot be recomputed from a guessed
name), and the birth date by its year.  The name gets its own prefix in the HMAC input
so that a name and an id that happen to be equal do not get equal pseudonyms.
The case file itself is never changed: this only shapes what is written out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

PSEUDONYM_LENGTH = 16


def pseudonym(value: str, key: str, *, field: str) -> str:
    """``HMAC-SHA256(key, field + ':' + value)`` as hex, truncated; "" stays "" (nothing to hide)."""
    if not key:
        raise ValueError("The pseudonymisation key is empty; give a non-empty --pseudonymize KEY.")
    if not value:
        return ""
    message = f"{field}:{value.strip()}".encode()
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]


def birth_year(birth_date: str | None) -> str:
    """The year of a birth date given as DICOM ``YYYYMMDD`` or ISO ``YYYY-MM-DD`` ("" if absent)."""
    if not birth_date:
        return ""
    match = re.match(r"^\s*(\d{4})", str(birth_date))
    if match is None:
        raise ValueError(
            f"The patient birth date {birth_date!r} is not a date; expected YYYYMMDD or YYYY-MM-DD."
        )
    return match.group(1)


@dataclass(frozen=True)
class PatientIdentity:
    """What an export writes about the patient (already pseudonymised when asked)."""

    name: str
    patient_id: str
    birth_date: str  # "YYYY-MM-DD" as held, or "YYYY" when pseudonymised, or ""
    pseudonymized: bool

    @classmethod
    def of(cls, name: str, patient_id: str, birth_date: str | None, key: str | None) -> PatientIdentity:
        """The identity to export: the case's values, or their pseudonyms when ``key`` is given."""
        if key is None:
            return cls(name or "", patient_id or "", iso_date(birth_date), pseudonymized=False)
        return cls(
            pseudonym(name or "", key, field="name"),
            pseudonym(patient_id or "", key, field="id"),
            birth_year(birth_date),
            pseudonymized=True,
        )


def iso_date(value: str | None) -> str:
    """A DICOM ``YYYYMMDD`` or ISO date as ``YYYY-MM-DD`` ("" if absent, unchanged if neither)."""
    if not value:
        return ""
    text = str(value).strip()
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text
