"""Keyed pseudonyms for exports: same patient + same key -> same pseudonym, in every format.

``--pseudonymize KEY`` replaces the patient name, patient id, case id and accession
numbers by ``HMAC-SHA256(KEY, field + ":" + value)``, hex, truncated to
:data:`PSEUDONYM_LENGTH` characters (64 bits: collisions are negligible for registry sizes,
and without the key the value cannot be recomputed from a guessed name), the birth date by
its year, shifts every date back by one keyed number of days per patient (intervals stay
exact), drops free-text notes and removes file paths from sentences.  Each field gets its
own prefix in the HMAC input so that a name and an id that happen to be equal do not get
equal pseudonyms.
The case file itself is never changed: this only shapes what is written out.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from dataclasses import dataclass, field

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


#: The largest backward shift of pseudonymised dates, in days.
MAX_DATE_SHIFT_DAYS = 365
_PATH = re.compile(r"(?:[A-Za-z]:\\|/)(?:[^\s;,'\"()]|\s(?=[^\s/]*[/\\]))+")


@dataclass(frozen=True)
class PatientIdentity:
    """What an export writes about the patient and the case (already pseudonymised when asked).

    Pseudonymised (a key given): name, id, case id and accession numbers become keyed
    pseudonyms, the birth date its year, every date is shifted back by the same keyed
    number of days (1 to :data:`MAX_DATE_SHIFT_DAYS`, one shift per patient: intervals
    between timepoints stay exact, the same key gives the same dates again), free-text
    notes are dropped and file paths removed from sentences.
    """

    name: str
    patient_id: str
    birth_date: str  # "YYYY-MM-DD" as held, or "YYYY" when pseudonymised, or ""
    pseudonymized: bool
    case_id: str = ""
    date_shift_days: int = 0
    key: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(
        cls, name: str, patient_id: str, birth_date: str | None, key: str | None, case_id: str = ""
    ) -> PatientIdentity:
        """The identity to export: the case's values, or their pseudonyms when ``key`` is given."""
        if key is None:
            return cls(name or "", patient_id or "", iso_date(birth_date), False, case_id or "")
        anchor = patient_id or name or case_id
        digest = hmac.new(key.encode("utf-8"), f"dates:{anchor}".encode(), hashlib.sha256).hexdigest()
        return cls(
            pseudonym(name or "", key, field="name"),
            pseudonym(patient_id or "", key, field="id"),
            birth_year(birth_date),
            pseudonymized=True,
            case_id=pseudonym(case_id or "", key, field="case"),
            date_shift_days=1 + int(digest[:8], 16) % MAX_DATE_SHIFT_DAYS,
            key=key,
        )

    def date(self, value: str | None) -> str:
        """A date as exported: ISO, shifted when pseudonymised ("" when absent)."""
        text = iso_date(value)
        if not self.pseudonymized or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return text
        return (_dt.date.fromisoformat(text) - _dt.timedelta(days=self.date_shift_days)).isoformat()

    @property
    def uid_secret(self) -> str:
        """The secret of the UIDs a pseudonymised export writes (the SR's and the FHIR's
        agree, so the same study gets the same replaced UID in both)."""
        return hmac.new((self.key or "").encode("utf-8"), b"dicom-uids", hashlib.sha256).hexdigest()

    def uid(self, value: str | None) -> str | None:
        """A DICOM UID as exported: replaced by a keyed ``2.25.`` UID when pseudonymised."""
        if not value or not self.pseudonymized:
            return value
        from dicomio.sr import replaced_uid

        return replaced_uid(value, self.uid_secret)

    def accession(self, value: str) -> str:
        """An accession number as exported (a keyed pseudonym when pseudonymised)."""
        if not self.pseudonymized or self.key is None:
            return value
        return pseudonym(value, self.key, field="accession")

    def free_text(self, value: str | None) -> str | None:
        """Reader notes and other free text: dropped when pseudonymised (they may name people)."""
        return None if self.pseudonymized else value

    def sentence(self, value: str) -> str:
        """A tool sentence (a note) as exported: file paths removed when pseudonymised."""
        return _PATH.sub("[path]", value) if self.pseudonymized else value


def iso_date(value: str | None) -> str:
    """A DICOM ``YYYYMMDD`` or ISO date as ``YYYY-MM-DD`` ("" if absent, unchanged if neither)."""
    if not value:
        return ""
    text = str(value).strip()
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text
