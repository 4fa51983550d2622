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
#: Above this inversion time a series is no STIR whatever its name says (T1-FLAIR and
#: MPRAGE use about 800-1100 ms, a "t1_tirm" is a T1-weighted IR).
LONG_INVERSION_TIME_MS = 400.0
#: A fluid-attenuated IR (FLAIR, Siemens "dark-fluid") nulls CSF at about 1800-2500 ms.
FLAIR_MIN_INVERSION_TIME_MS = 1500.0
#: A spoiled gradient echo (SequenceVariant SP) with an echo time up to this is T1-weighted
#: (FLASH, SPGR, MPRAGE); longer echoes make it T2*-weighted.
SPOILED_T1_MAX_ECHO_TIME_MS = 10.0

_STIR_SUBSTRINGS = ("STIR", "TIRM")
_FLAIR = re.compile(r"flair|dark[\s_-]*fluid")
_DIFFUSION = re.compile(r"(?<![a-z])(dwibs|dwi|dti|diffusion|diff|adc|tracew|trace)(?![a-z])")
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
    suppression = _values(attributes.get("SpectrallySelectedSuppression"))
    if suppression and suppression[0] in ("FAT", "FAT_AND_WATER"):
        return f"SpectrallySelectedSuppression is {suppression[0]!r} (Enhanced MR)"
    if _values(attributes.get("SpectrallySelectedExcitation")) == ["WATER"]:
        return "SpectrallySelectedExcitation is 'WATER' (water excitation, Enhanced MR)"
    lower = description.lower()
    for pattern, label in _FAT_SAT:
        if pattern.search(lower):
            return f"SeriesDescription {description!r} contains {label!r}"
    return None


def _gradient_echo(attributes: Mapping[str, Any]) -> bool:
    """ScanningSequence GR, or (Enhanced MR) EchoPulseSequence GRADIENT."""
    return "GR" in _values(attributes.get("ScanningSequence")) or _values(
        attributes.get("EchoPulseSequence")
    ) == ["GRADIENT"]


def _inversion(attributes: Mapping[str, Any]) -> str | None:
    """Which header says the sequence is inversion-prepared, or None.

    ScanningSequence 'IR' says so directly; SequenceVariant 'MP' (magnetization prepared)
    on a spin echo says so for vendors that keep ScanningSequence 'SE' for a STIR.  'MP'
    on a gradient echo is left out: saturation-recovery and MPRAGE preparations are no STIR.
    """
    scanning = _values(attributes.get("ScanningSequence"))
    if "IR" in scanning:
        return f"ScanningSequence '{_text(attributes.get('ScanningSequence'))}' contains 'IR'"
    if _values(attributes.get("InversionRecovery")) == ["YES"]:
        return "InversionRecovery is 'YES' (Enhanced MR)"
    variant = _values(attributes.get("SequenceVariant"))
    if "MP" in variant and "SE" in scanning:
        return (
            f"SequenceVariant '{_text(attributes.get('SequenceVariant'))}' contains 'MP' (magnetization "
            f"prepared) on ScanningSequence '{_text(attributes.get('ScanningSequence'))}'"
        )
    return None


def _echo_planar(attributes: Mapping[str, Any], description: str) -> str | None:
    """Diffusion or functional (echo planar) imaging: no structural T1/T2/STIR contrast.

    A DWIBS is fat-suppressed with a STIR pulse but is no STIR for marrow edema, and a
    diffusion b0 looks T2-weighted with fat saturation; both must not be picked as such.
    """
    match = _DIFFUSION.search(description.lower())
    if match:
        return f"SeriesDescription {description!r} contains {match.group(0)!r} (diffusion imaging)"
    if "EP" in _values(attributes.get("ScanningSequence")):
        return (
            f"ScanningSequence '{_text(attributes.get('ScanningSequence'))}' contains 'EP' (echo planar: "
            "diffusion or functional imaging)"
        )
    return None


