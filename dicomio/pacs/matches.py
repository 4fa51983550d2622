"""What a query asks and what a node answers: typed studies with their series."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_STUDIES = 500
_D = r"(\d{4})-?(\d{2})-?(\d{2})"
_DATE_RE = re.compile(rf"^(?:{_D})?(-)?(?:{_D})?$")


@dataclass(frozen=True)
class StudyQuery:
    """Matching keys of a study query (DICOM matching: ``*`` wildcards in names, date ranges)."""

    patient_id: str = ""
    patient_name: str = ""
    date_range: str = ""  # YYYYMMDD, YYYYMMDD-YYYYMMDD, -YYYYMMDD or YYYYMMDD-
    modality: str = ""
    accession_number: str = ""
    study_description: str = ""
    study_uid: str = ""
    max_studies: int = DEFAULT_MAX_STUDIES


def check_date_range(text: str) -> str:
    """``FROM-TO`` in DICOM form (``YYYYMMDD``; ISO dates allowed); ValueError otherwise."""
    m = _DATE_RE.match(text.strip())
    if not m or not (m.group(1) or m.group(5)) or (m.group(1) and m.group(5) and not m.group(4)):
        raise ValueError(f"The date {text!r} is not a date or range; expected YYYYMMDD or YYYYMMDD-YYYYMMDD.")
    first = "".join(m.group(i) or "" for i in (1, 2, 3))
    last = "".join(m.group(i) or "" for i in (5, 6, 7))
    return f"{first}{m.group(4) or ''}{last}"


@dataclass(frozen=True)
class SeriesMatch:
    series_uid: str
    modality: str
    description: str
    n_images: int | None
    series_number: int | None = None


@dataclass(frozen=True)
class StudyMatch:
    study_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    modalities: tuple[str, ...]
    description: str
    accession_number: str
    n_images: int | None
    series: tuple[SeriesMatch, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The ``pacs find --json`` object (docs/cli.md)."""
        return {
            "study_uid": self.study_uid,
            "patient_id": self.patient_id,
            "patient_name": self.patient_name,
            "study_date": self.study_date,
            "study_description": self.description,
            "accession_number": self.accession_number,
            "modalities": list(self.modalities),
            "series": [
                {
                    "series_uid": s.series_uid,
                    "modality": s.modality,
                    "description": s.description,
                    "n_images": s.n_images,
                    "series_number": s.series_number,
                }
                for s in self.series
            ],
        }
