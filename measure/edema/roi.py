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


def _edge_distance_mm(
    px: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Distance (mm) from each point of ``px`` (N, 2) to the segment ``a``-``b``."""
    ab = b - a
    denom = float(ab @ ab)
    t = np.zeros(len(px)) if denom == 0 else np.clip(((px - a) @ ab) / denom, 0.0, 1.0)
    nearest = a + t[:, None] * ab
    return np.asarray(np.hypot(*(px - nearest).T))


def segment_distance_mm(px: NDArray[np.float64], poly: NDArray[np.float64]) -> NDArray[np.float64]:
    """Distance (mm) from each point of ``px`` (N, 2) to the closed polygon ``poly`` (M, 2)."""
    best = np.full(len(px), np.inf)
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        best = np.minimum(best, _edge_distance_mm(px, a, b))
    return best


def _keep_far_from_edges(
    keep: NDArray[np.bool_],
    xs_mm: NDArray[np.float64],
    ys_mm: NDArray[np.float64],
    poly: NDArray[np.float64],
    margin_mm: float,
) -> None:
    """Clear, in the grid ``keep`` (rows ``ys_mm`` x columns ``xs_mm``), the pixel centres
    closer than ``margin_mm`` to an edge of ``poly``: ``segment_distance_mm(...) >= margin_mm``.

    A centre outside an edge's bounding box grown by the margin is farther than that from
    the edge, so each edge measures only the kept centres of its box (a block of the grid),
    with the arithmetic of :func:`segment_distance_mm` (every centre against every edge
    was 40% of the STIR analysis, the largest cost of an export per case).  The box is
    grown a little more than the margin, so rounding never leaves out a centre at the limit.
    """
    grow = margin_mm * (1.0 + 1e-9) + 1e-9
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        lo, hi = np.minimum(a, b) - grow, np.maximum(a, b) + grow
        j0 = int(np.searchsorted(xs_mm, lo[0], side="left"))  # lo <= x ...
        j1 = int(np.searchsorted(xs_mm, hi[0], side="right"))  # ... <= hi
        i0 = int(np.searchsorted(ys_mm, lo[1], side="left"))
        i1 = int(np.searchsorted(ys_mm, hi[1], side="right"))
        block = keep[i0:i1, j0:j1]
        rows, cols = np.nonzero(block)
        if rows.size:
            centres = np.column_stack([xs_mm[j0 + cols], ys_mm[i0 + rows]])
            block[rows, cols] = _edge_distance_mm(centres, a, b) >= margin_mm


#: Patches of an outline already found, by its exact pixel polygon and grid (see roi_on_slice).
RoiPatch = tuple[int, int, NDArray[np.bool_]]
RoiMemo = dict[tuple[bytes, int, int, tuple[float, float], float], RoiPatch | None]


def roi_on_slice(
    geometry: StackGeometry,
    slice_index: int,
    outline_lps: NDArray[np.float64],
    margin_mm: float,
    memo: RoiMemo | None = None,
) -> tuple[int, int, NDArray[np.bool_]] | None:
    """ROI patch (row0, col0, mask) of one outline on one slice, or None when empty.

    The outline is projected along the slice normal into that slice's pixel grid; a pixel
    centre is kept when it lies inside the polygon and at least ``margin_mm`` from every
    edge.  Distances are in mm (column index x column spacing, row index x row spacing),
    so the shrink is exact with unequal pixel spacing.  With ``memo``, a slice onto which
    the outline projects to exactly the same pixel polygon (the slices of one stack, as a
    rule) gets a copy of the patch already found instead of a second search.
    """
    image = geometry.slices[slice_index]
    col, row, _ = image.lps_to_pixel(outline_lps)
    if memo is None:
        return _roi_patch(image.rows, image.columns, image.pixel_spacing_mm, col, row, margin_mm)
    key = (col.tobytes() + row.tobytes(), image.rows, image.columns, image.pixel_spacing_mm, margin_mm)
    if key not in memo:
        memo[key] = _roi_patch(image.rows, image.columns, image.pixel_spacing_mm, col, row, margin_mm)
    found = memo[key]
    return None if found is None else (found[0], found[1], found[2].copy())


def _roi_patch(
    rows: int,
    columns: int,
    pixel_spacing_mm: tuple[float, float],
    col: NDArray[np.float64],
    row: NDArray[np.float64],
    margin_mm: float,
) -> tuple[int, int, NDArray[np.bool_]] | None:
    """:func:`roi_on_slice` for the outline at pixel positions ``col``, ``row``."""
    row_mm, col_mm = pixel_spacing_mm
    c0 = max(0, math.floor(float(col.min())))
    c1 = min(columns - 1, math.ceil(float(col.max())))
    r0 = max(0, math.floor(float(row.min())))
    r1 = min(rows - 1, math.ceil(float(row.max())))
    if c1 < c0 or r1 < r0:
        return None
    rr, cc = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
    centres_mm = np.column_stack([cc.ravel() * col_mm, rr.ravel() * row_mm])
    poly_mm = np.column_stack([col * col_mm, row * row_mm])
    inside = points_in_poly(centres_mm, poly_mm)
    mask = inside.reshape(rr.shape)
    if margin_mm > 0 and mask.any():
        xs_mm = np.arange(c0, c1 + 1, dtype=np.float64) * col_mm  # the centres' coordinates, as in centres_mm
        ys_mm = np.arange(r0, r1 + 1, dtype=np.float64) * row_mm
        _keep_far_from_edges(mask, xs_mm, ys_mm, poly_mm, margin_mm)
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
    memo: RoiMemo = {}
    for k in slices:
        got = roi_on_slice(geometry, k, outline, config.margin_mm, memo)
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
