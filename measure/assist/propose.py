"""Propose a body's six landmarks from one seed inside it (region growing, then snap).

On the slice shown, around the seed:

1. the image is resampled onto a 0.5 mm grid in the patient's own in-plane frame
   (anterior, superior: from ImageOrientationPatient, never the screen) and smoothed;
2. the marrow is grown from the seed: pixels connected to it whose value is within a
   tolerance of the seed's (the cortex, bright on CT and dark on MR, and the disc stop it),
   opened to cut thin leaks, holes filled;
3. walls and endplates are read off the region: each wall a line fitted to the region's
   anterior/posterior edge over its middle height, each endplate a quadratic fitted to the
   region's upper/lower edge over its middle depth; corners where they meet, the middle
   point on the endplate half way between the corners (the engine's definitions, clinical
   reference "Landmarks");
4. each point is snapped outwards onto the cortical boundary (:mod:`measure.assist.snap`).

The confidence (0..1) combines the region's plausibility (size and shape of a vertebral
body) and the six snaps' strengths; below :attr:`ProposalSettings.min_confidence` the
proposal says so and the reader places the points by hand.  Nothing here is a measurement:
the app shows a proposal and only what the reader accepts enters the case.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.geometry import ImageGeometry
from measure.assist.body_region import find_outline
from measure.assist.dark_wall import dark_lines_crossed, dark_wall_edge
from measure.assist.fitting import consistent_score, robust_polyfit
from measure.assist.propose_shell import shell_interiors
from measure.assist.snap import (
    CortexContrast,
    SnapSettings,
    default_tangent,
    noise_sd,
    snap_to_endplate,
)
from measure.landmarks import LANDMARK_KEYS

_GRID_MM = 0.5


@dataclass(frozen=True)
class ProposalSettings:
    """Search extent, size limits of a vertebral body, the confidence threshold."""

    #: Half size of the square searched around the seed (mm).
    half_extent_mm: float = 35.0
    #: Plausible body depth (AP) and height (mm), sagittal, adult thoraco-lumbar.
    depth_range_mm: tuple[float, float] = (15.0, 60.0)
    height_range_mm: tuple[float, float] = (8.0, 45.0)
    #: Below this the proposal is reported as "place manually".
    min_confidence: float = 0.5
    snap: SnapSettings = field(default_factory=SnapSettings)


@dataclass(frozen=True)
class BodyProposal:
    """Six proposed landmarks (LPS mm) with a confidence; ``landmarks`` is empty when no
    body was found.  A proposal is never a measurement until the reader accepts it."""

    landmarks: dict[str, tuple[float, float, float]]
    confidence: float
    reason: str
    #: Per point: snap strength (0 when the point was not snapped).
    strengths: dict[str, float] = field(default_factory=dict)

    def usable(self, settings: ProposalSettings | None = None) -> bool:
        threshold = (settings or ProposalSettings()).min_confidence
        return bool(self.landmarks) and self.confidence >= threshold


def _frame(plane: ImageGeometry) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """In-plane unit vectors: anterior, and superior orthogonal to it (a right-handed pair
    is not needed: both are patient directions)."""
    a = default_tangent(plane)
    n = plane.normal
    s = np.cross(n, a)
    if s[2] < 0:
        s = -s
    return a, s / np.linalg.norm(s)


def _failed(reason: str) -> BodyProposal:
    return BodyProposal({}, 0.0, reason)


#: Where else to grow from (mm, anterior and superior of the click) when the click's own
#: neighbourhood gives no plausible body: a seed may fall into cement, edema or a fracture
#: cleft, whose intensity is not the marrow's.
_SEED_OFFSETS_MM = ((0.0, 0.0), (0.0, 5.0), (0.0, -5.0), (6.0, 0.0), (-6.0, 0.0), (0.0, 8.0), (0.0, -8.0))


def propose_body(
    image: ArrayLike,
    plane: ImageGeometry,
    seed_mm: ArrayLike,
    contrast: CortexContrast,
    settings: ProposalSettings | None = None,
) -> BodyProposal:
    """The six landmarks of the vertebral body around ``seed_mm`` on this slice.

    Grows from the click first; when that gives no plausible body, from a few points
    around it; the most confident plausible proposal wins."""
    cfg = settings or ProposalSettings()
    img = np.asarray(image, dtype=float)
    seed = np.asarray(seed_mm, dtype=float).reshape(3)
    sc, sr, _ = plane.lps_to_pixel(seed)
    if not (-0.5 <= sc <= img.shape[1] - 0.5 and -0.5 <= sr <= img.shape[0] - 0.5):
        return _failed("the seed is outside the image")
    region = _propose_by_region(img, plane, seed, contrast, cfg)
    return reconcile(region, propose_by_profiles(img, plane, seed, contrast, cfg), cfg)


def _propose_by_region(
    img: NDArray[np.float64],
    plane: ImageGeometry,
    seed: NDArray[np.float64],
    contrast: CortexContrast,
    cfg: ProposalSettings,
) -> BodyProposal:
    """Region growing from the click, then from points around it (see module)."""
    a, s = _frame(plane)
    best: BodyProposal | None = None
    first_reason = ""
    for i, (dx, dy) in enumerate(_SEED_OFFSETS_MM):
        with np.errstate(over="ignore", invalid="ignore"):  # a failed fit is caught below
            p = _propose_from(img, plane, seed + dx * a + dy * s, contrast, cfg)
        if (
            p.landmarks
            and _plausible(p, cfg)
            and _encloses(p, seed, a, s)
            and (best is None or p.confidence > best.confidence)
        ):
            best = p
        first_reason = first_reason or p.reason or ("" if p.landmarks else "no body")
        if i == 0 and (best is None or best.confidence < cfg.min_confidence):
            # The click's own marrow gives no confident body: before the seeds around it,
            # the body inside its cortical shell (a fractured or cemented body).
            with np.errstate(over="ignore", invalid="ignore"):
                shell = _propose_in_shell(img, plane, seed, contrast, cfg)
            if shell is not None and (best is None or shell.confidence > best.confidence):
                best = shell
        if best is not None and best.confidence >= cfg.min_confidence:
            break
    if best is None:
        return _failed(first_reason or "no vertebral body found around the click")
    return best


def _propose_in_shell(
    img: NDArray[np.float64],
    plane: ImageGeometry,
    seed: NDArray[np.float64],
    contrast: CortexContrast,
    cfg: ProposalSettings,
) -> BodyProposal | None:
    """The fallback for a fractured or treated body (edema, cement): the body enclosed by
    its cortical shell (:mod:`measure.assist.propose_shell`), judged like any proposal."""
    a, s = _frame(plane)
    grid, smooth, valid, coords = patch_around(img, plane, seed, cfg)
    best: BodyProposal | None = None
    sc, sr, _ = plane.lps_to_pixel(seed)
    sd = noise_sd(img, float(sc), float(sr))
    for body in shell_interiors(
        grid, smooth, valid, coords, contrast, cfg.depth_range_mm, cfg.height_range_mm, sd
    ):
        # The shell's interior cannot leak across a cortex: no disc-jump check needed.
        p = proposal_from_mask(img, plane, seed, contrast, cfg, body, coords, leaky_region=False)
        if not (p.landmarks and _plausible(p, cfg) and _encloses(p, seed, a, s)):
            continue
        if best is None or p.confidence > best.confidence:
            best = p
        if best.confidence >= cfg.min_confidence:
            break
    return best


#: Two outlines of one body whose points differ by more than this (mm) disagree.
AGREE_MM = 3.0


def reconcile(region: BodyProposal, profiles: BodyProposal, cfg: ProposalSettings) -> BodyProposal:
    """One proposal from the two independent outlines.  The region's when it is confident
    and the profiles found nothing; when both agree (within :data:`AGREE_MM`), the more
    confident one (a fixed preference made a seed moved within the body switch between
    them: 2.4 mm on the real CT); the profiles' when only they are confident, or
    when the two disagree and the profiles are confident (a region leaks through a thin
    disc or into the posterior elements, profiles do not).  Disagreeing and neither sure:
    the region's points, but "place by hand"."""
    if not region.usable(cfg):
        return profiles if profiles.usable(cfg) else region
    if not profiles.landmarks:
        return region
    worst = max(
        float(np.linalg.norm(np.subtract(region.landmarks[k], profiles.landmarks[k]))) for k in LANDMARK_KEYS
    )
    if worst <= AGREE_MM:
        # Both found the body: the more confident outline (on a seed moved within the body
        # the two swap places less often than a fixed preference would make them).
        return profiles if profiles.usable(cfg) and profiles.confidence > region.confidence else region
    if profiles.usable(cfg):
        return profiles
    return replace(
        region,
        confidence=min(region.confidence, profiles.confidence),
        reason=f"two outlines of the body disagree by {worst:.0f} mm: place the points by hand",
    )


