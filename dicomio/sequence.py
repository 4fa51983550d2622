"""Which MR sequence a series is (STIR, T1, T2, T2 fat-sat), from its header.

Recency of a fracture is read on STIR (or T2 fat-sat) against T1 (clinical reference,
"Fracture recency on MRI"), so the app needs to know which series is which.  Headers
are vendor-specific and free text, so every rule is simple, ordered, and the returned
reason names the attribute and value that matched, for the user to check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dicomio.model import SequenceClass

#: Inversion times (ms) of a short-tau inversion recovery (STIR nulls fat at about
#: 150 ms at 1.5 T, about 220 ms at 3 T).
STIR_INVERSION_TIME_MS = (100.0, 250.0)

_STIR_SUBSTRINGS = ("STIR", "TIRM")
_WORD_IR = re.compile(r"(?<![a-z0-9])ir(?![a-z0-9])")
_T1 = re.compile(r"(?<![a-z0-9])t1(?![0-9*])")
_T2 = re.compile(r"(?<![a-z0-9])t2(?![0-9*])")
_FAT_SAT = (
    (re.compile(r"(?<![a-z])fs(?![a-z])"), "fs"),
    (re.compile(r"fat[\s_-]*sat"), "fat sat"),
    (re.compile(r"spair"), "SPAIR"),
    (re.compile(r"(?<![a-z])spir(?![a-z])"), "SPIR"),
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip().upper() for v in value]
    return [v.strip().upper() for v in str(value).split("\\")]


def _float(value: Any) -> float | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        return float(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def _fat_sat(attributes: Mapping[str, Any], description: str) -> str | None:
    options = _values(attributes.get("ScanOptions"))
    if "FS" in options:
        return f"ScanOptions '{_text(attributes.get('ScanOptions'))}' contains 'FS'"
    lower = description.lower()
    for pattern, label in _FAT_SAT:
        if pattern.search(lower):
            return f"SeriesDescription {description!r} contains {label!r}"
    return None


def _stir(attributes: Mapping[str, Any], description: str) -> str | None:
    upper = description.upper()
    for word in _STIR_SUBSTRINGS:
        if word in upper:
            return f"SeriesDescription {description!r} contains {word!r}"
    if _WORD_IR.search(description.lower()):
        return f"SeriesDescription {description!r} contains the word 'IR'"
    scanning = _values(attributes.get("ScanningSequence"))
    ti = _float(attributes.get("InversionTime"))
    if "IR" in scanning and ti is not None and STIR_INVERSION_TIME_MS[0] <= ti <= STIR_INVERSION_TIME_MS[1]:
        return (
            f"ScanningSequence '{_text(attributes.get('ScanningSequence'))}' contains 'IR' with "
            f"InversionTime {ti:g} ms (short-tau range {STIR_INVERSION_TIME_MS[0]:g}-"
            f"{STIR_INVERSION_TIME_MS[1]:g} ms)"
        )
    name = _text(attributes.get("SequenceName"))
    if "tir" in name.lower():
        return f"SequenceName {name!r} contains 'tir'"
    return None


def _contrast(attributes: Mapping[str, Any], description: str) -> tuple[str, str] | None:
    """('T1' | 'T2', reason) from the description, AcquisitionContrast, or TE/TR."""
    lower = description.lower()
    if _T2.search(lower):
        return "T2", f"SeriesDescription {description!r} names T2"
    if _T1.search(lower):
        return "T1", f"SeriesDescription {description!r} names T1"
    contrast = _values(attributes.get("AcquisitionContrast"))
    for value in ("T1", "T2"):
        if value in contrast:
            return value, f"AcquisitionContrast is {value!r}"
    te = _float(attributes.get("EchoTime"))
    tr = _float(attributes.get("RepetitionTime"))
    if te is not None and tr is not None and te > 0 and tr > 0:
        if te >= 60 and tr >= 1500:
            return "T2", f"long EchoTime {te:g} ms and RepetitionTime {tr:g} ms (T2-weighted timing)"
        if te <= 30 and tr <= 1000 and "GR" not in _values(attributes.get("ScanningSequence")):
            return "T1", f"short EchoTime {te:g} ms and RepetitionTime {tr:g} ms (T1-weighted timing)"
    return None


def classify_mr(attributes: Mapping[str, Any]) -> tuple[SequenceClass, str]:
    """Classify an MR series as STIR, T2FS, T2, T1 or other; the reason says what matched.

    Order: STIR (description STIR/TIRM/"IR", ScanningSequence IR with a short
    InversionTime, SequenceName "*tir*") first, since a STIR is often also labelled T2;
    then T2 with fat saturation (T2FS), T2, T1.
    """
    description = _text(attributes.get("SeriesDescription")).strip()
    reason = _stir(attributes, description)
    if reason:
        return "STIR", reason
    contrast = _contrast(attributes, description)
    if contrast is None:
        return "other", "no STIR, T1 or T2 marker in SeriesDescription, sequence attributes or timing"
    kind, reason = contrast
    if kind == "T2":
        fat = _fat_sat(attributes, description)
        if fat:
            return "T2FS", f"{reason}; fat saturation: {fat}"
        return "T2", reason
    return "T1", reason
