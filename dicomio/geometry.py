"""Exact pixel <-> patient (LPS, mm) geometry: the one place where it lives.

Conventions (DICOM PS3.3 C.7.6.2.1.1, the same as highdicom's ``spatial.py``):

* Pixel indices are ``(column, row)`` for one image and ``(column, row, slice)`` for a
  stack, zero-based, and an integer index is the **centre** of a pixel.
* ``ImagePositionPatient`` is the LPS position of the centre of pixel ``(0, 0)``.
* ``ImageOrientationPatient[:3]`` (``row_cosine``) is the direction of increasing
  *column* index (along a row, screen right); ``[3:]`` (``col_cosine``) is the direction
  of increasing *row* index (down a column, screen down).
* ``PixelSpacing`` is ``(row spacing, column spacing)``: the distance between the
  centres of adjacent **rows** first, then of adjacent **columns**.  So a step of one
  column moves ``PixelSpacing[1]`` mm along ``row_cosine``.
* Patient LPS: +X is patient left, +Y is patient **posterior**, +Z is patient superior.
  Anterior is therefore -Y, whatever the screen shows.

Nothing here knows about files; ``dicomio.headers`` turns headers into these objects.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Plane = Literal["sagittal", "coronal", "axial", "oblique"]
ScreenDirection = Literal["left", "right", "up", "down"]

#: Patient directions in LPS.
ANTERIOR_LPS = np.array([0.0, -1.0, 0.0])
POSTERIOR_LPS = np.array([0.0, 1.0, 0.0])
SUPERIOR_LPS = np.array([0.0, 0.0, 1.0])
LEFT_LPS = np.array([1.0, 0.0, 0.0])

#: A plane is named after an axis when its normal lies within this angle of it; the
#: real sagittal spine series we see are tilted by up to ~10-15 deg, hence the margin.
NAMED_PLANE_MAX_OBLIQUITY_DEG = 30.0
#: A screen direction is reported as e.g. "anterior" when the patient direction lies
#: within 60 deg of it (cosine >= 0.5); otherwise the plane "has none".
SCREEN_DIRECTION_MIN_COSINE = 0.5

_ORIENTATION_TOLERANCE = 1e-3


def _unit(vector: ArrayLike, what: str) -> NDArray[np.float64]:
    v = np.asarray(vector, dtype=float).reshape(3)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError(f"{what} must be a non-zero 3-vector, got {list(v)}")
    return v / norm


def orientation_from_iop(
    iop: Sequence[float],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Split and normalise ImageOrientationPatient into (row_cosine, col_cosine).

    Raises ``ValueError`` when the six values are not two (nearly) orthogonal vectors,
    which is what a corrupt or hand-edited header looks like.
    """
    values = [float(x) for x in iop]
    if len(values) != 6:
        raise ValueError(f"ImageOrientationPatient needs 6 values, got {len(values)}")
    row = _unit(values[:3], "ImageOrientationPatient row direction")
    col = _unit(values[3:], "ImageOrientationPatient column direction")
    if abs(float(np.dot(row, col))) > 1e-2:
        raise ValueError(
            "ImageOrientationPatient directions are not orthogonal "
            f"(dot product {float(np.dot(row, col)):.3f}); expected two perpendicular unit vectors"
        )
    # Re-orthogonalise tiny rounding so that transforms invert exactly.
    col = col - np.dot(col, row) * row
    col = col / np.linalg.norm(col)
    return row, col


@functools.lru_cache(maxsize=1024)
def _cosines(iop: tuple[float, ...]) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """:func:`orientation_from_iop` as tuples, remembered: the slices of a series share
    their orientation, and the numpy arithmetic was a tenth of the header scan."""
    row, col = orientation_from_iop(iop)
    r, c = row.tolist(), col.tolist()
    return (r[0], r[1], r[2]), (c[0], c[1], c[2])


def plane_of(normal: ArrayLike) -> Plane:
    """Name the plane whose normal is ``normal`` (sagittal: normal along L-R, ...)."""
    n = _unit(normal, "plane normal")
    axis = int(np.argmax(np.abs(n)))
    obliquity_deg = float(np.degrees(np.arccos(min(1.0, abs(float(n[axis]))))))
    if obliquity_deg > NAMED_PLANE_MAX_OBLIQUITY_DEG:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]  # type: ignore[return-value]


