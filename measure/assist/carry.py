"""Carry an earlier timepoint's bodies onto a later series: register, then snap.

For each body placed at the earlier timepoint:

1. start transform (earlier LPS -> later LPS): the identity when both series share a
   FrameOfReferenceUID (the scanner's coordinates agree), else one rigid registration of
   the whole earlier stack onto the later one;
2. refine it on the body's neighbourhood (the six points' box + :attr:`CarrySettings.margin_mm`,
   so the discs and the neighbours' endplates take part): bodies move between timepoints
   (a restored fracture lifts the levels above it), so each body gets its own rigid
   transform (:func:`dicomio.registration.register_rigid`; CT values are clipped at
   :attr:`CarrySettings.ceiling_hu` first so cement or an implant does not drive it);
3. map the six points, put them on the later slice nearest their centre;
4. snap the middle points onto their endplate on that slice (:mod:`measure.assist.snap`,
   which clips cement on CT and prefers the outer edge: the endplate stays the body's
   boundary); the corners too when the body's neighbourhood no longer matches (it changed
   shape: a restored fracture), else the registered corners are kept (more exact there).

Nothing here enters a case: the app shows the carried bodies as proposals and only what the
reader accepts becomes landmarks, with the UIDs of the later series' image they sit on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from dicomio.geometry import StackGeometry
from dicomio.registration import Registration, RigidTransform, register_rigid
from measure.assist.snap import CortexContrast, SnapSettings, snap_to_endplate
from measure.landmarks import LANDMARK_KEYS

Point = tuple[float, float, float]


@dataclass(frozen=True)
class CarrySettings:
    """How far around a body the registration looks, and the snap."""

    #: Added on every side of the six points' bounding box (mm).
    margin_mm: float = 6.0
    #: CT values above are clipped before registering (HU; cement and metal ~1500-3000).
    ceiling_hu: float = 1000.0
    #: A body whose local registration moves it further than this from the start is not
    #: trusted: the start transform is used (mm, at the body's centre).
    max_local_motion_mm: float = 15.0
    #: Snap search radius at the corners: the registration already puts them within a
    #: millimetre on an unchanged body, and close beyond a corner lie the other wall's
    #: structures (canal, ligaments) that a longer search would catch (mm).
    corner_radius_mm: float = 1.5
    #: At the middle points on CT, where a treated body's endplate changes most (a restored
    #: depression rises by several mm) and the profile crosses only the endplate; cement
    #: and metal are clipped to cortex there (:attr:`SnapSettings.bright_ceiling`) (mm).
    middle_radius_mm: float = 4.5
    #: On MR cement and metal are signal voids, as dark as cortex, and nothing clips them:
    #: every point searches only this far, so the cement's edge stays out of reach (mm).
    dark_cortex_radius_mm: float = 1.5
    #: Below this correlation a carried body is flagged "changed: check" (phantom, CT and
    #: T1, with noise: unchanged bodies match at 0.88-0.99, the restored, cemented fracture at
    #: 0.35-0.46).
    min_match: float = 0.65
    snap: SnapSettings = field(default_factory=SnapSettings)


@dataclass(frozen=True)
class Stack:
    """An image stack: values ``(slices, rows, columns)`` and their geometry."""

    values: NDArray[np.floating]
    geometry: StackGeometry


@dataclass(frozen=True)
class CarriedBody:
    """One body carried onto the later series: six points on slice ``slice_index``."""

    level: str
    slice_index: int
    landmarks: dict[str, Point]
    #: 0..1: the mean snap strength of the six points (a point not snapped counts 0).
    confidence: float
    #: How far the body's centre moved from the start transform (local registration), mm.
    local_motion_mm: float
    transform: RigidTransform
    #: 0..1: the neighbourhoods' correlation after registration; low when the body changed
    #: shape (a restored fracture) or the registration failed: the reader should check it.
    match: float = 0.0

    def changed(self, settings: CarrySettings | None = None) -> bool:
        return self.match < (settings or CarrySettings()).min_match


@dataclass(frozen=True)
class CarryResult:
    """The carried bodies, cranial to caudal; the levels that could not be carried, why."""

    bodies: tuple[CarriedBody, ...]
    same_frame: bool
    skipped: tuple[tuple[str, str], ...] = ()


def _local_registration(
    earlier: Stack,
    later: Stack,
    pts: NDArray[np.float64],
    start: RigidTransform,
    ceiling: float | None,
    cfg: CarrySettings,
) -> tuple[RigidTransform, float, float]:
    """The body's transform, how far it moved the centre from ``start`` (mm), the match."""
    centre = pts.mean(axis=0)
    half = (pts.max(axis=0) - pts.min(axis=0)) / 2 + cfg.margin_mm
    reg = register_rigid(
        earlier.values,
        earlier.geometry,
        later.values,
        later.geometry,
        centre_mm=centre,
        half_size_mm=half,
        initial=start,
        ceiling=ceiling,
    )
    motion = float(np.linalg.norm(reg.transform.apply(centre) - start.apply(centre)))
    if not reg.ok or motion > cfg.max_local_motion_mm:
        return start, 0.0, 0.0
    return reg.transform, motion, float(np.clip(-reg.metric, 0.0, 1.0))


