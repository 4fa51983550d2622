"""Landmark overlays on a :class:`~app.viewer.SliceViewer`: handles, lines, labels.

The layer draws what it is given (LPS points and pre-formatted value text); it holds no
landmark of its own beyond the view items.  A landmark is drawn fully on the slice it lies
on, faintly on the neighbouring slices, and not at all further away.  While a handle is
dragged only the view moves (lines follow); the new position is reported on release so
that the window can push one undoable command.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui

from app.coords import lps_to_scene, scene_to_lps
from app.viewer import SliceViewer
from measure.landmarks import LANDMARK_KEYS

#: Colour per vertebra status (RGB); the key is the status string of the case model.
STATUS_COLOURS: dict[str, tuple[int, int, int]] = {
    "": (0, 220, 255),
    "unknown": (0, 220, 255),
    "fractured": (255, 120, 40),
    "treated": (90, 230, 110),
    "reference": (170, 170, 255),
}
REGIONAL_COLOUR = (255, 80, 200)
SELECTED_COLOUR = (255, 255, 255)
#: |slice distance| up to which a landmark is "on" the slice, and up to which it is faint.
ON_SLICE = 0.5
NEAR_SLICE = 1.5
FAINT_ALPHA = 0.3
HANDLE_SIZE_PX = 13
LABEL_GAP_MM = 10.0
LABEL_FONT_PT = 10
#: How far the regional angle's endplate lines are drawn beyond the anterior points.
REGIONAL_EXTENSION_MM = 8.0

HEIGHT_PAIRS = (("sup_ant", "inf_ant"), ("sup_mid", "inf_mid"), ("sup_post", "inf_post"))
ENDPLATE_PAIRS = (("sup_ant", "sup_post"), ("inf_ant", "inf_post"))


@dataclass
class VertebraOverlay:
    """What to draw for one vertebra on one viewer."""

    level: str
    status: str
    points_mm: dict[str, NDArray[np.float64]]
    values_text: str = ""
    #: One more line under the values, in its own colour, with a tooltip (the STIR edema
    #: badge of :mod:`app.stir_controller`); empty: none.
    badge: str = ""
    badge_colour: tuple[int, int, int] | None = None
    badge_tooltip: str = ""


@dataclass
class RegionalOverlay:
    """A regional angle: two endplate lines (anterior, posterior points) and its value."""

    label: str
    upper: tuple[NDArray[np.float64], NDArray[np.float64]]
    lower: tuple[NDArray[np.float64], NDArray[np.float64]]
    text: str = ""


@dataclass
class OverlayState:
    vertebrae: list[VertebraOverlay] = field(default_factory=list)
    regional: list[RegionalOverlay] = field(default_factory=list)


class LandmarkHandle(pg.TargetItem):
    """A draggable landmark point; knows which vertebra and which of the six it is."""

    def __init__(self, level: str, key: str, colour: tuple[int, int, int]) -> None:
        super().__init__(
            size=HANDLE_SIZE_PX,
            symbol="o",
            pen=pg.mkPen(colour, width=2),
            hoverPen=pg.mkPen(SELECTED_COLOUR, width=2),
            brush=pg.mkBrush(*colour, 90),
            hoverBrush=pg.mkBrush(255, 255, 255, 120),
            movable=True,
        )
        self.level = level
        self.key = key
        self.setZValue(20)


class OverlayLayer(QtCore.QObject):
    """Keeps the view items of one viewer in step with an :class:`OverlayState`."""

    #: (level, landmark key, new LPS position) when a handle drag ends.
    handleMoved = QtCore.Signal(str, str, object)
    #: (level, landmark key) when a handle is clicked (selection).
    handleSelected = QtCore.Signal(str, str)

    def __init__(self, viewer: SliceViewer) -> None:
        super().__init__(viewer)  # owned by its viewer (Qt), not by a Python reference
        self.viewer = viewer
        self.state = OverlayState()
        self.handles: dict[tuple[str, str], LandmarkHandle] = {}
        self._items: list[QtCore.QObject] = []
        self.selected: tuple[str, str] | None = None
        #: Optional callback giving live value text while a handle is dragged.
        self.live_text: Callable[[str, dict[str, NDArray[np.float64]]], str] | None = None
        viewer.sliceChanged.connect(lambda _k: self.refresh())

    # -- public ----------------------------------------------------------------------
    def set_state(self, state: OverlayState) -> None:
        self.state = state
        self.refresh()

    def handle_scene_pos(self, level: str, key: str) -> tuple[float, float]:
        p = self.handles[(level, key)].pos()
        return float(p.x()), float(p.y())

    # -- drawing -----------------------------------------------------------------------
    def _alpha_for(self, point_mm: NDArray[np.float64]) -> float:
        d = abs(self.viewer.slice_of(point_mm) - self.viewer.slice_index)
        if d <= ON_SLICE:
            return 1.0
        if d <= NEAR_SLICE:
            return FAINT_ALPHA
        return 0.0

    def refresh(self) -> None:
        viewer = self.viewer
        if viewer.source is None:
            for handle in self.handles.values():
                viewer.view.removeItem(handle)
            self.handles = {}
            self._clear_items()
            return
        geom = viewer.source.geometry
        wanted: set[tuple[str, str]] = set()
        for vert in self.state.vertebrae:
            colour = STATUS_COLOURS.get(vert.status, STATUS_COLOURS[""])
            for key, point in vert.points_mm.items():
                ident = (vert.level, key)
                wanted.add(ident)
                existing = self.handles.get(ident)
                if existing is None:
                    handle = LandmarkHandle(vert.level, key, colour)
                    handle.sigPositionChanged.connect(self._on_handle_moving)
                    handle.sigPositionChangeFinished.connect(self._on_handle_released)
                    viewer.view.addItem(handle)
                    self.handles[ident] = handle
                else:
                    handle = existing
                    handle.setPen(pg.mkPen(colour, width=2))
                    handle.setBrush(pg.mkBrush(*colour, 90))
                if not handle.moving:
                    x, y, _ = lps_to_scene(point, geom)
                    handle.blockSignals(True)
                    handle.setPos(x, y)
                    handle.blockSignals(False)
                alpha = self._alpha_for(point)
                handle.setOpacity(alpha)
                handle.setVisible(alpha > 0)
                handle.movable = alpha >= 1.0
                if ident == self.selected:
                    handle.setPen(pg.mkPen(SELECTED_COLOUR, width=3))
        for ident in list(self.handles):
            if ident not in wanted:
                viewer.view.removeItem(self.handles.pop(ident))
        self._redraw_lines()

    def _scene_points(self, vert: VertebraOverlay) -> dict[str, tuple[float, float]]:
        out = {}
        for key in vert.points_mm:
            handle = self.handles.get((vert.level, key))
            if handle is not None:
                p = handle.pos()
                out[key] = (float(p.x()), float(p.y()))
        return out

    def _clear_items(self) -> None:
        for item in self._items:
            self.viewer.view.removeItem(item)
        self._items = []

    def _add_line(self, a: tuple[float, float], b: tuple[float, float], pen: QtGui.QPen) -> None:
        item = pg.PlotCurveItem([a[0], b[0]], [a[1], b[1]], pen=pen)
        item.setZValue(10)
        self.viewer.view.addItem(item)
        self._items.append(item)

    def _add_text(
        self,
        text: str,
        at: tuple[float, float],
        colour: tuple[int, int, int],
        anchor: tuple[float, float],
        badge: tuple[str, tuple[int, int, int], str] | None = None,
    ) -> None:
        """A label; ``badge`` (text, colour, tooltip) adds a last line in its own colour."""
        item = pg.TextItem(text, color=colour, anchor=anchor, fill=pg.mkBrush(0, 0, 0, 150))
        font = QtGui.QFont()
        font.setPointSize(LABEL_FONT_PT)
        font.setBold(True)
        item.setFont(font)
        if badge is not None:
            badge_text, badge_rgb, tooltip = badge
            badge_html = html.escape(badge_text).replace("\n", "<br>")
            item.setHtml(
                html.escape(text).replace("\n", "<br>")
                + f'<br><span style="color: rgb{tuple(badge_rgb)}">{badge_html}</span>'
            )
            item.setToolTip(tooltip)
            item.textItem.setToolTip(tooltip)
        item.setPos(*at)
        item.setZValue(15)
        self.viewer.view.addItem(item)
        self._items.append(item)

    def _redraw_lines(self) -> None:
        self._clear_items()
        viewer = self.viewer
        if viewer.source is None:
            return
        anterior = viewer.source.geometry.first.anterior
        for vert in self.state.vertebrae:
            colour = STATUS_COLOURS.get(vert.status, STATUS_COLOURS[""])
            pts = self._scene_points(vert)
            alphas = [self._alpha_for(p) for p in vert.points_mm.values()]
            alpha = min(alphas) if alphas else 0.0
            if not pts or max(alphas) <= 0:
                continue
            alpha = max(alpha, FAINT_ALPHA)
            qc = QtGui.QColor(*colour)
            qc.setAlphaF(alpha)
            solid = pg.mkPen(qc, width=2)
            dashed = pg.mkPen(qc, width=1.5, style=QtCore.Qt.PenStyle.DashLine)
            for a, b in ENDPLATE_PAIRS:
                if a in pts and b in pts:
                    self._add_line(pts[a], pts[b], solid)
            for a, b in HEIGHT_PAIRS:
                if a in pts and b in pts:
                    self._add_line(pts[a], pts[b], dashed)
            if max(alphas) >= 1.0:
                text = vert.level + (f" · {vert.status}" if vert.status not in ("", "unknown") else "")
                values = vert.values_text
                if self.live_text is not None and self._dragging_level() == vert.level:
                    values = self._live_values(vert, pts) or values
                if values:
                    text += "\n" + values
                badge = (vert.badge, vert.badge_colour or colour, vert.badge_tooltip) if vert.badge else None
                self._add_label(text, pts, colour, anterior, badge)
        for reg in self.state.regional:
            self._draw_regional(reg)

    def _add_label(
        self,
        text: str,
        pts: dict[str, tuple[float, float]],
        colour: tuple[int, int, int],
        anterior: str | None,
        badge: tuple[str, tuple[int, int, int], str] | None = None,
    ) -> None:
        """Beside the vertebra on its anterior side (in front of the body the image is
        mostly soft tissue, so the text hides no bone); the regional angle goes behind."""
        xs = [p[0] for p in pts.values()]
        ys = [p[1] for p in pts.values()]
        cy = float(np.mean(ys))
        if anterior == "right":
            self._add_text(text, (max(xs) + LABEL_GAP_MM, cy), colour, (0.0, 0.5), badge)
        else:
            self._add_text(text, (min(xs) - LABEL_GAP_MM, cy), colour, (1.0, 0.5), badge)

    def _draw_regional(self, reg: RegionalOverlay) -> None:
        """Both endplate lines, extended anteriorly so that their convergence shows; the
        value sits behind the spine, between the posterior ends of the two lines."""
        geom = self.viewer.source.geometry  # type: ignore[union-attr]
        qc = QtGui.QColor(*REGIONAL_COLOUR)
        pen = pg.mkPen(qc, width=1.5, style=QtCore.Qt.PenStyle.DashDotLine)
        posts = []
        for ant, post in (reg.upper, reg.lower):
            a = np.array(lps_to_scene(ant, geom)[:2])
            b = np.array(lps_to_scene(post, geom)[:2])
            direction = a - b
            norm = float(np.linalg.norm(direction))
            if norm < 1e-9:
                continue
            direction /= norm
            far = a + direction * REGIONAL_EXTENSION_MM
            near = b - direction * 8.0
            self._add_line((float(near[0]), float(near[1])), (float(far[0]), float(far[1])), pen)
            posts.append((near, -direction))
        if reg.text and len(posts) == 2:
            mid = (posts[0][0] + posts[1][0]) / 2
            back = (posts[0][1] + posts[1][1]) / 2
            back /= max(float(np.linalg.norm(back)), 1e-9)
            at = mid + back * LABEL_GAP_MM * 2
            anchor = (0.0, 0.5) if back[0] >= 0 else (1.0, 0.5)
            self._add_text(f"{reg.label}\n{reg.text}", (float(at[0]), float(at[1])), REGIONAL_COLOUR, anchor)

    def _dragging_level(self) -> str | None:
        for (level, _key), handle in self.handles.items():
            if handle.moving:
                return level
        return None

    def _live_values(self, vert: VertebraOverlay, pts: dict[str, tuple[float, float]]) -> str:
        """Value text for the positions the handles have now (while one is dragged)."""
        viewer = self.viewer
        assert viewer.source is not None and self.live_text is not None
        points = dict(vert.points_mm)
        for key, (x, y) in pts.items():
            if self.handles[(vert.level, key)].moving:
                points[key] = scene_to_lps(x, y, viewer.slice_index, viewer.source.geometry)
        try:
            return self.live_text(vert.level, points)
        except ValueError:
            return ""

    # -- interaction -------------------------------------------------------------------
    def _on_handle_moving(self, handle: LandmarkHandle) -> None:
        if not handle.moving:
            return
        self.selected = (handle.level, handle.key)
        self._redraw_lines()

    def _on_handle_released(self, handle: LandmarkHandle) -> None:
        viewer = self.viewer
        if viewer.source is None:
            return
        p = handle.pos()
        lps = scene_to_lps(float(p.x()), float(p.y()), viewer.slice_index, viewer.source.geometry)
        self.selected = (handle.level, handle.key)
        self.handleMoved.emit(handle.level, handle.key, lps)

    def select(self, level: str, key: str) -> None:
        self.selected = (level, key)
        self.handleSelected.emit(level, key)
        self.refresh()

    def nearest_handle(self, lps: NDArray[np.float64], max_px: float = 10.0) -> tuple[str, str] | None:
        """The visible handle within ``max_px`` screen pixels of an LPS point, if any."""
        viewer = self.viewer
        target = viewer.lps_to_widget(lps)
        best: tuple[float, tuple[str, str]] | None = None
        for vert in self.state.vertebrae:
            for key, point in vert.points_mm.items():
                if self._alpha_for(point) < 1.0:
                    continue
                w = viewer.lps_to_widget(point)
                d = float(np.hypot(w.x() - target.x(), w.y() - target.y()))
                if d <= max_px and (best is None or d < best[0]):
                    best = (d, (vert.level, key))
        return None if best is None else best[1]


__all__ = [
    "LANDMARK_KEYS",
    "LandmarkHandle",
    "OverlayLayer",
    "OverlayState",
    "RegionalOverlay",
    "VertebraOverlay",
]
