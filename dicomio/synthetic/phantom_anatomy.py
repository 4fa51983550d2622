"""What the analytic spine phantom is made of, in closed form.

Tissue classes and their intensity per contrast, the normal body and disc dimensions
per level, and the shapes :class:`~dicomio.synthetic.phantom.SpinePhantom` is built
from: a vertebral body in its own sagittal frame ``(u, w)`` with its exact heights,
angle and volume (:class:`BodyShape`), where it sits (:class:`Pose`), the marrow edema
(:class:`EdemaSpec`), a placed vertebra (:class:`Vertebra`) and what a correct
measurement of it must find (:class:`VertebraTruth`).  The frame and why the volumes
are exact are described in :mod:`dicomio.synthetic.phantom`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

import numpy as np
from numpy.typing import NDArray

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


def check_timepoint(timepoint: str) -> None:
    """Raise ``ValueError`` in a sentence unless ``timepoint`` is one the phantom models."""
    if timepoint not in TIMEPOINTS:
        raise ValueError(f"timepoint {timepoint!r} is not supported; expected 'pre' or 'post'")
