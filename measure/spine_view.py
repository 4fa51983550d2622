"""Where a sagittal display volume shows the spine: its midline slice and a zoom rectangle.

A series opens at the slice the reader would choose first, the mid-sagittal plane through
the vertebral bodies and the canal, zoomed on the column (issue 10: the volume's centre
slice of the real chest CT lies 8 mm off the spine).  Works on the display voxels and
their :class:`~dicomio.geometry.StackGeometry` only (no files, no Qt), on a strided copy
(~1 mm across, 3 mm along the column) so that it costs a small fraction of a second on a 512-slice reformat.

* **CT** (values in HU): bone (> :data:`BONE_HU`) is counted along the superior-inferior
  axis, giving a left-right x anterior-posterior map in which the vertebral column is the
  most persistent thick structure (ribs are oblique, the table is thin).  The midline is the
  left-right mirror axis of that map's spine component (searched near its centroid, which a
  stack cutting one side off would bias); the zoom rectangle is the component's
  anterior-posterior band over the rows where the midline slab holds bone in that band.
* **MR** (no absolute scale): the body is mirror-symmetric about the mid-sagittal plane, so
  the midline is the slice about which the high-passed neighbouring slices agree best
  (mean normalised correlation of slices ``k - d`` and ``k + d``, ``d = 1, 2``).  The zoom
  rectangle is the column of vertebral bodies and the canal found on the midline slab by its
  segmentation (endplates repeating along the superior axis, :mod:`measure.spine_rect`);
  none (the full view) when no credible column is found.

When nothing passes the checks the result is the centre slice and the full view, with the
reason in one sentence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dicomio.geometry import SUPERIOR_LPS, StackGeometry
from measure.spine_rect import PixelRect, mr_spine_rect

__all__ = ["PixelRect", "SpineView", "locate_spine"]

#: CT voxels above this value (HU) count as bone (cancellous bone of older spines ~150-250).
BONE_HU = 150.0
#: Voxel size (mm) the volume is strided to before the search: along the superior-inferior
#: axis (CT bone is only counted there), and across it (where the midline is measured).
WORK_VOXEL_MM = 3.0
WORK_FINE_MM = 1.0
#: Smoothing of the CT bone-persistence map (mm): thin structures (table, ribs) fade.
CT_SMOOTH_MM = 10.0
#: The spine must hold bone along at least this fraction of the superior-inferior axis.
CT_MIN_PERSISTENCE = 0.15
#: ... and stand out: at least this many times the median position's persistence.
CT_MIN_CONTRAST = 3.0
#: Plausible left-right width (mm) of the vertebral column's bone (bodies to transverse processes).
CT_WIDTH_RANGE_MM = (12.0, 140.0)
#: Mirror axes tried this far (mm) either side of the bone's centroid; pairs compared around
#: each: up to this far (mm), and at least this far (else the centroid is kept).
MIRROR_SEARCH_MM = 15.0
MIRROR_WINDOW_MM = 30.0
MIRROR_MIN_MM = 2.0
#: Space kept around the spine in the zoom rectangle (mm).
ROI_MARGIN_MM = 20.0
#: MR: the best mirror correlation must reach this, and stand this far above the median.
MR_MIN_SYMMETRY = 0.2
MR_MIN_PROMINENCE = 0.02


@dataclass(frozen=True)
class SpineView:
    """Where to open a series: the midline slice, the zoom rectangle (None: the whole image),
    how sure the locator is (0-1), and why, in one sentence."""

    slice_index: int
    roi: PixelRect | None
    confidence: float
    confident: bool
    reason: str
    #: The midline's position along the stack normal (mm), when found.
    midline_offset_mm: float | None = None


def locate_spine(volume: NDArray, geometry: StackGeometry, modality: str) -> SpineView:
    """The midline slice and spine rectangle of a sagittal display ``volume`` (slices, rows, columns)."""
    vol = np.asarray(volume)
    if vol.ndim != 3 or vol.shape != geometry.shape:
        return _centre(geometry, f"the volume's shape {vol.shape} is not its geometry's {geometry.shape}")
    if modality.upper() == "CT":
        return _locate_ct(vol, geometry)
    return _locate_mr(vol, geometry)


def _centre(geometry: StackGeometry, reason: str, confidence: float = 0.0) -> SpineView:
    return SpineView(geometry.shape[0] // 2, None, confidence, False, f"centre slice: {reason}")


def _steps(geometry: StackGeometry, coarse_axis: int | None = None) -> tuple[int, int, int]:
    """Strides (slices, rows, columns) that give ~:data:`WORK_FINE_MM` voxels, and
    ~:data:`WORK_VOXEL_MM` along ``coarse_axis`` (every axis when None)."""
    row_mm, col_mm = geometry.first.pixel_spacing_mm
    slice_mm = geometry.slice_spacing_mm or WORK_VOXEL_MM
    return tuple(  # type: ignore[return-value]
        max(1, round((WORK_VOXEL_MM if coarse_axis in (None, axis) else WORK_FINE_MM) / s))
        for axis, s in enumerate((slice_mm, row_mm, col_mm))
    )


def _superior_axis(geometry: StackGeometry) -> int:
    """Volume axis (1 rows, 2 columns) nearest to superior-inferior."""
    first = geometry.first
    along_rows = abs(float(np.dot(first.col_cosine, SUPERIOR_LPS)))  # moving down the rows
    along_columns = abs(float(np.dot(first.row_cosine, SUPERIOR_LPS)))
    return 1 if along_rows >= along_columns else 2


def _nearest_slice(geometry: StackGeometry, offset_mm: float) -> int:
    return int(np.argmin(np.abs(geometry.slice_offsets_mm - offset_mm)))


# -- CT --------------------------------------------------------------------------------------
def _locate_ct(vol: NDArray, geometry: StackGeometry) -> SpineView:
    si_axis = _superior_axis(geometry)
    ks, rs, cs = _steps(geometry, si_axis)
    work = vol[::ks, ::rs, ::cs]
    ap_axis = 3 - si_axis
    persistence = _bone_persistence(work, si_axis)  # (slices, AP)
    slice_mm = (geometry.slice_spacing_mm or 1.0) * ks
    ap_mm = geometry.first.pixel_spacing_mm[1 if ap_axis == 2 else 0] * (cs if ap_axis == 2 else rs)
    size = (max(1, round(CT_SMOOTH_MM / slice_mm)), max(1, round(CT_SMOOTH_MM / ap_mm)))
    smooth = _box_mean(persistence, size)
    k0, a0 = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    peak = float(smooth[k0, a0])
    if peak < CT_MIN_PERSISTENCE:
        return _centre(geometry, f"no column of bone found (at most {peak:.0%} of the height holds bone)")
    background = float(np.median(smooth))
    if peak < CT_MIN_CONTRAST * background:
        return _centre(
            geometry,
            f"bone is everywhere ({background:.0%} of the height at half the positions), not a column",
        )
    component = _component(smooth >= peak / 2, (int(k0), int(a0)))
    k_rows = np.flatnonzero(component.any(axis=1))
    width_mm = (k_rows[-1] - k_rows[0] + 1) * slice_mm
    lo, hi = CT_WIDTH_RANGE_MM
    if not lo <= width_mm <= hi:
        return _centre(
            geometry,
            f"the column of bone found is {width_mm:.0f} mm wide, not a spine's {lo:.0f}-{hi:.0f} mm",
        )
    # The bone's centroid is biased when the stack cuts one side of the column off; the
    # mirror axis of the bone near it is not.
    weights = np.where(component, persistence, 0.0)
    centroid = float((weights.sum(axis=1) * np.arange(len(weights))).sum() / weights.sum())
    ap_band = np.flatnonzero(component.any(axis=0))
    band = persistence[:, ap_band[0] : ap_band[-1] + 1]
    reach = MIRROR_SEARCH_MM / slice_mm
    mirror = _mirror_axis(band, math.floor(centroid - reach), math.ceil(centroid + reach), slice_mm)
    k_work = centroid if mirror is None else mirror
    offsets = geometry.slice_offsets_mm
    positions = np.interp(k_work * ks, np.arange(len(offsets)), offsets)
    midline_mm = float(positions)
    k_mid = _nearest_slice(geometry, midline_mm)
    roi = _ct_roi(work, component, k_work, si_axis, (ks, rs, cs), geometry)
    confidence = float(min(1.0, peak / (2 * CT_MIN_PERSISTENCE)))
    return SpineView(
        k_mid,
        roi,
        confidence,
        True,
        f"bone column {width_mm:.0f} mm wide, bone along {peak:.0%} of the height",
        midline_mm,
    )


def _box_mean(x: NDArray, size: tuple[int, ...]) -> NDArray[np.float32]:
    """Mean over a ``size`` box (zeros outside), as ``scipy.ndimage.uniform_filter(x, size,
    mode="constant")`` on float32: here with numpy, since importing ``scipy.ndimage`` costs
    0.2-0.5 s that a CT's opening would wait for (the midline is found before the first paint)."""
    out = np.asarray(x, dtype=np.float32)
    for axis, s in enumerate(size):
        if s <= 1:
            continue
        n = out.shape[axis]
        lead = s // 2  # the window is [i - s // 2, i - s // 2 + s), as scipy's origin 0
        pad = [(0, 0)] * out.ndim
        pad[axis] = (lead + 1, s - 1 - lead)
        sums = np.cumsum(np.pad(out.astype(np.float64), pad), axis=axis)
        upper = np.take(sums, np.arange(s, s + n), axis=axis)
        lower = np.take(sums, np.arange(n), axis=axis)
        out = ((upper - lower) / s).astype(np.float32)
    return out


