"""Geometry of the edema ROI: the body outline through patient space onto each STIR slice.

Everything happens in patient LPS millimetres: the landmarks may come from a T1, T2 or
STIR series with another pixel spacing; the outline is mapped onto each STIR slice through
patient coordinates, and the shrink margin is measured in mm (exact with unequal spacing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from skimage.measure import points_in_poly

from dicomio.geometry import StackGeometry
from measure.edema.constants import (
    OUTLINE_ORDER,
    STATUS_NOT_MEASURED,
    STATUS_OUTSIDE,
    STATUS_PLANE,
    STATUS_TOO_SMALL,
)
from measure.edema_config import EdemaConfig
from measure.landmarks import LANDMARK_KEYS


def outline_points(level: str, landmarks: Mapping[str, ArrayLike]) -> NDArray[np.float64] | None:
    """The six landmarks in outline order as a (6, 3) array; None when any is missing."""
    if any(k not in landmarks or landmarks[k] is None for k in LANDMARK_KEYS):
        return None
    pts = np.array([np.asarray(landmarks[k], dtype=float).reshape(3) for k in OUTLINE_ORDER])
    if not np.all(np.isfinite(pts)):
        raise ValueError(
            f"{level}: a landmark has a non-finite LPS position; expected 3 finite numbers in mm."
        )
    return pts


def plane_normal(points: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """Normal of the best-fit plane through the points; None when they are (nearly) collinear."""
    centred = points - points.mean(axis=0)
    _, s, vt = np.linalg.svd(centred)
    if s[1] < 1e-6 * max(1.0, s[0]):
        return None
    return vt[2] / np.linalg.norm(vt[2])


def segment_distance_mm(px: NDArray[np.float64], poly: NDArray[np.float64]) -> NDArray[np.float64]:
    """Distance (mm) from each point of ``px`` (N, 2) to the closed polygon ``poly`` (M, 2)."""
    best = np.full(len(px), np.inf)
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        ab = b - a
        denom = float(ab @ ab)
        t = np.zeros(len(px)) if denom == 0 else np.clip(((px - a) @ ab) / denom, 0.0, 1.0)
        nearest = a + t[:, None] * ab
        best = np.minimum(best, np.hypot(*(px - nearest).T))
    return best


def roi_on_slice(
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
        keep[inside] = segment_distance_mm(centres_mm[inside], poly_mm) >= margin_mm
        inside = keep
    mask = inside.reshape(rr.shape)
    if not mask.any():
        return None
    return r0, c0, mask


def slab_slices(geometry: StackGeometry, centre_lps: NDArray[np.float64], half_width_mm: float) -> list[int]:
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
class BodyRoi:
    level: str
    values: NDArray[np.float64]
    patches: list[tuple[int, int, int, NDArray[np.bool_]]]  # (slice, row0, col0, roi)


def body_roi(
    level: str,
    volume: NDArray[Any],
    geometry: StackGeometry,
    outline: NDArray[np.float64],
    config: EdemaConfig,
    series_name: str,
) -> BodyRoi | tuple[str, str]:
    """ROI voxels of one body in one series, or (status, message) when it cannot be had."""
    normal = plane_normal(outline)
    if normal is None:
        return STATUS_NOT_MEASURED, f"{level}: the six landmarks lie on one line; no body outline to measure."
    angle_deg = math.degrees(math.acos(min(1.0, abs(float(normal @ geometry.normal)))))
    if angle_deg > config.max_plane_angle_deg:
        return STATUS_PLANE, (
            f"{level}: the {series_name} slices are {angle_deg:.0f} deg from the plane of the landmarks; "
            f"at most {config.max_plane_angle_deg:g} deg is supported (use a sagittal {series_name})."
        )
    slices = slab_slices(geometry, outline.mean(axis=0), config.slab_half_width_mm)
    if not slices:
        return STATUS_OUTSIDE, (
            f"{level}: no {series_name} slice lies within {config.slab_half_width_mm:g} mm of the landmark "
            "plane; the body is outside this series."
        )
    patches = []
    chunks = []
    for k in slices:
        got = roi_on_slice(geometry, k, outline, config.margin_mm)
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
    return BodyRoi(level, values, patches)
