"""STIR marrow edema per vertebral body: is the fracture recent?

Vertebral augmentation is indicated for a recent fracture, and MRI decides that: marrow
edema is bright on STIR and dark on T1 (clinical reference, "Fracture recency on MRI").
This module measures, for every vertebral body with six landmarks:

* the STIR signal inside the body (mean, median, 90th percentile), in a region of
  interest (ROI) = the polygon through the six landmarks, shrunk by a margin in mm, on the
  STIR slices within a slab around the landmark plane;
* the signal-intensity ratio (SIR) = median of the body / reference median, where the
  reference is the reader's reference bodies or, without any, the median of the medians
  of the other bodies (robust to one of them being edematous too);
* the fraction of the body that is bright against the references, and its extent grade;
* a flag "edema: recent fracture likely" above a configurable threshold
  (:mod:`measure.edema_config`; no validated cut-off exists), with the numbers behind it;
* the same ratio on T1 when a T1 series shares the frame of reference (edema is dark on
  T1: a ratio below 1 supports the flag).

Everything happens in patient LPS millimetres: the landmarks may come from a T1, T2 or
STIR series with another pixel spacing; the outline is mapped onto each STIR slice through
patient coordinates.  Pure numpy/scipy/scikit-image; the app draws
:func:`bright_mask_for_slice`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from skimage.measure import points_in_poly

from dicomio.geometry import StackGeometry
from measure.edema_config import DEFAULT_CONFIG, MAD_TO_SD, EdemaConfig, extent_grade
from measure.landmarks import LANDMARK_KEYS, level_index

#: Order of the six landmarks around the body outline (a simple polygon).
OUTLINE_ORDER: tuple[str, ...] = ("sup_ant", "sup_mid", "sup_post", "inf_post", "inf_mid", "inf_ant")

#: Body status that marks a reader-chosen normal reference body.
REFERENCE_STATUS = "reference"

#: ``StirResult.status`` values.
STATUS_OK = "ok"
STATUS_NO_STIR = "no-stir"
STATUS_NOT_MEASURED = "not-measured"  # fewer than six landmarks
STATUS_OUTSIDE = "outside"  # no STIR slice near the landmarks, or outline off the image
STATUS_TOO_SMALL = "too-small"  # fewer ROI voxels than EdemaConfig.min_voxels
STATUS_NO_REFERENCE = "no-reference"  # no other analysed body to compare with
STATUS_PLANE = "plane-mismatch"  # STIR slices too oblique to the landmark plane
STATUS_FRAME = "frame-mismatch"  # landmarks and STIR in different frames of reference
STATUS_UNREADABLE = "unreadable"  # the STIR pixels could not be loaded
STATUSES: tuple[str, ...] = (
    STATUS_OK,
    STATUS_NO_STIR,
    STATUS_NOT_MEASURED,
    STATUS_OUTSIDE,
    STATUS_TOO_SMALL,
    STATUS_NO_REFERENCE,
    STATUS_PLANE,
    STATUS_FRAME,
    STATUS_UNREADABLE,
)

NO_CUTOFF_NOTE = (
    "No validated cut-off exists for STIR edema: the threshold is a configurable tool default, "
    "the reader confirms or overrides."
)
NO_STIR_MESSAGE = "recency unknown: no STIR series"


def default_choice_note(config: EdemaConfig = DEFAULT_CONFIG) -> str:
    """How the flag of ``config`` is decided and how its default was chosen (for the UI).

    The issue asks the UI, not only the docs, to say that the threshold is not validated and
    where the default comes from; the full reasoning is in docs/edema.md.
    """
    sir = f"SIR >= {config.sir_threshold:g}"
    fraction = f"at least {100 * config.fraction_threshold:g}% of the body bright"
    rule = {
        "either": f"{sir} or {fraction}",
        "both": f"{sir} and {fraction}",
        "sir": sir,
        "fraction": fraction,
    }[config.flag_rule]
    return (
        f"Flag rule: {rule}. These defaults were chosen on synthetic phantoms, where they separate "
        "normal marrow (with 10% noise) from band-like and whole-body edema by a wide margin, and "
        '"either" because band-like edema under the endplate raises the bright fraction but hardly '
        "the median; they are not validated on patients (docs/edema.md)."
    )


@dataclass(frozen=True)
class BodyInput:
    """One vertebral body as the analysis needs it.

    ``landmarks`` maps the six keys of :data:`measure.landmarks.LANDMARK_KEYS` to LPS mm
    points; ``status`` is the body's status in the case (``"reference"`` marks a normal
    body chosen by the reader); ``frame_of_reference_uid`` is that of the series the
    landmarks were placed on, when known (checked against the STIR's).
    """

    landmarks: Mapping[str, ArrayLike]
    status: str = ""
    frame_of_reference_uid: str | None = None


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


@dataclass(frozen=True)
class StirResult:
    """STIR edema numbers of one body; ``as_dict`` is what reports and the CLI show.

    ``flag`` is True ("edema: recent fracture likely"), False, or None when the numbers
    could not be computed (``status`` says why, ``message`` in a sentence).
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
    reader_decision: Mapping[str, Any] | None = None
    stir_series_uid: str | None = None
    t1_series_uid: str | None = None
    slice_shape: tuple[int, int] | None = None
    masks: tuple[SliceMask, ...] = field(default=(), repr=False, compare=False)

    @property
    def recent(self) -> bool | None:
        """Recent fracture as finally read: the reader's override when there is one, else the flag."""
        decision = (self.reader_decision or {}).get("decision")
        if decision in _DECISION_RECENT:
            return _DECISION_RECENT[decision]
        return self.flag

    @property
    def slice_indices(self) -> tuple[int, ...]:
        """STIR slice indices that carry part of this body's ROI."""
        return tuple(m.slice_index for m in self.masks)

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

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values (documented in docs/data-dictionary.md, "stir")."""
        out: dict[str, Any] = {
            "sir": _round(self.sir, 4),
            "edema_fraction": _round(self.edema_fraction, 4),
            "extent_grade": self.extent_grade,
            "flag": self.flag,
            "reader_decision": dict(self.reader_decision) if self.reader_decision is not None else None,
            "recent": self.recent,
            "status": self.status,
            "message": self.message,
            "mean": _round(self.mean, 3),
            "median": _round(self.median, 3),
            "p90": _round(self.p90, 3),
            "n_voxels": int(self.n_voxels),
            "reference_levels": list(self.reference_levels),
            "reference_median": _round(self.reference_median, 3),
            "is_reference": self.is_reference,
            "reference_rejected": self.reference_rejected,
        }
        if self.t1_available:
            out["t1_ratio"] = _round(self.t1_ratio, 4)
        return out


@dataclass(frozen=True)
class EdemaReport:
    """Results of :func:`analyse_edema` for every body, with the parameters used."""

    bodies: dict[str, StirResult]
    config: EdemaConfig
    slice_shape: tuple[int, int]
    t1_used: bool = False
    notes: tuple[str, ...] = ()

    def flagged_levels(self) -> list[str]:
        return [lvl for lvl, r in self.bodies.items() if r.flag]


# -- geometry: outline -> ROI on each slice ----------------------------------------------------


def _outline_points(level: str, landmarks: Mapping[str, ArrayLike]) -> NDArray[np.float64] | None:
    """The six landmarks in outline order as a (6, 3) array; None when any is missing."""
    if any(k not in landmarks or landmarks[k] is None for k in LANDMARK_KEYS):
        return None
    pts = np.array([np.asarray(landmarks[k], dtype=float).reshape(3) for k in OUTLINE_ORDER])
    if not np.all(np.isfinite(pts)):
        raise ValueError(
            f"{level}: a landmark has a non-finite LPS position; expected 3 finite numbers in mm."
        )
    return pts


def _plane_normal(points: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """Normal of the best-fit plane through the points; None when they are (nearly) collinear."""
    centred = points - points.mean(axis=0)
    _, s, vt = np.linalg.svd(centred)
    if s[1] < 1e-6 * max(1.0, s[0]):
        return None
    return vt[2] / np.linalg.norm(vt[2])


def _segment_distance_mm(px: NDArray[np.float64], poly: NDArray[np.float64]) -> NDArray[np.float64]:
    """Distance (mm) from each point of ``px`` (N, 2) to the closed polygon ``poly`` (M, 2)."""
    best = np.full(len(px), np.inf)
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        ab = b - a
        denom = float(ab @ ab)
        t = np.zeros(len(px)) if denom == 0 else np.clip(((px - a) @ ab) / denom, 0.0, 1.0)
        nearest = a + t[:, None] * ab
        best = np.minimum(best, np.hypot(*(px - nearest).T))
    return best


def _roi_on_slice(
    geometry: StackGeometry, slice_index: int, outline_lps: NDArray[np.float64], margin_mm: float
) -> tuple[int, int, NDArray[np.bool_]] | None:
    """ROI patch (row0, col0, mask) of one outline on one slice, or None when empty.

    The outline is projected along the slice normal into that slice's pixel grid; a pixel
    centre is kept when it lies inside the polygon and at least ``margin_mm`` from every
    edge.  Distances are in mm (column index x column spacing, row index x row spacing),
    so the shrink is exact with unequal pixel spacing.
    """
    image = geometry.slices[slice_index]
    col, row, _ = image.lps_to_pixel(outline_lps)
    row_mm, col_mm = image.pixel_spacing_mm
    c0 = max(0, math.floor(float(col.min())))
    c1 = min(image.columns - 1, math.ceil(float(col.max())))
    r0 = max(0, math.floor(float(row.min())))
    r1 = min(image.rows - 1, math.ceil(float(row.max())))
    if c1 < c0 or r1 < r0:
        return None
    rr, cc = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
    centres_mm = np.column_stack([cc.ravel() * col_mm, rr.ravel() * row_mm])
    poly_mm = np.column_stack([col * col_mm, row * row_mm])
    inside = points_in_poly(centres_mm, poly_mm)
    if margin_mm > 0 and inside.any():
        keep = inside.copy()
        keep[inside] = _segment_distance_mm(centres_mm[inside], poly_mm) >= margin_mm
        inside = keep
    mask = inside.reshape(rr.shape)
    if not mask.any():
        return None
    return r0, c0, mask


def _slab_slices(geometry: StackGeometry, centre_lps: NDArray[np.float64], half_width_mm: float) -> list[int]:
    """Slices whose centre is within ``half_width_mm`` of the landmark plane centre (along the normal).

    When none is that close, the nearest slice counts if it is within half a slice
    spacing more (thick slices); otherwise the body is off the series.
    """
    offsets = geometry.slice_offsets_mm
    along = float(centre_lps @ geometry.normal)
    dist = np.abs(offsets - along)
    chosen = [int(k) for k in np.flatnonzero(dist <= half_width_mm + 1e-6)]
    if chosen:
        return chosen
    spacing = geometry.slice_spacing_mm or 0.0
    k = int(np.argmin(dist))
    return [k] if dist[k] <= half_width_mm + spacing / 2 + 1e-6 else []


@dataclass
class _BodyRoi:
    level: str
    values: NDArray[np.float64]
    patches: list[tuple[int, int, int, NDArray[np.bool_]]]  # (slice, row0, col0, roi)


def _body_roi(
    level: str,
    volume: NDArray[Any],
    geometry: StackGeometry,
    outline: NDArray[np.float64],
    config: EdemaConfig,
    series_name: str,
) -> _BodyRoi | tuple[str, str]:
    """ROI voxels of one body in one series, or (status, message) when it cannot be had."""
    normal = _plane_normal(outline)
    if normal is None:
        return STATUS_NOT_MEASURED, f"{level}: the six landmarks lie on one line; no body outline to measure."
    angle_deg = math.degrees(math.acos(min(1.0, abs(float(normal @ geometry.normal)))))
    if angle_deg > config.max_plane_angle_deg:
        return STATUS_PLANE, (
            f"{level}: the {series_name} slices are {angle_deg:.0f} deg from the plane of the landmarks; "
            f"at most {config.max_plane_angle_deg:g} deg is supported (use a sagittal {series_name})."
        )
    slices = _slab_slices(geometry, outline.mean(axis=0), config.slab_half_width_mm)
    if not slices:
        return STATUS_OUTSIDE, (
            f"{level}: no {series_name} slice lies within {config.slab_half_width_mm:g} mm of the landmark "
            "plane; the body is outside this series."
        )
    patches = []
    chunks = []
    for k in slices:
        got = _roi_on_slice(geometry, k, outline, config.margin_mm)
        if got is None:
            continue
        r0, c0, mask = got
        patch = volume[k, r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]]
        chunks.append(np.asarray(patch, dtype=float)[mask])
        patches.append((k, r0, c0, mask))
    values = np.concatenate(chunks) if chunks else np.zeros(0)
    if values.size == 0:
        return STATUS_OUTSIDE, (
            f"{level}: the body outline shrunk by {config.margin_mm:g} mm falls outside the {series_name} "
            "image (or is thinner than twice the margin)."
        )
    if values.size < config.min_voxels:
        return STATUS_TOO_SMALL, (
            f"{level}: only {values.size} {series_name} voxels inside the body after a "
            f"{config.margin_mm:g} mm margin; at least {config.min_voxels} are needed."
        )
    return _BodyRoi(level, values, patches)


# -- statistics ---------------------------------------------------------------------------------


def _robust_sd(values: NDArray[np.float64]) -> float:
    med = float(np.median(values))
    return MAD_TO_SD * float(np.median(np.abs(values - med)))


def _round(value: float | None, digits: int) -> float | None:
    """Rounded for reports; None for missing or non-finite values (JSON has no NaN/inf)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), digits)