def _component(mask: NDArray[np.bool_], seed: tuple[int, int]) -> NDArray[np.bool_]:
    """The 4-connected component of 2-D ``mask`` holding ``seed`` (``ndimage.label``'s default
    connectivity), grown from the seed: a few ms on a work map, no scipy import."""
    component = np.zeros_like(mask)
    component[seed] = bool(mask[seed])
    while True:
        grown = component.copy()
        grown[1:] |= component[:-1]
        grown[:-1] |= component[1:]
        grown[:, 1:] |= component[:, :-1]
        grown[:, :-1] |= component[:, 1:]
        grown &= mask
        if np.array_equal(grown, component):
            return component
        component = grown


def _mirror_axis(profile: NDArray, lo: int, hi: int, slice_mm: float) -> float | None:
    """Fractional slice about which ``profile`` (slices, AP) is most mirror-symmetric, among
    slices ``lo..hi``; None when no candidate has :data:`MIRROR_MIN_MM` of pairs on each side.

    Every candidate is scored on the same pair separations (``c - d`` with ``c + d``,
    ``d = 1..D``), so that a stack edge cutting off one side (a centroid's bias) does not
    favour one candidate; the best is refined by a parabola through its neighbours' scores.
    """
    n = len(profile)
    d_min = max(1, math.ceil(MIRROR_MIN_MM / slice_mm))
    candidates = [c for c in range(max(0, lo), min(n - 1, hi) + 1) if min(c, n - 1 - c) >= d_min]
    if not candidates:
        return None
    d_max = min(max(d_min, round(MIRROR_WINDOW_MM / slice_mm)), *(min(c, n - 1 - c) for c in candidates))
    d = np.arange(1, d_max + 1)
    norms = (profile * profile).sum(axis=1)
    scores = np.empty(len(candidates))
    for i, c in enumerate(candidates):
        left, right = profile[c - d], profile[c + d]
        denom = math.sqrt(float(norms[c - d].sum() * norms[c + d].sum()))
        scores[i] = float((left * right).sum()) / denom if denom > 0 else 0.0
    i = int(np.argmax(scores))
    shift = 0.0
    if 0 < i < len(scores) - 1:
        a, b, c3 = scores[i - 1], scores[i], scores[i + 1]
        curvature = a - 2 * b + c3
        if curvature < 0:
            shift = float(np.clip(0.5 * (a - c3) / curvature, -0.5, 0.5))
    return candidates[i] + shift