def propose_by_profiles(
    img: NDArray[np.float64],
    plane: ImageGeometry,
    seed: NDArray[np.float64],
    contrast: CortexContrast,
    cfg: ProposalSettings,
) -> BodyProposal:
    """The body from intensity profiles cast from its centre (:mod:`measure.assist.body_region`:
    no region to leak through a thin disc).  Confidence: the lower of the share of profiles
    that agree on the weakest side and that side's snap strength (as for the region's)."""
    from scipy import ndimage  # imported when assisting (start-up time)

    a, s = _frame(plane)
    half = cfg.half_extent_mm
    grid, _, coords = _sample_patch(img, plane, seed, cfg)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        outline = find_outline(ndimage.gaussian_filter(grid, 0.5 / _GRID_MM), coords, contrast)
    if outline is None or not _inside(outline.points, half):
        return _failed("no body outline found along the profiles from the click")
    frame = _Frame(seed, a, s)
    landmarks = {k: frame.lps(x, y) for k, (x, y) in outline.points.items()}
    scaffold = _scaffold(outline.points)
    with np.errstate(over="ignore", invalid="ignore"):
        _, snap_score = _refine_outline(img, plane, contrast, cfg.snap, scaffold, frame)
    confidence = min(min(outline.support), snap_score)
    p = BodyProposal(
        landmarks,
        confidence,
        "" if confidence >= cfg.min_confidence else "weak or missing edges: place the points by hand",
    )
    if not (_plausible(p, cfg) and _encloses(p, seed, a, s)):
        return _failed("the outline found is not a vertebral body around the click")
    return p


