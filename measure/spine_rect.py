"""The spine's zoom rectangle on a sagittal MR slice: the column of vertebral bodies and the canal.

MR has no absolute scale (no "bone above 150 HU"), so the bodies are found by their
structure, which T1, T2 and STIR share: a stack of blocks cut across by endplates and discs,
i.e. edges that run anterior-posterior and repeat every vertebra (~15-45 mm) along the
superior axis.  The axes come from ImageOrientationPatient (which pixel axis is superior,
which way is anterior), every size is in mm.

1. On the midline slab the structure tensor (gradients at 1.5 mm, averaged over 4 mm) gives
   the *coherence* ``(Jss - Jaa) / (Jss + Jaa + median)``: +1 where edges run across the
   column (endplates, discs), -1 along it (the canal's walls, skin, fat planes); the median
   energy in the denominator keeps flat, noisy regions near 0 whatever the coil shading.
2. Its positive part, averaged over a body's depth (:data:`BODY_DEPTH_MM`) and over about a
   vertebra along the superior axis, is a score map; the column of bodies is the best path
   through it from top to bottom (dynamic programming, slope at most :data:`MAX_SLOPE`: the
   column curves, lordosis and kyphosis, but never turns).  A second path entirely anterior of
   the first replaces it when nearly as strong: the bodies are the most anterior segmented
   chain, the posterior elements behind the canal are segmented too.
3. The path must be credible: it stands out of the map (:data:`MIN_CONTRAST`), its endplate
   signal repeats at a vertebra's period (autocorrelation :data:`MIN_PERIODICITY` at a lag of
   15-45 mm), over at least :data:`MIN_LENGTH_MM`.  Else there is no rectangle (full view).
4. The rectangle spans the rows where the path is strong, and in depth the bodies' band
   (where the row's score reaches half its peak near the path) plus the canal behind them
   (:data:`CANAL_MM`), with :data:`MARGIN_MM` around.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dicomio.geometry import ANTERIOR_LPS, SUPERIOR_LPS, StackGeometry

#: Gradient scale and structure-tensor averaging (mm).
GRADIENT_MM = 1.0
TENSOR_MM = 2.5
#: Anterior-posterior depth the score is averaged over (a thoracic body's depth, mm) and the
#: superior extent (about one vertebra with its disc, mm).
BODY_DEPTH_MM = 15.0
SCORE_HEIGHT_MM = 30.0
#: The path moves at most this many mm anterior-posterior per mm along the superior axis.
MAX_SLOPE = 0.6
#: Step of the path along the superior axis (mm).
PATH_STEP_MM = 3.0
#: A row's peak 20-60 mm in front of the best path, at this fraction of the path's score,
#: damps the positions behind it (by this factor) for a second path.
ANTERIOR_GAP_MM = 20.0
ANTERIOR_REACH_MM = 60.0
ANTERIOR_FRACTION = 0.5
ANTERIOR_DAMPING = 0.2
#: Credibility: the path's mean score over its strong rows is this many times the map's
#: mean; its endplate profile repeats at a lag in this range (mm) with this autocorrelation;
#: its strong rows span at least this much (mm).
MIN_CONTRAST = 3.0
PERIOD_RANGE_MM = (15.0, 45.0)
MIN_PERIODICITY = 0.2
MIN_LENGTH_MM = 40.0
#: ... and at least this many of its periods (two endplates of one body repeat once only).
MIN_PERIODS = 2.5
#: A row of the path is strong at this fraction of the path's 90th-percentile score.
STRONG_FRACTION = 0.25
#: The canal's depth behind the bodies (mm), kept in the rectangle; and the margin (mm).
CANAL_MM = 22.0
MARGIN_MM = 15.0
#: Rows this close to the image's border (mm) are not scored (filter edge effects).
BORDER_MM = 5.0


@dataclass(frozen=True)
class PixelRect:
    """A rectangle of slice pixels: columns ``column_min..column_max``, rows ``row_min..row_max``
    (fractional pixel indices of the rectangle's edges, integer = pixel centre)."""

    column_min: float
    row_min: float
    column_max: float
    row_max: float


@dataclass(frozen=True)
class MrSpineRect:
    """The MR spine rectangle (None: none credible) and why, in one sentence."""

    roi: PixelRect | None
    reason: str


def mr_spine_rect(slab: NDArray, geometry: StackGeometry) -> MrSpineRect:
    """The rectangle holding the vertebral bodies and the canal in ``slab`` (rows, columns: the
    midline slice, or the mean of a few around it) of a sagittal ``geometry``."""
    image = np.asarray(slab, dtype=np.float32)
    first = geometry.first
    if image.shape != (first.rows, first.columns):
        return MrSpineRect(None, f"the slab's shape {image.shape} is not the slice's")
    along_rows = float(np.dot(first.col_cosine, SUPERIOR_LPS))  # + : rows run superior
    along_columns = float(np.dot(first.row_cosine, SUPERIOR_LPS))
    si_is_rows = abs(along_rows) >= abs(along_columns)
    # Work image (superior-inferior, anterior-posterior), both in index order of the slice.
    work = image if si_is_rows else image.T
    row_mm, col_mm = first.pixel_spacing_mm
    si_mm, ap_mm = (row_mm, col_mm) if si_is_rows else (col_mm, row_mm)
    ap_cosine = first.row_cosine if si_is_rows else first.col_cosine
    anterior_sign = 1 if float(np.dot(ap_cosine, ANTERIOR_LPS)) > 0 else -1  # + : index runs anterior
    found = _find(work, si_mm, ap_mm, anterior_sign)
    if isinstance(found, str):
        return MrSpineRect(None, found)
    (s_lo, s_hi), (a_lo, a_hi), reason = found
    m_si, m_ap = MARGIN_MM / si_mm, MARGIN_MM / ap_mm
    n_si, n_ap = work.shape
    si = (max(-0.5, s_lo - m_si), min(n_si - 0.5, s_hi + m_si))
    ap = (max(-0.5, a_lo - m_ap), min(n_ap - 0.5, a_hi + m_ap))
    rows, cols = (si, ap) if si_is_rows else (ap, si)
    return MrSpineRect(PixelRect(cols[0], rows[0], cols[1], rows[1]), reason)


def _find(
    work: NDArray[np.float32], si_mm: float, ap_mm: float, anterior_sign: int
) -> tuple[tuple[float, float], tuple[float, float], str] | str:
    """(SI index range, AP index range, reason) of the bodies and canal, or why not."""
    from scipy import ndimage  # imported when used (start-up time)

    lo, hi = np.percentile(work, [2.0, 98.0])
    if not hi > lo:
        return "the slice is flat"
    img = np.clip((work - lo) / (hi - lo), 0.0, 1.5)
    g = (GRADIENT_MM / si_mm, GRADIENT_MM / ap_mm)
    t = (TENSOR_MM / si_mm, TENSOR_MM / ap_mm)
    gs = ndimage.gaussian_filter(img, g, order=(1, 0), mode="nearest")
    ga = ndimage.gaussian_filter(img, g, order=(0, 1), mode="nearest")
    j_ss = ndimage.gaussian_filter(gs * gs, t, mode="nearest")
    j_aa = ndimage.gaussian_filter(ga * ga, t, mode="nearest")
    energy = j_ss + j_aa
    coherence = (j_ss - j_aa) / (energy + float(np.median(energy)) + 1e-12)
    across = np.maximum(coherence, 0.0)
    b_si, b_ap = max(1, round(BORDER_MM / si_mm)), max(1, round(BORDER_MM / ap_mm))
    across[:b_si], across[-b_si:], across[:, :b_ap], across[:, -b_ap:] = 0.0, 0.0, 0.0, 0.0
    depth = max(1, round(BODY_DEPTH_MM / ap_mm))
    height = max(1, round(SCORE_HEIGHT_MM / si_mm))
    score = ndimage.uniform_filter1d(across, depth, axis=1, mode="constant")
    score = ndimage.uniform_filter1d(score, height, axis=0, mode="constant")
    step = max(1, round(PATH_STEP_MM / si_mm))
    reach = max(1, round(MAX_SLOPE * step * si_mm / ap_mm))
    rows = np.arange(0, work.shape[0], step)
    coarse = score[rows]
    path = _best_path(coarse, reach)
    path = _prefer_anterior(coarse, path, reach, anterior_sign, ap_mm)
    along = coarse[np.arange(len(rows)), path]
    strong = along >= STRONG_FRACTION * float(np.percentile(along, 90))
    if not strong.any() or float(np.percentile(along, 90)) <= 0:
        return "no segmented column found"
    i_lo, i_hi = int(np.flatnonzero(strong)[0]), int(np.flatnonzero(strong)[-1])
    length_mm = (rows[i_hi] - rows[i_lo]) * si_mm
    if length_mm < MIN_LENGTH_MM:
        return f"the segmented column found is {length_mm:.0f} mm long, not {MIN_LENGTH_MM:.0f}"
    contrast = float(along[strong].mean()) / max(1e-12, float(score.mean()))
    if contrast < MIN_CONTRAST:
        return f"no column stands out (its score is {contrast:.1f} times the slice's mean)"
    # Endplate signal along the path, at full resolution.
    s_rows = np.arange(rows[i_lo], min(work.shape[0], rows[i_hi] + step))
    a_path = np.interp(s_rows, rows, path)
    half = max(1, round(BODY_DEPTH_MM / 2 / ap_mm))
    cum = np.cumsum(np.pad(across, ((0, 0), (1, 0))), axis=1)
    a0 = np.clip(np.round(a_path).astype(int) - half, 0, work.shape[1])
    a1 = np.clip(np.round(a_path).astype(int) + half + 1, 0, work.shape[1])
    profile = (cum[s_rows, a1] - cum[s_rows, a0]) / np.maximum(1, a1 - a0)
    periodicity, period_mm = _periodicity(profile, si_mm)
    if periodicity < MIN_PERIODICITY:
        return f"the column found is not segmented like vertebrae (periodicity {periodicity:.2f})"
    if length_mm < MIN_PERIODS * period_mm:
        return (
            f"the segmented column found spans {length_mm / period_mm:.1f} vertebrae "
            f"of {period_mm:.0f} mm, not {MIN_PERIODS}"
        )
    # Depth: per strong row, where the score reaches half its peak within a body of the path.
    a_lo, a_hi = math.inf, -math.inf
    for i in np.flatnonzero(strong):
        r, c = rows[i], int(path[i])
        w0, w1 = max(0, c - depth), min(work.shape[1], c + depth + 1)
        line = ndimage.uniform_filter1d(across[max(0, r - height // 2) : r + height // 2 + 1].mean(axis=0), 3)
        seg = line[w0:w1]
        above = np.flatnonzero(seg >= 0.5 * seg.max()) if seg.max() > 0 else np.array([c - w0])
        a_lo, a_hi = min(a_lo, w0 + above[0]), max(a_hi, w0 + above[-1])
    canal = CANAL_MM / ap_mm
    if anterior_sign > 0:
        a_lo -= canal  # the canal is behind the bodies: lower indices when the index runs anterior
    else:
        a_hi += canal
    s_lo = rows[i_lo] - height / 2
    s_hi = rows[i_hi] + step + height / 2
    return (
        (float(s_lo), float(s_hi)),
        (float(a_lo), float(a_hi)),
        f"segmented column {length_mm:.0f} mm long, endplates every {period_mm:.0f} mm "
        f"(periodicity {periodicity:.2f}), {contrast:.1f} times the slice's mean",
    )


def _best_path(score: NDArray, reach: int) -> NDArray[np.intp]:
    """The column index per row maximising the summed score, moving at most ``reach`` per row."""
    n_rows, n_cols = score.shape
    total = score[0].astype(np.float64).copy()
    back = np.zeros((n_rows, n_cols), dtype=np.intp)
    cols = np.arange(n_cols)
    for i in range(1, n_rows):
        best = np.full(n_cols, -np.inf)
        arg = cols.copy()
        for d in range(-reach, reach + 1):
            src = cols + d
            ok = (src >= 0) & (src < n_cols)
            cand = np.full(n_cols, -np.inf)
            cand[ok] = total[src[ok]]
            better = cand > best
            best[better], arg[better] = cand[better], src[better]
        total = best + score[i]
        back[i] = arg
    path = np.empty(n_rows, dtype=np.intp)
    path[-1] = int(np.argmax(total))
    for i in range(n_rows - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def _prefer_anterior(
    score: NDArray, path: NDArray[np.intp], reach: int, anterior_sign: int, ap_mm: float
) -> NDArray[np.intp]:
    """The path again, where rows with a nearly as strong peak in front of it (the bodies in
    front of the posterior elements) give up the positions behind that peak."""
    gap = max(1, round(ANTERIOR_GAP_MM / ap_mm))
    ahead = max(gap + 1, round(ANTERIOR_REACH_MM / ap_mm))
    a_index = np.arange(score.shape[1])
    damped = score.copy()
    changed = False
    for i, c in enumerate(path):
        forward = anterior_sign * (a_index - c)
        window = np.flatnonzero((forward >= gap) & (forward <= ahead))
        if window.size == 0:
            continue
        alt = int(window[np.argmax(score[i, window])])
        if score[i, alt] >= ANTERIOR_FRACTION * score[i, c] > 0:
            damped[i, anterior_sign * (a_index - alt) < -gap / 2] *= ANTERIOR_DAMPING
            changed = True
    return _best_path(damped, reach) if changed else path


def _periodicity(profile: NDArray, si_mm: float) -> tuple[float, float]:
    """Best autocorrelation of ``profile`` (detrended) at a lag in :data:`PERIOD_RANGE_MM`,
    and that lag (mm)."""
    from scipy import ndimage  # imported when used (start-up time)

    p = np.asarray(profile, dtype=np.float64)
    trend = ndimage.uniform_filter1d(p, max(3, round(PERIOD_RANGE_MM[1] / si_mm)), mode="nearest")
    p = p - trend
    lo, hi = (max(1, round(v / si_mm)) for v in PERIOD_RANGE_MM)
    if len(p) <= lo + 2 or not np.any(p):
        return 0.0, 0.0
    best, best_lag = -1.0, lo
    for lag in range(lo, min(hi, len(p) - 2) + 1):
        a, b = p[:-lag], p[lag:]
        denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
        r = float((a * b).sum()) / denom if denom > 0 else 0.0
        if r > best:
            best, best_lag = r, lag
    return best, best_lag * si_mm