def _bone_persistence(work: NDArray, si_axis: int) -> NDArray[np.float32]:
    """Fraction of the superior-inferior positions holding bone, per (slice, AP) position.

    Summed one superior-inferior position at a time: a strided view compared whole is ~8x
    slower (cache misses) on a 512-slice reformat.
    """
    n = work.shape[si_axis]
    count = np.zeros((work.shape[0], work.shape[3 - si_axis]), dtype=np.uint16)
    for i in range(n):
        count += (work[:, i, :] if si_axis == 1 else work[:, :, i]) > BONE_HU
    return count.astype(np.float32) / max(1, n)


def _ct_roi(
    work: NDArray,
    component: NDArray[np.bool_],
    k_work: float,
    si_axis: int,
    steps: tuple[int, int, int],
    geometry: StackGeometry,
) -> PixelRect | None:
    """The spine's rectangle in the midline slice: its anterior-posterior band, over the rows
    where a slab of ±1 work slices around the midline holds bone in that band."""
    k = round(k_work)
    ap_cols = np.flatnonzero(component[max(0, k - 1) : k + 2].any(axis=0))
    if ap_cols.size == 0:
        return None
    a_lo, a_hi = int(ap_cols[0]), int(ap_cols[-1])
    slab = work[max(0, k - 1) : k + 2] > BONE_HU
    band = slab[:, :, a_lo : a_hi + 1] if si_axis == 1 else slab[:, a_lo : a_hi + 1, :]
    along_si = band.any(axis=0).mean(axis=1 if si_axis == 1 else 0)  # bone fraction per SI position
    si_rows = np.flatnonzero(along_si > 0.05)
    if si_rows.size == 0:
        return None
    s_lo, s_hi = int(si_rows[0]), int(si_rows[-1])
    _, rs, cs = steps
    row_mm, col_mm = geometry.first.pixel_spacing_mm
    if si_axis == 1:
        rows, cols = (s_lo * rs, s_hi * rs), (a_lo * cs, a_hi * cs)
    else:
        rows, cols = (a_lo * rs, a_hi * rs), (s_lo * cs, s_hi * cs)
    m_rows, m_cols = ROI_MARGIN_MM / row_mm, ROI_MARGIN_MM / col_mm
    n_rows, n_cols = geometry.first.rows, geometry.first.columns
    return PixelRect(
        max(-0.5, cols[0] - m_cols),
        max(-0.5, rows[0] - m_rows),
        min(n_cols - 0.5, cols[1] + cs + m_cols),
        min(n_rows - 0.5, rows[1] + rs + m_rows),
    )