def _scaffold(xy: dict[str, tuple[float, float]]) -> _Outline:
    """Walls through the corners, endplates through their three points: what the snap
    check of :func:`_refine_outline` needs."""

    def plate(end: str) -> NDArray[np.float64]:
        ps = [xy[f"{end}_{w}"] for w in ("post", "mid", "ant")]
        return np.polyfit([p[0] for p in ps], [p[1] for p in ps], 2)

    def wall(side: str) -> NDArray[np.float64]:
        lo, hi = xy[f"inf_{side}"], xy[f"sup_{side}"]
        return np.polyfit([lo[1], hi[1]], [lo[0], hi[0]], 1)

    return _Outline(ant=wall("ant"), post=wall("post"), sup=plate("sup"), inf=plate("inf"))


def _encloses(
    p: BodyProposal, click: NDArray[np.float64], a: NDArray[np.float64], s: NDArray[np.float64]
) -> bool:
    """The click lies inside the proposed body (between its walls and endplates): a seed
    tried around a click in a disc must not propose the neighbour."""
    frame = _Frame(click, a, s)
    xy = {k: frame.xy(v) for k, v in p.landmarks.items()}
    x_lo = max(xy["sup_post"][0], xy["inf_post"][0])
    x_hi = min(xy["sup_ant"][0], xy["inf_ant"][0])
    y_lo = max(xy[k][1] for k in ("inf_ant", "inf_mid", "inf_post"))
    y_hi = min(xy[k][1] for k in ("sup_ant", "sup_mid", "sup_post"))
    return x_lo < 0.0 < x_hi and y_lo < 0.0 < y_hi


