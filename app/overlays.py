"""Landmark overlays on a :class:`~app.viewer.SliceViewer`: handles, lines, labels.

The layer draws what it is given (LPS points and pre-formatted value text); it holds no
landmark of its own beyond the view items.  A landmark is drawn fully on the slice it lies
on, faintly on the neighbouring slices, and not at all further away.  While a handle is
dragged only the view moves (lines follow); the new position is reported on release so
that the window can push one undoable command.

The items are made once per landmark set and then moved or restyled: a slice step only
changes opacities (the scene positions of the points, cached when the state is set, do not
depend on the slice shown).  Handles and labels keep their screen size at any zoom; the
labels sit behind the spine (:mod:`session.label_layout`) with a leader line to their
vertebra, and the reader may drag them (the offset, in screen pixels, is kept for the
session).  Everything hangs under one root item, so that :meth:`OverlayLayer.set_visible`
hides or shows it all at once.

What is drawn is :mod:`app.overlay_model` (plain data); the items and their styles are
:mod:`app.overlay_items`; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui

from app.coords import lps_to_scene, scene_to_lps
from app.overlay_items import (
    BODY_OUTLINE,
    ENDPLATE_PAIRS,
    FAINT_ALPHA,
    HANDLE_SIZE_PX,
    HEIGHT_PAIRS,
    LABEL_FONT_PT,
    LABEL_GAP_PX,
    LABEL_SPACING_PX,
    NEAR_SLICE,
    ON_SLICE,
    REGIONAL_COLOUR,
    REGIONAL_EXTENSION_MM,
    SELECTED_COLOUR,
    STATUS_COLOURS,
    LandmarkHandle,
    OverlayLabel,
    VertebraItems,
    line_pens,
)
from app.overlay_model import OverlayState, RegionalOverlay, VertebraOverlay, is_complete
from app.viewer import SliceViewer
from dicomio.geometry import POSTERIOR_LPS
from measure.landmarks import LANDMARK_KEYS
from session.label_layout import LabelPlacement, LabelRequest, layout_labels, nearest_on_rect


class OverlayLayer(QtCore.QObject):
    """Keeps the view items of one viewer in step with an :class:`OverlayState`."""

    #: (level, landmark key, new LPS position) when a handle drag ends.
    handleMoved = QtCore.Signal(str, str, object)
    #: (level, landmark key) when a handle is clicked (selection).
    handleSelected = QtCore.Signal(str, str)
    #: The overlays were hidden (False) or shown (True).
    visibilityChanged = QtCore.Signal(bool)

    def __init__(self, viewer: SliceViewer) -> None:
        super().__init__(viewer)  # owned by its viewer (Qt), not by a Python reference
        self.viewer = viewer
        self.state = OverlayState()
        self.handles: dict[tuple[str, str], LandmarkHandle] = {}
        self.selected: tuple[str, str] | None = None
        #: Optional callback giving live value text while a handle is dragged.
        self.live_text: Callable[[str, dict[str, NDArray[np.float64]]], str] | None = None
        self._root = pg.ItemGroup()
        self._root.setZValue(10)
        viewer.view.addItem(self._root)
        self._vertebrae: dict[str, VertebraItems] = {}
        self._regional_lines: dict[tuple[str, int], pg.PlotCurveItem] = {}
        self._regional_labels: dict[str, tuple[OverlayLabel, pg.PlotCurveItem]] = {}
        #: Scene (x, y) and fractional slice of every point of the state, per geometry.
        self._scene: dict[tuple[str, str], tuple[float, float, float]] = {}
        self._geometry: object = None
        #: Reader's label offsets (screen px) by (series UID, label key): kept for the session.
        self._label_offsets: dict[tuple[str, str], tuple[float, float]] = {}
        self._placements: dict[str, LabelPlacement] = {}
        self._regional_anchors: dict[str, tuple[float, float]] = {}
        viewer.sliceChanged.connect(lambda _k: self._on_slice_changed())
        viewer.view.sigRangeChanged.connect(lambda *_a: self._layout_labels())

    # -- public ----------------------------------------------------------------------
    def set_state(self, state: OverlayState) -> None:
        self.state = state
        self.refresh()

    def handle_scene_pos(self, level: str, key: str) -> tuple[float, float]:
        p = self.handles[(level, key)].pos()
        return float(p.x()), float(p.y())

    def set_visible(self, on: bool) -> None:
        """Show or hide every overlay item of this viewer (the H key)."""
        on = bool(on)
        if on == self.is_visible():
            return
        self._root.setVisible(on)
        self.visibilityChanged.emit(on)

    def is_visible(self) -> bool:
        return bool(self._root.isVisible())

    def labels(self) -> dict[str, OverlayLabel]:
        """The value labels by key (a vertebra's level, or a regional angle's label)."""
        out = {level: items.label for level, items in self._vertebrae.items() if items.label is not None}
        out.update({key: label for key, (label, _leader) in self._regional_labels.items()})
        return out

    def label_rect(self, key: str) -> tuple[float, float, float, float]:
        """The label's rectangle in scene mm (x, y, width, height), as drawn now."""
        label = self.labels()[key]
        r = label.mapRectToView(label.boundingRect())
        return float(r.x()), float(r.y()), float(r.width()), float(r.height())

    def leader(self, key: str) -> pg.PlotCurveItem:
        """The leader line from a label to its vertebra."""
        items = self._vertebrae.get(key)
        if items is not None and items.leader is not None:
            return items.leader
        return self._regional_labels[key][1]

    def lines(self) -> list[pg.PlotCurveItem]:
        """Endplate, height and regional lines (not the leaders)."""
        out = [line for items in self._vertebrae.values() for line in items.lines.values()]
        return out + list(self._regional_lines.values())

    def items(self) -> list[QtCore.QObject]:
        """Every view item of the layer (handles, lines, labels, leaders)."""
        out: list[QtCore.QObject] = [*self.handles.values(), *self.lines()]
        for items in self._vertebrae.values():
            out += [i for i in (items.label, items.leader) if i is not None]
        for label, leader in self._regional_labels.values():
            out += [label, leader]
        return out

    def label_offset_px(self, key: str) -> tuple[float, float]:
        return self._label_offsets.get((self._series_uid(), key), (0.0, 0.0))

    # -- drawing -----------------------------------------------------------------------
    def _series_uid(self) -> str:
        return "" if self.viewer.source is None else self.viewer.source.series_uid

    def _alpha_at(self, slice_: float) -> float:
        d = abs(slice_ - self.viewer.slice_index)
        if d <= ON_SLICE:
            return 1.0
        if d <= NEAR_SLICE:
            return FAINT_ALPHA
        return 0.0

    def _alpha_for(self, point_mm: NDArray[np.float64]) -> float:
        return self._alpha_at(self.viewer.slice_of(point_mm))

    def _add(self, item: pg.GraphicsObject) -> None:
        item.setParentItem(self._root)

    def _remove(self, item: pg.GraphicsObject | None) -> None:
        if item is not None:
            item.setParentItem(None)
            scene = item.scene()
            if scene is not None:
                scene.removeItem(item)

    def _clear(self) -> None:
        for handle in self.handles.values():
            self._remove(handle)
        self.handles = {}
        for items in self._vertebrae.values():
            self._remove_vertebra_items(items)
        self._vertebrae = {}
        for line in self._regional_lines.values():
            self._remove(line)
        self._regional_lines = {}
        for label, leader in self._regional_labels.values():
            self._remove(label)
            self._remove(leader)
        self._regional_labels = {}
        self._scene = {}
        self._placements = {}

    def refresh(self) -> None:
        """Bring the items in step with the state: reuse, move and restyle; make only new ones."""
        viewer = self.viewer
        if viewer.source is None:
            self._clear()
            self._geometry = None
            return
        geom = viewer.source.geometry
        if geom is not self._geometry:
            self._clear()
            self._geometry = geom
        self._scene = {}
        for vert in self.state.vertebrae:
            for key, point in vert.points_mm.items():
                self._scene[(vert.level, key)] = lps_to_scene(point, geom)
        wanted: set[tuple[str, str]] = set()
        for vert in self.state.vertebrae:
            colour = STATUS_COLOURS.get(vert.status, STATUS_COLOURS[""])
            for key in vert.points_mm:
                ident = (vert.level, key)
                wanted.add(ident)
                handle = self.handles.get(ident)
                if handle is None:
                    handle = LandmarkHandle(vert.level, key, colour)
                    handle.sigPositionChanged.connect(self._on_handle_moving)
                    handle.sigPositionChangeFinished.connect(self._on_handle_released)
                    self._add(handle)
                    self.handles[ident] = handle
                pen_colour = SELECTED_COLOUR if ident == self.selected else colour
                pen_width = 2.0 if ident == self.selected else 1.5
                if handle.pen.color().getRgb()[:3] != pen_colour or handle.pen.widthF() != pen_width:
                    handle.setPen(pg.mkPen(pen_colour, width=pen_width))
                if not handle.moving:
                    x, y, _ = self._scene[ident]
                    p = handle.pos()
                    if (float(p.x()), float(p.y())) != (x, y):
                        handle.blockSignals(True)
                        handle.setPos(x, y)
                        handle.blockSignals(False)
        for ident in list(self.handles):
            if ident not in wanted:
                self._remove(self.handles.pop(ident))
        self._update_vertebra_items()
        self._update_regional()
        self._on_slice_changed()
        self._layout_labels()

    def _scene_points(self, vert: VertebraOverlay) -> dict[str, tuple[float, float]]:
        """Where the handles are now (a dragged one where the mouse has it)."""
        out = {}
        for key in vert.points_mm:
            handle = self.handles.get((vert.level, key))
            if handle is not None:
                p = handle.pos()
                out[key] = (float(p.x()), float(p.y()))
        return out

    def _remove_vertebra_items(self, items: VertebraItems) -> None:
        for line in items.lines.values():
            self._remove(line)
        self._remove(items.group)
        self._remove(items.label)
        self._remove(items.leader)

    def _line(self, pen: QtGui.QPen) -> pg.PlotCurveItem:
        item = pg.PlotCurveItem(pen=pen)
        self._add(item)
        return item

    def _label(self, key: str) -> OverlayLabel:
        label = OverlayLabel(key, self._on_label_drag)
        self._add(label)
        return label

    def _update_vertebra_items(self) -> None:
        """Lines between the handles and each vertebra's label (positions, text, colour)."""
        levels = {vert.level for vert in self.state.vertebrae}
        for level in list(self._vertebrae):
            if level not in levels:
                self._remove_vertebra_items(self._vertebrae.pop(level))
        for vert in self.state.vertebrae:
            items = self._vertebrae.setdefault(vert.level, VertebraItems())
            if items.group is None:
                items.group = pg.ItemGroup()
                self._add(items.group)
                items.alpha = -1.0
            colour = STATUS_COLOURS.get(vert.status, STATUS_COLOURS[""])
            solid, dashed, leader_pen = line_pens(colour)
            if colour != items.colour:
                items.colour = colour
                for pair, line in items.lines.items():
                    line.setPen(solid if pair in ENDPLATE_PAIRS else dashed)
                if items.leader is not None:
                    items.leader.setPen(leader_pen)
            pts = self._scene_points(vert)
            for pair in (*ENDPLATE_PAIRS, *HEIGHT_PAIRS):
                a, b = pair
                line = items.lines.get(pair)
                if a in pts and b in pts:
                    if line is None:
                        line = items.lines[pair] = pg.PlotCurveItem(
                            pen=solid if pair in ENDPLATE_PAIRS else dashed
                        )
                        line.setParentItem(items.group)
                    line.setData([pts[a][0], pts[b][0]], [pts[a][1], pts[b][1]])
                elif line is not None:
                    self._remove(items.lines.pop(pair))
            text = vert.level + (f" · {vert.status}" if vert.status not in ("", "unknown") else "")
            values = vert.values_text
            if self.live_text is not None and self._dragging_level() == vert.level:
                values = self._live_values(vert, pts) or values
            if values:
                text += "\n" + values
            badge = (vert.badge, vert.badge_colour or colour, vert.badge_tooltip) if vert.badge else None
            if items.label is None:
                items.label = self._label(vert.level)
                items.leader = self._line(leader_pen)
                items.alpha = -1.0
            if items.label.set_content(text, colour, badge):
                self._placements.pop(vert.level, None)

    def _update_regional(self) -> None:
        """Both endplate lines of each regional angle, extended anteriorly so that their
        convergence shows; its value in a label behind the spine like the others."""
        geom = self.viewer.source.geometry  # type: ignore[union-attr]
        pen = pg.mkPen(QtGui.QColor(*REGIONAL_COLOUR), width=1.5, style=QtCore.Qt.PenStyle.DashDotLine)
        wanted_lines: set[tuple[str, int]] = set()
        wanted_labels: set[str] = set()
        ends: dict[str, list[tuple[float, float]]] = {}
        for reg in self.state.regional:
            for i, (ant, post) in enumerate((reg.upper, reg.lower)):
                a = np.array(lps_to_scene(ant, geom)[:2])
                b = np.array(lps_to_scene(post, geom)[:2])
                direction = a - b
                norm = float(np.linalg.norm(direction))
                if norm < 1e-9:
                    continue
                direction /= norm
                far = a + direction * REGIONAL_EXTENSION_MM
                near = b - direction * 8.0
                ident = (reg.label, i)
                wanted_lines.add(ident)
                line = self._regional_lines.get(ident)
                if line is None:
                    line = self._regional_lines[ident] = self._line(pen)
                line.setData([float(near[0]), float(far[0])], [float(near[1]), float(far[1])])
                ends.setdefault(reg.label, []).append((float(near[0]), float(near[1])))
            if reg.text:
                wanted_labels.add(reg.label)
                pair = self._regional_labels.get(reg.label)
                if pair is None:
                    pair = self._regional_labels[reg.label] = (
                        self._label(reg.label),
                        self._line(pg.mkPen(QtGui.QColor(*REGIONAL_COLOUR), width=1)),
                    )
                if pair[0].set_content(f"{reg.label}\n{reg.text}", REGIONAL_COLOUR, None):
                    self._placements.pop(reg.label, None)
        #: The leader of a regional label ends between the posterior ends of its lines.
        self._regional_anchors = {
            k: (sum(p[0] for p in v) / len(v), sum(p[1] for p in v) / len(v)) for k, v in ends.items()
        }
        for ident in list(self._regional_lines):
            if ident not in wanted_lines:
                self._remove(self._regional_lines.pop(ident))
        for key in list(self._regional_labels):
            if key not in wanted_labels:
                label, leader = self._regional_labels.pop(key)
                self._remove(label)
                self._remove(leader)

    def _on_slice_changed(self) -> None:
        """Opacity by distance to the slice shown: the only thing a slice step changes."""
        for ident, handle in self.handles.items():
            scene = self._scene.get(ident)
            if scene is None:
                continue
            alpha = self._alpha_at(scene[2])
            visible = alpha > 0
            if visible and handle.opacity() != alpha:  # a hidden handle keeps its last opacity
                handle.setOpacity(alpha)
            if handle.isVisibleTo(self._root) != visible:
                handle.setVisible(visible)
            handle.movable = alpha >= 1.0
        for vert in self.state.vertebrae:
            items = self._vertebrae.get(vert.level)
            if items is None:
                continue
            alphas = [self._alpha_at(self._scene[(vert.level, k)][2]) for k in vert.points_mm]
            shown = bool(alphas) and max(alphas) > 0
            alpha = max(min(alphas), FAINT_ALPHA) if shown else 0.0
            # A label only once the six points are there: while the reader places them, it
            # would sit where the next posterior point goes.
            on_slice = bool(alphas) and max(alphas) >= 1.0 and is_complete(vert)
            if alpha != items.alpha and items.group is not None:
                items.alpha = alpha
                if shown:
                    items.group.setOpacity(alpha)
                items.group.setVisible(shown)
            for item in (items.label, items.leader):
                if item is not None and item.isVisibleTo(self._root) != on_slice:
                    item.setVisible(on_slice)

    # -- labels ----------------------------------------------------------------------------
    def _mm_per_px(self) -> tuple[float, float]:
        sx, sy = self.viewer.view.viewPixelSize()
        return (float(sx), float(sy)) if sx and sy and np.isfinite(sx) and np.isfinite(sy) else (0.0, 0.0)

    def _posterior_xy(self) -> tuple[float, float]:
        """Patient posterior as a scene direction, from ImageOrientationPatient."""
        first = self.viewer.source.geometry.first  # type: ignore[union-attr]
        return (
            float(np.dot(POSTERIOR_LPS, first.row_cosine)),
            float(np.dot(POSTERIOR_LPS, first.col_cosine)),
        )

    def _label_requests(
        self, mm: tuple[float, float]
    ) -> list[tuple[LabelRequest, OverlayLabel, pg.PlotCurveItem]]:
        out = []
        for vert in self.state.vertebrae:
            items = self._vertebrae.get(vert.level)
            if items is None or items.label is None or items.leader is None:
                continue
            pts = {k: (x, y) for (level, k), (x, y, _s) in self._scene.items() if level == vert.level}
            if not pts or not is_complete(vert):
                continue
            body = tuple(pts[k] for k in BODY_OUTLINE if k in pts) + tuple(
                pts[k] for k in pts if k not in BODY_OUTLINE
            )
            if "sup_post" in pts and "inf_post" in pts:
                (ax, ay), (bx, by) = pts["sup_post"], pts["inf_post"]
                anchor = ((ax + bx) / 2, (ay + by) / 2)
            else:
                px, py = self._posterior_xy()
                anchor = max(pts.values(), key=lambda p: p[0] * px + p[1] * py)
            w, h = items.label.size_px()
            out.append(
                (LabelRequest(vert.level, body, anchor, (w * mm[0], h * mm[1])), items.label, items.leader)
            )
        for reg in self.state.regional:
            pair = self._regional_labels.get(reg.label)
            reg_anchor = self._regional_anchors.get(reg.label)
            if pair is None or reg_anchor is None:
                continue
            w, h = pair[0].size_px()
            out.append((LabelRequest(reg.label, (), reg_anchor, (w * mm[0], h * mm[1])), pair[0], pair[1]))
        return out

    def _layout_labels(self) -> None:
        """Place every label behind the spine at the current zoom, plus the reader's offset."""
        if self.viewer.source is None:
            return
        mm = self._mm_per_px()
        if mm == (0.0, 0.0):
            return
        requests = self._label_requests(mm)
        placements = layout_labels(
            [r for r, _l, _d in requests],
            self._posterior_xy(),
            LABEL_GAP_PX * mm[0],
            LABEL_SPACING_PX * mm[1],
        )
        for (_req, label, leader), placed in zip(requests, placements, strict=True):
            self._placements[placed.key] = placed
            self._place(label, leader, placed, mm)

    def _place(
        self, label: OverlayLabel, leader: pg.PlotCurveItem, placed: LabelPlacement, mm: tuple[float, float]
    ) -> None:
        ox, oy = self.label_offset_px(placed.key)
        x, y, w, h = placed.rect_mm
        rect = (x + ox * mm[0], y + oy * mm[1], w, h)
        p = label.pos()
        if (float(p.x()), float(p.y())) != rect[:2]:
            label.setPos(rect[0], rect[1])
        start = nearest_on_rect(rect, placed.anchor_mm)
        leader.setData([start[0], placed.anchor_mm[0]], [start[1], placed.anchor_mm[1]])

    def _on_label_drag(self, label: OverlayLabel, delta_px: QtCore.QPointF, _finished: bool) -> None:
        ident = (self._series_uid(), label.key)
        ox, oy = self._label_offsets.get(ident, (0.0, 0.0))
        self._label_offsets[ident] = (ox + float(delta_px.x()), oy + float(delta_px.y()))
        placed = self._placements.get(label.key)
        mm = self._mm_per_px()
        if placed is not None and mm != (0.0, 0.0):
            self._place(label, self.leader(label.key), placed, mm)

    # -- dragging handles ------------------------------------------------------------------
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
        self._update_vertebra_items()
        self._layout_labels()

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
        if not self.is_visible():
            return None
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
    "BODY_OUTLINE",
    "ENDPLATE_PAIRS",
    "FAINT_ALPHA",
    "HANDLE_SIZE_PX",
    "HEIGHT_PAIRS",
    "LABEL_FONT_PT",
    "LANDMARK_KEYS",
    "NEAR_SLICE",
    "ON_SLICE",
    "STATUS_COLOURS",
    "LandmarkHandle",
    "OverlayLabel",
    "OverlayLayer",
    "OverlayState",
    "RegionalOverlay",
    "VertebraOverlay",
]
