"""An analytic spine phantom in patient space (LPS mm) with exact ground truth.

Tests, the demo set and benchmarks need images whose answer is known: where each of the
six morphometry landmarks lies, the heights Ha/Hm/Hp, the vertebral kyphotic angle, how
much of a body is edematous.  The phantom is *analytic*: every tissue is a closed-form
region of patient space, so it can be sampled on any stack geometry (sagittal, axial,
oblique, anterior on the right, unequal pixel spacing) and the same point always gets
the same tissue.

Each vertebral body lives in its own sagittal frame ``(u, w)`` in the mid-sagittal
plane ``x = midline_x_mm``: ``u`` points posterior along the body's AP axis (0 at the
posterior wall, ``-depth`` at the anterior wall) and ``w`` points superior along the
posterior wall (0 at the inferior posterior corner).  In that frame

* the anterior and posterior walls are the lines ``u = -depth`` and ``u = 0``;
* each endplate is the quadratic ``w(u)`` through its anterior, middle and posterior
  landmark (middle at ``u = -depth / 2``), so the landmarks lie exactly on it;
* the lateral profile is elliptical: ``(dx / half_width)^2 + ((u + d/2) / (d/2))^2 <= 1``.

Hence a body's volume is exact: with the body height ``h(s) = c0 + c1 s + c2 s^2``
(``s`` from -1 anterior to +1 posterior), ``V = W d (c0 pi/2 + c2 pi/8)``.  The marrow
edema of the fractured level is a band of fixed thickness under the superior endplate
(inside the marrow) plus an ellipsoid, both wholly inside the marrow and disjoint, so
its volume is exact too (and checked against voxel counting by the tests).

The ground truth here is computed from the phantom's own definition, never from the
``measure`` package, so that the two can check each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.geometry import StackGeometry

Contrast = Literal["CT", "T1", "STIR"]
Timepoint = Literal["pre", "post"]
Status = Literal["normal", "fractured", "augmented"]

CONTRASTS: tuple[Contrast, ...] = ("CT", "T1", "STIR")
TIMEPOINTS: tuple[Timepoint, ...] = ("pre", "post")
DEFAULT_LEVELS: tuple[str, ...] = ("T11", "T12", "L1", "L2", "L3")
LANDMARK_KEYS = ("sup_ant", "sup_mid", "sup_post", "inf_ant", "inf_mid", "inf_post")

#: Boundaries are inclusive within this tolerance, so that a landmark (which lies exactly
#: on an endplate or at a body corner) samples as cortex despite rounding.
BOUNDARY_TOLERANCE_MM = 1e-7


class Tissue(IntEnum):
    """Tissue classes; a contrast maps each to one intensity."""

    AIR = 0
    FAT = 1
    SOFT = 2
    DISC = 3
    CSF = 4
    POSTERIOR_BONE = 5
    CORTEX = 6
    CANCELLOUS = 7
    EDEMA = 8
    CEMENT = 9


#: Tissues that belong to a vertebral body (what a body volume counts).
BODY_TISSUES: tuple[Tissue, ...] = (Tissue.CORTEX, Tissue.CANCELLOUS, Tissue.EDEMA, Tissue.CEMENT)

#: Intensity of each tissue per contrast (CT in HU; MR in arbitrary scanner units).
#: T1: fatty marrow bright-ish, edema dark; STIR: fat suppressed, edema and fluid bright.
INTENSITY: dict[str, dict[Tissue, float]] = {
    "CT": {
        Tissue.AIR: -1000.0,
        Tissue.FAT: -100.0,
        Tissue.SOFT: 40.0,
        Tissue.DISC: 80.0,
        Tissue.CSF: 10.0,
        Tissue.POSTERIOR_BONE: 450.0,
        Tissue.CORTEX: 700.0,
        Tissue.CANCELLOUS: 200.0,
        Tissue.EDEMA: 200.0,  # CT does not show marrow edema
        Tissue.CEMENT: 1500.0,
    },
    "T1": {
        Tissue.AIR: 0.0,
        Tissue.FAT: 900.0,
        Tissue.SOFT: 300.0,
        Tissue.DISC: 280.0,
        Tissue.CSF: 120.0,
        Tissue.POSTERIOR_BONE: 520.0,
        Tissue.CORTEX: 60.0,
        Tissue.CANCELLOUS: 600.0,
        Tissue.EDEMA: 180.0,
        Tissue.CEMENT: 15.0,
    },
    "STIR": {
        Tissue.AIR: 0.0,
        Tissue.FAT: 40.0,
        Tissue.SOFT: 200.0,
        Tissue.DISC: 450.0,
        Tissue.CSF: 950.0,
        Tissue.POSTERIOR_BONE: 130.0,
        Tissue.CORTEX: 40.0,
        Tissue.CANCELLOUS: 120.0,
        Tissue.EDEMA: 800.0,
        Tissue.CEMENT: 15.0,
    },
}

#: Normal body dimensions per level (mm): depth (AP), posterior height Hp, lateral
#: half-width, and how far the anterior corner of the superior / inferior endplate sits
#: inside the posterior height (positive: physiological wedging, i.e. kyphosis).
NORMAL_BODY_MM: dict[str, tuple[float, float, float, float, float]] = {
    "T10": (29.0, 22.5, 17.5, 0.9, 0.9),
    "T11": (30.0, 23.5, 18.5, 0.8, 0.8),
    "T12": (31.5, 24.5, 20.0, 0.6, 0.6),
    "L1": (33.0, 25.5, 21.0, 0.4, 0.4),
    "L2": (34.5, 26.5, 22.0, 0.0, 0.0),
    "L3": (36.0, 27.5, 23.0, -0.4, -0.4),
    "L4": (36.5, 27.5, 24.0, -0.8, -0.8),
    "L5": (36.5, 26.5, 25.0, -1.4, -1.4),
}
#: Disc below each level: posterior height (mm) and wedge angle (deg, kyphosis positive).
DISC_BELOW_MM_DEG: dict[str, tuple[float, float]] = {
    "T10": (7.0, 1.5),
    "T11": (7.5, 1.0),
    "T12": (7.5, 0.0),
    "L1": (7.5, -2.5),
    "L2": (8.0, -4.0),
    "L3": (8.5, -6.0),
    "L4": (8.5, -8.0),
    "L5": (9.0, -10.0),
}
NORMAL_CONCAVITY_MM = 0.8
CORTEX_MM = 1.5
#: Spinal canal (elliptical, behind the posterior wall) and posterior elements, mm.
CANAL_GAP_MM = 2.0
CANAL_HALF_DEPTH_MM = 8.0
CANAL_HALF_WIDTH_MM = 11.0
LAMINA_MM = 6.0
SPINOUS_LENGTH_MM = 28.0
SPINOUS_HALF_WIDTH_MM = 3.5
#: Trunk outline: skin this far behind the most posterior wall / before the most anterior.
SKIN_BEHIND_POSTERIOR_WALL_MM = 62.0
SKIN_BEFORE_ANTERIOR_WALL_MM = 120.0
TRUNK_HALF_WIDTH_MM = 145.0
SUBCUTANEOUS_FAT_MM = 12.0


@dataclass(frozen=True)
class BodyShape:
    """One vertebral body in its own frame; every length in mm.

    ``sup_drop_mm``/``inf_rise_mm``: how far the anterior corner of the superior
    (inferior) endplate lies below (above) the posterior corner, measured along the
    walls; ``*_concavity_mm``: how far the middle point sits inside the straight
    anterior-posterior line.
    """

    level: str
    depth_mm: float
    posterior_height_mm: float
    half_width_mm: float
    sup_drop_mm: float
    inf_rise_mm: float
    sup_concavity_mm: float = NORMAL_CONCAVITY_MM
    inf_concavity_mm: float = NORMAL_CONCAVITY_MM

    def local_landmarks(self) -> dict[str, tuple[float, float]]:
        """The six landmarks as ``(u, w)`` in the body frame."""
        d, hp = self.depth_mm, self.posterior_height_mm
        sup_a, inf_a = hp - self.sup_drop_mm, self.inf_rise_mm
        return {
            "sup_ant": (-d, sup_a),
            "sup_mid": (-d / 2, (sup_a + hp) / 2 - self.sup_concavity_mm),
            "sup_post": (0.0, hp),
            "inf_ant": (-d, inf_a),
            "inf_mid": (-d / 2, inf_a / 2 + self.inf_concavity_mm),
            "inf_post": (0.0, 0.0),
        }

    # -- exact measurements from the definition -------------------------------------
    @property
    def heights_mm(self) -> dict[str, float]:
        """Ha, Hm, Hp: walls are parallel and mid points share ``u``, so heights are w-differences."""
        lm = self.local_landmarks()
        return {
            "Ha": lm["sup_ant"][1] - lm["inf_ant"][1],
            "Hm": lm["sup_mid"][1] - lm["inf_mid"][1],
            "Hp": lm["sup_post"][1] - lm["inf_post"][1],
        }

    @property
    def vka_deg(self) -> float:
        """Angle between the endplate lines; positive when they converge anteriorly."""
        d = self.depth_mm
        return math.degrees(math.atan(self.sup_drop_mm / d) + math.atan(self.inf_rise_mm / d))

    @property
    def volume_mm3(self) -> float:
        """Exact body volume: the height is quadratic in ``s`` over an elliptical footprint."""
        h = self.heights_mm
        c0 = h["Hm"]
        c2 = (h["Ha"] + h["Hp"]) / 2 - h["Hm"]
        return self.half_width_mm * self.depth_mm * (c0 * math.pi / 2 + c2 * math.pi / 8)

    # -- endplate curves --------------------------------------------------------------
    def _quadratic(self, u: NDArray[np.float64], ant: float, mid: float, post: float) -> NDArray[np.float64]:
        s = (u + self.depth_mm / 2) / (self.depth_mm / 2)
        return mid + (post - ant) / 2 * s + ((ant + post) / 2 - mid) * s * s

    def superior_w(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        lm = self.local_landmarks()
        return self._quadratic(u, lm["sup_ant"][1], lm["sup_mid"][1], lm["sup_post"][1])

    def inferior_w(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        lm = self.local_landmarks()
        return self._quadratic(u, lm["inf_ant"][1], lm["inf_mid"][1], lm["inf_post"][1])

    def footprint(
        self, dx: NDArray[np.float64], u: NDArray[np.float64], inset_mm: float = 0.0
    ) -> NDArray[np.bool_]:
        """Inside the elliptical axial profile (shrunk by ``inset_mm``)."""
        a = self.half_width_mm - inset_mm
        b = self.depth_mm / 2 - inset_mm
        return (dx / a) ** 2 + ((u + self.depth_mm / 2) / b) ** 2 <= 1.0 + BOUNDARY_TOLERANCE_MM


@dataclass(frozen=True)
class Pose:
    """Where a body frame sits in the mid-sagittal plane: origin (the inferior posterior
    corner) in LPS ``(y, z)`` mm and the angle of its posterior axis from +Y towards +Z."""

    origin_yz: tuple[float, float]
    angle_rad: float

    def to_local(self, y: NDArray[np.float64], z: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        dy, dz = y - self.origin_yz[0], z - self.origin_yz[1]
        return dy * c + dz * s, -dy * s + dz * c

    def to_yz(self, u: float, w: float) -> tuple[float, float]:
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        return (self.origin_yz[0] + u * c - w * s, self.origin_yz[1] + u * s + w * c)

    def rotated(self, angle_rad: float) -> Pose:
        c, s = math.cos(angle_rad), math.sin(angle_rad)
        y, z = self.origin_yz
        return Pose((y * c - z * s, y * s + z * c), self.angle_rad + angle_rad)

    def shifted(self, dy: float, dz: float) -> Pose:
        return Pose((self.origin_yz[0] + dy, self.origin_yz[1] + dz), self.angle_rad)


@dataclass(frozen=True)
class EdemaSpec:
    """Marrow edema of the fractured level, in its body frame (mm).

    A band of ``band_mm`` under the superior endplate cortex, laterally limited to the
    marrow, plus an ellipsoid (semi-axes lateral, AP, vertical) centred mid-depth just
    above the inferior endplate cortex.  Post-op the cement is a concentric, smaller
    ellipsoid that replaces part of the diffuse edema.
    """

    band_mm: float = 4.0
    ellipsoid_semi_axes_mm: tuple[float, float, float] = (13.0, 10.0, 3.5)
    ellipsoid_floor_gap_mm: float = 0.8
    cement_semi_axes_mm: tuple[float, float, float] = (9.0, 7.0, 2.5)


@dataclass(frozen=True)
class Vertebra:
    """A placed vertebra at one timepoint."""

    shape: BodyShape
    pose: Pose
    status: Status
    disc_above_mm: float  # posterior height of the disc above (canal extent)
    disc_below_mm: float
    edema: EdemaSpec | None = None
    cement: bool = False

    @property
    def level(self) -> str:
        return self.shape.level

    def ellipsoid_centre_uw(self) -> tuple[float, float]:
        """Centre of the diffuse edema ellipsoid (and of the cement), in the body frame."""
        assert self.edema is not None
        r_u, r_w = self.edema.ellipsoid_semi_axes_mm[1:]
        u_c = -self.shape.depth_mm / 2
        us = np.linspace(u_c - r_u, u_c + r_u, 401)
        floor = float(np.max(self.shape.inferior_w(us))) + CORTEX_MM + self.edema.ellipsoid_floor_gap_mm
        return u_c, floor + r_w


@dataclass(frozen=True)
class VertebraTruth:
    """What a correct measurement of one level at one timepoint must find."""

    level: str
    status: Status
    landmarks_mm: dict[str, tuple[float, float, float]]
    heights_mm: dict[str, float]  # Ha, Hm, Hp
    vka_deg: float  # kyphosis positive
    body_volume_mm3: float
    edema_volume_mm3: float
    cement_volume_mm3: float

    @property
    def edema_fraction(self) -> float:
        return self.edema_volume_mm3 / self.body_volume_mm3

    def as_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "status": self.status,
            "landmarks_mm": {k: list(v) for k, v in self.landmarks_mm.items()},
            "heights_mm": dict(self.heights_mm),
            "vka_deg": self.vka_deg,
            "body_volume_mm3": self.body_volume_mm3,
            "edema_volume_mm3": self.edema_volume_mm3,
            "edema_fraction": self.edema_fraction,
            "cement_volume_mm3": self.cement_volume_mm3,
        }


def _ellipsoid_volume(semi_axes: Sequence[float]) -> float:
    a, b, c = semi_axes
    return 4.0 / 3.0 * math.pi * a * b * c


@dataclass(frozen=True)
class SpinePhantom:
    """A lumbar/thoracolumbar spine with one fractured level, pre-op and post-op.

    Pre-op the ``fractured_level`` has an anterior wedge (anterior height reduced by
    ``anterior_height_loss``) and a depressed superior mid-endplate, plus marrow edema;
    post-op ``restored_fraction`` of the lost anterior height and depression is back
    and a cement ellipsoid sits inside.  The lowest level does not move between
    timepoints; the levels above the fracture follow its change of shape.
    """

    levels: tuple[str, ...] = DEFAULT_LEVELS
    fractured_level: str = "L1"
    anterior_height_loss: float = 0.36
    mid_depression_mm: float = 4.0
    restored_fraction: float = 0.5
    midline_x_mm: float = -3.0
    #: LPS (y, z) of the inferior posterior corner of the lowest level.
    base_yz_mm: tuple[float, float] = (28.0, -455.0)
    #: Forward lean of the whole column (deg; 0 = the column's axis is vertical).
    lean_deg: float = 0.0
    edema: EdemaSpec = field(default_factory=EdemaSpec)

    def __post_init__(self) -> None:
        levels = tuple(self.levels)
        object.__setattr__(self, "levels", levels)
        if not levels:
            raise ValueError("SpinePhantom needs at least one level; got an empty level list")
        unknown = [lv for lv in levels if lv not in NORMAL_BODY_MM]
        if unknown:
            raise ValueError(
                f"SpinePhantom levels {unknown} are not modelled; "
                f"expected levels among {list(NORMAL_BODY_MM)}"
            )
        order = list(NORMAL_BODY_MM)
        idx = [order.index(lv) for lv in levels]
        if idx != list(range(idx[0], idx[0] + len(idx))):
            raise ValueError(
                f"SpinePhantom levels {list(levels)} must be consecutive and cranial to caudal, e.g. T11..L3"
            )
        if self.fractured_level not in levels:
            raise ValueError(
                f"the fractured level {self.fractured_level!r} is not among the phantom levels {list(levels)}"
            )
        if not 0.0 < self.anterior_height_loss < 0.6:
            raise ValueError(f"anterior_height_loss must be in (0, 0.6), got {self.anterior_height_loss}")
        if not 0.0 <= self.restored_fraction <= 1.0:
            raise ValueError(f"restored_fraction must be in [0, 1], got {self.restored_fraction}")
        for tp in TIMEPOINTS:
            self._check_edema_inside_marrow(tp)

    # -- anatomy --------------------------------------------------------------------
    def shape_of(self, level: str, timepoint: Timepoint) -> BodyShape:
        d, hp, hw, drop, rise = NORMAL_BODY_MM[level]
        shape = BodyShape(level, d, hp, hw, drop, rise)
        if level != self.fractured_level:
            return shape
        normal_ha = hp - drop - rise
        lost_mm = self.anterior_height_loss * normal_ha
        extra_depression = self.mid_depression_mm - NORMAL_CONCAVITY_MM
        if timepoint == "post":
            lost_mm *= 1.0 - self.restored_fraction
            extra_depression *= 1.0 - self.restored_fraction
        return replace(
            shape,
            sup_drop_mm=drop + lost_mm,
            sup_concavity_mm=NORMAL_CONCAVITY_MM + extra_depression,
        )

    def vertebrae(self, timepoint: Timepoint) -> tuple[Vertebra, ...]:
        """The placed vertebrae, cranial to caudal, at ``timepoint``."""
        return _place(self, timepoint)

    def vertebra(self, level: str, timepoint: Timepoint) -> Vertebra:
        for v in self.vertebrae(timepoint):
            if v.level == level:
                return v
        raise ValueError(f"level {level!r} is not in the phantom (levels {list(self.levels)})")

    # -- ground truth ------------------------------------------------------------------
    def truth(self, timepoint: Timepoint) -> dict[str, dict[str, tuple[float, float, float]]]:
        """Landmarks of every level in LPS mm, on the mid-sagittal plane."""
        return {lv: t.landmarks_mm for lv, t in self.level_truth(timepoint).items()}

    def level_truth(self, timepoint: Timepoint) -> dict[str, VertebraTruth]:
        _check_timepoint(timepoint)
        out: dict[str, VertebraTruth] = {}
        for v in self.vertebrae(timepoint):
            landmarks = {}
            for key, (u, w) in v.shape.local_landmarks().items():
                y, z = v.pose.to_yz(u, w)
                landmarks[key] = (float(self.midline_x_mm), float(y), float(z))
            edema_mm3 = cement_mm3 = 0.0
            if v.edema is not None:
                inner_a = v.shape.half_width_mm - CORTEX_MM
                inner_b = v.shape.depth_mm / 2 - CORTEX_MM
                edema_mm3 = v.edema.band_mm * math.pi * inner_a * inner_b
                edema_mm3 += _ellipsoid_volume(v.edema.ellipsoid_semi_axes_mm)
                if v.cement:
                    cement_mm3 = _ellipsoid_volume(v.edema.cement_semi_axes_mm)
                    edema_mm3 -= cement_mm3  # the cement lies inside the diffuse ellipsoid
            out[v.level] = VertebraTruth(
                level=v.level,
                status=v.status,
                landmarks_mm=landmarks,
                heights_mm=v.shape.heights_mm,
                vka_deg=v.shape.vka_deg,
                body_volume_mm3=v.shape.volume_mm3,
                edema_volume_mm3=edema_mm3,
                cement_volume_mm3=cement_mm3,
            )
        return out

    def extent_yz_mm(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((y_min, y_max), (z_min, z_max)) of all landmarks over both timepoints."""
        pts = np.array(
            [p for tp in TIMEPOINTS for lm in self.truth(tp).values() for p in lm.values()], dtype=float
        )
        return (float(pts[:, 1].min()), float(pts[:, 1].max())), (
            float(pts[:, 2].min()),
            float(pts[:, 2].max()),
        )

    # -- sampling ---------------------------------------------------------------------
    def classify(
        self, points_mm: ArrayLike, timepoint: Timepoint
    ) -> tuple[NDArray[np.uint8], NDArray[np.int8]]:
        """Tissue of each LPS point (``Tissue`` codes) and the index into ``levels`` of the
        vertebra it belongs to (body, posterior elements, or the disc below it), else -1."""
        _check_timepoint(timepoint)
        p = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        return _classify(self, p, timepoint)

    def labels(
        self, geometry: StackGeometry, timepoint: Timepoint
    ) -> tuple[NDArray[np.uint8], NDArray[np.int8]]:
        """``classify`` at every voxel centre of ``geometry``, shaped (slices, rows, columns)."""
        tissue = np.empty(geometry.shape, dtype=np.uint8)
        level = np.empty(geometry.shape, dtype=np.int8)
        for s0, s1, pts in _voxel_centres(geometry, (0.0, 0.0)):
            t, lv = self.classify(pts, timepoint)
            tissue[s0:s1] = t.reshape(s1 - s0, *geometry.shape[1:])
            level[s0:s1] = lv.reshape(s1 - s0, *geometry.shape[1:])
        return tissue, level

    def render(
        self,
        geometry: StackGeometry,
        contrast: Contrast,
        timepoint: Timepoint,
        *,
        noise_sd: float = 0.0,
        seed: int = 0,
        supersample: int = 1,
    ) -> NDArray[np.float32]:
        """Image values at every voxel of ``geometry``, shape (slices, rows, columns).

        Samples the tissue at each voxel centre; ``supersample = n`` averages an n x n
        grid of in-plane sub-pixel samples (partial volume within the slice plane only).
        ``noise_sd`` adds Gaussian noise (MR values are then clipped at 0).
        """
        if contrast not in INTENSITY:
            raise ValueError(f"contrast {contrast!r} is not supported; expected one of {list(CONTRASTS)}")
        _check_timepoint(timepoint)
        if int(supersample) < 1:
            raise ValueError(f"supersample must be a positive integer, got {supersample}")
        n = int(supersample)
        lut = np.array([INTENSITY[contrast][t] for t in Tissue], dtype=np.float32)
        subs = [((i + 0.5) / n - 0.5, (j + 0.5) / n - 0.5) for i in range(n) for j in range(n)]
        out = np.zeros(geometry.shape, dtype=np.float32)
        for sub in subs:
            for s0, s1, pts in _voxel_centres(geometry, sub):
                t, _ = self.classify(pts, timepoint)
                out[s0:s1] += lut[t].reshape(s1 - s0, *geometry.shape[1:])
        out /= len(subs)
        if noise_sd > 0:
            out += np.random.default_rng(seed).normal(0.0, noise_sd, out.shape).astype(np.float32)
            if contrast != "CT":
                np.clip(out, 0.0, None, out=out)
        return out

    # -- checks -----------------------------------------------------------------------
    def _check_edema_inside_marrow(self, timepoint: Timepoint) -> None:
        """The exact edema volume relies on the band and ellipsoid being disjoint and inside
        the marrow; verify it on the ellipsoid's surface and the band's extreme columns."""
        v = self.vertebra(self.fractured_level, timepoint)
        if v.edema is None:
            return
        shape = v.shape
        u_c, w_c = v.ellipsoid_centre_uw()
        ax = np.asarray(v.edema.ellipsoid_semi_axes_mm)
        if v.cement and np.any(np.asarray(v.edema.cement_semi_axes_mm) > ax):
            raise ValueError("the cement ellipsoid must fit inside the diffuse edema ellipsoid")
        th, ph = np.meshgrid(np.linspace(0, np.pi, 91), np.linspace(0, 2 * np.pi, 181), indexing="ij")
        dx = ax[0] * np.sin(th) * np.cos(ph)
        u = u_c + ax[1] * np.sin(th) * np.sin(ph)
        w = w_c + ax[2] * np.cos(th)
        band_floor = shape.superior_w(u) - CORTEX_MM - v.edema.band_mm
        ok = bool(
            shape.footprint(dx, u, CORTEX_MM).all()
            and np.all(w < band_floor)
            and np.all(w > shape.inferior_w(u) + CORTEX_MM)
        )
        us = np.linspace(-shape.depth_mm + CORTEX_MM, -CORTEX_MM, 801)
        heights = shape.superior_w(us) - shape.inferior_w(us)
        ok = ok and bool(np.all(heights > v.edema.band_mm + 2 * CORTEX_MM))
        if not ok:
            raise ValueError(
                f"the edema of {v.level} ({timepoint}) does not fit inside the marrow; "
                "reduce the band or the ellipsoid, or the fracture severity"
            )


