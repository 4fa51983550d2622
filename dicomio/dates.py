"""DICOM dates (DA, ``YYYYMMDD``) as ISO 8601 dates (``YYYY-MM-DD``), the case file's form."""

from __future__ import annotations


def dicom_date_iso(value: str | None) -> str | None:
    """``"20260302"`` -> ``"2026-03-02"``; None when absent or not a DICOM date.

    Only the first eight characters count (some writers append a time); the date itself
    is not checked for existence (that is the case model's job when it is stored).
    """
    if not value or len(value) < 8 or not value[:8].isdigit():
        return None
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}"