def _plausible(p: BodyProposal, cfg: ProposalSettings) -> bool:
    """Heights and depth of a vertebral body, superior above inferior."""
    lm = {k: np.asarray(v) for k, v in p.landmarks.items()}
    h0, h1 = cfg.height_range_mm
    d0, d1 = cfg.depth_range_mm
    heights = [float(np.linalg.norm(lm[f"sup_{w}"] - lm[f"inf_{w}"])) for w in ("ant", "mid", "post")]
    depths = [float(np.linalg.norm(lm[f"{e}_ant"] - lm[f"{e}_post"])) for e in ("sup", "inf")]
    above = all(float((lm[f"sup_{w}"] - lm[f"inf_{w}"])[2]) > 0 for w in ("ant", "mid", "post"))
    return above and all(0.4 * h0 <= h <= h1 for h in heights) and all(d0 <= d <= d1 for d in depths)


def _propose_from(
    img: NDArray[np.float64],
    plane: ImageGeometry,
    seed: NDArray[np.float64],
    contrast: CortexContrast,
    cfg: ProposalSettings,
) -> BodyProposal:
    """One attempt: grow from ``seed``, read the outline, snap it."""
    from scipy import ndimage  # 0.2-0.5 s to import: only when assisting (start-up time)

    # grid[i, j]: i along superior (index 0 = most inferior), j along anterior.
    _, smooth, valid, coords = patch_around(img, plane, seed, cfg)
    gy, gx = np.meshgrid(coords, coords, indexing="ij")

    c0 = len(coords) // 2
    r_seed = round(3.0 / _GRID_MM)
    disc = (gx**2 + gy**2) <= 3.0**2
    mu = float(np.median(smooth[disc]))
    sc, sr, _ = plane.lps_to_pixel(seed)
    sd = noise_sd(img, float(sc), float(sr))
    tol = max(3.0 * sd, 0.2 * abs(mu) + 20.0)
    if contrast == "dark":
        tol = max(3.0 * sd, 0.3 * abs(mu))
    candidate = valid & (np.abs(smooth - mu) <= tol)
    if contrast == "bright":  # cement or an implant inside the body belongs to it
        candidate |= valid & (smooth > cfg.snap.bright_ceiling)
    candidate = ndimage.binary_opening(candidate, structure=_disk(1.5))
    labels, _ = ndimage.label(candidate)
    lab = labels[c0 - r_seed : c0 + r_seed + 1, c0 - r_seed : c0 + r_seed + 1]
    lab = lab[lab > 0]
    if lab.size == 0:
        return _failed("no uniform marrow around the seed")
    body = labels == int(np.bincount(lab).argmax())
    body = ndimage.binary_fill_holes(ndimage.binary_closing(body, structure=_disk(2.0)))
    return proposal_from_mask(img, plane, seed, contrast, cfg, body, coords)


