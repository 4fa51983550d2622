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
``measure`` package, so that the two can check each other.  The tissues, dimensions and
shapes are in :mod:`dicomio.synthetic.phantom_anatomy`; sampling them at points, voxels
and images in :mod:`dicomio.synthetic.phantom_render`; this module places the vertebrae
and computes the truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.geometry import StackGeometry
from dicomio.synthetic import phantom_render
from dicomio.synthetic.phantom_anatomy import (
    CORTEX_MM,
    DEFAULT_LEVELS,
    DISC_BELOW_MM_DEG,
    NORMAL_BODY_MM,
    NORMAL_CONCAVITY_MM,
    TIMEPOINTS,
    BodyShape,
    Contrast,
    EdemaSpec,
    Pose,
    Status,
    Timepoint,
    Vertebra,
    VertebraTruth,
    check_timepoint,
)


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
        check_timepoint(timepoint)
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

    # -- sampling (dicomio.synthetic.phantom_render) ------------------------------------
    def classify(
        self, points_mm: ArrayLike, timepoint: Timepoint
    ) -> tuple[NDArray[np.uint8], NDArray[np.int8]]:
        """Tissue of each LPS point (``Tissue`` codes) and the index into ``levels`` of the
        vertebra it belongs to (body, posterior elements, or the disc below it), else -1."""
        check_timepoint(timepoint)
        p = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        return phantom_render.classify_points(self, p, timepoint)

    def labels(
        self, geometry: StackGeometry, timepoint: Timepoint
    ) -> tuple[NDArray[np.uint8], NDArray[np.int8]]:
        """``classify`` at every voxel centre of ``geometry``, shaped (slices, rows, columns)."""
        return phantom_render.labels(self, geometry, timepoint)

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
        return phantom_render.render(
            self, geometry, contrast, timepoint, noise_sd=noise_sd, seed=seed, supersample=supersample
        )

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