@dataclass(frozen=True)
class _Baseline:
    levels: tuple[str, ...]
    median: float
    spread: float


def _baseline(
    level: str,
    pool: Sequence[str],
    medians: Mapping[str, float],
    spreads: Mapping[str, float],
    config: EdemaConfig,
) -> _Baseline | None:
    """Reference median and spread from the bodies of ``pool`` other than ``level``."""
    others = tuple(lvl for lvl in pool if lvl != level)
    if not others:
        return None
    ref_median = float(np.median([medians[o] for o in others]))
    spread = float(np.median([spreads[o] for o in others]))
    spread = max(spread, config.min_spread_fraction * abs(ref_median))
    return _Baseline(others, ref_median, spread)


def _edema_numbers(
    values: NDArray[np.float64], base: _Baseline, config: EdemaConfig
) -> tuple[float, float, float, int, bool, tuple[str, ...]]:
    """(sir, bright fraction, bright threshold, grade, flag, reasons) of one body."""
    median = float(np.median(values))
    sir = median / base.median if base.median > 0 else math.inf
    threshold = base.median + config.bright_k * base.spread
    fraction = float(np.count_nonzero(values > threshold)) / values.size
    grade = extent_grade(fraction, config.noise_floor_fraction)
    sir_hit = sir >= config.sir_threshold
    frac_hit = fraction >= config.fraction_threshold
    flag = {
        "either": sir_hit or frac_hit,
        "both": sir_hit and frac_hit,
        "sir": sir_hit,
        "fraction": frac_hit,
    }[config.flag_rule]
    reasons = (
        f"SIR {sir:.2f} {'>=' if sir_hit else '<'} {config.sir_threshold:g}",
        f"bright fraction {100 * fraction:.1f}% {'>=' if frac_hit else '<'} "
        f"{100 * config.fraction_threshold:g}%, extent grade {grade}",
    )
    return sir, fraction, threshold, grade, flag, reasons