def _check_timepoint(timepoint: str) -> None:
    if timepoint not in TIMEPOINTS:
        raise ValueError(f"timepoint {timepoint!r} is not supported; expected 'pre' or 'post'")


@lru_cache(maxsize=64)
def _place(phantom: SpinePhantom, timepoint: Timepoint) -> tuple[Vertebra, ...]:
    """Stack the bodies from the lowest level upwards, each on its disc.

    The column is then rotated so that (pre-op) the line from the lowest body's centre to
    the highest's is vertical, tilted by ``lean_deg``, and moved to ``base_yz_mm``; the
    same rotation and shift serve post-op so the lowest level stays put.
    """
    caudal_first = list(reversed(phantom.levels))

    def chain(tp: Timepoint) -> list[tuple[BodyShape, Pose]]:
        placed: list[tuple[BodyShape, Pose]] = []
        for level in caudal_first:
            shape = phantom.shape_of(level, tp)
            if not placed:
                placed.append((shape, Pose((0.0, 0.0), 0.0)))
                continue
            lower, lower_pose = placed[-1]
            disc_mm, disc_deg = DISC_BELOW_MM_DEG[level]
            beta_low = lower_pose.angle_rad + math.atan(lower.sup_drop_mm / lower.depth_mm)
            beta_up = beta_low + math.radians(disc_deg)
            angle = beta_up + math.atan(shape.inf_rise_mm / shape.depth_mm)
            sy, sz = lower_pose.to_yz(0.0, lower.posterior_height_mm)
            origin = (sy - disc_mm * math.sin(beta_low), sz + disc_mm * math.cos(beta_low))
            placed.append((shape, Pose(origin, angle)))
        return placed

    pre = chain("pre")
    (b_shape, b_pose), (t_shape, t_pose) = pre[0], pre[-1]
    b = np.array(b_pose.to_yz(-b_shape.depth_mm / 2, b_shape.posterior_height_mm / 2))
    t = np.array(t_pose.to_yz(-t_shape.depth_mm / 2, t_shape.posterior_height_mm / 2))
    axis = t - b
    # Rotate so the axis points to +Z, then lean forwards (towards -Y, anterior).
    rotation = math.pi / 2 - math.atan2(axis[1], axis[0]) + math.radians(phantom.lean_deg)
    placed = chain(timepoint)
    out = []
    for shape, pose in placed:
        level = shape.level
        idx = phantom.levels.index(level)
        final = pose.rotated(rotation).shifted(*phantom.base_yz_mm)
        above = DISC_BELOW_MM_DEG[phantom.levels[idx - 1]][0] if idx > 0 else DISC_BELOW_MM_DEG[level][0]
        below = DISC_BELOW_MM_DEG[level][0]
        fractured = level == phantom.fractured_level
        status: Status = ("fractured" if timepoint == "pre" else "augmented") if fractured else "normal"
        out.append(
            Vertebra(
                shape=shape,
                pose=final,
                status=status,
                disc_above_mm=above,
                disc_below_mm=below,
                edema=phantom.edema if fractured else None,
                cement=fractured and timepoint == "post",
            )
        )
    return tuple(reversed(out))


