"""A body's outline on a real sagittal slice from intensity profiles cast from its centre.

Why not region growing alone: on real CT and MR the discs are thin (1-3 mm in the thoracic
spine), so a region grown from the marrow with a tolerance wide enough for its trabecular
texture leaks through the disc into the next body (and, off the midline, through the
pedicle into the posterior elements).  Profiles do not leak: going out from inside the
body, the first cortex met is the body's own boundary.

In the working frame (x anterior, y superior, mm, from the seed; the image resampled on a
0.5 mm grid and lightly smoothed):

1. the marrow level is the median of a 5 mm disk around the current centre;
2. profiles through the middle 70 % of the body's depth (up, down) and 60 % of its height
   (anterior, posterior) each stop at the first cortex met: CT, the first bright peak
   >= 60 HU above the marrow with tissue >= 50 HU darker than the marrow within 3 mm beyond
   it (a trabecula has marrow around it), or a dip between two cortices >= 200 HU above
   the marrow (a disc too thin to look dark), at its outer half-maximum edge; with no such
   peak, where the signal falls >= 150 HU below the marrow (a thin posterior wall); MR
   (T1-like only), the centre of the first dark line >= 25 % below the marrow, at most
   2.5 mm beyond its inner half-depth edge (a wall's band of cortex, ligament and CSF);
3. each side is the line through the most profile ends within 1 mm (every pair tried; a
   vein, an osteophyte or a notch is outvoted); an endplate may be a parabola when that
   explains clearly more of it;
4. the corners: the walls' position at the endplate level from profiles parallel to the
   endplate 1.5-3 mm inside it (walls are concave), on CT their height from profiles
   along the wall 2.5 mm inside it; the middle point's height measured half way;
5. the frame moves to the body's centre and turns with its endplates, and 2-4 repeat, so
   the result depends on the body, not on where inside it the reader clicked;
6. a body whose inside is not marrow (CT > 1000 HU, MR signal void: cement, an implant)
   over more than 5 % is left to the reader.

The caller turns the four sides into the six landmarks and judges the confidence
(:mod:`measure.assist.propose`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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
#: CT: both cortices around a disc too thin to look dark rise at least this above the marrow.
_CT_CORTEX_PAIR_HU = 200.0
_ITERATIONS = 6
_MAX_SLOPE = 0.45
#: A curved endplate needs this many more agreeing profiles than a straight one.
_CURVE_GAIN = 3
_MAX_TRIALS = 200
_CEMENT_HU = 1000.0
#: CT corners: their height measured this far inside the wall.
_CORNER_INSET_MM = 2.5
_INLIER_MM = 1.0
#: The marrow level: median over a 5 mm disk (a single spot is a trabecula or a vein).
_DISK_Y, _DISK_X = (a.ravel() for a in np.mgrid[-5.0:5.01:1.0, -5.0:5.01:1.0])
_DISK_X, _DISK_Y = _DISK_X[_DISK_X**2 + _DISK_Y**2 <= 25.0], _DISK_Y[_DISK_X**2 + _DISK_Y**2 <= 25.0]


@dataclass(frozen=True)
class BodyOutline:
    """The six points (x anterior, y superior, mm, in the working frame) and, per side
    (ant, post, sup, inf), the share of its profiles that agree on it (0..1)."""

    points: dict[str, tuple[float, float]]
    support: tuple[float, float, float, float]


class Sampler:
    """Bilinear samples of a 2-D grid given in mm (x, y) with a fixed origin and step."""

    def __init__(self, grid: NDArray[np.float64], coords_mm: NDArray[np.float64]) -> None:
        self.grid = grid
        self.origin = float(coords_mm[0])

    def __call__(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        from scipy import ndimage  # imported when used (start-up time)

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
            break
        i1 = i + int(hits[0])
        while i1 + 1 < len(v) and v[i1 + 1] >= v[i1]:  # to the cortex extreme
            i1 += 1
        if contrast == "dark":
            return _dark_line_mm(v, i1)
        stop = min(len(v), i1 + beyond + 1)
        i_out = i1 + int(np.argmin(v[i1:stop]))
        if v[i1] - v[i_out] >= _CT_STEP_HU and (v[i_out] <= darker or _thin_disc(v, i1, i_out, beyond)):
            edge = _half_way_down_mm(v, i1, i_out)
            if edge is not None:
                return edge
        i = i1 + 1
    return _drop_edge(v, start, beyond) if contrast == "bright" else None


def _drop_edge(v: NDArray[np.float64], start: int, beyond: int) -> float | None:
    """CT, when no cortex stands out on the profile: the body's edge where the signal
    falls from the marrow's level to >= 150 HU below it within 3 mm (``v`` = signal minus
    marrow), at half way.  The posterior wall near the basivertebral foramen is a thin
    cortex that, smoothed, rises less than 60 HU above marrow next to the endplate (real
    CT, T12: +13 to +58 HU before the canal at -230 HU)."""
    low = np.flatnonzero(v[start:] <= -_CT_STEP_HU)
    if low.size == 0:
        return None
    j = start + int(low[0])
    i_hi = max(start, j - beyond) + int(np.argmax(v[max(start, j - beyond) : j + 1]))
    if v[i_hi] < 0.0:
        return None  # darker than marrow before the fall: not the body's edge
    i_lo = j + int(np.argmin(v[j : min(len(v), j + beyond + 1)]))
    return _half_way_down_mm(v, i_hi, i_lo)


def _half_way_down_mm(v: NDArray[np.float64], i_hi: int, i_lo: int) -> float | None:
    """Where ``v`` first falls through the level half way between samples ``i_hi`` and
    ``i_lo`` (mm from the profile's start, linear between samples), or None."""
    level = (v[i_hi] + v[i_lo]) / 2.0
    for k in range(i_hi, i_lo):
        if v[k] >= level > v[k + 1]:
            return float((k + (v[k] - level) / (v[k] - v[k + 1])) * STEP_MM)
    return None


def _thin_disc(v: NDArray[np.float64], i_peak: int, i_dip: int, beyond: int) -> bool:
    """CT: a disc too thin to look darker than the marrow (thoracic discs of 1-3 mm,
    blurred by the reformat and the smoothing reach 80-130 HU *above* the marrow on the
    real CT) still shows as a dip between two cortices: this endplate's and, within 3 mm,
    the neighbour's, both >= 200 HU above the marrow and >= 150 HU above the dip.  A pair
    of trabeculae inside the body is not that bright (about 100-150 HU above the marrow
    after smoothing)."""
    if v[i_peak] < _CT_CORTEX_PAIR_HU or i_dip <= i_peak:
        return False
    after = v[i_dip : min(len(v), i_dip + beyond + 1)]
    return bool(after.size) and float(after.max()) >= max(_CT_CORTEX_PAIR_HU, v[i_dip] + _CT_STEP_HU)


#: MR: the boundary lies at most this far beyond the inner half-depth edge of its dark line.
_MR_LINE_HALF_WIDTH_MM = 2.5


def _dark_line_mm(v: NDArray[np.float64], i: int) -> float:
    """MR: the centre of the dark line whose deepest sample is ``i`` (``v`` = marrow minus
    signal), but no further than 2.5 mm beyond the inner half-depth edge: behind a wall the
    cortex, the posterior ligament and the CSF (all dark on T1) merge into one band 3-5 mm
    wide, whose deepest point is the canal, not the wall (real MR: 3 mm behind the
    hand-placed wall).  A thin endplate line is its own centre either way."""
    centre = _vertex_mm(v, i)
    level = v[i] / 2.0
    for k in range(i, 0, -1):
        if v[k - 1] < level <= v[k]:
            edge = (k - 1 + (level - v[k - 1]) / (v[k] - v[k - 1])) * STEP_MM
            return min(centre, float(edge) + _MR_LINE_HALF_WIDTH_MM)
    return centre


def _vertex_mm(v: NDArray[np.float64], i: int) -> float:
    """Sub-sample position (mm) of the extreme at sample ``i`` (parabola through 3)."""
    if 0 < i < len(v) - 1:
        denom = v[i - 1] - 2 * v[i] + v[i + 1]
        if denom < 0:
            return float((i + 0.5 * (v[i - 1] - v[i + 1]) / denom) * STEP_MM)
    return float(i * STEP_MM)


def _robust_fit(
    u: NDArray[np.float64], w: NDArray[np.float64], degree: int = 1
) -> tuple[NDArray[np.float64] | None, int]:
    """A line (``degree`` 1) or a parabola (2) ``w(u)`` through the most points within
    1 mm, every pair (triple) of points tried, refitted by least squares on those: a vein,
    a trabecula or an osteophyte is outvoted.  Lines steeper than 0.45 (24 deg off the
    body's axis, which the frame follows) and parabolas bending more than 4 mm over the
    body are not a side.  Returns the fit and its number of points."""
    n = u.size
    if n < degree + 3:
        return None, 0
    span = float(np.ptp(u)) or 1.0
    combos = np.asarray(list(itertools.combinations(range(n), degree + 1)))
    if len(combos) > _MAX_TRIALS:  # a fixed, spread subset: the same proposal every time
        combos = combos[:: len(combos) // _MAX_TRIALS + 1]
    us = u[combos]
    combos = combos[np.min(np.diff(np.sort(us, axis=1), axis=1), axis=1) >= 1.0]
    if combos.size == 0:
        return None, 0
    powers = np.arange(degree, -1, -1)  # numpy polynomial order: highest power first
    coeffs = np.linalg.solve(u[combos][..., None] ** powers, w[combos][..., None])[..., 0]
    coeffs = coeffs[_plausible_sides(coeffs, span)]
    if coeffs.size == 0:
        return None, 0
    res = np.abs(coeffs @ (u[:, None] ** powers).T - w)  # (trials, points)
    ok = res <= _INLIER_MM
    count = ok.sum(axis=1)
    # most points within 1 mm, then the smallest summed residual (the first on a tie)
    best = int(np.argmax(count * 1e6 - np.where(ok, res, 0.0).sum(axis=1)))
    if count[best] < degree + 3:
        return None, 0
    inliers = ok[best]
    fit = np.asarray(np.polyfit(u[inliers], w[inliers], degree), dtype=float)
    return fit, int(count[best])


def _plausible_sides(c: NDArray[np.float64], span_mm: float) -> NDArray[np.bool_]:
    """Per trial (rows of polynomial coefficients): a plausible side (see _robust_fit)."""
    if c.shape[1] == 2:
        return np.asarray(np.abs(c[:, 0]) <= _MAX_SLOPE)
    return np.asarray((np.abs(c[:, 1]) <= _MAX_SLOPE) & (np.abs(c[:, 0]) * (span_mm / 2) ** 2 <= 4.0))


Line = NDArray[np.float64]


def _side(
    sample: Sampler,
    frame: _Rotated,
    direction: tuple[float, float],
    across: NDArray[np.float64],
    marrow: float,
    contrast: CortexContrast,
    degree: int = 1,
) -> tuple[Line | None, float]:
    """One side: profiles from ``across`` (offsets through the centre) along ``direction``
    (in the rotated frame); its line and the share of profiles on it."""
    t = np.arange(0.0, REACH_MM + STEP_MM / 2, STEP_MM)
    du, dv = direction
    us, ws = [], []
    for a in across:
        u0, v0 = (a, 0.0) if du == 0 else (0.0, a)
        x, y = frame.to_frame(u0 + du * t, v0 + dv * t)
        d = boundary_along(sample(x, y), marrow, contrast)
        if d is not None:
            us.append(u0 if du == 0 else v0)
            ws.append((v0 + dv * d) if du == 0 else (u0 + du * d))
    u_arr, w_arr = np.asarray(us), np.asarray(ws)
    fit, n_in = _robust_fit(u_arr, w_arr, 1)
    if degree == 2:  # a curved endplate only when the curve explains clearly more of it
        curve, n_curve = _robust_fit(u_arr, w_arr, 2)
        if curve is not None and n_curve >= n_in + _CURVE_GAIN:
            fit, n_in = curve, n_curve
    return fit, n_in / len(across)


@dataclass(frozen=True)
class _Rotated:
    """A frame turned by ``angle`` about ``centre`` (both in the working frame): u along the
    body's endplates, v along its walls."""

    cx: float
    cy: float
    angle: float

    def to_frame(self, u: NDArray[np.float64], v: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        c, s = np.cos(self.angle), np.sin(self.angle)
        return self.cx + c * u - s * v, self.cy + s * u + c * v


def _meet(wall: Line, plate: Line) -> tuple[float, float]:
    """Where the wall ``u = wall(v)`` (a line) meets the endplate ``v = plate(u)``."""
    v = float(np.polyval(plate, float(np.polyval(wall, 0.0))))
    for _ in range(12):  # a fixed point: the wall is steep, the endplate flat
        v = float(np.polyval(plate, float(np.polyval(wall, v))))
    return float(np.polyval(wall, v)), v


def _local(
    sample: Sampler,
    frame: _Rotated,
    start: tuple[float, float],
    along: tuple[float, float],
    shift: tuple[float, float],
    marrow: float,
    contrast: CortexContrast,
) -> float | None:
    """Distance to the boundary agreed by four parallel profiles from ``start`` along
    ``along``, shifted by 0, 0.5, 1 and 1.5 times ``shift`` (a single profile is at the
    mercy of one trabecula or vein): see :func:`_agreed`."""
    t = np.arange(0.0, REACH_MM + STEP_MM / 2, STEP_MM)
    found = []
    for k in (0.0, 0.5, 1.0, 1.5):
        u = start[0] + k * shift[0] + along[0] * t
        v = start[1] + k * shift[1] + along[1] * t
        d = boundary_along(sample(*frame.to_frame(u, v)), marrow, contrast)
        if d is not None:
            found.append(d)
    return _agreed(found)


def _agreed(found: list[float]) -> float | None:
    """The median of the largest group of distances within 1 mm of one another (at least
    two; the nearest group on a tie), or None.  A plain median of four is bistable when
    two profiles stop early at a dark patch of marrow (MR) or a bright trabecula: it lands
    half way between the two answers, on neither."""
    d = np.sort(np.asarray(found, dtype=float))
    best: NDArray[np.float64] | None = None
    for i in range(d.size):
        group = d[i : int(np.searchsorted(d, d[i] + _INLIER_MM, side="right"))]
        if group.size >= 2 and (best is None or group.size > best.size):
            best = group
    return float(np.median(best)) if best is not None else None


def _six(
    sample: Sampler, frame: _Rotated, lines: dict[str, Line], marrow: float, contrast: CortexContrast
) -> dict[str, tuple[float, float]]:
    """The six points measured locally, the lines as the scaffold: each corner's wall
    position from profiles parallel to the endplate 1.5-3 mm inside it (body walls are
    concave: the line over the middle of the wall misses the corner's rim), its height from
    profiles along the wall 1.5-3 mm inside it (a wedge or a notch bends the endplate
    away from its line); the middle point on the endplate half way between the corners,
    its height measured there (a depressed endplate).  A local measurement more than 4 mm
    from the line's is not trusted: the line's is kept."""

    def near(measured: float | None, fallback: float) -> float:
        return measured if measured is not None and abs(measured - fallback) <= 4.0 else fallback

    out = {}
    for name, up in (("sup", 1.0), ("inf", -1.0)):
        plate = lines[name]
        us = []
        for wall, outward in (("ant", 1.0), ("post", -1.0)):
            u_line, _ = _meet(lines[wall], plate)
            v0 = float(np.polyval(plate, 0.0)) - up * 1.5
            d = _local(
                sample,
                frame,
                (0.0, v0 - float(plate[0]) * 0.0),
                (outward, float(plate[0]) * outward),
                (0.0, -up),
                marrow,
                contrast,
            )
            us.append(near(d * outward if d is not None else None, u_line))
        ua, up_ = us
        um = (ua + up_) / 2
        for w, u, inward in (("ant", ua, -1.0), ("post", up_, 1.0)):
            v_line = float(np.polyval(plate, u))
            if contrast == "bright":  # on MR the dark wall, ligament and CSF crowd the corner
                d = _local(
                    sample,
                    frame,
                    (u + inward * _CORNER_INSET_MM, 0.0),
                    (0.0, up),
                    (inward, 0.0),
                    marrow,
                    contrast,
                )
                v_line = near(up * d if d is not None else None, v_line)
            out[f"{name}_{w}"] = (u, v_line)
        v_line = float(np.polyval(plate, um))
        d = _local(sample, frame, (um - 0.75, 0.0), (0.0, up), (1.0, 0.0), marrow, contrast)
        out[f"{name}_mid"] = (um, near(up * d if d is not None else None, v_line))
    return out


def find_outline(
    grid: NDArray[np.float64], coords_mm: NDArray[np.float64], contrast: CortexContrast
) -> BodyOutline | None:
    """The body around the grid's centre (the seed): its six points, or None."""
    sample = Sampler(grid, coords_mm)
    frame = _Rotated(0.0, 0.0, 0.0)
    half_depth, half_height = 8.0, 5.0
    result: BodyOutline | None = None
    for _ in range(_ITERATIONS):
        x, y = frame.to_frame(_DISK_X, _DISK_Y)
        marrow = float(np.median(sample(x, y)))
        if contrast == "dark" and marrow < float(np.median(grid)):
            # T1-like MR only: fatty marrow is among the brightest tissue around the
            # spine.  Fat-suppressed (STIR) marrow is dark and the rule does not apply.
            return None
        us = np.linspace(-0.7 * half_depth, 0.7 * half_depth, 17)
        vs = np.linspace(-0.6 * half_height, 0.6 * half_height, 15)
        sup, f_s = _side(sample, frame, (0.0, 1.0), us, marrow, contrast, 2)
        inf, f_i = _side(sample, frame, (0.0, -1.0), us, marrow, contrast, 2)
        ant, f_a = _side(sample, frame, (1.0, 0.0), vs, marrow, contrast)
        post, f_p = _side(sample, frame, (-1.0, 0.0), vs, marrow, contrast)
        if sup is None or inf is None or ant is None or post is None:
            return None
        six = _six(sample, frame, {"ant": ant, "post": post, "sup": sup, "inf": inf}, marrow, contrast)
        xs, ys = frame.to_frame(
            np.array([p[0] for p in six.values()]), np.array([p[1] for p in six.values()])
        )
        result = BodyOutline(
            {k: (float(px), float(py)) for k, px, py in zip(six, xs, ys, strict=True)}, (f_a, f_p, f_s, f_i)
        )
        u_c = float(np.polyval(ant, 0.0) + np.polyval(post, 0.0)) / 2
        v_c = float(np.polyval(sup, u_c) + np.polyval(inf, u_c)) / 2
        half_depth = float(np.polyval(ant, 0.0) - np.polyval(post, 0.0)) / 2
        half_height = float(np.polyval(sup, u_c) - np.polyval(inf, u_c)) / 2
        if not (4.0 <= half_depth <= 35.0 and 2.5 <= half_height <= 25.0):
            return None
        turn = (
            float(np.arctan(np.polyval(np.polyder(sup), 0.0)) + np.arctan(np.polyval(np.polyder(inf), 0.0)))
            / 2
        )
        ncx, ncy = frame.to_frame(np.array([u_c]), np.array([v_c]))
        new = _Rotated(float(ncx[0]), float(ncy[0]), frame.angle + turn)
        moved = np.hypot(new.cx - frame.cx, new.cy - frame.cy) + abs(turn) * 10.0
        frame = new
        if moved < 0.2:
            break
    if result is not None and not _uniform_inside(sample, result.points, marrow, contrast):
        return None
    return result


def _uniform_inside(
    sample: Sampler, points: dict[str, tuple[float, float]], marrow: float, contrast: CortexContrast
) -> bool:
    """The profiles assume marrow inside: cement or an implant (CT: > 1000 HU; MR: a signal
    void) or a cleft filling more than 5 % of the body's inner part would be taken for
    cortex, so such a body is left to the reader."""
    corners = np.array([points[k] for k in ("sup_ant", "sup_post", "inf_post", "inf_ant")])
    centre = corners.mean(axis=0)
    inner = centre + 0.8 * (corners - centre)
    lo, hi = inner.min(axis=0), inner.max(axis=0)
    gx, gy = np.meshgrid(np.arange(lo[0], hi[0], 1.0), np.arange(lo[1], hi[1], 1.0))
    x, y = gx.ravel(), gy.ravel()
    inside = np.ones(x.size, dtype=bool)
    for i in range(4):  # the quadrilateral is convex: same side of every edge
        (x0, y0), (x1, y1) = inner[i], inner[(i + 1) % 4]
        cross = (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)
        inside &= cross * ((x1 - x0) * (centre[1] - y0) - (y1 - y0) * (centre[0] - x0)) >= 0
    v = sample(x[inside], y[inside])
    if v.size == 0:
        return False
    foreign = v > _CEMENT_HU if contrast == "bright" else v < 0.5 * marrow
    return float(foreign.mean()) <= 0.05