def _on_slice(points: NDArray[np.float64], geometry: StackGeometry) -> tuple[int, NDArray[np.float64]]:
    """The slice nearest the points' centre, and the points projected onto its plane."""
    k = int(np.clip(round(float(geometry.slice_index_of(points.mean(axis=0)))), 0, len(geometry.slices) - 1))
    plane = geometry.slices[k]
    n = plane.normal
    d = (points - np.asarray(plane.position_mm)) @ n
    return k, points - d[:, None] * n


def _snap_body(
    points: dict[str, NDArray[np.float64]],
    image: NDArray[np.floating],
    later: Stack,
    k: int,
    contrast: CortexContrast,
    cfg: CarrySettings,
    changed: bool,
) -> tuple[dict[str, Point], float]:
    """Snap the middle points (CT: 4.5 mm when the body changed, a restored endplate rises
    by several mm; else 1.5 mm); the corners too when the body changed (an unchanged body's
    registered corners are more exact than a snap at the corner, where wall and endplate
    blur into each other: 0.3-0.5 mm off on the phantom).  Every point's edge strength
    goes into the confidence."""
    plane = later.geometry.slices[k]
    out: dict[str, Point] = {}
    strengths = []
    for key in LANDMARK_KEYS:
        side = key.split("_")[0]
        tangent = points[f"{side}_post"] - points[f"{side}_ant"]
        if contrast == "dark":
            radius = cfg.dark_cortex_radius_mm
        else:
            # The long search at the middle points only where the body changed: across a
            # real thoracic disc (1-3 mm) it reaches the neighbour's endplate (real CT,
            # unchanged bodies: 3-4.5 mm onto the next body before this rule).
            radius = cfg.middle_radius_mm if key.endswith("_mid") and changed else cfg.corner_radius_mm
        r = snap_to_endplate(
            image,
            plane,
            points[key],
            tangent,
            "superior" if side == "sup" else "inferior",
            contrast,
            replace(cfg.snap, radius_mm=radius),
        )
        keep = not key.endswith("_mid") and not changed
        p = points[key]
        out[key] = (float(p[0]), float(p[1]), float(p[2])) if keep else r.point_mm
        strengths.append(r.strength if r.snapped else 0.0)
    return out, float(np.mean(strengths))


def _inside(points: NDArray[np.float64], geometry: StackGeometry) -> bool:
    first = geometry.first
    col, row, _ = first.lps_to_pixel(points)
    k = geometry.slice_index_of(points)
    n_k, n_r, n_c = geometry.shape
    return bool(
        np.all((col >= 0) & (col <= n_c - 1) & (row >= 0) & (row <= n_r - 1))
        and np.all((k > -0.5) & (k < n_k - 0.5))
    )


def global_registration(
    earlier: Stack, later: Stack, contrast: CortexContrast, cfg: CarrySettings | None = None
) -> Registration:
    """The whole earlier stack onto the later one (different frames of reference)."""
    c = cfg or CarrySettings()
    return register_rigid(
        earlier.values,
        earlier.geometry,
        later.values,
        later.geometry,
        ceiling=c.ceiling_hu if contrast == "bright" else None,
        shrink=(4, 2, 1),
        iterations=200,
    )


def carry_bodies(
    bodies: Mapping[str, Mapping[str, Point]],
    earlier: Stack,
    later: Stack,
    *,
    same_frame: bool,
    contrast: CortexContrast,
    settings: CarrySettings | None = None,
) -> CarryResult:
    """Carry ``bodies`` (level -> six LPS points on ``earlier``) onto ``later``."""
    cfg = settings or CarrySettings()
    ceiling = cfg.ceiling_hu if contrast == "bright" else None
    start = RigidTransform() if same_frame else global_registration(earlier, later, contrast, cfg).transform
    carried: list[CarriedBody] = []
    skipped: list[tuple[str, str]] = []
    for level, landmarks in bodies.items():
        if any(k not in landmarks for k in LANDMARK_KEYS):
            skipped.append((level, "fewer than six points at the earlier timepoint"))
            continue
        pts = np.array([landmarks[k] for k in LANDMARK_KEYS], dtype=float)
        if not _inside(start.apply(pts), later.geometry):
            skipped.append((level, "outside the later series"))
            continue
        transform, motion, match = _local_registration(earlier, later, pts, start, ceiling, cfg)
        mapped = transform.apply(pts)
        if not _inside(mapped, later.geometry):
            skipped.append((level, "outside the later series"))
            continue
        k, on_plane = _on_slice(mapped, later.geometry)
        image = np.asarray(later.values[k], dtype=float)
        snapped, confidence = _snap_body(
            dict(zip(LANDMARK_KEYS, on_plane, strict=True)),
            image,
            later,
            k,
            contrast,
            cfg,
            match < cfg.min_match,
        )
        carried.append(CarriedBody(level, k, snapped, confidence, motion, transform, match))
    return CarryResult(tuple(carried), same_frame, tuple(skipped))