def _flair(attributes: Mapping[str, Any], description: str, ti: float | None) -> str | None:
    """A fluid-suppressed (long-TI) inversion recovery: never a STIR."""
    match = _FLAIR.search(description.lower())
    if match:
        return f"SeriesDescription {description!r} contains {match.group(0)!r} (fluid-suppressed, not a STIR)"
    inversion = _inversion(attributes)
    spin_echo = not _gradient_echo(attributes)  # a gradient echo with a long TI: T1 mapping
    if inversion and spin_echo and ti is not None and ti >= FLAIR_MIN_INVERSION_TIME_MS:
        return (
            f"{inversion} with InversionTime {ti:g} ms (fluid-suppressing FLAIR range, >= "
            f"{FLAIR_MIN_INVERSION_TIME_MS:g} ms), not a STIR"
        )
    return None


def _stir(attributes: Mapping[str, Any], description: str, ti: float | None) -> str | None:
    if ti is not None and ti > LONG_INVERSION_TIME_MS:
        return None  # a long TI overrules the name (e.g. "t1_tirm", a T1-weighted IR)
    upper = description.upper()
    for word in _STIR_SUBSTRINGS:
        if word in upper:
            return f"SeriesDescription {description!r} contains {word!r}"
    if _WORD_IR.search(description.lower()):
        return f"SeriesDescription {description!r} contains the word 'IR'"
    inversion = _inversion(attributes)
    if inversion and ti is not None and STIR_INVERSION_TIME_MS[0] <= ti <= STIR_INVERSION_TIME_MS[1]:
        return (
            f"{inversion} with InversionTime {ti:g} ms (short-tau range {STIR_INVERSION_TIME_MS[0]:g}-"
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
    scanning = _values(attributes.get("ScanningSequence"))
    if (
        "GR" in scanning
        and "SP" in _values(attributes.get("SequenceVariant"))
        and te is not None
        and 0 < te <= SPOILED_T1_MAX_ECHO_TIME_MS
    ):
        return "T1", (
            f"ScanningSequence '{_text(attributes.get('ScanningSequence'))}' with SequenceVariant "
            f"'{_text(attributes.get('SequenceVariant'))}' (spoiled gradient echo) and short "
            f"EchoTime {te:g} ms"
        )
    if te is not None and tr is not None and te > 0 and tr > 0:
        if te >= 60 and tr >= 1500:
            return "T2", f"long EchoTime {te:g} ms and RepetitionTime {tr:g} ms (T2-weighted timing)"
        if te <= 30 and tr <= 1000 and not _gradient_echo(attributes):
            return "T1", f"short EchoTime {te:g} ms and RepetitionTime {tr:g} ms (T1-weighted timing)"
    return None


def classify_mr(attributes: Mapping[str, Any]) -> tuple[SequenceClass, str]:
    """Classify an MR series as STIR, T2FS, T2, T1 or other; the reason says what matched.

    Order: diffusion / echo planar imaging and FLAIR (description, or a spin echo
    inversion recovery with InversionTime >= 1500 ms) are 'other'; then STIR (unless
    InversionTime is over 400 ms: description STIR/TIRM/"IR", ScanningSequence IR or
    SequenceVariant MP on a spin echo with InversionTime 100-250 ms, SequenceName "*tir*"),
    since a STIR is often also labelled T2; then T2 with fat saturation (T2FS: ScanOptions
    FS or the description), T2, T1 (description, AcquisitionContrast, spoiled gradient echo
    with a short TE, TE/TR).
    """
    description = _text(attributes.get("SeriesDescription")).strip()
    ti = _float(attributes.get("InversionTime"))
    echo_planar = _echo_planar(attributes, description)
    if echo_planar:
        return "other", echo_planar
    flair = _flair(attributes, description, ti)
    if flair:
        return "other", f"FLAIR: {flair}"
    reason = _stir(attributes, description, ti)
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