def _check_frames(bodies: Mapping[str, BodyInput], stir_for: str | None, series_name: str = "STIR") -> None:
    if stir_for is None:
        return
    for level, body in bodies.items():
        if body.frame_of_reference_uid is not None and body.frame_of_reference_uid != stir_for:
            raise ValueError(
                f"{level}: the landmarks were placed on a series in frame of reference "
                f"{body.frame_of_reference_uid}, the {series_name} series is in {stir_for}; edema can "
                "only be measured when both share one frame of reference (same patient position and session)."
            )


def _check_volume(volume: ArrayLike, geometry: StackGeometry, series_name: str) -> NDArray[Any]:
    arr = np.asarray(volume)
    if arr.shape != geometry.shape:
        raise ValueError(
            f"The {series_name} volume has shape {arr.shape} but its geometry describes {geometry.shape} "
            "(slices, rows, columns); they must match."
        )
    return arr


def analyse_edema(
    stir_volume: ArrayLike,
    stir_geometry: StackGeometry,
    bodies: Mapping[str, BodyInput],
    config: EdemaConfig = DEFAULT_CONFIG,
    t1: tuple[ArrayLike, StackGeometry] | None = None,
    *,
    frame_of_reference_uid: str | None = None,
    t1_frame_of_reference_uid: str | None = None,
) -> EdemaReport:
    """Measure STIR marrow edema of every body; see the module docstring for the method.

    Parameters
    ----------
    stir_volume, stir_geometry
        STIR voxels ``(slices, rows, columns)`` (bright = high, MONOCHROME1 already
        inverted) and their exact geometry.
    bodies
        Level -> :class:`BodyInput` (six LPS landmarks and the body status).
    config
        Thresholds (:class:`~measure.edema_config.EdemaConfig`).
    t1
        Optional T1 ``(volume, geometry)`` in the same frame of reference: its body/reference
        median ratio is reported as supporting evidence (edema is dark on T1).
    frame_of_reference_uid, t1_frame_of_reference_uid
        FrameOfReferenceUIDs of the STIR and T1 series, when known: landmarks from another
        frame of reference are refused (``ValueError``), a T1 from another one too.

    Raises
    ------
    ValueError
        Volume and geometry disagree, or frames of reference differ.
    """
    volume = _check_volume(stir_volume, stir_geometry, "STIR")
    _check_frames(bodies, frame_of_reference_uid)
    if (
        t1 is not None
        and frame_of_reference_uid is not None
        and t1_frame_of_reference_uid is not None
        and t1_frame_of_reference_uid != frame_of_reference_uid
    ):
        raise ValueError(
            f"The T1 series is in frame of reference {t1_frame_of_reference_uid}, the STIR series in "
            f"{frame_of_reference_uid}; the T1 ratio needs one shared frame of reference."
        )
    slice_shape = (stir_geometry.first.rows, stir_geometry.first.columns)
    levels = sorted(bodies, key=_level_order)

    failed: dict[str, StirResult] = {}
    rois: dict[str, _BodyRoi] = {}
    outlines: dict[str, NDArray[np.float64]] = {}
    for level in levels:
        body = bodies[level]
        is_ref = body.status == REFERENCE_STATUS
        outline = _outline_points(level, body.landmarks)
        if outline is None:
            failed[level] = StirResult(
                level,
                STATUS_NOT_MEASURED,
                f"{level}: not all six landmarks are placed; no body outline to measure.",
                is_reference=is_ref,
                slice_shape=slice_shape,
            )
            continue
        got = _body_roi(level, volume, stir_geometry, outline, config, "STIR")
        if isinstance(got, tuple):
            failed[level] = StirResult(level, got[0], got[1], is_reference=is_ref, slice_shape=slice_shape)
            continue
        rois[level] = got
        outlines[level] = outline

    medians = {lvl: float(np.median(r.values)) for lvl, r in rois.items()}
    spreads = {lvl: _robust_sd(r.values) for lvl, r in rois.items()}
    analysed = list(rois)

    # Screening: every body against the median of the medians of all the others.  A body
    # the reader marked as reference that looks edematous this way is left out of every
    # baseline (its own result says so).
    rejected: set[str] = set()
    for level in analysed:
        if bodies[level].status != REFERENCE_STATUS:
            continue
        base = _baseline(level, analysed, medians, spreads, config)
        if base is not None and _edema_numbers(rois[level].values, base, config)[4]:
            rejected.add(level)
    references = [lvl for lvl in analysed if bodies[lvl].status == REFERENCE_STATUS and lvl not in rejected]

    t1_data = _t1_medians(t1, outlines, config) if t1 is not None else None

    results: dict[str, StirResult] = {}
    for level in analysed:
        roi = rois[level]
        is_ref = bodies[level].status == REFERENCE_STATUS
        base = _baseline(level, references, medians, spreads, config)
        pool_note = "reference bodies"
        if base is None:
            base = _baseline(level, analysed, medians, spreads, config)
            pool_note = "median of the other bodies"
        masks = tuple(SliceMask(k, r0, c0, m, np.zeros_like(m)) for k, r0, c0, m in roi.patches)
        common = dict(
            mean=float(np.mean(roi.values)),
            median=medians[level],
            p90=float(np.percentile(roi.values, 90)),
            n_voxels=int(roi.values.size),
            spread=spreads[level],
            is_reference=is_ref,
            reference_rejected=level in rejected,
            slice_shape=slice_shape,
        )
        if base is None:
            results[level] = StirResult(
                level,
                STATUS_NO_REFERENCE,
                f"{level}: no other body could be measured on the STIR series, so there is no reference "
                "to compare with; place the landmarks of at least one more (normal) vertebra.",
                masks=masks,
                **common,  # type: ignore[arg-type]
            )
            continue
        sir, fraction, threshold, grade, flag, reasons = _edema_numbers(roi.values, base, config)
        masks = tuple(
            SliceMask(k, r0, c0, m, m & (volume[k, r0 : r0 + m.shape[0], c0 : c0 + m.shape[1]] > threshold))
            for k, r0, c0, m in roi.patches
        )
        t1_ratio, t1_median = _t1_ratio(level, base.levels, t1_data)
        message = _message(level, flag, reasons, base, pool_note, is_ref, level in rejected, t1_ratio, config)
        results[level] = StirResult(
            level,
            STATUS_OK,
            message,
            flag=flag,
            sir=sir,
            edema_fraction=fraction,
            extent_grade=grade,
            reference_levels=base.levels,
            reference_median=base.median,
            bright_threshold=threshold,
            flag_reasons=reasons,
            t1_ratio=t1_ratio,
            t1_median=t1_median,
            t1_available=t1 is not None,
            masks=masks,
            **common,  # type: ignore[arg-type]
        )

    notes = []
    if rejected:
        notes.append(
            "Marked as reference but bright on STIR against the other bodies, so not used as reference: "
            + ", ".join(sorted(rejected, key=_level_order))
            + "."
        )
    if len(analysed) < 4 and not references and results:
        few = (
            "Fewer than four bodies were measured: the reference (median of the other bodies) is not "
            "robust to one of them being edematous; mark normal bodies as reference."
        )
        notes.append(few)
        results = {lvl: replace(r, message=f"{r.message} {few}") for lvl, r in results.items()}
    merged = {**failed, **results}
    ordered = {lvl: merged[lvl] for lvl in levels}
    return EdemaReport(ordered, config, slice_shape, t1_used=t1 is not None, notes=tuple(notes))


