"""The case's value objects: patient, timepoints, series, vertebrae, reader input.

Every one is a frozen dataclass that validates itself on construction (``ValueError``
with a full sentence), so a :class:`~measure.case.Case` only ever holds valid values and
hands out immutable snapshots.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from dicomio.geometry import orientation_from_iop
from measure.clinical import ClinicalRecord
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
    #: The landmark set (series UID) whose numbers go to the registry, as the reader chose
    #: it; None: the first set placed at this timepoint (:meth:`Case.measurement_series`).
    measurement_series: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"a timepoint id must be a non-empty text, got {self.id!r}")
        check_choice(self.kind, TIMEPOINT_KINDS, f"timepoint {self.id!r} kind")
        _check_iso_date(self.date, f"timepoint {self.id!r} date")


@dataclass(frozen=True)
class SeriesIdentity:
    """Who and what study a series belongs to, as its DICOM header says (None: absent).

    Kept with the series in the case so that a series of another patient is noticed when it
    is added, and so that reports and registry rows carry the identity the images carry.
    """

    patient_name: str | None = None
    patient_id: str | None = None
    patient_birth_date: str | None = None  # ISO YYYY-MM-DD
    patient_sex: str | None = None  # M, F, O
    study_uid: str | None = None
    study_date: str | None = None  # ISO YYYY-MM-DD
    study_description: str | None = None
    accession_number: str | None = None

    def __post_init__(self) -> None:
        _check_iso_date(self.patient_birth_date, "patient birth date of the series")
        _check_iso_date(self.study_date, "study date of the series")
        if self.patient_sex is not None:
            check_choice(self.patient_sex, SEXES, "patient sex of the series")

    @property
    def patient(self) -> Patient:
        return Patient(self.patient_name, self.patient_id, self.patient_birth_date, self.patient_sex)


@dataclass(frozen=True)
class DisplayWindow:
    """The window (contrast) the reader chose for a series: centre and width in its units."""

    center: float
    width: float
    name: str = ""

    def __post_init__(self) -> None:
        center, width = float(self.center), float(self.width)
        if not (math.isfinite(center) and math.isfinite(width) and width > 0):
            raise ValueError(
                f"a window needs a finite centre and a positive width, got {self.center}/{self.width}"
            )
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "width", width)


@dataclass(frozen=True)
class SeriesRef:
    """A DICOM series used by a timepoint, and the geometry measurement needs from it.

    ``path`` is kept as written in the case file (relative paths are resolved against
    the case file's folder by :meth:`Case.series_path`).  ``orientation`` (the six
    ImageOrientationPatient cosines) and ``pixel_spacing_mm`` (row, column) describe the
    image stack the landmarks are placed on; ``reformat`` says that stack is a
    reformat computed from the series rather than its original images.  ``identity`` is
    what the DICOM says of patient and study; ``window`` the reader's window (None: the
    series' default); ``generated_uid`` says the files had no SeriesInstanceUID and the
    UID was generated from what identifies the acquisition (``dicomio``).
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
    identity: SeriesIdentity | None = None
    window: DisplayWindow | None = None
    generated_uid: bool = False

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


LandmarkSet = Mapping[str, Landmark]


def set_series_of(landmarks: Mapping[str, Landmark]) -> str:
    """The series a set of landmarks belongs to: the one most of them lie on (the first
    landmark's series on a tie).  Files of version 2 and older kept one set per vertebra
    whose points could lie on parallel images of two series."""
    if not landmarks:
        raise ValueError("an empty landmark set belongs to no series")
    series = [lm.series_uid for lm in landmarks.values()]
    return max(dict.fromkeys(series), key=series.count)


@dataclass(frozen=True)
class Vertebra:
    """One vertebral body at one timepoint: its status and its landmark sets.

    A timepoint may be measured on several series (CT for morphometry, the MR T1 for the
    STIR edema of the same day): each series the landmarks were placed on holds one set
    of up to six landmarks (``landmark_sets``: series UID -> key -> landmark, in the order
    the sets were started).  The status belongs to the body, whatever the series.
    """

    timepoint: str
    level: str
    status: str = "unknown"
    landmark_sets: Mapping[str, LandmarkSet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_level(self.level)
        check_choice(self.status, VERTEBRA_STATUSES, f"status of {self.level}")
        sets: dict[str, LandmarkSet] = {}
        for series_uid, landmarks in self.landmark_sets.items():
            if not isinstance(series_uid, str) or not series_uid.strip():
                raise ValueError(f"a landmark set of {self.level} needs a series UID, got {series_uid!r}")
            for key, lm in landmarks.items():
                check_choice(key, LANDMARK_KEYS, f"landmark key of {self.level}")
                if not isinstance(lm, Landmark):
                    raise ValueError(
                        f"landmark {key} of {self.level} must be a Landmark, got {type(lm).__name__}"
                    )
            if landmarks:
                sets[series_uid] = MappingProxyType(
                    {k: landmarks[k] for k in LANDMARK_KEYS if k in landmarks}
                )
        object.__setattr__(self, "landmark_sets", MappingProxyType(sets))

    @property
    def series(self) -> tuple[str, ...]:
        """The series that hold a landmark set of this body, first started first."""
        return tuple(self.landmark_sets)

    def landmarks_on(self, series_uid: str | None) -> LandmarkSet:
        """The landmarks placed on ``series_uid`` (empty when none, or for None)."""
        if series_uid is None:
            return MappingProxyType({})
        return self.landmark_sets.get(series_uid, MappingProxyType({}))

    def missing_keys_on(self, series_uid: str | None) -> tuple[str, ...]:
        placed = self.landmarks_on(series_uid)
        return tuple(k for k in LANDMARK_KEYS if k not in placed)

    def complete_on(self, series_uid: str | None) -> bool:
        return not self.missing_keys_on(series_uid)

    def with_landmark(self, series_uid: str, key: str, landmark: Landmark | None) -> Vertebra:
        """This body with one landmark of one set placed, moved or (None) removed."""
        sets = {uid: dict(lms) for uid, lms in self.landmark_sets.items()}
        target = sets.setdefault(series_uid, {})
        if landmark is None:
            target.pop(key, None)
        else:
            target[key] = landmark
        return replace(self, landmark_sets=sets)

    def with_set(self, series_uid: str, landmarks: LandmarkSet | None) -> Vertebra:
        """This body with one whole set replaced (None or empty: removed)."""
        sets = {uid: dict(lms) for uid, lms in self.landmark_sets.items() if uid != series_uid}
        if landmarks:
            sets[series_uid] = dict(landmarks)
        return replace(self, landmark_sets=sets)


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
    clinical: ClinicalRecord | None = None