def obliquity_deg(normal: ArrayLike) -> float:
    """Angle (deg) between ``normal`` and the nearest patient axis."""
    n = _unit(normal, "plane normal")
    return float(np.degrees(np.arccos(min(1.0, float(np.max(np.abs(n)))))))


def screen_direction_of(
    patient_direction: ArrayLike,
    row_cosine: ArrayLike,
    col_cosine: ArrayLike,
) -> ScreenDirection | None:
    """Which way on screen (column right, row down) a patient direction points.

    Returns ``None`` when the patient direction is mostly out of the image plane (an
    axial image has no "superior" on screen).
    """
    d = _unit(patient_direction, "patient direction")
    along_columns = float(np.dot(d, _unit(row_cosine, "row cosine")))  # +: screen right
    along_rows = float(np.dot(d, _unit(col_cosine, "column cosine")))  # +: screen down
    if max(abs(along_columns), abs(along_rows)) < SCREEN_DIRECTION_MIN_COSINE:
        return None
    if abs(along_columns) >= abs(along_rows):
        return "right" if along_columns > 0 else "left"
    return "down" if along_rows > 0 else "up"


@dataclass(frozen=True)
class ImageGeometry:
    """Geometry of one 2-D image (one frame): exact pixel <-> LPS transforms."""

    position_mm: tuple[float, float, float]
    row_cosine: tuple[float, float, float]
    col_cosine: tuple[float, float, float]
    pixel_spacing_mm: tuple[float, float]  # (row spacing, column spacing)
    rows: int
    columns: int

    @classmethod
    def from_dicom(
        cls,
        image_position: Sequence[float],
        image_orientation: Sequence[float],
        pixel_spacing: Sequence[float],
        rows: int,
        columns: int,
    ) -> ImageGeometry:
        """Build from the raw DICOM attribute values, validating them."""
        row, col = _cosines(tuple(float(x) for x in image_orientation))
        pos = [float(x) for x in image_position]
        if len(pos) != 3 or not all(math.isfinite(v) for v in pos):
            raise ValueError(f"ImagePositionPatient needs 3 finite values, got {list(image_position)}")
        spacing = [float(x) for x in pixel_spacing]
        if len(spacing) != 2 or min(spacing) <= 0 or not all(np.isfinite(spacing)):
            raise ValueError(f"PixelSpacing needs 2 positive values (row, column), got {spacing}")
        if int(rows) <= 0 or int(columns) <= 0:
            raise ValueError(f"Rows and Columns must be positive, got {rows} x {columns}")
        return cls(
            position_mm=(pos[0], pos[1], pos[2]),
            row_cosine=row,
            col_cosine=col,
            pixel_spacing_mm=(spacing[0], spacing[1]),
            rows=int(rows),
            columns=int(columns),
        )

    # -- derived -------------------------------------------------------------------
    @cached_property
    def _normal(self) -> tuple[float, float, float]:
        r, c = self.row_cosine, self.col_cosine
        n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
        length = math.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
        return (n[0] / length, n[1] / length, n[2] / length)

    @property
    def normal(self) -> NDArray[np.float64]:
        """Unit normal ``row_cosine x col_cosine`` (the slice direction of a stack)."""
        return np.array(self._normal)

    @property
    def orientation(self) -> tuple[float, ...]:
        """The six direction cosines, as in ImageOrientationPatient."""
        return tuple(self.row_cosine) + tuple(self.col_cosine)

    @property
    def plane(self) -> Plane:
        return plane_of(self.normal)

    @property
    def anterior(self) -> ScreenDirection | None:
        """Screen direction of patient anterior (LPS -Y) on this image."""
        return screen_direction_of(ANTERIOR_LPS, self.row_cosine, self.col_cosine)

    @property
    def superior(self) -> ScreenDirection | None:
        """Screen direction of patient superior (LPS +Z) on this image."""
        return screen_direction_of(SUPERIOR_LPS, self.row_cosine, self.col_cosine)

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) in mm, edge to edge."""
        return (self.columns * self.pixel_spacing_mm[1], self.rows * self.pixel_spacing_mm[0])

    def pixel_to_patient_matrix(self) -> NDArray[np.float64]:
        """4x4 affine taking homogeneous ``(column, row, 0, 1)`` to LPS mm."""
        m = np.eye(4)
        m[:3, 0] = np.asarray(self.row_cosine) * self.pixel_spacing_mm[1]
        m[:3, 1] = np.asarray(self.col_cosine) * self.pixel_spacing_mm[0]
        m[:3, 2] = self.normal
        m[:3, 3] = self.position_mm
        return m

    # -- transforms ----------------------------------------------------------------
    def pixel_to_lps(self, column: ArrayLike, row: ArrayLike) -> NDArray[np.float64]:
        """LPS mm of pixel position(s) ``(column, row)``; integer = pixel centre.

        Accepts scalars or equal-shaped arrays; returns shape ``(..., 3)``.
        """
        c = np.asarray(column, dtype=float)[..., None]
        r = np.asarray(row, dtype=float)[..., None]
        return (
            np.asarray(self.position_mm)
            + c * self.pixel_spacing_mm[1] * np.asarray(self.row_cosine)
            + r * self.pixel_spacing_mm[0] * np.asarray(self.col_cosine)
        )

    def lps_to_pixel(self, points_mm: ArrayLike) -> tuple[NDArray[np.float64], ...]:
        """Inverse of :meth:`pixel_to_lps`: ``(column, row, distance_mm)``.

        ``distance_mm`` is the signed distance of each point from the image plane along
        :attr:`normal`; the caller decides how far off-plane is acceptable.
        """
        p = np.asarray(points_mm, dtype=float)
        d = p - np.asarray(self.position_mm)
        column = d @ np.asarray(self.row_cosine) / self.pixel_spacing_mm[1]
        row = d @ np.asarray(self.col_cosine) / self.pixel_spacing_mm[0]
        distance = d @ self.normal
        return column, row, distance

    def same_orientation(self, other: ImageGeometry, tol: float = _ORIENTATION_TOLERANCE) -> bool:
        """Whether both direction cosines agree within ``tol`` (plain floats: hot in scans)."""
        pairs = zip(self.row_cosine + self.col_cosine, other.row_cosine + other.col_cosine, strict=True)
        return all(abs(a - b) <= tol for a, b in pairs)


@dataclass(frozen=True)
class StackGeometry:
    """Geometry of an ordered stack of parallel images of one size and orientation.

    ``slices[k]`` is the geometry of slice ``k``; slices are ordered by increasing
    position along :attr:`normal`.  A fractional slice index is interpolated linearly
    between the two neighbouring slice positions, so uneven spacing stays exact at the
    slices themselves.
    """

    slices: tuple[ImageGeometry, ...]
    _offsets_mm: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _origins_mm: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.slices:
            raise ValueError("a stack needs at least one image")
        first = self.slices[0]
        for k, s in enumerate(self.slices[1:], start=1):
            if not first.same_orientation(s):
                raise ValueError(f"slice {k} has another orientation than slice 0")
            if (s.rows, s.columns) != (first.rows, first.columns):
                raise ValueError(
                    f"slice {k} is {s.rows}x{s.columns}, slice 0 is {first.rows}x{first.columns}"
                )
        n = first._normal
        offsets = np.array(
            [p[0] * n[0] + p[1] * n[1] + p[2] * n[2] for p in (s.position_mm for s in self.slices)]
        )
        if len(offsets) > 1 and np.any(np.diff(offsets) < -1e-6):
            raise ValueError("slices must be ordered by increasing position along the normal")
        object.__setattr__(self, "_offsets_mm", offsets)
        # Kept once: the viewer maps points on every slice step (a 512-slice stack
        # rebuilt this array per call).
        origins = np.array([s.position_mm for s in self.slices], dtype=float)
        origins.flags.writeable = False
        object.__setattr__(self, "_origins_mm", origins)

    @property
    def first(self) -> ImageGeometry:
        return self.slices[0]

    @property
    def normal(self) -> NDArray[np.float64]:
        return self.first.normal

    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns), the shape of the voxel array."""
        return (len(self.slices), self.first.rows, self.first.columns)

    @property
    def slice_offsets_mm(self) -> NDArray[np.float64]:
        """Position of each slice along the normal (mm, increasing)."""
        return self._offsets_mm.copy()

    @property
    def slice_spacing_mm(self) -> float | None:
        """Median distance between adjacent slice positions; None for one slice."""
        if len(self.slices) < 2:
            return None
        return float(np.median(np.diff(self._offsets_mm)))

    def slice_index_of(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        """Fractional slice index of LPS point(s) (extrapolated linearly outside)."""
        p = np.asarray(points_mm, dtype=float)
        along = p @ self.normal
        offs = self._offsets_mm
        if len(offs) == 1:
            return np.zeros(np.shape(along))
        idx = np.interp(along, offs, np.arange(len(offs), dtype=float))
        # np.interp clamps; extrapolate with the end spacings instead.
        lo = along < offs[0]
        hi = along > offs[-1]
        idx = np.where(lo, (along - offs[0]) / (offs[1] - offs[0]), idx)
        idx = np.where(hi, len(offs) - 1 + (along - offs[-1]) / (offs[-1] - offs[-2]), idx)
        return idx

    def _origins_at(self, slice_: ArrayLike) -> NDArray[np.float64]:
        """LPS origin (pixel (0,0) centre) at fractional slice index(es).

        Full origins are interpolated, not only the offset along the normal, so a
        gantry-tilted stack (origins shifted in-plane from slice to slice) stays exact.
        """
        s = np.asarray(slice_, dtype=float)
        origins = self._origins_mm
        if len(origins) == 1:
            return np.broadcast_to(origins[0], (*np.shape(s), 3)).copy()
        k = np.arange(len(origins), dtype=float)
        out = np.stack([np.interp(s, k, origins[:, i]) for i in range(3)], axis=-1)
        lo = (s < 0)[..., None]
        hi = (s > len(origins) - 1)[..., None]
        step_lo = origins[1] - origins[0]
        step_hi = origins[-1] - origins[-2]
        out = np.where(lo, origins[0] + s[..., None] * step_lo, out)
        out = np.where(hi, origins[-1] + (s[..., None] - (len(origins) - 1)) * step_hi, out)
        return out

    def index_to_lps(self, column: ArrayLike, row: ArrayLike, slice_: ArrayLike) -> NDArray[np.float64]:
        """LPS mm of voxel position(s) ``(column, row, slice)``; integers are centres."""
        first = self.first
        c = np.asarray(column, dtype=float)[..., None]
        r = np.asarray(row, dtype=float)[..., None]
        return (
            self._origins_at(slice_)
            + c * first.pixel_spacing_mm[1] * np.asarray(first.row_cosine)
            + r * first.pixel_spacing_mm[0] * np.asarray(first.col_cosine)
        )

    def lps_to_index(self, points_mm: ArrayLike) -> tuple[NDArray[np.float64], ...]:
        """Inverse of :meth:`index_to_lps`: fractional ``(column, row, slice)``."""
        p = np.asarray(points_mm, dtype=float)
        s = self.slice_index_of(p)
        d = p - self._origins_at(s)
        first = self.first
        column = d @ np.asarray(first.row_cosine) / first.pixel_spacing_mm[1]
        row = d @ np.asarray(first.col_cosine) / first.pixel_spacing_mm[0]
        return column, row, s

    def gantry_tilt_deg(self) -> float:
        """Angle (deg) between the slice normal and the line through the slice origins.

        Zero for an ordinary stack; a CT acquired with gantry tilt shows the tilt here.
        """
        if len(self.slices) < 2:
            return 0.0
        step = np.asarray(self.slices[-1].position_mm) - np.asarray(self.slices[0].position_mm)
        norm = float(np.linalg.norm(step))
        if norm < 1e-9:
            return 0.0
        cos = abs(float(np.dot(step / norm, self.normal)))
        return float(np.degrees(np.arccos(min(1.0, cos))))

    def nearest_slice(self, point_mm: ArrayLike) -> int:
        """Index of the slice whose plane is nearest to ``point_mm``."""
        along = float(np.asarray(point_mm, dtype=float) @ self.normal)
        return int(np.argmin(np.abs(self._offsets_mm - along)))