def _t1_medians(
    t1: tuple[ArrayLike, StackGeometry], outlines: Mapping[str, NDArray[np.float64]], config: EdemaConfig
) -> dict[str, float]:
    """Median T1 signal of each body (same outline, margin and slab rules as the STIR)."""
    t1_volume, t1_geometry = t1
    volume = _check_volume(np.asarray(t1_volume), t1_geometry, "T1")
    out: dict[str, float] = {}
    for level, outline in outlines.items():
        got = _body_roi(level, volume, t1_geometry, outline, config, "T1")
        if isinstance(got, _BodyRoi):
            out[level] = float(np.median(got.values))
    return out


def _t1_ratio(
    level: str, reference_levels: Sequence[str], t1_medians: Mapping[str, float] | None
) -> tuple[float | None, float | None]:
    if t1_medians is None or level not in t1_medians:
        return None, None
    refs = [t1_medians[r] for r in reference_levels if r in t1_medians]
    if not refs:
        return None, t1_medians[level]
    ref = float(np.median(refs))
    return (t1_medians[level] / ref if ref > 0 else None), t1_medians[level]


def _message(
    level: str,
    flag: bool,
    reasons: Sequence[str],
    base: _Baseline,
    pool_note: str,
    is_ref: bool,
    rejected: bool,
    t1_ratio: float | None,
    config: EdemaConfig,
) -> str:
    head = "edema: recent fracture likely" if flag else "no edema above the threshold"
    parts = [f"{level}: {head} ({'; '.join(reasons)})."]
    parts.append(f"Reference: {pool_note} {', '.join(base.levels)} (median {base.median:.1f}).")
    if rejected:
        parts.append(
            f"{level} was marked as reference but is bright against the other bodies; it was not used as a "
            "reference."
        )
    elif is_ref and flag:
        parts.append(f"{level} is marked as reference but its own numbers show edema.")
    if t1_ratio is not None:
        support = "dark on T1, supports edema" if t1_ratio < config.t1_support_ratio else "not dark on T1"
        parts.append(f"T1 ratio {t1_ratio:.2f} ({support}).")
    parts.append(NO_CUTOFF_NOTE)
    return " ".join(parts)


