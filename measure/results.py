"""Every result Endplate computes, as frozen, typed objects with units in their names.

The engine (:mod:`measure.engine`, :mod:`measure.comparison`, :mod:`measure.angles`) and
the STIR analysis (:mod:`measure.edema`) produce these; the measurement panel, the
overlays, the PDF, CSV, SR and FHIR exports read them as objects.  One serializer,
:mod:`measure.results_json`, turns them into the documented JSON form (``endplate
measure --json`` and the case file's snapshot, keys in docs/data-dictionary.md); nothing
inside Endplate parses that JSON back.

Conventions: distances in mm, angles in degrees (kyphosis positive), losses and
restorations in percent, fractions in 0..1; every ``*_sigma_*`` value is the one-pixel
placement uncertainty in the same unit; ``None`` means "not available" and a note says
why.  Floats are never rounded here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from measure.case_values import StirDecision
from measure.edema_config import DEFAULT_CONFIG, EdemaConfig

HeightKey = Literal["ha", "hm", "hp"]
#: Anterior, middle, posterior height, in that order everywhere.
HEIGHT_KEYS: tuple[HeightKey, ...] = ("ha", "hm", "hp")
#: The three references of a height loss (clinical reference, "Height loss and fracture grade").
LOSS_REFERENCES: tuple[str, ...] = ("posterior", "adjacent", "nearest")


# -- small value types --------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """A value with its +/- one-sided uncertainty, both in ``unit``; None = not available."""

    value: float | None
    uncertainty: float | None
    unit: str

    @classmethod
    def of(cls, value: float | None, uncertainty: float | None, unit: str) -> Measured:
        """Build from possibly-NaN floats (NaN becomes None; numpy floats become floats)."""
        v = None if value is None or not math.isfinite(value) else float(value)
        u = None if v is None or uncertainty is None or not math.isfinite(uncertainty) else float(uncertainty)
        return cls(v, u, unit)

    @classmethod
    def missing(cls, unit: str) -> Measured:
        return cls(None, None, unit)


@dataclass(frozen=True)
class PerHeight:
    """One number per vertebral height: anterior (Ha), middle (Hm), posterior (Hp).

    ``None`` is "not available"; a float may be NaN where a ratio is undefined (a zero
    reference height): serializers write both as null.
    """

    ha: float | None = None
    hm: float | None = None
    hp: float | None = None

    def get(self, key: str) -> float | None:
        if key not in HEIGHT_KEYS:
            raise ValueError(f"height {key!r} is not known; expected one of ha, hm, hp.")
        value: float | None = getattr(self, key)
        return value

    def items(self) -> Iterator[tuple[HeightKey, float | None]]:
        for key in HEIGHT_KEYS:
            yield key, getattr(self, key)

    @classmethod
    def from_mapping(cls, values: Mapping[str, float | None] | None) -> PerHeight:
        values = values or {}
        return cls(values.get("ha"), values.get("hm"), values.get("hp"))


@dataclass(frozen=True)
class HeightFlags:
    """A yes/no per height (e.g. "within measurement error"); None = not decidable."""

    ha: bool | None = None
    hm: bool | None = None
    hp: bool | None = None

    def get(self, key: str) -> bool | None:
        value: bool | None = getattr(self, key)
        return value


@dataclass(frozen=True)
class HeightLoss:
    """Loss of each height against one reference, ``(1 - H / H_ref) * 100`` percent.

    Against ``"posterior"`` (the vertebra's own Hp) only Ha and Hm exist: ``heights`` says
    which ones the reference defines.  ``sigma_pct`` is the one-pixel uncertainty (None
    for a height whose image has no pixel spacing).
    """

    reference: str
    pct: PerHeight
    sigma_pct: PerHeight

    @property
    def heights(self) -> tuple[HeightKey, ...]:
        return ("ha", "hm") if self.reference == "posterior" else HEIGHT_KEYS

    @property
    def largest_height(self) -> HeightKey | None:
        """The height with the largest finite loss (the first of Ha, Hm, Hp on a tie)."""
        finite = [
            (value, -i, key)
            for i, key in enumerate(self.heights)
            if (value := self.pct.get(key)) is not None and math.isfinite(value)
        ]
        return max(finite)[2] if finite else None

    @property
    def largest_pct(self) -> float | None:
        key = self.largest_height
        return None if key is None else self.pct.get(key)

    @property
    def largest_sigma_pct(self) -> float | None:
        key = self.largest_height
        return None if key is None else self.sigma_pct.get(key)


@dataclass(frozen=True)
class HeightLosses:
    """The losses of one vertebra against the three references (None: reference missing)."""

    posterior: HeightLoss | None = None
    adjacent: HeightLoss | None = None
    nearest: HeightLoss | None = None

    def get(self, reference: str) -> HeightLoss | None:
        if reference not in LOSS_REFERENCES:
            raise ValueError(
                f"height-loss reference {reference!r} is not known; expected one of {LOSS_REFERENCES}."
            )
        loss: HeightLoss | None = getattr(self, reference)
        return loss


@dataclass(frozen=True)
class ReferenceHeights:
    """Heights (mean over the reference vertebrae) behind the "adjacent" or "nearest" loss."""

    heights_mm: PerHeight
    sigma_mm: PerHeight


@dataclass(frozen=True)
class ReferenceLevels:
    """Which levels served as references: adjacent (mean), nearest, and the crush ratio's."""

    adjacent: tuple[str, ...] = ()
    nearest: str | None = None
    crush: tuple[str, ...] = ()


# -- one vertebra, one regional angle, one timepoint ------------------------------------------


@dataclass(frozen=True)
class VertebraResult:
    """Every measurement of one vertebra at one timepoint (:func:`measure.engine.measure_timepoint`).

    ``adjacent_reference`` / ``nearest_reference`` hold the reference heights used for the
    losses (restoration uses the adjacent one).  The Genant grade is taken from the
    largest loss against ``genant_reference`` ("adjacent", else "posterior"), at
    ``genant_height``.
    """

    level: str
    status: str
    ha_mm: Measured
    hm_mm: Measured
    hp_mm: Measured
    wedge_ratio: Measured
    biconcave_ratio: Measured
    crush_ratio: Measured
    vka_deg: Measured
    height_loss: HeightLosses = HeightLosses()
    adjacent_reference: ReferenceHeights | None = None
    nearest_reference: ReferenceHeights | None = None
    genant_grade: int | None = None
    genant_reference: str | None = None
    genant_height: str | None = None
    genant_loss_pct: float | None = None
    fracture_type: str | None = None  # "wedge" | "biconcave" | "crush" | "none"
    references: ReferenceLevels = ReferenceLevels()
    plane_source: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def measured(self) -> bool:
        """True when all six landmarks were present and the heights computed."""
        return self.ha_mm.value is not None and self.hm_mm.value is not None and self.hp_mm.value is not None

    def heights(self) -> PerHeight | None:
        """Ha, Hm, Hp in mm, or None when not measured."""
        if not self.measured:
            return None
        return PerHeight(self.ha_mm.value, self.hm_mm.value, self.hp_mm.value)

    def height_sigmas(self) -> PerHeight:
        """One-pixel uncertainties of Ha, Hm, Hp in mm (None where unknown)."""
        return PerHeight(self.ha_mm.uncertainty, self.hm_mm.uncertainty, self.hp_mm.uncertainty)

    @property
    def genant_loss_sigma_pct(self) -> float | None:
        """Uncertainty of the loss the grade was taken from."""
        if self.genant_reference is None or self.genant_height is None:
            return None
        loss = self.height_loss.get(self.genant_reference)
        return None if loss is None else loss.sigma_pct.get(self.genant_height)


@dataclass(frozen=True)
class RegionalResult:
    """A regional kyphotic angle (deg, kyphosis positive) and the endplates it joins."""

    upper_level: str
    upper_endplate: str
    lower_level: str
    lower_endplate: str
    angle_deg: float | None
    uncertainty_deg: float | None
    label: str
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class TimepointResult:
    """All vertebrae (cranial to caudal) and regional angles of one timepoint."""

    vertebrae: Mapping[str, VertebraResult]
    regional: tuple[RegionalResult, ...] = ()
    notes: tuple[str, ...] = ()


# -- comparisons between timepoints ------------------------------------------------------------


@dataclass(frozen=True)
class ChangeThresholds:
    """Smallest changes that exceed the measurement error (all configurable).

    * ``angle_deg = 4.9``: Cobb angle intra-observer 95% limit, upper bound of the
      2.8-4.9 deg range (Morrissy, JBJS 1990); the upper bound so that a "real change" is
      not claimed too easily.
    * ``height_loss_pct = 12.5``: height-loss percentage on CT, inter-observer limits of
      agreement +/-12.5 percentage points (Buckens, PLoS One 2013); applied to changes of
      the adjacent-reference height loss.
    * ``height_mm = 2.0``: no published limit in mm exists in our sources; 2 mm is our
      choice (about one to four pixels on spine CT/MRI, and close to 12.5% of a 16 mm
      thoracic body).  Change it when a site has its own reproducibility data.
    """

    angle_deg: float = 4.9
    height_loss_pct: float = 12.5
    height_mm: float = 2.0


DEFAULT_THRESHOLDS = ChangeThresholds()


@dataclass(frozen=True)
class LossOfCorrection:
    """Follow-up minus post-op: VKA (deg, positive = kyphosis came back) and heights (mm)."""

    vka_deg: float | None
    ha_mm: float | None
    hm_mm: float | None
    hp_mm: float | None


@dataclass(frozen=True)
class LossOfCorrectionFlags:
    """Which parts of a loss of correction are smaller than the measurement error."""

    vka_deg: bool | None
    ha_mm: bool | None
    hm_mm: bool | None
    hp_mm: bool | None


@dataclass(frozen=True)
class ComparisonResult:
    """Change of one level between two timepoints (:func:`measure.comparison.compare`).

    ``kind`` is "correction" (pre-op to post-op or follow-up) or "loss_of_correction"
    (post-op to follow-up, when ``loss_of_correction`` is set).  ``*_within_error`` flag
    the changes smaller than ``thresholds``.
    """

    level: str
    from_id: str
    to_id: str
    kind: str
    correction_deg: float | None
    correction_sigma_deg: float | None
    correction_within_error: bool | None
    height_gain_mm: PerHeight
    height_gain_sigma_mm: PerHeight
    height_gain_within_error: HeightFlags
    restoration_pct: PerHeight
    restoration_sigma_pct: PerHeight
    height_loss_change_pct: PerHeight
    height_loss_change_within_error: HeightFlags
    loss_of_correction: LossOfCorrection | None = None
    loss_of_correction_within_error: LossOfCorrectionFlags | None = None
    thresholds: ChangeThresholds = DEFAULT_THRESHOLDS
    notes: tuple[str, ...] = ()

    @property
    def headline_within_error(self) -> bool | None:
        """Is the change this comparison is about (the VKA loss of correction, else the
        correction) within measurement error?"""
        if self.loss_of_correction_within_error is not None:
            return self.loss_of_correction_within_error.vka_deg
        return self.correction_within_error


@dataclass(frozen=True)
class CaseResults:
    """Every timepoint of a case measured, in clinical order, and their comparisons.

    ``timepoints`` holds each timepoint's measurement set (compared, registered); a
    timepoint the engine refused as a whole is absent and its reason is in ``notes``.
    """

    timepoints: Mapping[str, TimepointResult]
    comparisons: tuple[ComparisonResult, ...] = ()
    notes: tuple[str, ...] = ()
    #: Every landmark set measured: timepoint -> series UID -> its results.
    by_series: Mapping[str, Mapping[str, TimepointResult]] = field(default_factory=dict)
    #: The series whose set ``timepoints`` holds (the registry's), per timepoint.
    measurement_series: Mapping[str, str | None] = field(default_factory=dict)

    def vertebra(self, timepoint_id: str, level: str) -> VertebraResult | None:
        tp = self.timepoints.get(timepoint_id)
        return None if tp is None else tp.vertebrae.get(level)

    def on_series(self, timepoint_id: str, series_uid: str) -> TimepointResult | None:
        """The results of the landmark set on one series (None: no set there)."""
        return self.by_series.get(timepoint_id, {}).get(series_uid)


# -- STIR marrow edema ------------------------------------------------------------------------

#: Reader decisions and what they make of the tool's flag.
_DECISION_RECENT: dict[str, bool] = {"overridden-recent": True, "overridden-not-recent": False}


@dataclass(frozen=True)
class SliceMask:
    """ROI of one body on one slice: a boolean patch whose top-left pixel is (row0, col0)."""

    slice_index: int
    row0: int
    col0: int
    roi: NDArray[np.bool_]
    bright: NDArray[np.bool_]

    def full(self, shape: tuple[int, int], which: str = "bright") -> NDArray[np.bool_]:
        """The patch pasted into an all-False image of ``shape`` (rows, columns)."""
        out = np.zeros(shape, dtype=bool)
        patch = self.bright if which == "bright" else self.roi
        out[self.row0 : self.row0 + patch.shape[0], self.col0 : self.col0 + patch.shape[1]] = patch
        return out


def _rounded(value: float | None, digits: int) -> float | None:
    """Rounded for reports; None for missing or non-finite values (JSON has no NaN/inf)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), digits)


@dataclass(frozen=True)
class StirResult:
    """STIR edema numbers of one body (:mod:`measure.edema`).

    ``flag`` is True ("edema: recent fracture likely"), False, or None when the numbers
    could not be computed (``status`` says why, ``message`` in a sentence).  ``sir`` is the
    signal-intensity ratio (body median / reference median), ``edema_fraction`` the bright
    fraction of the body (0..1); ``mean``, ``median``, ``p90``, ``spread`` and
    ``reference_median`` are in the STIR's signal units.
    """

    level: str
    status: str
    message: str
    flag: bool | None = None
    sir: float | None = None
    edema_fraction: float | None = None
    extent_grade: int | None = None
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    n_voxels: int = 0
    spread: float | None = None  # robust SD of the body (1.4826 x MAD)
    reference_levels: tuple[str, ...] = ()
    reference_median: float | None = None
    bright_threshold: float | None = None
    flag_reasons: tuple[str, ...] = ()
    is_reference: bool = False
    #: The reader marked this body as reference but its own numbers show edema against the
    #: other bodies, so it was left out of every baseline.
    reference_rejected: bool = False
    t1_ratio: float | None = None
    t1_median: float | None = None
    t1_available: bool = False
    reader_decision: StirDecision | None = None
    stir_series_uid: str | None = None
    t1_series_uid: str | None = None
    #: The landmark set (series UID) whose outline was analysed.
    landmark_series_uid: str | None = None
    slice_shape: tuple[int, int] | None = None
    masks: tuple[SliceMask, ...] = field(default=(), repr=False, compare=False)

    @property
    def recent(self) -> bool | None:
        """Recent fracture as finally read: the reader's override when there is one, else the flag."""
        decision = None if self.reader_decision is None else self.reader_decision.decision
        if decision in _DECISION_RECENT:
            return _DECISION_RECENT[decision]
        return self.flag

    @property
    def slice_indices(self) -> tuple[int, ...]:
        """STIR slice indices that carry part of this body's ROI."""
        return tuple(m.slice_index for m in self.masks)

    def reported(self) -> StirResult:
        """The numbers at the precision reports and registries carry (SIR, fraction and T1
        ratio to 4 decimals, signal values to 3; non-finite values become None)."""
        return replace(
            self,
            sir=_rounded(self.sir, 4),
            edema_fraction=_rounded(self.edema_fraction, 4),
            mean=_rounded(self.mean, 3),
            median=_rounded(self.median, 3),
            p90=_rounded(self.p90, 3),
            reference_median=_rounded(self.reference_median, 3),
            t1_ratio=_rounded(self.t1_ratio, 4),
        )

    def bright_mask(self, slice_index: int) -> NDArray[np.bool_]:
        """Bright ROI voxels of this body on one STIR slice (all False off the slab)."""
        return self._mask(slice_index, "bright")

    def roi_mask(self, slice_index: int) -> NDArray[np.bool_]:
        """ROI voxels of this body on one STIR slice (all False off the slab)."""
        return self._mask(slice_index, "roi")

    def _mask(self, slice_index: int, which: str) -> NDArray[np.bool_]:
        if self.slice_shape is None:
            raise ValueError(f"{self.level}: no STIR slice shape is known ({self.status}); no mask to draw.")
        for m in self.masks:
            if m.slice_index == slice_index:
                return m.full(self.slice_shape, which)
        return np.zeros(self.slice_shape, dtype=bool)


#: STIR results of a case: timepoint id -> level -> result.
StirResults = Mapping[str, Mapping[str, StirResult]]


@dataclass(frozen=True)
class EdemaReport:
    """Results of :func:`measure.edema.analyse_edema` for every body, with the parameters used."""

    bodies: Mapping[str, StirResult]
    config: EdemaConfig = DEFAULT_CONFIG
    slice_shape: tuple[int, int] = (0, 0)
    t1_used: bool = False
    notes: tuple[str, ...] = ()

    def flagged_levels(self) -> list[str]:
        return [lvl for lvl, r in self.bodies.items() if r.flag]
