"""A body's outline on a real sagittal slice from intensity profiles cast from its centre.

Why not region growing alone: on real CT and MR the discs are thin (1-3 mm in the thoracic
spine), so a region grown from the marrow with a tolerance wide enough for its trabecular
texture leaks through the disc into the next body (and, off the midline, through the
pedicle into the posterior elements).  Profiles do not leak: going out from inside the
body, the first cortex met is the body's own boundary.

In the working frame (x anterior, y superior, mm, from the seed; the image resampled on a
0.5 mm grid and lightly smoothed):

1. the marrow level is the median of a 3 mm disk around the current centre;
2. vertical profiles over the middle of the body's depth find each endplate, horizontal
   profiles over the middle of its height find each wall: the first place where the profile
   leaves the marrow into the cortex (CT: brighter than the marrow by a margin; MR: darker),
   then the cortex's outer edge (half way from the cortex extreme to the tissue beyond it:
   disc, ligament, soft tissue), the body's outline;
3. each side is a robust line fit (outliers beyond 1.5 mm from the median fit dropped: a
   vein, an osteophyte, a notch);
4. the centre moves to the middle of the four sides and steps 2-3 repeat, so the result
   depends on the body, not on where inside it the reader clicked.

The caller turns the four sides into the six landmarks and judges the confidence
(:mod:`measure.assist.propose`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from measure.assist.snap import CortexContrast

STEP_MM = 0.5
#: How far a profile looks for the boundary from the centre (mm).
REACH_MM = 30.0
#: The cortex must differ from the marrow by at least this share of the marrow level ...
_CT_MARGIN_HU = 60.0
_MR_MARGIN_SHARE = 0.25
#: ... and the tissue beyond the cortex is sought this far out (mm).
_BEYOND_MM = 3.0
#: CT: the tissue beyond the cortex is darker than the marrow by at least this.
_CT_BEYOND_DARKER_HU = 50.0
#: CT: cortex peak to the tissue beyond, at least.
_CT_STEP_HU = 150.0
_ITERATIONS = 3
_MAX_SLOPE = 0.7
_INLIER_MM = 1.0
#: The marrow level: median over a 5 mm disk (a single spot is a trabecula or a vein).
_DISK_Y, _DISK_X = (a.ravel() for a in np.mgrid[-5.0:5.01:1.0, -5.0:5.01:1.0])
_DISK_X, _DISK_Y = _DISK_X[_DISK_X**2 + _DISK_Y**2 <= 25.0], _DISK_Y[_DISK_X**2 + _DISK_Y**2 <= 25.0]


@dataclass(frozen=True)
class Sides:
    """Four lines in the working frame: walls ``x = ant(y)``, ``x = post(y)``; endplates
    ``y = sup(x)``, ``y = inf(x)`` (numpy polynomial coefficients, degree 1 or 2), and the
    share of profiles that found each side (0..1)."""

    ant: NDArray[np.float64]
    post: NDArray[np.float64]
    sup: NDArray[np.float64]
    inf: NDArray[np.float64]
    found: tuple[float, float, float, float]


class Sampler:
    """Bilinear samples of a 2-D grid given in mm (x, y) with a fixed origin and step."""

    def __init__(self, grid: NDArray[np.float64], coords_mm: NDArray[np.float64]) -> None:
        self.grid = grid
        self.origin = float(coords_mm[0])

    def __call__(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        j = (np.asarray(x) - self.origin) / STEP_MM
        i = (np.asarray(y) - self.origin) / STEP_MM
        return np.asarray(ndimage.map_coordinates(self.grid, [i, j], order=1, mode="nearest"))


def boundary_along(values: NDArray[np.float64], marrow: float, contrast: CortexContrast) -> float | None:
    """Distance (mm, from the profile's start) of the body's boundary on a profile starting
    inside the marrow, or None when no cortex is met within the profile.

    CT: the first bright peak (>= 90 HU above the marrow) followed within 3 mm by tissue
    darker than the marrow (disc, ligament, canal; a bright trabecula inside the body has
    marrow around it and does not count), at its outer half-maximum edge.  MR: the centre
    of the first dark line (>= 25 % below the marrow): there the disc and the wall's
    ligament and CSF are not reliably brighter than the cortex, so the outer edge is not
    defined everywhere; the line is."""
    if contrast == "bright":
        v = values - marrow
        margin, darker = _CT_MARGIN_HU, -_CT_BEYOND_DARKER_HU
    else:
        v = marrow - values
        margin, darker = _MR_MARGIN_SHARE * abs(marrow), float("inf")
    start = round(1.0 / STEP_MM)  # the first millimetre is the marrow we start from
    beyond = round(_BEYOND_MM / STEP_MM)
    i = start
    while i < len(v):
        hits = np.flatnonzero(v[i:] >= margin)
        if hits.size == 0:
            return None
        i1 = i + int(hits[0])
        while i1 + 1 < len(v) and v[i1 + 1] >= v[i1]:  # to the cortex extreme
            i1 += 1
        if contrast == "dark":
            return _vertex_mm(v, i1)
        stop = min(len(v), i1 + beyond + 1)
        i_out = i1 + int(np.argmin(v[i1:stop]))
        if v[i_out] <= darker and v[i1] - v[i_out] >= _CT_STEP_HU:
            level = (v[i1] + v[i_out]) / 2.0
            for k in range(i1, i_out):
                if v[k] >= level > v[k + 1]:
                    return float((k + (v[k] - level) / (v[k] - v[k + 1])) * STEP_MM)
        i = i1 + 1
    return None


def _vertex_mm(v: NDArray[np.float64], i: int) -> float:
    """Sub-sample position (mm) of the extreme at sample ``i`` (parabola through 3)."""
    if 0 < i < len(v) - 1:
        denom = v[i - 1] - 2 * v[i] + v[i + 1]
        if denom < 0:
            return float((i + 0.5 * (v[i - 1] - v[i + 1]) / denom) * STEP_MM)
    return float(i * STEP_MM)


def _robust_fit(u: NDArray[np.float64], w: NDArray[np.float64], degree: int) -> NDArray[np.float64] | None:
    """A line ``w(u)`` through the most points within 1 mm (every pair of points tried;
    slopes steeper than 0.7, i.e. 35 deg off the frame's axis, are not a side), refitted by
    least squares on those: a vein, a trabecula or an osteophyte is outvoted."""
    n = u.size
    if n < 4:
        return None
    best: tuple[int, float] | None = None
    inliers = np.zeros(n, dtype=bool)
    for i in range(n):
        for j in range(i + 1, n):
            if abs(u[j] - u[i]) < 1.0:
                continue
            slope = (w[j] - w[i]) / (u[j] - u[i])
            if abs(slope) > _MAX_SLOPE:
                continue
            res = np.abs(w[i] + slope * (u - u[i]) - w)
            ok = res <= _INLIER_MM
            score = (int(ok.sum()), -float(res[ok].sum()))
            if best is None or score > best:
                best, inliers = score, ok
    if best is None or best[0] < max(4, n // 3):
        return None
    c = np.polyfit(u[inliers], w[inliers], 1)
    if degree == 2 and inliers.sum() >= 7:
        c2 = np.polyfit(u[inliers], w[inliers], 2)
        return np.asarray(c2, dtype=float)
    return np.asarray(c, dtype=float)


def _side(
    sample: Sampler,
    centre: tuple[float, float],
    direction: tuple[float, float],
    across: NDArray[np.float64],
    marrow: float,
    contrast: CortexContrast,
    degree: int,
) -> tuple[NDArray[np.float64] | None, float]:
    """One side: profiles from ``centre + across`` along ``direction``; its fit and the
    share of profiles that found a boundary."""
    t = np.arange(0.0, REACH_MM + STEP_MM / 2, STEP_MM)
    dx, dy = direction
    us, ws = [], []
    for a in across:
        x0, y0 = (centre[0] + a, centre[1]) if dx == 0 else (centre[0], centre[1] + a)
        d = boundary_along(sample(x0 + dx * t, y0 + dy * t), marrow, contrast)
        if d is not None:
            us.append(x0 if dx == 0 else y0)
            ws.append((y0 + dy * d) if dx == 0 else (x0 + dx * d))
    fit = _robust_fit(np.asarray(us), np.asarray(ws), degree) if len(us) >= degree + 3 else None
    return fit, len(us) / len(across)


def find_sides(
    grid: NDArray[np.float64], coords_mm: NDArray[np.float64], contrast: CortexContrast
) -> Sides | None:
    """The four sides of the body around the grid's centre (the seed), or None."""
    sample = Sampler(grid, coords_mm)
    cx, cy = 0.0, 0.0
    half_depth, half_height = 8.0, 5.0
    sides: Sides | None = None
    for _ in range(_ITERATIONS):
        marrow = float(np.median(sample(cx + _DISK_X, cy + _DISK_Y)))
        xs = cx + np.linspace(-0.7 * half_depth, 0.7 * half_depth, 17) - cx
        ys = np.linspace(-0.6 * half_height, 0.6 * half_height, 15)
        sup, f_s = _side(sample, (cx, cy), (0.0, 1.0), xs, marrow, contrast, 1)
        inf, f_i = _side(sample, (cx, cy), (0.0, -1.0), xs, marrow, contrast, 1)
        ant, f_a = _side(sample, (cx, cy), (1.0, 0.0), ys, marrow, contrast, 1)
        post, f_p = _side(sample, (cx, cy), (-1.0, 0.0), ys, marrow, contrast, 1)
        if sup is None or inf is None or ant is None or post is None:
            return None
        sides = Sides(ant, post, sup, inf, (f_a, f_p, f_s, f_i))
        new_x = float(np.polyval(ant, cy) + np.polyval(post, cy)) / 2
        new_y = float(np.polyval(sup, cx) + np.polyval(inf, cx)) / 2
        half_depth = float(np.polyval(ant, cy) - np.polyval(post, cy)) / 2
        half_height = float(np.polyval(sup, cx) - np.polyval(inf, cx)) / 2
        if not (4.0 <= half_depth <= 35.0 and 2.5 <= half_height <= 25.0):
            return None
        moved = np.hypot(new_x - cx, new_y - cy)
        cx, cy = new_x, new_y
        if moved < 0.25:
            break
    return sides