def _level_order(level: str) -> tuple[int, str]:
    try:
        return level_index(level), level
    except ValueError:
        return 10_000, level


# -- drawing ------------------------------------------------------------------------------------


def bright_mask_for_slice(
    report: EdemaReport | Mapping[str, StirResult], level: str, slice_index: int
) -> NDArray[np.bool_]:
    """Bright voxels of one body on one STIR slice, as a (rows, columns) bool image.

    ``report`` is an :class:`EdemaReport` or the ``{level: StirResult}`` dict of
    :func:`analyse_case_timepoint`.  All False on slices outside the body's slab.
    """
    bodies = report.bodies if isinstance(report, EdemaReport) else report
    if level not in bodies:
        raise KeyError(f"no STIR result for level {level}; analysed levels: {', '.join(bodies) or 'none'}")
    return bodies[level].bright_mask(slice_index)


# -- case-level glue -----------------------------------------------------------------------------

VolumeLoader = Callable[[Any], NDArray[Any]]

#: Reader decisions (measure.case.STIR_DECISIONS) and what they make of the tool's flag.
_DECISION_RECENT: dict[str, bool | None] = {
    "overridden-recent": True,
    "overridden-not-recent": False,
}


def _decision_dict(decision: Any) -> dict[str, Any] | None:
    """``{"decision", "note"}`` of a ``measure.case.StirDecision`` (None when absent)."""
    if decision is None:
        return None
    return {"decision": getattr(decision, "decision", None), "note": getattr(decision, "note", "")}


