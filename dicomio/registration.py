"""Rigid registration of two image stacks in patient space (SimpleITK), for carrying
landmarks from one timepoint to the next.

Both stacks come in as numpy arrays ``(slices, rows, columns)`` with their
:class:`~dicomio.geometry.StackGeometry`; ITK's physical space *is* LPS, so the transform
found maps a point of the first (fixed) stack's patient space onto the same anatomy in the
second (moving) stack's patient space: ``p_later = R p_earlier + t`` when the earlier
series is the fixed one.  Only a neighbourhood of the fixed stack (a box around a vertebra)
drives the metric, so each body gets its own transform (bodies move between timepoints).

A stack thinner than :data:`THIN_STACK_MM` (a few sagittal slices) cannot constrain motion
across its slices: the registration then moves only within the slice plane (rotation about
the axis closest to the normal, translation along the two others).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.geometry import StackGeometry

#: Stacks covering less than this across their slices are registered in-plane only.
THIN_STACK_MM = 20.0
#: Below this fraction of the fixed region inside the moving stack there is nothing to register.
MIN_OVERLAP = 0.25


@dataclass(frozen=True)
class RigidTransform:
    """``p -> rotation @ p + translation`` (LPS mm)."""

    rotation: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def from_matrix(cls, rotation: ArrayLike, translation_mm: ArrayLike) -> RigidTransform:
        r = np.asarray(rotation, dtype=float).reshape(3, 3)
        t = np.asarray(translation_mm, dtype=float).reshape(3)
        return cls(
            tuple((float(row[0]), float(row[1]), float(row[2])) for row in r),
            (float(t[0]), float(t[1]), float(t[2])),
        )

    @property
    def matrix(self) -> NDArray[np.float64]:
        return np.asarray(self.rotation, dtype=float)

    def apply(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        p = np.asarray(points_mm, dtype=float)
        return p @ self.matrix.T + np.asarray(self.translation_mm)

    def inverse(self) -> RigidTransform:
        r = self.matrix.T
        return RigidTransform.from_matrix(r, -r @ np.asarray(self.translation_mm))


@dataclass(frozen=True)
class Registration:
    """The transform found, the final metric (correlation: -1 best), and whether ITK ran
    to a result (False: ``transform`` is the initial one)."""

    transform: RigidTransform
    metric: float
    ok: bool
    message: str = ""


def _box_indices(
    geometry: StackGeometry, lo_mm: NDArray[np.float64], hi_mm: NDArray[np.float64]
) -> tuple[slice, ...]:
    """Array slices (slice, row, column) covering the LPS box [lo, hi]."""
    corners = np.array(
        [[x, y, z] for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1]) for z in (lo_mm[2], hi_mm[2])]
    )
    col, row, _ = geometry.first.lps_to_pixel(corners)
    k = geometry.slice_index_of(corners)
    n_k, n_r, n_c = geometry.shape
    out = []
    for idx, n in ((k, n_k), (row, n_r), (col, n_c)):
        a = int(np.clip(np.floor(np.min(idx)) - 1, 0, n - 1))
        b = int(np.clip(np.ceil(np.max(idx)) + 2, a + 1, n))
        out.append(slice(a, b))
    return tuple(out)


def _itk_image(
    values: NDArray[Any], geometry: StackGeometry, box: tuple[slice, ...] | None, ceiling: float | None
) -> Any:
    import SimpleITK  # imported where it is used (start-up time)

    sub = np.asarray(values if box is None else values[box], dtype=np.float32)
    if ceiling is not None:
        sub = np.minimum(sub, np.float32(ceiling))
    k0 = 0 if box is None else box[0].start
    r0 = 0 if box is None else box[1].start
    c0 = 0 if box is None else box[2].start
    image = SimpleITK.GetImageFromArray(np.ascontiguousarray(sub))
    first = geometry.first
    row_mm, col_mm = first.pixel_spacing_mm
    spacing = geometry.slice_spacing_mm or 1.0
    image.SetSpacing((float(col_mm), float(row_mm), float(abs(spacing))))
    origin = geometry.index_to_lps(c0, r0, k0)
    image.SetOrigin(tuple(float(v) for v in np.asarray(origin).reshape(3)))
    d = np.column_stack([first.row_cosine, first.col_cosine, geometry.normal])
    image.SetDirection(tuple(float(v) for v in d.reshape(-1)))
    return image


def _overlap(
    fixed_geometry: StackGeometry, box: tuple[slice, ...] | None, moving: StackGeometry, init: RigidTransform
) -> float:
    """Fraction of the fixed region (a coarse grid of its voxels) that ``init`` maps into the
    moving stack: ITK only warns, and returns the start, when nothing overlaps."""
    n_k, n_r, n_c = fixed_geometry.shape
    ks, rs, cs = box if box is not None else (slice(0, n_k), slice(0, n_r), slice(0, n_c))
    grid = np.meshgrid(
        np.linspace(cs.start, cs.stop - 1, 7),
        np.linspace(rs.start, rs.stop - 1, 7),
        np.linspace(ks.start, ks.stop - 1, 3),
        indexing="ij",
    )
    pts = init.apply(fixed_geometry.index_to_lps(*(g.ravel() for g in grid)))
    col, row, _ = moving.first.lps_to_pixel(pts)
    k = moving.slice_index_of(pts)
    m_k, m_r, m_c = moving.shape
    inside = (
        (col > -0.5) & (col < m_c - 0.5) & (row > -0.5) & (row < m_r - 0.5) & (k > -0.5) & (k < m_k - 0.5)
    )
    return float(np.mean(inside))


def _extent_across_mm(geometry: StackGeometry) -> float:
    offs = geometry.slice_offsets_mm
    spacing = geometry.slice_spacing_mm or 0.0
    return float(offs[-1] - offs[0]) + abs(spacing)


def register_rigid(
    fixed: NDArray[Any],
    fixed_geometry: StackGeometry,
    moving: NDArray[Any],
    moving_geometry: StackGeometry,
    *,
    centre_mm: ArrayLike | None = None,
    half_size_mm: ArrayLike | None = None,
    initial: RigidTransform | None = None,
    ceiling: float | None = None,
    shrink: tuple[int, ...] = (2, 1),
    iterations: int = 120,
) -> Registration:
    """The rigid transform (fixed LPS -> moving LPS) that best aligns the box
    ``centre_mm +/- half_size_mm`` of the fixed stack (whole stack: None) with the moving one.

    ``ceiling`` clips both images first (CT: cement and metal no brighter than cortex).
    The metric is the correlation (robust to a change of window/gain between sessions).
    """
    import SimpleITK

    init = initial or RigidTransform()
    box_f = box_m = None
    if centre_mm is not None and half_size_mm is not None:
        c = np.asarray(centre_mm, dtype=float).reshape(3)
        h = np.asarray(half_size_mm, dtype=float) * np.ones(3)
        box_f = _box_indices(fixed_geometry, c - h, c + h)
        cm = init.apply(c)
        hm = h + 0.5 * float(np.max(h)) + 10.0  # room for the motion still to be found
        box_m = _box_indices(moving_geometry, cm - hm, cm + hm)
    if _overlap(fixed_geometry, box_f, moving_geometry, init) < MIN_OVERLAP:
        return Registration(init, float("nan"), False, "the two stacks do not overlap")
    f_img = _itk_image(fixed, fixed_geometry, box_f, ceiling)
    m_img = _itk_image(moving, moving_geometry, box_m, ceiling)

    centre = np.asarray(f_img.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in f_img.GetSize()]))
    euler = SimpleITK.Euler3DTransform()
    euler.SetCenter(tuple(float(v) for v in centre))
    # ITK's centred form: p' = R (p - c) + c + t; ours: p' = R p + t0.
    r0 = init.matrix
    euler.SetMatrix(tuple(float(v) for v in r0.reshape(-1)))
    euler.SetTranslation(tuple(float(v) for v in (r0 @ centre + np.asarray(init.translation_mm) - centre)))

    reg = SimpleITK.ImageRegistrationMethod()
    reg.SetMetricAsCorrelation()
    reg.SetMetricSamplingStrategy(reg.NONE)
    reg.SetInterpolator(SimpleITK.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-3, numberOfIterations=iterations, relaxationFactor=0.6
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    if min(_extent_across_mm(fixed_geometry), _extent_across_mm(moving_geometry)) < THIN_STACK_MM:
        axis = int(np.argmax(np.abs(fixed_geometry.normal)))
        weights = [0.0] * 6
        weights[axis] = 1.0  # rotation about the normal
        for i in range(3):
            if i != axis:
                weights[3 + i] = 1.0  # translation in the plane
        reg.SetOptimizerWeights(weights)
        # Too few slices to shrink or smooth across (ITK's smoothing needs 4 along each axis).
        reg.SetShrinkFactorsPerLevel(shrinkFactors=[1] * len(shrink))
        reg.SetSmoothingSigmasPerLevel(smoothingSigmas=[0.0] * len(shrink))
        reg.MetricUseFixedImageGradientFilterOff()
        reg.MetricUseMovingImageGradientFilterOff()
    else:
        reg.SetShrinkFactorsPerLevel(shrinkFactors=list(shrink))
        reg.SetSmoothingSigmasPerLevel(smoothingSigmas=[max(0.0, s - 1.0) for s in shrink])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(euler, inPlace=True)
    try:
        reg.Execute(f_img, m_img)
    except RuntimeError as exc:  # too few overlapping samples, a degenerate region
        return Registration(init, float("nan"), False, str(exc).strip().splitlines()[-1] if str(exc) else "")
    metric = float(reg.GetMetricValue())
    if not np.isfinite(metric):
        return Registration(init, metric, False, "no valid samples")
    m = np.asarray(euler.GetMatrix(), dtype=float).reshape(3, 3)
    t = np.asarray(euler.GetTranslation(), dtype=float)
    c = np.asarray(euler.GetCenter(), dtype=float)
    found = RigidTransform.from_matrix(m, t + c - m @ c)
    return Registration(found, metric, True, reg.GetOptimizerStopConditionDescription())
