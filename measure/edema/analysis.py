"""STIR marrow edema per vertebral body: the analysis (pure numpy on a volume and landmarks).

Vertebral augmentation is indicated for a recent fracture, and MRI decides that: marrow
edema is bright on STIR and dark on T1 (clinical reference, "Fracture recency on MRI").
For every vertebral body with six landmarks :func:`analyse_edema` measures

* the STIR signal inside the body (mean, median, 90th percentile), in a region of
  interest (ROI) = the polygon through the six landmarks, shrunk by a margin in mm, on the
  STIR slices within a slab around the landmark plane (:mod:`measure.edema.roi`);
* the signal-intensity ratio (SIR) = median of the body / reference median, where the
  reference is the reader's reference bodies or, without any, the median of the medians
  of the other bodies (robust to one of them being edematous too);
* the fraction of the body that is bright against the references, and its extent grade;
* a flag "edema: recent fracture likely" above a configurable threshold
  (:mod:`measure.edema_config`; no validated cut-off exists), with the numbers behind it;
* the same ratio on T1 when a T1 series shares the frame of reference (edema is dark on
  T1: a ratio below 1 supports the flag).

Results are :class:`measure.results.StirResult` objects; the app draws
:func:`bright_mask_for_slice`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.geometry import StackGeometry
from measure.edema.constants import (
    NO_CUTOFF_NOTE,
    REFERENCE_STATUS,
    STATUS_NO_REFERENCE,
    STATUS_NOT_MEASURED,
    STATUS_OK,
)
from measure.edema.roi import BodyRoi, body_roi, outline_points
from measure.edema_config import DEFAULT_CONFIG, MAD_TO_SD, EdemaConfig, extent_grade
from measure.landmarks import level_index
from measure.results import EdemaReport, SliceMask, StirResult


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


def _robust_sd(values: NDArray[np.float64]) -> float:
    med = float(np.median(values))
    return MAD_TO_SD * float(np.median(np.abs(values - med)))


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
    rois: dict[str, BodyRoi] = {}
    outlines: dict[str, NDArray[np.float64]] = {}
    for level in levels:
        body = bodies[level]
        is_ref = body.status == REFERENCE_STATUS
        outline = outline_points(level, body.landmarks)
        if outline is None:
            failed[level] = StirResult(
                level,
                STATUS_NOT_MEASURED,
                f"{level}: not all six landmarks are placed; no body outline to measure.",
                is_reference=is_ref,
                slice_shape=slice_shape,
            )
            continue
        got = body_roi(level, volume, stir_geometry, outline, config, "STIR")
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
        got = body_roi(level, volume, t1_geometry, outline, config, "T1")
        if isinstance(got, BodyRoi):
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