def no_stir_results(levels: Sequence[str], reason: str = NO_STIR_MESSAGE) -> dict[str, StirResult]:
    """Results saying that recency is unknown because no STIR series exists."""
    return {lvl: StirResult(lvl, STATUS_NO_STIR, f"{lvl}: {reason}.") for lvl in levels}


def _sequence_of(stack: Any, case: Any) -> str | None:
    if getattr(stack, "sequence", None):
        return str(stack.sequence)
    ref = case.series_ref(stack.series_uid)
    return None if ref is None else ref.sequence


def _timepoint_stacks(case: Any, timepoint_id: str, stacks: Sequence[Any]) -> list[Any]:
    """Stacks that belong to the timepoint.

    A stack belongs when its series is assigned to the timepoint, or when it is in the
    same study as an assigned one (the STIR of the session is often not assigned: the
    landmarks sit on the T1); stacks assigned to another timepoint never do.  When none of
    ``stacks`` is assigned to the timepoint, all unassigned ones are taken (the caller
    passed this session's series).
    """
    mine = {s.series_uid for s in case.series_of(timepoint_id)}
    others = {s.series_uid for s in case.series if s.timepoint != timepoint_id}
    free = [s for s in stacks if s.series_uid not in others]
    assigned = [s for s in free if s.series_uid in mine]
    if not assigned:
        return free
    studies = {s.study_uid for s in assigned}
    return [s for s in free if s.series_uid in mine or s.study_uid in studies]


