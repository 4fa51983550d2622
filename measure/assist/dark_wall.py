"""The outer edge of a vertebral body's wall on MR: the first rise out of the dark cortex.

On MR the cortex is a dark line whatever the sequence.  The endplate snap takes the
strongest rise of the right sign near the point, which is right for an endplate (the
disc lies straight outside) but not for a wall: behind the posterior wall lie 2 mm of
ligament and soft tissue and then the CSF, bright on T2/STIR, whose rise is several
times the cortex's and pulls the snap 2 mm back (or, being the strongest, makes the
cortex's own edge fall below the snap's relative threshold).  Here the wall is found
from the dark line itself:

1. the profile along the outward normal (5 parallel lines over +/-0.5 mm along the wall,
   every 0.1 mm, smoothed 0.3 mm);
2. its darkest point within the search distance is the cortex, if it is darker than both
   sides 1.5 mm away (a line, not a step) by a margin against the noise;
3. the wall's outer edge is where, going out from that minimum, the profile first
   reaches half way between the minimum and the tissue 1.5 mm outside it (half maximum
   of the cortex's own outer step, not of the CSF's).

Strength: the line's depth d against the profile's noise SD: d / (d + 2 SD), as the
snap's strength; below 0.5 (a line less than 2 SD deep) the wall point is not used.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from dicomio.geometry import ImageGeometry
from measure.assist.snap import SnapResult, noise_sd

_STEP_MM = 0.1
_SIDE_MM = 1.5
_CROSS_HALF_MM = 1.2


def dark_wall_edge(
    image: ArrayLike,
    plane: ImageGeometry,
    start_mm: ArrayLike,
    tangent_mm: ArrayLike,
    outward_mm: ArrayLike,
    search_mm: float = 3.0,
) -> SnapResult:
    """The wall's outer edge near ``start_mm`` along ``outward_mm`` (see the module
    docstring); ``snapped=False`` (the start returned) when no dark line is there."""
    from scipy import ndimage  # imported when used (start-up time)

    img = np.asarray(image, dtype=float)
    start = np.asarray(start_mm, dtype=float).reshape(3)
    out = np.asarray(outward_mm, dtype=float).reshape(3)
    out = out - (out @ plane.normal) * plane.normal
    out /= np.linalg.norm(out)
    tan = np.asarray(tangent_mm, dtype=float).reshape(3)
    tan = tan - (tan @ plane.normal) * plane.normal - (tan @ out) * out
    tan /= np.linalg.norm(tan)
    reach = search_mm + 2 * _SIDE_MM
    t = np.arange(-reach, reach + _STEP_MM / 2, _STEP_MM)
    lines = np.linspace(-0.5, 0.5, 5)
    pts = start + t[None, :, None] * out + lines[:, None, None] * tan
    col, row, _ = plane.lps_to_pixel(pts.reshape(-1, 3))
    values = ndimage.map_coordinates(img, [row, col], order=1, mode="nearest").reshape(len(lines), len(t))
    profile = ndimage.gaussian_filter1d(values.mean(axis=0), 0.3 / _STEP_MM)
    sc, sr, _ = plane.lps_to_pixel(start)
    # The profile averages 5 lines over 1 mm (about two pixels' width): half the variance
    # of one pixel's noise.
    sd = noise_sd(img, float(sc), float(sr)) / np.sqrt(2.0)
    unsnapped = SnapResult((float(start[0]), float(start[1]), float(start[2])), 0.0, 0.0, False, tuple(out))

    side = round(_SIDE_MM / _STEP_MM)
    window = np.flatnonzero(np.abs(t) <= search_mm)
    k = int(window[np.argmin(profile[window])])
    p_min, p_in, p_out = profile[k], profile[k - side], profile[k + side]
    depth = float(min(p_in, p_out) - p_min)
    strength = depth / (depth + 2.0 * sd) if depth > 0 else 0.0
    if strength < 0.5:  # the line is less than 2 noise SD deep
        return SnapResult(unsnapped.point_mm, 0.0, strength, False, unsnapped.normal)
    half = 0.5 * (p_min + p_out)
    j = k
    while j < k + side and profile[j + 1] < half:
        j += 1
    # Linear interpolation between samples j and j+1 for the half-way crossing.
    a, b = profile[j], profile[j + 1]
    frac = float((half - a) / (b - a)) if b != a else 0.0
    t_edge = float(t[j] + min(max(frac, 0.0), 1.0) * _STEP_MM)
    p = start + t_edge * out
    return SnapResult((float(p[0]), float(p[1]), float(p[2])), t_edge, strength, True, unsnapped.normal)


def dark_lines_crossed(
    image: ArrayLike, plane: ImageGeometry, from_mm: ArrayLike, to_mm: ArrayLike, tangent_mm: ArrayLike
) -> int:
    """How many dark lines (MR cortex) lie between ``from_mm`` (inside the body) and
    ``to_mm`` (an endplate point): 1 for the body's own cortex; 2 when a snap has jumped a
    thin disc onto the neighbour's cortex (its edge is a rise out of a dark line too)."""
    from scipy import ndimage  # imported when used (start-up time)

    img = np.asarray(image, dtype=float)
    a = np.asarray(from_mm, dtype=float).reshape(3)
    b = np.asarray(to_mm, dtype=float).reshape(3)
    length = float(np.linalg.norm(b - a))
    if length < 1e-6:
        return 0
    out = (b - a) / length
    tan = np.asarray(tangent_mm, dtype=float).reshape(3)
    tan = tan - (tan @ out) * out - (tan @ plane.normal) * plane.normal
    tan /= np.linalg.norm(tan)
    h = round(_CROSS_HALF_MM / _STEP_MM)
    t = np.arange(-_CROSS_HALF_MM, length + _CROSS_HALF_MM + _STEP_MM / 2, _STEP_MM)
    lines = np.linspace(-0.5, 0.5, 5)
    pts = a + t[None, :, None] * out + lines[:, None, None] * tan
    col, row, _ = plane.lps_to_pixel(pts.reshape(-1, 3))
    values = ndimage.map_coordinates(img, [row, col], order=1, mode="nearest").reshape(len(lines), len(t))
    p = ndimage.gaussian_filter1d(values.mean(axis=0), 0.3 / _STEP_MM)
    sc, sr, _ = plane.lps_to_pixel(a)
    sd = noise_sd(img, float(sc), float(sr)) / np.sqrt(2.0)
    depth = np.full(len(p), -np.inf)
    depth[h:-h] = np.minimum(p[: -2 * h], p[2 * h :]) - p[h:-h]
    inside = (t >= 0.0) & (t <= length)
    lines_at = np.flatnonzero(inside & (depth > 2.5 * sd))
    if lines_at.size == 0:
        return 0
    # Separate lines: runs of line samples more than 2 mm apart.
    return 1 + int(np.sum(np.diff(t[lines_at]) > 2.0))
