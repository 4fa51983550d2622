"""The slice viewer: one stack shown in true proportions, in millimetres.

The ViewBox's view coordinates are millimetres (see :mod:`app.coords`): the image item is
stretched to ``columns x column spacing`` by ``rows x row spacing``, so non-square pixels
look right and overlays are placed in mm.  Mouse (as Horos, Weasis and Slicer): left click =
place/select, left drag on a handle = move it, left drag elsewhere = window/level when not
placing, right drag = window/level, middle drag = pan, double click = reset view, wheel =
slice, Ctrl+wheel = zoom.  Keys: PageUp/PageDown/Up/Down = slice, Home or R = reset view.  The screen-fixed
annotations (orientation letters, scale bar, slice position, W/L, prompt) are painted in
``drawForeground`` so that a grab of the window includes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui, QtWidgets

from app.coords import lps_to_scene, scene_to_lps
from dicomio.geometry import (
    ANTERIOR_LPS,
    LEFT_LPS,
    POSTERIOR_LPS,
    SUPERIOR_LPS,
    StackGeometry,
    screen_direction_of,
)

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

#: Scale bar lengths to choose from (mm): the longest that fits in ~20% of the width.
_SCALE_BAR_CHOICES_MM = (1, 2, 5, 10, 20, 50, 100, 200)
_LABEL_FONT_PT = 13


class DisplaySource(Protocol):
    """What the viewer needs from a ``dicomio.display_stack.DisplayStack``."""

    @property
    def geometry(self) -> StackGeometry: ...

    @property
    def series_uid(self) -> str: ...

    def volume(self) -> NDArray: ...

    def sop_uid_for_slice(self, k: int) -> str | None: ...

    def frame_index_for_slice(self, k: int) -> int | None: ...


@dataclass
class VolumeSource:
    """A loaded volume with its geometry: what a viewer shows (built from a DisplayStack)."""

    geometry: StackGeometry
    data: NDArray
    series_uid: str
    sop_uids: tuple[str | None, ...] = ()
    is_reformat: bool = False

    def volume(self) -> NDArray:
        return self.data

    def sop_uid_for_slice(self, k: int) -> str | None:
        return self.sop_uids[k] if 0 <= k < len(self.sop_uids) else None

    def frame_index_for_slice(self, k: int) -> int | None:
        return None


@dataclass
class WindowLevel:
    center: float
    width: float

    @property
    def levels(self) -> tuple[float, float]:
        half = max(self.width, 1e-6) / 2.0
        return self.center - half, self.center + half


class _SliceViewBox(pg.ViewBox):
    """ViewBox that turns wheel/drag/click into viewer intents instead of zoom/pan only."""

    sigSliceStep = QtCore.Signal(int)
    sigClicked = QtCore.Signal(float, float, object)  # view x mm, y mm, modifiers
    sigWindowDrag = QtCore.Signal(float, float)  # screen dx, dy since last event

    #: Left drag changes the window unless the reader is placing landmarks (the anchors'
    #: convention: Horos, Weasis, Slicer); the viewer sets it.
    left_drag_windows = True

    def wheelEvent(self, ev: object, axis: int | None = None) -> None:  # type: ignore[override]
        if ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:  # type: ignore[attr-defined]
            super().wheelEvent(ev, axis)
            return
        delta = ev.delta()  # type: ignore[attr-defined]
        if delta:
            self.sigSliceStep.emit(1 if delta > 0 else -1)
        ev.accept()  # type: ignore[attr-defined]

    def mouseClickEvent(self, ev: object) -> None:  # type: ignore[override]
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            ev.accept()  # type: ignore[attr-defined]
            p = self.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
            self.sigClicked.emit(float(p.x()), float(p.y()), ev.modifiers())  # type: ignore[attr-defined]

    def mouseDragEvent(self, ev: object, axis: int | None = None) -> None:  # type: ignore[override]
        """Middle drag pans (pyqtgraph's pan mode), right drag (and left drag when not
        placing) changes the window; a left drag while placing does nothing (handles take
        their own drags)."""
        button = ev.button()  # type: ignore[attr-defined]
        windows = button == QtCore.Qt.MouseButton.RightButton or (
            button == QtCore.Qt.MouseButton.LeftButton and self.left_drag_windows
        )
        if windows:
            ev.accept()  # type: ignore[attr-defined]
            d = ev.screenPos() - ev.lastScreenPos()  # type: ignore[attr-defined]
            self.sigWindowDrag.emit(float(d.x()), float(d.y()))
            return
        if button == QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()  # type: ignore[attr-defined]
            return
        super().mouseDragEvent(ev, axis)


class _ViewerCanvas(pg.GraphicsView):
    """GraphicsView that paints the screen-fixed annotations on top of the image."""

    def __init__(self, viewer: SliceViewer) -> None:
        super().__init__()
        self._viewer = viewer

    def _scene_mm(self, event: QtGui.QMouseEvent) -> QtCore.QPointF:
        return self._viewer.view.mapSceneToView(self.mapToScene(event.position().toPoint()))

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        """Besides pyqtgraph's handling: tell the viewer where the left button went down
        (a snapped position is previewed while the button is held)."""
        super().mousePressEvent(event)
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            self._viewer.pointer_event("press", self._scene_mm(event), event.modifiers())

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        if event.buttons() & QtCore.Qt.MouseButton.LeftButton:
            self._viewer.pointer_event("move", self._scene_mm(event), event.modifiers())

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            self._viewer.pointer_event("release", self._scene_mm(event), event.modifiers())

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        """A double click with the left button resets the view (the viewer's home)."""
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            event.accept()
            self._viewer.go_home()
            return
        super().mouseDoubleClickEvent(event)

    def drawForeground(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        super().drawForeground(painter, rect)
        painter.save()
        painter.resetTransform()
        self._viewer.paint_annotations(painter, self.viewport().rect())
        painter.restore()


class SliceViewer(QtWidgets.QWidget):
    """Shows one display stack; emits clicks in LPS mm; hosts the landmark overlay layer."""

    sliceChanged = QtCore.Signal(int)
    #: The reader changed the window with the mouse (centre, width): kept with the series.
    windowEdited = QtCore.Signal(float, float)
    #: One-line hint of the mouse and keys, for the status bar.
    HINT = (
        "Left click: place or select · left/right drag: window · middle drag: pan · wheel: slice · "
        "Ctrl+wheel: zoom · Home or double-click: reset view · H: hide overlays"
    )
    #: A left click on the image: LPS position (ndarray, mm), slice index, modifiers.
    clickedLps = QtCore.Signal(object, int, object)
    windowChanged = QtCore.Signal(float, float)
    #: The left button went down / moved while held / came up: "press" | "move" |
    #: "release", LPS position (ndarray, mm), slice index, modifiers.
    pointerLps = QtCore.Signal(str, object, int, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SliceViewer")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.canvas = _ViewerCanvas(self)
        self.canvas.setBackground(pg.mkColor(0, 0, 0))
        self.canvas.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.view = _SliceViewBox(enableMenu=False, invertY=True, lockAspect=True)
        self.view.setMouseMode(pg.ViewBox.PanMode)
        self.canvas.setCentralItem(self.view)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)

        self.source: DisplaySource | None = None
        self._volume: NDArray | None = None
        self._slice = 0
        self.window_level = WindowLevel(40.0, 400.0)
        self.title = ""
        self.prompt = ""
        self.view.sigSliceStep.connect(lambda step: self.set_slice(self._slice + step))
        self.view.sigClicked.connect(self._on_view_clicked)
        self.view.sigWindowDrag.connect(self._on_window_drag)
        self._home: tuple[int, QtCore.QRectF] | None = None
        self.view.sigRangeChanged.connect(lambda *_: self.canvas.viewport().update())

    # -- content -----------------------------------------------------------------------
    @property
    def geometry_(self) -> StackGeometry | None:
        return None if self.source is None else self.source.geometry

    @property
    def slice_index(self) -> int:
        return self._slice

    @property
    def n_slices(self) -> int:
        return 0 if self._volume is None else int(self._volume.shape[0])

    def set_source(
        self, source: DisplaySource, volume: NDArray | None = None, slice_index: int | None = None
    ) -> None:
        """Show ``source`` (its volume may be given when it was loaded in a worker)."""
        self.source = source
        vol = np.asarray(source.volume() if volume is None else volume)
        if vol.ndim == 2:
            vol = vol[None]
        self._volume = vol
        geom = source.geometry
        rows, cols = geom.first.rows, geom.first.columns
        dy, dx = geom.first.pixel_spacing_mm
        self.image.setImage(vol[0], autoLevels=False, levels=self.window_level.levels)
        self.image.setRect(QtCore.QRectF(0.0, 0.0, cols * dx, rows * dy))
        self._slice = -1
        self.set_slice(vol.shape[0] // 2 if slice_index is None else slice_index)
        self.set_home(self._slice, None)
        self.reset_zoom()

    def clear(self) -> None:
        """Show nothing (the case was closed or another one is opening)."""
        self.source = None
        self._volume = None
        self._slice = 0
        self.prompt = ""
        self.image.clear()
        self.canvas.viewport().update()
        self.sliceChanged.emit(0)

    def set_home(self, slice_index: int, rect_mm: tuple[float, float, float, float] | None) -> None:
        """Where "reset view" goes: a slice and a scene rectangle (x, y, w, h mm; None: the image)."""
        rect = QtCore.QRectF(*rect_mm) if rect_mm is not None else None
        if rect is None and self.source is not None:
            w_mm, h_mm = self.source.geometry.first.size_mm
            rect = QtCore.QRectF(0.0, 0.0, w_mm, h_mm)
        self._home = None if rect is None else (int(slice_index), rect)

    def go_home(self) -> None:
        """Reset the view: the home slice and rectangle (Home, R, double-click)."""
        if self.source is None:
            return
        if self._home is None:
            self.reset_zoom()
            return
        k, rect = self._home
        self.set_slice(k)
        self.view.setRange(rect, padding=0.02)

    def reset_zoom(self) -> None:
        if self.source is None:
            return
        w_mm, h_mm = self.source.geometry.first.size_mm
        self.view.setRange(QtCore.QRectF(0.0, 0.0, w_mm, h_mm), padding=0.02)

    def set_slice(self, k: int) -> None:
        if self._volume is None:
            return
        k = int(np.clip(k, 0, self._volume.shape[0] - 1))
        if k == self._slice:
            return
        self._slice = k
        self.image.setImage(self._volume[k], autoLevels=False, levels=self.window_level.levels)
        self.canvas.viewport().update()
        self.sliceChanged.emit(k)

    def set_window(self, center: float, width: float) -> None:
        self.window_level = WindowLevel(float(center), max(1.0, float(width)))
        self.image.setLevels(self.window_level.levels)
        self.canvas.viewport().update()
        self.windowChanged.emit(self.window_level.center, self.window_level.width)

    def set_prompt(self, text: str) -> None:
        self.prompt = text
        self.canvas.viewport().update()

    def set_title(self, text: str) -> None:
        self.title = text
        self.canvas.viewport().update()

    # -- coordinates ---------------------------------------------------------------------
    def lps_to_widget(self, point_mm: NDArray | tuple[float, ...]) -> QtCore.QPoint:
        """Viewport pixel position of an LPS point (for tests and screenshots)."""
        assert self.source is not None
        x, y, _ = lps_to_scene(point_mm, self.source.geometry)
        scene_pt = self.view.mapViewToScene(QtCore.QPointF(x, y))
        return self.canvas.mapFromScene(scene_pt)

    def slice_of(self, point_mm: NDArray | tuple[float, ...]) -> float:
        assert self.source is not None
        return float(lps_to_scene(point_mm, self.source.geometry)[2])

    def go_to_point(self, point_mm: NDArray | tuple[float, ...], center: bool = False) -> None:
        """Show the slice nearest to ``point_mm`` (and centre the view on it)."""
        if self.source is None:
            return
        x, y, s = lps_to_scene(point_mm, self.source.geometry)
        self.set_slice(round(s))
        if center:
            r = self.view.viewRect()
            self.view.setRange(
                QtCore.QRectF(x - r.width() / 2, y - r.height() / 2, r.width(), r.height()), padding=0
            )

    def fit_points(self, points_mm: NDArray, margin_mm: float = 30.0) -> None:
        """Show the slice nearest to the points' centre, zoomed to their extent plus a margin."""
        if self.source is None or len(points_mm) == 0:
            return
        scene = np.array([lps_to_scene(p, self.source.geometry) for p in np.asarray(points_mm, dtype=float)])
        self.set_slice(round(float(np.median(scene[:, 2]))))
        (x0, y0), (x1, y1) = scene[:, :2].min(axis=0), scene[:, :2].max(axis=0)
        self.view.setRange(
            QtCore.QRectF(x0 - margin_mm, y0 - margin_mm, x1 - x0 + 2 * margin_mm, y1 - y0 + 2 * margin_mm),
            padding=0,
        )

    # -- input -------------------------------------------------------------------------
    def _on_view_clicked(self, x_mm: float, y_mm: float, modifiers: object) -> None:
        if self.source is None:
            return
        lps = scene_to_lps(x_mm, y_mm, self._slice, self.source.geometry)
        self.clickedLps.emit(lps, self._slice, modifiers)

    def pointer_event(self, kind: str, scene_mm: QtCore.QPointF, modifiers: object) -> None:
        """Forward a left-button press/move/release over the image as LPS mm."""
        if self.source is None:
            return
        lps = scene_to_lps(float(scene_mm.x()), float(scene_mm.y()), self._slice, self.source.geometry)
        self.pointerLps.emit(kind, lps, self._slice, modifiers)

    def current_image(self) -> NDArray | None:
        """The 2-D array of the slice shown (rows, columns), as loaded (not windowed)."""
        return None if self._volume is None else self._volume[self._slice]

    def _on_window_drag(self, dx: float, dy: float) -> None:
        # Width follows horizontal motion, level vertical; the step scales with the width so
        # a CT (width ~2000) and an MR (~500) both feel the same.
        step = max(self.window_level.width, 10.0) / 250.0
        self.set_window(self.window_level.center - dy * step, self.window_level.width + dx * step)
        self.windowEdited.emit(self.window_level.center, self.window_level.width)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key = QtCore.Qt.Key(event.key())
        if key in (QtCore.Qt.Key.Key_Home, QtCore.Qt.Key.Key_R):
            self.go_home()
            event.accept()
            return
        step = {
            QtCore.Qt.Key.Key_PageUp: 5,
            QtCore.Qt.Key.Key_PageDown: -5,
            QtCore.Qt.Key.Key_Up: 1,
            QtCore.Qt.Key.Key_Down: -1,
        }.get(key)
        if step is not None:
            self.set_slice(self._slice + step)
            event.accept()
            return
        super().keyPressEvent(event)

    # -- screen-fixed annotations ----------------------------------------------------------
    def orientation_letters(self) -> dict[str, str]:
        """Letters at the screen edges ("left"/"right"/"up"/"down"), from the geometry."""
        if self.source is None:
            return {}
        first = self.source.geometry.first
        letters: dict[str, str] = {}
        for letter, direction in (
            ("A", ANTERIOR_LPS),
            ("P", POSTERIOR_LPS),
            ("S", SUPERIOR_LPS),
            ("I", -SUPERIOR_LPS),
            ("L", LEFT_LPS),
            ("R", -LEFT_LPS),
        ):
            edge = screen_direction_of(direction, first.row_cosine, first.col_cosine)
            if edge is not None and edge not in letters:
                letters[edge] = letter
        return letters

    def slice_position_text(self) -> str:
        if self.source is None:
            return ""
        geom = self.source.geometry
        k = self._slice
        first = geom.first
        centre = geom.index_to_lps((first.columns - 1) / 2, (first.rows - 1) / 2, k).reshape(3)
        axis = int(np.argmax(np.abs(geom.normal)))
        value = float(centre[axis])
        names = (("L", "R"), ("P", "A"), ("S", "I"))[axis]
        side = names[0] if value >= 0 else names[1]
        return f"Slice {k + 1}/{self.n_slices}   {side} {abs(value):.1f} mm"

    def scale_bar_mm(self) -> tuple[float, float]:
        """(length in mm, length in screen pixels) of the scale bar for the current zoom."""
        px = self.view.viewPixelSize()[0]  # mm per screen pixel
        if not px or not np.isfinite(px):
            return 0.0, 0.0
        width_px = self.canvas.viewport().width()
        choice = _SCALE_BAR_CHOICES_MM[0]
        for mm in _SCALE_BAR_CHOICES_MM:
            if mm / px <= 0.22 * width_px:
                choice = mm
        return float(choice), choice / px

    def paint_annotations(self, p: QtGui.QPainter, rect: QtCore.QRect) -> None:
        if self.source is None:
            return
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        font = QtGui.QFont(self.font())
        font.setPointSize(_LABEL_FONT_PT)
        font.setBold(True)
        p.setFont(font)
        fm = QtGui.QFontMetrics(font)
        margin = 8
        small = QtGui.QFont(self.font())
        small.setPointSize(10)
        sfm = QtGui.QFontMetrics(small)
        info_lines = [line for line in (self.title, self.slice_position_text()) if line]
        info_width = max((sfm.horizontalAdvance(line) for line in info_lines), default=0)
        p.setPen(QtGui.QColor(255, 220, 120))
        for edge, letter in self.orientation_letters().items():
            w = fm.horizontalAdvance(letter)
            if edge == "left":
                pt = QtCore.QPoint(margin, rect.height() // 2 + fm.ascent() // 2)
            elif edge == "right":
                pt = QtCore.QPoint(rect.width() - margin - w, rect.height() // 2 + fm.ascent() // 2)
            elif edge == "up":
                top = margin
                if margin + info_width + 8 > rect.width() // 2 - w // 2:  # would overlap the title
                    top = margin + len(info_lines) * sfm.height() + 2
                pt = QtCore.QPoint(rect.width() // 2 - w // 2, top + fm.ascent())
            else:
                pt = QtCore.QPoint(rect.width() // 2 - w // 2, rect.height() - margin - fm.descent())
            p.drawText(pt, letter)

        p.setFont(small)
        # Screen-fixed text sits on a dark box: a vertebra label scrolled under it stays legible.
        box_brush = QtGui.QColor(0, 0, 0, 170)
        if info_lines:
            p.fillRect(
                QtCore.QRect(margin - 4, margin - 3, info_width + 8, len(info_lines) * sfm.height() + 6),
                box_brush,
            )
        p.setPen(QtGui.QColor(225, 225, 225))
        y = margin + sfm.ascent()
        for line in info_lines:
            p.drawText(QtCore.QPoint(margin, y), line)
            y += sfm.height()
        wl = f"W {self.window_level.width:.0f}  L {self.window_level.center:.0f}"
        wl_base = rect.height() - margin - sfm.descent()
        p.fillRect(
            QtCore.QRect(
                margin - 4, wl_base - sfm.ascent() - 3, sfm.horizontalAdvance(wl) + 8, sfm.height() + 6
            ),
            box_brush,
        )
        p.drawText(QtCore.QPoint(margin, wl_base), wl)

        length_mm, length_px = self.scale_bar_mm()
        if length_px > 4:
            x1 = rect.width() - margin - 30
            x0 = x1 - length_px
            yb = rect.height() - margin - sfm.height() - 4
            pen = QtGui.QPen(QtGui.QColor(235, 235, 235), 2)
            p.setPen(pen)
            p.drawLine(QtCore.QPointF(x0, yb), QtCore.QPointF(x1, yb))
            p.drawLine(QtCore.QPointF(x0, yb - 5), QtCore.QPointF(x0, yb + 5))
            p.drawLine(QtCore.QPointF(x1, yb - 5), QtCore.QPointF(x1, yb + 5))
            label = f"{length_mm:g} mm"
            p.drawText(
                QtCore.QPointF(x1 - (length_px + sfm.horizontalAdvance(label)) / 2, yb + 4 + sfm.ascent()),
                label,
            )

        if self.prompt:
            big = QtGui.QFont(self.font())
            big.setPointSize(14)
            big.setBold(True)
            p.setFont(big)
            bfm = QtGui.QFontMetrics(big)
            w = bfm.horizontalAdvance(self.prompt) + 24
            top = margin + max(len(info_lines) * sfm.height(), fm.height()) + 6
            box = QtCore.QRectF((rect.width() - w) / 2, top, w, bfm.height() + 10)
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            p.setBrush(QtGui.QColor(20, 20, 20, 200))
            p.drawRoundedRect(box, 6, 6)
            p.setPen(QtGui.QColor(255, 214, 0))
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, self.prompt)