def _landmark_frames(vertebra: Any, by_series: Mapping[str, Any]) -> set[str]:
    frames = set()
    for lm in vertebra.landmarks.values():
        stack = by_series.get(lm.series_uid)
        if stack is not None and stack.frame_of_reference_uid:
            frames.add(stack.frame_of_reference_uid)
    return frames


def _pick(stacks: Sequence[Any], preferred_frames: set[str], preferred_series: set[str]) -> Any:
    """The best stack: in the landmarks' frame of reference, sagittal, landmark series, most images."""

    def score(s: Any) -> tuple[bool, bool, bool, int]:
        return (
            s.frame_of_reference_uid in preferred_frames,
            s.geometry.first.plane == "sagittal",
            s.series_uid in preferred_series,
            s.n_images,
        )

    return max(stacks, key=score)


def analyse_case_timepoint(
    case: Any,
    timepoint_id: str,
    stacks: Sequence[Any],
    load_volume: VolumeLoader | None = None,
    config: EdemaConfig = DEFAULT_CONFIG,
) -> dict[str, StirResult]:
    """STIR edema of every vertebra of one timepoint of a ``measure.case.Case``.

    ``stacks`` are the scanned :class:`dicomio.model.SeriesStack` objects available (of this
    timepoint, or of the whole case: see :func:`_timepoint_stacks`).  The STIR is chosen by
    sequence class (``stack.sequence``, else the case's series reference): in the
    landmarks' frame of reference, sagittal, most images first.  A T1 in the STIR's frame of
    reference, if any, gives the supporting T1 ratio.  ``load_volume(stack)`` returns the
    voxels (default :func:`dicomio.pixels.load_volume`).  The reader's decision stored in the
    case is attached to each result.  Without a STIR every result says
    "recency unknown: no STIR series".
    """
    case.timepoint(timepoint_id)  # ValueError sentence when unknown
    vertebrae = case.vertebrae(timepoint_id)
    levels = [v.level for v in vertebrae]
    decisions = {lvl: _decision_dict(case.stir_decision(timepoint_id, lvl)) for lvl in levels}

    def finish(results: Mapping[str, StirResult]) -> dict[str, StirResult]:
        return {lvl: replace(results[lvl], reader_decision=decisions[lvl]) for lvl in levels}

    candidates = _timepoint_stacks(case, timepoint_id, stacks)
    stirs = [s for s in candidates if _sequence_of(s, case) == "STIR"]
    if not stirs:
        return finish(no_stir_results(levels))

    by_series = {s.series_uid: s for s in stacks}
    frames_of = {v.level: _landmark_frames(v, by_series) for v in vertebrae}
    landmark_series = {lm.series_uid for v in vertebrae for lm in v.landmarks.values()}
    all_frames = set().union(*frames_of.values()) if frames_of else set()
    stir = _pick(stirs, all_frames, landmark_series)
    stir_for = stir.frame_of_reference_uid

    if load_volume is None:
        from dicomio.pixels import load_volume as default_loader

        load_volume = default_loader
    try:
        stir_volume = load_volume(stir)
    except (ValueError, OSError) as exc:
        name = stir.description or stir.series_uid
        message = f"recency unknown: the STIR series {name} could not be read ({exc})"
        return finish({lvl: StirResult(lvl, STATUS_UNREADABLE, f"{lvl}: {message}.") for lvl in levels})

    t1_pair = None
    t1_stack = None
    t1_note = ""
    t1s = [
        s
        for s in candidates
        if _sequence_of(s, case) == "T1" and stir_for is not None and s.frame_of_reference_uid == stir_for
    ]
    if t1s:
        t1_stack = _pick(t1s, {stir_for} if stir_for else set(), landmark_series)
        try:
            t1_pair = (load_volume(t1_stack), t1_stack.geometry)
        except (ValueError, OSError) as exc:
            t1_stack, t1_note = None, f" The T1 series could not be read ({exc}); no T1 ratio."

    bodies: dict[str, BodyInput] = {}
    results: dict[str, StirResult] = {}
    for v in vertebrae:
        frames = frames_of[v.level]
        if stir_for is not None and frames and stir_for not in frames:
            results[v.level] = StirResult(
                v.level,
                STATUS_FRAME,
                f"{v.level}: the landmarks were placed on a series in frame of reference "
                f"{', '.join(sorted(frames))}, the STIR series is in {stir_for}; edema is only measured "
                "when both share one frame of reference. Recency unknown.",
            )
            continue
        points = {k: lm.position_mm for k, lm in v.landmarks.items()}
        bodies[v.level] = BodyInput(points, v.status)

    report = analyse_edema(
        stir_volume,
        stir.geometry,
        bodies,
        config,
        t1=t1_pair,
        frame_of_reference_uid=stir_for,
        t1_frame_of_reference_uid=t1_stack.frame_of_reference_uid if t1_stack is not None else None,
    )
    for lvl, r in report.bodies.items():
        extra = t1_note if r.status == STATUS_OK else ""
        results[lvl] = replace(
            r,
            message=r.message + extra,
            stir_series_uid=stir.series_uid,
            t1_series_uid=t1_stack.series_uid if t1_stack is not None else None,
        )
    return finish(results)


