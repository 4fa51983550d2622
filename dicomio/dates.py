"""DICOM dates (DA, ``YYYYMMDD``) as ISO 8601 dates (``YYYY-MM-DD``), the case file's form."""

from __future__ import annotations

import datetime as _dt


def dicom_date_iso(value: str | None) -> str | None:
    """``"20260302"`` -> ``"2026-03-02"``; None when absent or not a DICOM date.

    Only the first eight characters count (some writers append a time); a date that does
    not exist (``"20261345"``) is None too.
    """
    if not value or len(value) < 8 or not value[:8].isdigit():
        return None
    iso = f"{value[:4]}-{value[4:6]}-{value[6:8]}"
    try:
        _dt.date.fromisoformat(iso)
    except ValueError:
        return None
    return iso