# -- MR --------------------------------------------------------------------------------------
def _locate_mr(vol: NDArray, geometry: StackGeometry) -> SpineView:
    from scipy import ndimage  # 0.2-0.5 s to import: only when an MR spine is searched

    n = vol.shape[0]
    if n < 5:
        return _centre(geometry, f"{n} slices are too few to find the mirror plane (5 needed)")
    _, rs, cs = _steps(geometry)
    work = vol[:, ::rs, ::cs].astype(np.float32)
    row_mm, col_mm = geometry.first.pixel_spacing_mm
    fine = (1.0 / (row_mm * rs), 1.0 / (col_mm * cs))
    coarse = (8.0 / (row_mm * rs), 8.0 / (col_mm * cs))
    high = np.stack([ndimage.gaussian_filter(s, fine) - ndimage.gaussian_filter(s, coarse) for s in work])
    high -= high.mean(axis=(1, 2), keepdims=True)
    norms = np.sqrt((high * high).sum(axis=(1, 2)))
    if not np.all(norms > 0):
        return _centre(geometry, "some slices are blank")
    flat = high.reshape(n, -1) / norms[:, None]
    corr = flat @ flat.T
    scores = np.full(n, np.nan)
    for k in range(2, n - 2):
        scores[k] = (corr[k - 1, k + 1] + corr[k - 2, k + 2]) / 2
    k_best = int(np.nanargmax(scores))
    best = float(scores[k_best])
    prominence = best - float(np.nanmedian(scores))
    confidence = float(np.clip(min(best / (2 * MR_MIN_SYMMETRY), prominence / (2 * MR_MIN_PROMINENCE)), 0, 1))
    if best < MR_MIN_SYMMETRY or prominence < MR_MIN_PROMINENCE:
        return _centre(
            geometry,
            f"no mirror plane found (best symmetry {best:.2f}, {prominence:.2f} above the median)",
            confidence,
        )
    slab = vol[max(0, k_best - 1) : k_best + 2].astype(np.float32).mean(axis=0)
    rect = mr_spine_rect(slab, geometry)
    return SpineView(
        k_best,
        rect.roi,
        confidence,
        True,
        f"mirror plane of the body (symmetry {best:.2f}, {prominence:.2f} above the median); "
        f"{'zoom: ' if rect.roi is not None else 'full view: '}{rect.reason}",
        float(geometry.slice_offsets_mm[k_best]),
    )
