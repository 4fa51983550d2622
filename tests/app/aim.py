"""Where to click: the viewport pixel of an LPS point, computed in the tests themselves.

Click tests must not aim with the code under test (``SliceViewer.lps_to_widget`` goes
through ``app.coords``, the very mapping a click is meant to check).  This module redoes
the whole chain from the DICOM definitions and the viewer's visible range:

1. LPS -> fractional (column, row) on the displayed slice, from that slice's own
   ImagePositionPatient (``position_mm``, the centre of pixel (0, 0)), its row cosine
   (direction of increasing column) and column cosine (direction of increasing row), and
   PixelSpacing = (row spacing, column spacing)::

       column = (p - origin) . row_cosine / column_spacing
       row    = (p - origin) . col_cosine / row_spacing

2. (column, row) -> scene mm with the pixel-centre convention: pixel (c, r) covers
   ``[c dx, (c + 1) dx] x [r dy, (r + 1) dy]`` (``dx`` column spacing, ``dy`` row spacing),
   so its centre is at ``((c + 0.5) dx, (r + 0.5) dy)``.

3. scene mm -> viewport pixel: the ViewBox shows the range ``view.viewRect()`` stretched
   over its own rectangle ``view.rect()`` (its geometry), whose place in the viewport is
   that rectangle mapped to the graphics scene and then by the canvas' scene -> viewport
   transform (what ``canvas.mapFromScene`` uses, kept in floating point here).  Not
   ``sceneBoundingRect()``: a QGraphicsWidget's bounding rect is half a pixel larger than
   its geometry, which puts a point 1.3 px off 1500 px away.  The map is linear on each
   axis; y grows downwards on screen when the ViewBox is y-inverted (the viewer's
   setting), upwards otherwise.

:func:`lps_to_viewport` returns the exact (float) pixel; :func:`click_pos` rounds it to the
integer position a mouse event has (so a click is off by at most half a screen pixel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6 import QtCore


def lps_to_pixel(point_mm: Sequence[float], slice_geometry) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """Fractional ``(column, row)`` of an LPS point on one image, and its distance (mm) to
    the image plane along ``row_cosine x col_cosine``."""
    d = np.asarray(point_mm, dtype=float) - np.asarray(slice_geometry.position_mm, dtype=float)
    row_cos = np.asarray(slice_geometry.row_cosine, dtype=float)
    col_cos = np.asarray(slice_geometry.col_cosine, dtype=float)
    row_spacing, column_spacing = slice_geometry.pixel_spacing_mm
    column = float(d @ row_cos) / column_spacing
    row = float(d @ col_cos) / row_spacing
    return column, row, float(d @ np.cross(row_cos, col_cos))


def pixel_to_scene_mm(column: float, row: float, slice_geometry) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Scene mm of fractional pixel ``(column, row)``: integer values are pixel centres."""
    row_spacing, column_spacing = slice_geometry.pixel_spacing_mm
    return (column + 0.5) * column_spacing, (row + 0.5) * row_spacing


def scene_mm_to_viewport(viewer, x_mm: float, y_mm: float) -> QtCore.QPointF:  # type: ignore[no-untyped-def]
    """Viewport pixel (float) of scene point ``(x_mm, y_mm)``: a linear map from the
    visible range onto the ViewBox's rectangle in the viewport."""
    visible = viewer.view.viewRect()
    box = viewer.canvas.viewportTransform().mapRect(viewer.view.mapRectToScene(viewer.view.rect()))
    fx = (x_mm - visible.left()) / visible.width()
    fy = (y_mm - visible.top()) / visible.height()
    if viewer.view.xInverted():
        fx = 1.0 - fx
    if not viewer.view.yInverted():
        fy = 1.0 - fy
    return QtCore.QPointF(box.left() + fx * box.width(), box.top() + fy * box.height())


def lps_to_viewport(viewer, point_mm: Sequence[float], slice_index: int | None = None) -> QtCore.QPointF:  # type: ignore[no-untyped-def]
    """Viewport pixel (float) of an LPS point on the displayed (or given) slice."""
    k = viewer.slice_index if slice_index is None else slice_index
    slice_geometry = viewer.source.geometry.slices[k]
    column, row, _ = lps_to_pixel(point_mm, slice_geometry)
    x, y = pixel_to_scene_mm(column, row, slice_geometry)
    return scene_mm_to_viewport(viewer, x, y)


def click_pos(viewer, point_mm: Sequence[float], slice_index: int | None = None) -> QtCore.QPoint:  # type: ignore[no-untyped-def]
    """The integer viewport position to click to hit ``point_mm`` (nearest screen pixel)."""
    p = lps_to_viewport(viewer, point_mm, slice_index)
    return QtCore.QPoint(round(p.x()), round(p.y()))


def move_mouse(qtbot, viewer, pos: QtCore.QPoint, timeout: int = 2000) -> None:  # type: ignore[no-untyped-def]
    """Move the mouse (buttons as they are) to viewport ``pos`` and wait until the viewer's
    graphics scene has processed a move there.

    pyqtgraph drops mouse moves that follow the previous one within ``1 / mouseRateLimit``
    seconds, so a move sent too soon is lost; instead of sleeping between moves, the move is
    re-sent until the scene reports it (``sigMouseMoved`` at that scene position).
    """
    from PySide6.QtTest import QTest

    scene = viewer.canvas.scene()
    target = viewer.canvas.mapToScene(pos)
    seen: list[tuple[float, float]] = []

    def record(p: QtCore.QPointF) -> None:
        seen.append((p.x(), p.y()))

    def there() -> bool:
        return any(abs(x - target.x()) < 1e-6 and abs(y - target.y()) < 1e-6 for x, y in seen)

    def arrived() -> bool:
        if not there():
            QTest.mouseMove(viewer.canvas.viewport(), pos)
        return there()

    scene.sigMouseMoved.connect(record)
    try:
        qtbot.waitUntil(arrived, timeout=timeout)
    finally:
        scene.sigMouseMoved.disconnect(record)
