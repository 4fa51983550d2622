"""Snap a point onto the endplate: the cortical boundary between vertebral body and disc.

A reader's click lands a pixel or two off the endplate; the morphometry points belong on
the body's outer boundary (clinical reference, "Landmarks").  Along the endplate's normal
through the click (within ``radius_mm``, on the displayed slice) the intensity profile is
sampled, averaged over a short strip along the endplate, smoothed and differentiated; the
boundary is the strongest edge *of the right sign*:

* CT: the cortex is the brightest tissue, so going out of the body into the disc the
  intensity falls;
* MR (T1, T2, STIR): cortical bone gives no signal, so going out into the disc the
  intensity rises from the dark cortical line, whatever the marrow and disc do (the
  marrow/disc contrast flips between T1 and T2/STIR; the dark cortex does not).

Choosing the sign is what keeps the snap off the inner (marrow) side of the cortex.  The
strength compares the step across the edge with the image noise; a weak edge leaves the
point where it was clicked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.geometry import ANTERIOR_LPS, SUPERIOR_LPS, ImageGeometry
from measure.landmarks import Endplate

#: How the cortex looks against the disc: bright (CT) or dark (MR).
CortexContrast = Literal["bright", "dark"]

_STEP_MM = 0.1  # profile sampling step along the normal
_STRIP_LINES = 5  # parallel profiles averaged across the strip
#: An edge counts when its gradient reaches this fraction of the strongest one in reach
#: (the cortex/disc edge is about 0.4 of a cement/marrow edge on MR).
_RELATIVE_PEAK = 0.4
_NEAR_SCALE = 1.5


def cortex_contrast_for(modality: str) -> CortexContrast:
    """The cortex is bright on CT (and plain radiographs) and dark on every MR sequence."""
    return "dark" if modality.strip().upper() == "MR" else "bright"


@dataclass(frozen=True)
class SnapSettings:
    """How far and how the snap searches; defaults suit 0.5-1 mm pixels."""

    #: Search this far on either side of the click along the normal (mm).
    radius_mm: float = 3.0
    #: Gaussian smoothing of the profile before differentiation (mm).
    smoothing_mm: float = 0.6
    #: Half length of the strip along the endplate whose profiles are averaged (mm).
    strip_half_mm: float = 0.5
    #: Below this strength the point stays where it was clicked.
    min_strength: float = 0.5
    #: For a bright cortex (CT, HU): values above are clipped, so that cement or an implant
    #: (far brighter than cortical bone) makes no stronger edge than the cortex does.
    bright_ceiling: float = 1000.0
    #: Preference for edges further out of the body (per mm): the endplate is the last
    #: edge before the disc.  Walls have other structures close outside: 0 there.
    outer_gain_per_mm: float = 0.6


@dataclass(frozen=True)
class SnapResult:
    """Where the snap put the point, and how sure it is."""

    point_mm: tuple[float, float, float]
    #: Signed move along the outward normal (positive: out of the body, towards the disc), mm.
    offset_mm: float
    #: 0..1: step across the edge / (step + 2 noise SD); 0 when no edge of the right sign.
    strength: float
    #: False when the edge was too weak: ``point_mm`` is then the clicked point.
    snapped: bool
    #: The outward unit normal used (LPS).
    normal: tuple[float, float, float]


def default_tangent(plane: ImageGeometry) -> NDArray[np.float64]:
    """The endplate direction assumed when nothing else is known: patient anterior,
    projected into the image plane (an endplate is roughly perpendicular to the spine)."""
    n = plane.normal
    t = ANTERIOR_LPS - (ANTERIOR_LPS @ n) * n
    if np.linalg.norm(t) < 1e-6:  # an axial-like plane seen from the front: use the rows
        t = np.asarray(plane.row_cosine, dtype=float)
    return np.asarray(t / np.linalg.norm(t), dtype=float)


def local_tangent(
    image: NDArray,
    plane: ImageGeometry,
    point_mm: ArrayLike,
    sigma_mm: float = 1.5,
    max_tilt_deg: float = 35.0,
) -> NDArray[np.float64]:
    """The endplate direction at ``point_mm`` from the image itself: the structure tensor's
    edge direction over a Gaussian window of ``sigma_mm``.  Falls back to
    :func:`default_tangent` when that direction is more than ``max_tilt_deg`` away from it
    (a body's anterior or posterior wall, not an endplate) or the patch has no edge."""
    from scipy import ndimage  # 0.2-0.5 s to import: only when assisting (start-up time)

    fallback = default_tangent(plane)
    dy, dx = plane.pixel_spacing_mm
    c0, r0, _ = plane.lps_to_pixel(np.asarray(point_mm, dtype=float).reshape(3))
    half = int(np.ceil(3 * sigma_mm / min(dx, dy))) + 2
    r, c = round(float(r0)), round(float(c0))
    patch = np.asarray(image[max(r - half, 0) : r + half + 1, max(c - half, 0) : c + half + 1], dtype=float)
    if min(patch.shape) < 5:
        return fallback
    g_r = ndimage.gaussian_filter(patch, 0.7, order=(1, 0)) / dy  # per mm along the columns' direction
    g_c = ndimage.gaussian_filter(patch, 0.7, order=(0, 1)) / dx
    rr, cc = np.mgrid[0 : patch.shape[0], 0 : patch.shape[1]]
    rc, ccen = float(r0) - max(r - half, 0), float(c0) - max(c - half, 0)
    w = np.exp(-(((rr - rc) * dy) ** 2 + ((cc - ccen) * dx) ** 2) / (2 * sigma_mm**2))
    j = np.array(
        [[np.sum(w * g_c * g_c), np.sum(w * g_c * g_r)], [np.sum(w * g_c * g_r), np.sum(w * g_r * g_r)]]
    )
    evals, evecs = np.linalg.eigh(j)
    if evals[1] <= 0 or (evals[1] - evals[0]) / (evals[1] + evals[0]) < 0.3:
        return fallback
    gc, gr = evecs[:, 1]  # the gradient direction (columns, rows components, per mm)
    normal = gc * np.asarray(plane.row_cosine) + gr * np.asarray(plane.col_cosine)
    tangent = np.cross(plane.normal, normal)
    tangent /= np.linalg.norm(tangent)
    if float(tangent @ fallback) < 0:
        tangent = -tangent
    if float(tangent @ fallback) < np.cos(np.radians(max_tilt_deg)):
        return fallback
    return np.asarray(tangent, dtype=float)


def outward_normal(plane: ImageGeometry, tangent_mm: ArrayLike, endplate: Endplate) -> NDArray[np.float64]:
    """In-plane unit normal to the endplate, pointing out of the body (cranially for the
    superior endplate, caudally for the inferior)."""
    t = np.asarray(tangent_mm, dtype=float).reshape(3)
    n = np.cross(plane.normal, t)
    norm = float(np.linalg.norm(n))
    if norm < 1e-9:
        raise ValueError("the endplate direction is perpendicular to the image plane")
    n /= norm
    up = SUPERIOR_LPS if endplate == "superior" else -SUPERIOR_LPS
    return n if float(n @ up) >= 0 else -n


def noise_sd(image: NDArray, column: float, row: float, half_px: int = 12) -> float:
    """Robust noise SD near a pixel: MAD of neighbour differences (edges barely count)."""
    r0, c0 = round(row), round(column)
    patch = np.asarray(
        image[max(r0 - half_px, 0) : r0 + half_px + 1, max(c0 - half_px, 0) : c0 + half_px + 1], dtype=float
    )
    if patch.shape[0] < 2 or patch.shape[1] < 2:
        return 0.0
    d = np.concatenate([np.diff(patch, axis=0).ravel(), np.diff(patch, axis=1).ravel()])
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def _local_maxima(signed: NDArray[np.float64], window: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Indices of the local maxima of ``signed`` inside ``window``, outermost first."""
    idx = np.flatnonzero(window)
    idx = idx[(idx > 0) & (idx < len(signed) - 1)]
    keep = (signed[idx] > 0) & (signed[idx] >= signed[idx - 1]) & (signed[idx] >= signed[idx + 1])
    return np.asarray(idx[keep][::-1], dtype=np.intp)


def _refine(signed: NDArray[np.float64], k: int) -> float:
    """Sub-sample offset (in samples) of the peak at ``k`` from a parabola through 3 samples."""
    a, b, c = signed[k - 1], signed[k], signed[k + 1]
    denom = a - 2 * b + c
    return float(0.5 * (a - c) / denom) if denom < 0 else 0.0


def _step(
    profile: NDArray[np.float64], t: NDArray[np.float64], at_mm: float, contrast: CortexContrast
) -> float:
    """Mean intensity 0.3-1.2 mm outside the edge minus inside, signed so that the
    expected polarity (out of the cortex into the disc) is positive."""
    outside = profile[(t > at_mm + 0.3) & (t < at_mm + 1.2)]
    inside = profile[(t < at_mm - 0.3) & (t > at_mm - 1.2)]
    if not outside.size or not inside.size:
        return 0.0
    step = float(outside.mean() - inside.mean())
    return -step if contrast == "bright" else step


def snap_to_endplate(
    image: ArrayLike,
    plane: ImageGeometry,
    point_mm: ArrayLike,
    tangent_mm: ArrayLike | None,
    endplate: Endplate,
    contrast: CortexContrast,
    settings: SnapSettings | None = None,
    outward_mm: ArrayLike | None = None,
) -> SnapResult:
    """Snap ``point_mm`` (LPS, on ``plane``) onto the body/disc boundary of ``endplate``.

    ``image`` is the displayed slice (rows, columns) whose geometry is ``plane``;
    ``tangent_mm`` the endplate's local direction (None: :func:`local_tangent`).
    ``outward_mm`` (optional) says which way is out of the body when that is not up
    (superior endplate) or down (inferior): a wall's boundary, for the proposals.
    """
    from scipy import ndimage  # 0.2-0.5 s to import: only when assisting (start-up time)

    cfg = settings or SnapSettings()
    img = np.asarray(image, dtype=float)
    p0 = np.asarray(point_mm, dtype=float).reshape(3)
    tangent = (
        local_tangent(img, plane, p0)
        if tangent_mm is None
        else np.asarray(tangent_mm, dtype=float).reshape(3)
    )
    tangent = tangent - (tangent @ plane.normal) * plane.normal
    tangent /= np.linalg.norm(tangent)
    n = outward_normal(plane, tangent, endplate)
    if outward_mm is not None and float(n @ np.asarray(outward_mm, dtype=float).reshape(3)) < 0:
        n = -n

    margin = 4.0 * cfg.smoothing_mm + 1.5
    t = np.arange(-cfg.radius_mm - margin, cfg.radius_mm + margin + _STEP_MM / 2, _STEP_MM)
    s = np.linspace(-cfg.strip_half_mm, cfg.strip_half_mm, _STRIP_LINES)
    pts = p0 + t[None, :, None] * n + s[:, None, None] * tangent  # (lines, samples, 3)
    col, row, _ = plane.lps_to_pixel(pts.reshape(-1, 3))
    values = ndimage.map_coordinates(img, [row, col], order=1, mode="nearest").reshape(len(s), len(t))
    if contrast == "bright":
        values = np.minimum(values, cfg.bright_ceiling)
    profile = values.mean(axis=0)
    smooth = ndimage.gaussian_filter1d(profile, cfg.smoothing_mm / _STEP_MM, mode="nearest")
    grad = np.gradient(smooth, _STEP_MM)  # d intensity / d mm, outwards
    signed = -grad if contrast == "bright" else grad  # positive at the body/disc boundary

    # Candidates: local maxima of the signed gradient that are edges (not noise ripples)
    # and significant against the noise.  Edges deeper inside (edema, cement, the marrow
    # side of the cortex) may be stronger than the boundary, so the choice weighs
    # nearness to the click and favours the outer side (the last edge before the disc).
    c0, r0, _ = plane.lps_to_pixel(p0)
    sd = noise_sd(img, float(c0), float(r0))
    maxima = _local_maxima(signed, np.abs(t) <= cfg.radius_mm + 1e-9)
    floor = _RELATIVE_PEAK * float(signed[maxima].max()) if maxima.size else 0.0
    best_strength, best_score, offset, snapped = 0.0, -np.inf, 0.0, False
    for k in maxima:
        if signed[k] < floor:  # a noise ripple, not an edge
            continue
        at_mm = float(t[k]) + _refine(signed, int(k)) * _STEP_MM
        step = _step(profile, t, at_mm, contrast)
        strength = 0.0 if step <= 0 else step / (step + 2.0 * sd)
        if strength < cfg.min_strength:
            if not snapped:
                best_strength = max(best_strength, strength)
            continue
        score = float(signed[k]) * np.exp(
            -0.5 * (at_mm / (_NEAR_SCALE * cfg.radius_mm)) ** 2 + cfg.outer_gain_per_mm * at_mm
        )
        if score > best_score:
            best_strength, best_score, offset, snapped = strength, score, at_mm, True
    strength = best_strength
    out = p0 + offset * n if snapped else p0
    return SnapResult(
        point_mm=(float(out[0]), float(out[1]), float(out[2])),
        offset_mm=offset if snapped else 0.0,
        strength=float(strength),
        snapped=bool(snapped),
        normal=(float(n[0]), float(n[1]), float(n[2])),
    )
