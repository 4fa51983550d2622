"""The case's value objects: patient, timepoints, series, vertebrae, reader input.

Every one is a frozen dataclass that validates itself on construction (``ValueError``
with a full sentence), so a :class:`~measure.case.Case` only ever holds valid values and
hands out immutable snapshots.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from dicomio.geometry import orientation_from_iop
from measure.landmarks import LANDMARK_KEYS, ImagePlane, Landmark, level_index

VertebraStatus = Literal["fractured", "treated", "reference", "unknown"]
#: A vertebra's status as the reader marks it; "reference" = unfractured, used as reference.
VERTEBRA_STATUSES: tuple[str, ...] = ("fractured", "treated", "reference", "unknown")
TimepointKind = Literal["pre-op", "post-op", "follow-up"]
TIMEPOINT_KINDS: tuple[str, ...] = ("pre-op", "post-op", "follow-up")
PROCEDURES: tuple[str, ...] = ("vertebroplasty", "kyphoplasty", "spinejack", "other")
#: Cement leakage types: B basivertebral, S segmental vein, C cortical, D disc.
LEAKAGE_TYPES: tuple[str, ...] = ("B", "S", "C", "D")
STIR_DECISIONS: tuple[str, ...] = ("confirmed", "overridden-recent", "overridden-not-recent")
SEXES: tuple[str, ...] = ("M", "F", "O")


def check_choice(value: object, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what} {value!r} is not valid; expected one of {', '.join(choices)}")


def check_level(level: str) -> None:
    level_index(level)  # raises a ValueError sentence


def _check_iso_date(value: str | None, what: str) -> None:
    if value is None:
        return
    try:
        _dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a date; expected YYYY-MM-DD (ISO 8601)") from None


# -- value objects ------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    """Who the images belong to; every field is optional (cases may be anonymous)."""

    name: str | None = None
    id: str | None = None
    birth_date: str | None = None  # ISO YYYY-MM-DD
    sex: str | None = None  # DICOM PatientSex: M, F, O

    def __post_init__(self) -> None:
        _check_iso_date(self.birth_date, "patient birth date")
        if self.sex is not None:
            check_choice(self.sex, SEXES, "patient sex")


@dataclass(frozen=True)
class Timepoint:
    """One imaging session: before treatment, right after it, or at follow-up."""

    id: str
    kind: str  # one of TIMEPOINT_KINDS
    date: str | None = None  # ISO YYYY-MM-DD
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"a timepoint id must be a non-empty text, got {self.id!r}")
        check_choice(self.kind, TIMEPOINT_KINDS, f"timepoint {self.id!r} kind")
        _check_iso_date(self.date, f"timepoint {self.id!r} date")


@dataclass(frozen=True)
class SeriesRef:
    """A DICOM series used by a timepoint, and the geometry measurement needs from it.

    ``path`` is kept as written in the case file (relative paths are resolved against
    the case file's folder by :meth:`Case.series_path`).  ``orientation`` (the six
    ImageOrientationPatient cosines) and ``pixel_spacing_mm`` (row, column) describe the
    image stack the landmarks are placed on; ``reformat`` says that stack is a
    reformat computed from the series rather than its original images.
    """

    series_uid: str
    timepoint: str
    path: str
    description: str = ""
    modality: str = ""
    sequence: str | None = None  # "STIR", "T1", "T2", "T2FS", "other" for MR
    orientation: tuple[float, float, float, float, float, float] | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    reformat: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.series_uid, str) or not self.series_uid.strip():
            raise ValueError(f"a series UID must be a non-empty text, got {self.series_uid!r}")
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(f"series {self.series_uid} needs a path (a folder or file), got {self.path!r}")
        if self.orientation is not None:
            values = tuple(float(x) for x in self.orientation)
            if len(values) != 6:
                raise ValueError(
                    f"series {self.series_uid} orientation needs 6 direction cosines, got {len(values)}"
                )
            try:
                orientation_from_iop(values)
            except ValueError as exc:
                raise ValueError(f"series {self.series_uid} orientation is invalid: {exc}") from None
            object.__setattr__(self, "orientation", values)
        if self.pixel_spacing_mm is not None:
            spacing = tuple(float(x) for x in self.pixel_spacing_mm)
            if len(spacing) != 2 or not all(math.isfinite(s) and s > 0 for s in spacing):
                raise ValueError(
                    f"series {self.series_uid} pixel spacing needs 2 positive values "
                    f"(row, column) in mm, got {list(self.pixel_spacing_mm)}"
                )
            object.__setattr__(self, "pixel_spacing_mm", spacing)

    @property
    def plane(self) -> ImagePlane | None:
        """The measurement plane, or None while the geometry is unknown."""
        if self.orientation is None or self.pixel_spacing_mm is None:
            return None
        return ImagePlane.from_orientation(self.orientation, self.pixel_spacing_mm)


@dataclass(frozen=True)
class Vertebra:
    """One vertebral body at one timepoint: status and the landmarks placed so far."""

    timepoint: str
    level: str
    status: str = "unknown"
    landmarks: Mapping[str, Landmark] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_level(self.level)
        check_choice(self.status, VERTEBRA_STATUSES, f"status of {self.level}")
        for key, lm in self.landmarks.items():
            check_choice(key, LANDMARK_KEYS, f"landmark key of {self.level}")
            if not isinstance(lm, Landmark):
                raise ValueError(
                    f"landmark {key} of {self.level} must be a Landmark, got {type(lm).__name__}"
                )
        ordered = {k: self.landmarks[k] for k in LANDMARK_KEYS if k in self.landmarks}
        object.__setattr__(self, "landmarks", MappingProxyType(ordered))

    @property
    def missing_keys(self) -> tuple[str, ...]:
        return tuple(k for k in LANDMARK_KEYS if k not in self.landmarks)

    @property
    def complete(self) -> bool:
        return not self.missing_keys


@dataclass(frozen=True)
class ReaderEntry:
    """What the reader recorded about the treatment (per level, or for the whole case)."""

    procedure: str | None = None  # one of PROCEDURES
    cement_volume_ml: float | None = None
    leakage: tuple[str, ...] = ()  # subset of LEAKAGE_TYPES, kept in that order
    complications: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.procedure is not None:
            check_choice(self.procedure, PROCEDURES, "procedure")
        if self.cement_volume_ml is not None:
            volume = float(self.cement_volume_ml)
            if not math.isfinite(volume) or volume < 0:
                raise ValueError(
                    f"cement volume must be a non-negative number of ml, got {self.cement_volume_ml}"
                )
            object.__setattr__(self, "cement_volume_ml", volume)
        leakage = set(self.leakage)
        for kind in leakage:
            check_choice(kind, LEAKAGE_TYPES, "cement leakage type")
        object.__setattr__(self, "leakage", tuple(k for k in LEAKAGE_TYPES if k in leakage))


@dataclass(frozen=True)
class StirDecision:
    """The reader's verdict on the STIR edema analysis of one vertebra."""

    decision: str | None = None  # one of STIR_DECISIONS, None = not decided yet
    note: str = ""

    def __post_init__(self) -> None:
        if self.decision is not None:
            check_choice(self.decision, STIR_DECISIONS, "STIR decision")


@dataclass(frozen=True)
class RemovedTimepoint:
    """Everything :meth:`Case.remove_timepoint` took away, for :meth:`Case.restore_timepoint`."""

    timepoint: Timepoint
    index: int
    series: tuple[SeriesRef, ...]
    vertebrae: tuple[Vertebra, ...]
    reader_entries: tuple[tuple[str | None, ReaderEntry], ...]
    stir_decisions: tuple[tuple[str, StirDecision], ...]