# -- reports: ``endplate measure`` ---------------------------------------------------------------


def _scan_case_series(case: Any) -> tuple[list[Any], dict[str, list[str]]]:
    """Scan every series folder/file the case references (each path once).

    Returns the stacks found and, per timepoint, the series paths that could not be found.
    """
    from dicomio.scan import scan_paths

    paths: dict[str, Any] = {}
    missing: dict[str, list[str]] = {}
    for ref in case.series:
        path = case.series_path(ref.series_uid)
        if path.exists():
            paths.setdefault(str(path), path)
        else:
            missing.setdefault(ref.timepoint, []).append(str(path))
    stacks = list(scan_paths(list(paths.values())).stacks) if paths else []
    return stacks, missing


def case_stir_results(
    case: Any,
    stacks: Sequence[Any] | None = None,
    load_volume: VolumeLoader | None = None,
    config: EdemaConfig = DEFAULT_CONFIG,
) -> dict[str, dict[str, StirResult]]:
    """:func:`analyse_case_timepoint` for every timepoint: ``{timepoint id: {level: result}}``.

    Without ``stacks`` the case's series paths are scanned.  A timepoint whose series
    files are missing says so in the "recency unknown" message instead of failing; a
    series that cannot be analysed gives results with status "unreadable".
    """
    missing: dict[str, list[str]] = {}
    if stacks is None:
        stacks, missing = _scan_case_series(case)
    out: dict[str, dict[str, StirResult]] = {}
    for tp in case.timepoints:
        try:
            results = analyse_case_timepoint(case, tp.id, stacks, load_volume=load_volume, config=config)
        except ValueError as exc:
            results = {
                v.level: StirResult(v.level, STATUS_UNREADABLE, f"{v.level}: recency unknown: {exc}")
                for v in case.vertebrae(tp.id)
            }
        if tp.id in missing:
            gone = ", ".join(missing[tp.id])
            results = {
                lvl: replace(r, message=f"{r.message} Series files not found: {gone}.")
                if r.status == STATUS_NO_STIR
                else r
                for lvl, r in results.items()
            }
        out[tp.id] = results
    return out


def add_stir_to_measurements(
    case: Any,
    data: dict[str, Any],
    stacks: Sequence[Any] | None = None,
    load_volume: VolumeLoader | None = None,
    config: EdemaConfig = DEFAULT_CONFIG,
) -> dict[str, Any]:
    """Give every vertebra of a ``measure.report.measurements_dict`` object a ``"stir"`` object.

    ``data["timepoints"][tp]["vertebrae"][level]["stir"]`` becomes
    :meth:`StirResult.as_dict` (keys in docs/data-dictionary.md, "stir"), or None for a
    vertebra the analysis did not see.  Changes ``data`` in place and returns it.
    """
    results = case_stir_results(case, stacks, load_volume, config)
    for tp_id, tp in data.get("timepoints", {}).items():
        per_level = results.get(tp_id, {})
        for level, vertebra in tp.get("vertebrae", {}).items():
            r = per_level.get(level)
            vertebra["stir"] = r.as_dict() if r is not None else None
    return data


def stir_text(data: Mapping[str, Any]) -> str:
    """Text lines of the ``"stir"`` objects for ``endplate measure`` (empty when there are none)."""
    lines: list[str] = []
    for tp_id, tp in data.get("timepoints", {}).items():
        rows = [(lvl, v["stir"]) for lvl, v in tp.get("vertebrae", {}).items() if v.get("stir")]
        if not rows:
            continue
        lines += ["", f"STIR edema, timepoint {tp_id} (no validated cut-off: the flag is a tool default)"]
        for lvl, st in rows:
            if st["status"] != STATUS_OK:
                lines.append(f"  {st['message']}")
                continue
            flag = "edema: recent fracture likely" if st["flag"] else "no edema flag"
            t1 = f", T1 ratio {st['t1_ratio']:.2f}" if st.get("t1_ratio") is not None else ""
            decision = (st.get("reader_decision") or {}).get("decision")
            reader = f", reader: {decision}" if decision else ""
            lines.append(
                f"  {lvl}: {flag} (SIR {st['sir']:.2f}, bright {100 * st['edema_fraction']:.1f}%, "
                f"extent grade {st['extent_grade']}{t1}{reader})"
            )
    return "\n".join(lines) + "\n" if lines else ""
