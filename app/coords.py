"""The one mapping between the viewer's scene (mm) and patient space (LPS mm).

The viewer lays image pixels out in a scene measured in millimetres: pixel ``(column, row)``
covers ``[column * dx, (column + 1) * dx] x [row * dy, (row + 1) * dy]`` where ``dx`` is the
column spacing (``PixelSpacing[1]``) and ``dy`` the row spacing (``PixelSpacing[0]``).  So the
centre of pixel ``(c, r)`` is at scene ``((c + 0.5) dx, (r + 0.5) dy)``.  Every click goes
through :func:`scene_to_lps`; every overlay is placed with :func:`lps_to_scene`.  Keeping the
half-pixel shift in this one place is what prevents the classic off-by-half-a-pixel bug.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dicomio.geometry import StackGeometry


def scene_to_pixel(scene_x_mm: float, scene_y_mm: float, geometry: StackGeometry) -> tuple[float, float]:
    """Fractional ``(column, row)`` (integer = pixel centre) of a scene point in mm."""
    row_spacing_mm, column_spacing_mm = geometry.first.pixel_spacing_mm
    return scene_x_mm / column_spacing_mm - 0.5, scene_y_mm / row_spacing_mm - 0.5


def pixel_to_scene(column: float, row: float, geometry: StackGeometry) -> tuple[float, float]:
    """Scene position (mm) of fractional pixel ``(column, row)``; inverse of :func:`scene_to_pixel`."""
    row_spacing_mm, column_spacing_mm = geometry.first.pixel_spacing_mm
    return (column + 0.5) * column_spacing_mm, (row + 0.5) * row_spacing_mm


def scene_to_lps(
    scene_x_mm: float, scene_y_mm: float, slice_index: float, geometry: StackGeometry
) -> NDArray[np.float64]:
    """LPS mm of a click at scene ``(x, y)`` on slice ``slice_index`` of ``geometry``."""
    column, row = scene_to_pixel(scene_x_mm, scene_y_mm, geometry)
    return np.asarray(geometry.index_to_lps(column, row, slice_index), dtype=float).reshape(3)


def lps_to_scene(
    point_mm: NDArray[np.float64] | tuple[float, ...], geometry: StackGeometry
) -> tuple[float, float, float]:
    """Scene ``(x, y)`` in mm and fractional slice index of an LPS point."""
    column, row, slice_ = geometry.lps_to_index(np.asarray(point_mm, dtype=float))
    x, y = pixel_to_scene(float(column), float(row), geometry)
    return x, y, float(slice_)