def patch_around(
    img: NDArray[np.float64], plane: ImageGeometry, seed: NDArray[np.float64], cfg: ProposalSettings
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """The square around the seed on the 0.5 mm working grid (row 0 most inferior, column 0
    most posterior), as sampled and smoothed 0.8 mm; which grid points lie on the image;
    the grid's mm."""
    from scipy import ndimage  # imported when assisting (start-up time)

    grid, valid, coords = _sample_patch(img, plane, seed, cfg)
    return grid, ndimage.gaussian_filter(grid, 0.8 / _GRID_MM), valid, coords


def _sample_patch(
    img: NDArray[np.float64], plane: ImageGeometry, seed: NDArray[np.float64], cfg: ProposalSettings
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """The working grid's samples (bilinear), which of them lie on the image, its mm."""
    from scipy import ndimage  # imported when assisting (start-up time)

    a, s = _frame(plane)
    half = cfg.half_extent_mm
    coords = np.arange(-half, half + _GRID_MM / 2, _GRID_MM)
    gy, gx = np.meshgrid(coords, coords, indexing="ij")
    pts = seed + gx[..., None] * a + gy[..., None] * s
    col, row, _ = plane.lps_to_pixel(pts.reshape(-1, 3))
    inside_image = (col > -0.5) & (col < img.shape[1] - 0.5) & (row > -0.5) & (row < img.shape[0] - 0.5)
    grid = ndimage.map_coordinates(img, [row, col], order=1, mode="nearest").reshape(gx.shape)
    return grid, inside_image.reshape(gx.shape), coords


def proposal_from_mask(
    img: NDArray[np.float64],
    plane: ImageGeometry,
    seed: NDArray[np.float64],
    contrast: CortexContrast,
    cfg: ProposalSettings,
    body: NDArray[np.bool_],
    coords: NDArray[np.float64],
    *,
    leaky_region: bool = True,
) -> BodyProposal:
    """From a body mask on the working grid around ``seed`` (any method) to six snapped
    points and a confidence: walls and endplates fitted, snapped outwards, refitted."""
    from scipy import ndimage  # imported when assisting (start-up time)

    a, s = _frame(plane)
    half = cfg.half_extent_mm
    if body[0, :].any() or body[-1, :].any() or body[:, 0].any() or body[:, -1].any():
        return _failed("the region around the seed is not closed (no body outline found)")

    ys, xs = np.nonzero(body)
    y_mm, x_mm = coords[ys], coords[xs]
    depth, height = float(np.ptp(x_mm)), float(np.ptp(y_mm))
    (d0, d1), (h0, h1) = cfg.depth_range_mm, cfg.height_range_mm
    if not (d0 <= depth <= d1 and h0 <= height <= h1):
        return _failed(f"the region ({depth:.0f} x {height:.0f} mm) is not the size of a vertebral body")
    solidity = float(body.sum()) / float(ndimage.binary_fill_holes(_convex_box(body)).sum())

    outline = _mask_outline(body, coords)
    if outline is None or not _inside(_six_points(outline), half):
        return _failed("the body outline has no clear walls and endplates")
    to_lps = _Frame(seed, a, s)
    refined, score = _refine_outline(img, plane, contrast, cfg.snap, outline, to_lps, leaky_region)
    points = _six_points(refined)
    if not _inside(points, half):
        return _failed("the body outline has no clear walls and endplates")
    landmarks = {k: to_lps.lps(x, y) for k, (x, y) in points.items()}
    confidence = score * min(1.0, solidity / 0.85)
    reason = "" if confidence >= cfg.min_confidence else "weak or missing edges: place the points by hand"
    return BodyProposal(landmarks, confidence, reason)


@dataclass(frozen=True)
class _Frame:
    """The working frame: x anterior, y superior (mm) from the seed, in the image plane."""

    origin: NDArray[np.float64]
    a: NDArray[np.float64]
    s: NDArray[np.float64]

    def lps(self, x: float, y: float) -> tuple[float, float, float]:
        p = self.origin + x * self.a + y * self.s
        return float(p[0]), float(p[1]), float(p[2])

    def xy(self, p: ArrayLike) -> tuple[float, float]:
        d = np.asarray(p, dtype=float) - self.origin
        return float(d @ self.a), float(d @ self.s)


@dataclass(frozen=True)
class _Outline:
    """Walls as lines ``x = ant(y)``, ``x = post(y)``; endplates as quadratics ``y = sup(x)``,
    ``y = inf(x)`` (numpy polynomial coefficients), all in the working frame."""

    ant: NDArray[np.float64]
    post: NDArray[np.float64]
    sup: NDArray[np.float64]
    inf: NDArray[np.float64]


def _inside(points: dict[str, tuple[float, float]], half_mm: float) -> bool:
    return all(abs(x) <= half_mm and abs(y) <= half_mm for x, y in points.values())


def _mask_outline(body: NDArray[np.bool_], coords: NDArray[np.float64]) -> _Outline | None:
    rows = np.flatnonzero(body.any(axis=1))
    cols = np.flatnonzero(body.any(axis=0))
    y_lo, y_hi = coords[rows[0]], coords[rows[-1]]
    x_lo, x_hi = coords[cols[0]], coords[cols[-1]]
    mid_rows = [i for i in rows if y_lo + 0.25 * (y_hi - y_lo) <= coords[i] <= y_hi - 0.25 * (y_hi - y_lo)]
    mid_cols = [j for j in cols if x_lo + 0.12 * (x_hi - x_lo) <= coords[j] <= x_hi - 0.12 * (x_hi - x_lo)]
    if len(mid_rows) < 4 or len(mid_cols) < 6:
        return None
    wy, ex = coords[mid_rows], coords[mid_cols]
    return _Outline(
        ant=np.polyfit(wy, [coords[np.flatnonzero(body[i])[-1]] for i in mid_rows], 1),
        post=np.polyfit(wy, [coords[np.flatnonzero(body[i])[0]] for i in mid_rows], 1),
        sup=np.polyfit(ex, [coords[np.flatnonzero(body[:, j])[-1]] for j in mid_cols], 2),
        inf=np.polyfit(ex, [coords[np.flatnonzero(body[:, j])[0]] for j in mid_cols], 2),
    )


def _corner(wall: NDArray[np.float64], plate: NDArray[np.float64]) -> tuple[float, float]:
    """Where the wall line ``x = wall(y)`` meets the endplate ``y = plate(x)``."""
    with np.errstate(over="ignore", invalid="ignore"):
        y = float(np.polyval(plate, float(np.polyval(wall, 0.0))))
        for _ in range(8):
            y = float(np.polyval(plate, float(np.polyval(wall, y))))
            if not abs(y) < 1e3:  # no meeting point near the seed
                return float("inf"), float("inf")
        return float(np.polyval(wall, y)), y


def _six_points(o: _Outline) -> dict[str, tuple[float, float]]:
    """Corners where walls meet endplates; the middle on the endplate half way between."""
    out: dict[str, tuple[float, float]] = {}
    for side, plate in (("sup", o.sup), ("inf", o.inf)):
        pa, pp = _corner(o.ant, plate), _corner(o.post, plate)
        xm = (pa[0] + pp[0]) / 2
        out[f"{side}_ant"], out[f"{side}_mid"], out[f"{side}_post"] = (
            pa,
            (xm, float(np.polyval(plate, xm))),
            pp,
        )
    return {k: out[k] for k in LANDMARK_KEYS}


def _refine_outline(
    img: NDArray[np.float64],
    plane: ImageGeometry,
    contrast: CortexContrast,
    snap: SnapSettings,
    o: _Outline,
    frame: _Frame,
    leaky_region: bool = True,
) -> tuple[_Outline, float]:
    """Snap samples of each endplate and wall outwards onto the cortical boundary and refit
    them; the score is the weakest side's mean snap strength (0 for a sample not snapped)."""
    side_scores: list[float] = []
    corners = _six_points(o)
    x_post, x_ant = corners["sup_post"][0], corners["sup_ant"][0]
    plates = {}
    for name, plate, up in (("sup", o.sup, 1.0), ("inf", o.inf, -1.0)):
        xs, ys, strengths = [], [], []
        for x in np.linspace(x_post + 0.15 * (x_ant - x_post), x_ant - 0.15 * (x_ant - x_post), 9):
            y = float(np.polyval(plate, x))
            tangent = frame.a + float(np.polyval(np.polyder(plate), x)) * frame.s
            start = np.asarray(frame.lps(x, y + up * 1.0))
            r = snap_to_endplate(
                img, plane, start, tangent, "superior" if up > 0 else "inferior", contrast, snap, up * frame.s
            )
            if (
                r.snapped
                and leaky_region
                and contrast == "dark"
                and _jumped_a_disc(img, plane, frame, x, y, r.point_mm, tangent)
            ):
                r = replace(r, snapped=False)
            strengths.append(r.strength if r.snapped else 0.0)
            if r.snapped:
                px, py = frame.xy(r.point_mm)
                xs.append(px)
                ys.append(py)
        plates[name] = robust_polyfit(xs, ys, 2) if len(xs) >= 5 else plate
        side_scores.append(consistent_score(strengths, xs, ys, plates[name]))
    walls = {}
    wall_snap = replace(snap, outer_gain_per_mm=0.0)
    for name, wall, out in (("ant", o.ant, 1.0), ("post", o.post, -1.0)):
        ys_w, xs_w, strengths = [], [], []
        y_top = float(np.polyval(plates["sup"], float(np.polyval(wall, 0.0))))
        y_bot = float(np.polyval(plates["inf"], float(np.polyval(wall, 0.0))))
        for y in np.linspace(y_bot + 0.25 * (y_top - y_bot), y_top - 0.25 * (y_top - y_bot), 5):
            x = float(np.polyval(wall, y))
            tangent = frame.s + float(wall[0]) * frame.a
            start = np.asarray(frame.lps(x + out * 1.0, y))
            if contrast == "dark" and name == "post":  # MR: the cortex's rise, not the CSF's behind
                r = dark_wall_edge(img, plane, start, tangent, out * frame.a, wall_snap.radius_mm)
            else:
                r = snap_to_endplate(
                    img, plane, start, tangent, "superior", contrast, wall_snap, out * frame.a
                )
            strengths.append(r.strength if r.snapped else 0.0)
            if r.snapped:
                px, py = frame.xy(r.point_mm)
                xs_w.append(px)
                ys_w.append(py)
        walls[name] = robust_polyfit(ys_w, xs_w, 1) if len(xs_w) >= 3 else wall
        side_scores.append(consistent_score(strengths, ys_w, xs_w, walls[name]))
    refined = _Outline(ant=walls["ant"], post=walls["post"], sup=plates["sup"], inf=plates["inf"])
    # A body is as trustworthy as its weakest side: one endplate lost in cement or edema
    # must not hide behind three good sides.
    return refined, min(side_scores)


def _jumped_a_disc(
    img: NDArray[np.float64],
    plane: ImageGeometry,
    frame: _Frame,
    x: float,
    y: float,
    snapped_mm: tuple[float, float, float],
    tangent: NDArray[np.float64],
) -> bool:
    """MR: between the body's inside (the seed's height, at the sample's ``x``) and the
    snapped point lie two dark lines, its own cortex and the neighbour's beyond a thin disc
    (the marrow region may have leaked into the disc up to ``y``): not this body's endplate."""
    del y  # the region's edge may already lie beyond the body's own cortex
    return dark_lines_crossed(img, plane, frame.lps(x, 0.0), snapped_mm, tangent) > 1


def _disk(radius_mm: float) -> NDArray[np.bool_]:
    r = round(radius_mm / _GRID_MM)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return np.asarray(x**2 + y**2 <= r**2)


def _convex_box(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Row-wise span of the mask (a cheap convex-ish hull for the solidity)."""
    out = np.zeros_like(mask)
    for i in np.flatnonzero(mask.any(axis=1)):
        js = np.flatnonzero(mask[i])
        out[i, js[0] : js[-1] + 1] = True
    for j in np.flatnonzero(mask.any(axis=0)):
        is_ = np.flatnonzero(mask[:, j])
        out[is_[0] : is_[-1] + 1, j] = True
    return out