def _voxel_centres(geometry: StackGeometry, sub: tuple[float, float], max_points: int = 400_000):
    """Yield (first slice, end slice, LPS points (n, 3)) in slice chunks, so memory stays small."""
    n_slices, rows, columns = geometry.shape
    per_slice = rows * columns
    step = max(1, max_points // per_slice)
    r, c = np.meshgrid(
        np.arange(rows, dtype=float) + sub[1], np.arange(columns, dtype=float) + sub[0], indexing="ij"
    )
    for s0 in range(0, n_slices, step):
        s1 = min(n_slices, s0 + step)
        s = np.arange(s0, s1, dtype=float)[:, None, None]
        cc = np.broadcast_to(c, (s1 - s0, rows, columns))
        rr = np.broadcast_to(r, (s1 - s0, rows, columns))
        ss = np.broadcast_to(s, (s1 - s0, rows, columns))
        yield s0, s1, geometry.index_to_lps(cc, rr, ss).reshape(-1, 3)


def _classify(phantom: SpinePhantom, p: NDArray[np.float64], timepoint: Timepoint) -> tuple[NDArray, NDArray]:
    n = len(p)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    dx = x - phantom.midline_x_mm
    tissue = np.full(n, Tissue.AIR, dtype=np.uint8)
    level = np.full(n, -1, dtype=np.int8)
    verts = phantom.vertebrae(timepoint)

    # Trunk outline (fixed by the pre-op column so it does not move post-op).
    y_lo, y_hi = _trunk_y_range(phantom)
    yc, ay = (y_lo + y_hi) / 2, (y_hi - y_lo) / 2
    r_outer = (dx / TRUNK_HALF_WIDTH_MM) ** 2 + ((y - yc) / ay) ** 2
    tissue[r_outer <= 1.0] = Tissue.FAT
    inner = (dx / (TRUNK_HALF_WIDTH_MM - SUBCUTANEOUS_FAT_MM)) ** 2 + (
        (y - yc) / (ay - SUBCUTANEOUS_FAT_MM)
    ) ** 2
    tissue[inner <= 1.0] = Tissue.SOFT

    local = [v.pose.to_local(y, z) for v in verts]
    last = len(verts) - 1
    tol = BOUNDARY_TOLERANCE_MM
    # Pass 1: discs, posterior elements and canal (bodies are painted over them).
    for i, v in enumerate(verts):
        u, w = local[i]
        sh = v.shape
        reach = 400.0 if i in (0, last) else 0.0  # the canal runs on beyond the end levels
        near = np.flatnonzero(
            (np.abs(dx) < max(sh.half_width_mm, CANAL_HALF_WIDTH_MM + LAMINA_MM + 6.0) + 2.0)
            & (u > -sh.depth_mm - 3.0)
            & (u < CANAL_GAP_MM + 2 * CANAL_HALF_DEPTH_MM + LAMINA_MM + SPINOUS_LENGTH_MM + 3.0)
            & (w > -v.disc_below_mm - 6.0 - (reach if i == last else 0.0))
            & (w < sh.posterior_height_mm + v.disc_above_mm + 6.0 + (reach if i == 0 else 0.0))
        )
        if near.size == 0:
            continue
        dxn, un, wn = dx[near], u[near], w[near]
        # Disc below this body: down to the next body's superior endplate (or a flat end).
        if i < last:
            lower = verts[i + 1]
            ul, wl = local[i + 1][0][near], local[i + 1][1][near]
            above_lower = wl >= lower.shape.superior_w(ul) - tol
            mean_w = (sh.half_width_mm + lower.shape.half_width_mm) / 2
            mean_d = (sh.depth_mm + lower.shape.depth_mm) / 2
            in_profile = (dxn / mean_w) ** 2 + ((ul + mean_d / 2) / (mean_d / 2)) ** 2 <= 1.0
        else:
            above_lower = wn >= -v.disc_below_mm
            in_profile = sh.footprint(dxn, un)
        disc = above_lower & (wn <= sh.inferior_w(un) + tol) & in_profile
        if i == 0:  # disc above the top level, to a flat end
            top = (wn >= sh.superior_w(un) - tol) & (wn <= sh.posterior_height_mm + v.disc_above_mm)
            disc |= top & sh.footprint(dxn, un)
        tissue[near[disc]] = Tissue.DISC
        level[near[disc]] = i
        # Posterior elements: pedicles, laminae (ring round the canal) and spinous process.
        hp = sh.posterior_height_mm
        uc = CANAL_GAP_MM + CANAL_HALF_DEPTH_MM
        canal_r = (dxn / CANAL_HALF_WIDTH_MM) ** 2 + ((un - uc) / CANAL_HALF_DEPTH_MM) ** 2
        ring_r = (dxn / (CANAL_HALF_WIDTH_MM + LAMINA_MM)) ** 2 + (
            (un - uc) / (CANAL_HALF_DEPTH_MM + LAMINA_MM)
        ) ** 2
        adx = np.abs(dxn)
        pedicle = (
            (adx >= CANAL_HALF_WIDTH_MM - 1.0)
            & (adx <= CANAL_HALF_WIDTH_MM + LAMINA_MM)
            & (un >= -3.0)
            & (un <= uc)
            & (wn >= 0.35 * hp)
            & (wn <= 0.85 * hp)
        )
        lamina = (un >= uc) & (ring_r <= 1.0) & (canal_r > 1.0) & (wn >= 0.2 * hp) & (wn <= 0.9 * hp)
        u_sp = uc + CANAL_HALF_DEPTH_MM
        spinous = (
            (adx <= SPINOUS_HALF_WIDTH_MM)
            & (un >= u_sp)
            & (un <= u_sp + SPINOUS_LENGTH_MM)
            & (wn >= 0.15 * hp - 0.25 * (un - u_sp))
            & (wn <= 0.8 * hp - 0.25 * (un - u_sp))
        )
        bone = pedicle | lamina | spinous
        tissue[near[bone]] = Tissue.POSTERIOR_BONE
        level[near[bone]] = i
        lo = -v.disc_below_mm / 2 - 0.5 - (reach if i == last else 0.0)
        hi = hp + v.disc_above_mm / 2 + 0.5 + (reach if i == 0 else 0.0)
        canal = (canal_r <= 1.0) & (wn >= lo) & (wn <= hi)
        tissue[near[canal]] = Tissue.CSF
        level[near[canal]] = -1
    # Pass 2: the bodies, their marrow, edema and cement.
    for i, v in enumerate(verts):
        u, w = local[i]
        sh = v.shape
        near = np.flatnonzero(
            (np.abs(dx) <= sh.half_width_mm + 1.0)
            & (u >= -sh.depth_mm - 1.0)
            & (u <= 1.0)
            & (w >= -sh.depth_mm)  # generous: endplates can slope
            & (w <= sh.posterior_height_mm + sh.depth_mm)
        )
        if near.size == 0:
            continue
        dxn, un, wn = dx[near], u[near], w[near]
        w_sup, w_inf = sh.superior_w(un), sh.inferior_w(un)
        body = sh.footprint(dxn, un) & (wn <= w_sup + tol) & (wn >= w_inf - tol)
        marrow = (
            body & sh.footprint(dxn, un, CORTEX_MM) & (wn <= w_sup - CORTEX_MM) & (wn >= w_inf + CORTEX_MM)
        )
        tissue[near[body]] = Tissue.CORTEX
        tissue[near[marrow]] = Tissue.CANCELLOUS
        level[near[body]] = i
        if v.edema is None:
            continue
        e = v.edema
        band = marrow & (wn >= w_sup - CORTEX_MM - e.band_mm)
        u_c, w_c = v.ellipsoid_centre_uw()
        a, b, c = e.ellipsoid_semi_axes_mm
        diffuse = (dxn / a) ** 2 + ((un - u_c) / b) ** 2 + ((wn - w_c) / c) ** 2 <= 1.0
        tissue[near[band | (diffuse & marrow)]] = Tissue.EDEMA
        if v.cement:
            a, b, c = e.cement_semi_axes_mm
            cement = (dxn / a) ** 2 + ((un - u_c) / b) ** 2 + ((wn - w_c) / c) ** 2 <= 1.0
            tissue[near[cement & marrow]] = Tissue.CEMENT
    return tissue, level


@lru_cache(maxsize=16)
def _trunk_y_range(phantom: SpinePhantom) -> tuple[float, float]:
    ys = []
    for v in phantom.vertebrae("pre"):
        for u in (-v.shape.depth_mm, 0.0):
            for w in (0.0, v.shape.posterior_height_mm):
                ys.append(v.pose.to_yz(u, w)[0])
    return min(ys) - SKIN_BEFORE_ANTERIOR_WALL_MM, max(ys) + SKIN_BEHIND_POSTERIOR_WALL_MM


# -- module-level conveniences on the default phantom (T11-L3, L1 fractured) ------------


@lru_cache(maxsize=1)
def default_phantom() -> SpinePhantom:
    return SpinePhantom()


def render(
    geometry: StackGeometry,
    contrast: Contrast,
    timepoint: Timepoint,
    *,
    noise_sd: float = 0.0,
    seed: int = 0,
    supersample: int = 1,
) -> NDArray[np.float32]:
    """Render the default phantom; see :meth:`SpinePhantom.render`."""
    return default_phantom().render(
        geometry, contrast, timepoint, noise_sd=noise_sd, seed=seed, supersample=supersample
    )


def truth(timepoint: Timepoint) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Landmarks (LPS mm) of the default phantom; see :meth:`SpinePhantom.truth`."""
    return default_phantom().truth(timepoint)


def level_truth(timepoint: Timepoint) -> dict[str, VertebraTruth]:
    """Status, heights, VKA and edema of each level of the default phantom."""
    return default_phantom().level_truth(timepoint)
