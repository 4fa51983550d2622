"""Drawing a proposed body: dashed outline, draggable dashed-ring handles, its confidence.

Separate from :mod:`app.overlays` (the case's own landmarks): a proposal is not in the
case, so it is drawn differently (dashed, another colour) and its handles move only the
proposal.  The controller (:mod:`app.proposal_controller`) owns the proposal; this module
only shows it and reports drags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6 import QtCore

from app.coords import lps_to_scene, scene_to_lps
from app.viewer import SliceViewer

PROPOSAL_COLOUR = (255, 170, 40)
_OUTLINE = (("sup_ant", "sup_mid", "sup_post"), ("inf_ant", "inf_mid", "inf_post"))
_WALLS = (("sup_ant", "inf_ant"), ("sup_post", "inf_post"))


class _ProposalHandle(pg.TargetItem):
    def __init__(self, key: str) -> None:
        super().__init__(
            size=13,
            symbol="o",
            pen=pg.mkPen(PROPOSAL_COLOUR, width=2, style=QtCore.Qt.PenStyle.DashLine),
            hoverPen=pg.mkPen(255, 255, 255, width=2),
            brush=pg.mkBrush(0, 0, 0, 0),
            movable=True,
        )
        self.key = key
        self.setZValue(25)


class ProposalOverlay:
    """The items of one proposal on the viewer; ``on_moved(key, lps)`` after a drag."""

    def __init__(self, viewer: SliceViewer, on_moved: Callable[[str, NDArray[np.float64]], None]) -> None:
        self.viewer = viewer
        self.on_moved = on_moved
        self.handles: dict[str, _ProposalHandle] = {}
        self.lines: list[pg.PlotCurveItem] = []
        self.label: pg.TextItem | None = None

    @property
    def visible(self) -> bool:
        return bool(self.handles)

    def clear(self) -> None:
        for item in [*self.handles.values(), *self.lines, *([self.label] if self.label else [])]:
            self.viewer.view.removeItem(item)
        self.handles, self.lines, self.label = {}, [], None

    def show(self, points_mm: Mapping[str, tuple[float, float, float]], text: str) -> None:
        self.clear()
        source = self.viewer.source
        if source is None:
            return
        scene = {k: lps_to_scene(p, source.geometry)[:2] for k, p in points_mm.items()}
        pen = pg.mkPen(PROPOSAL_COLOUR, width=1.5, style=QtCore.Qt.PenStyle.DashLine)
        for chain in (*_OUTLINE, *_WALLS):
            line = pg.PlotCurveItem([scene[k][0] for k in chain], [scene[k][1] for k in chain], pen=pen)
            line.setZValue(24)
            self.viewer.view.addItem(line)
            self.lines.append(line)
        for key, (x, y) in scene.items():
            h = _ProposalHandle(key)
            h.setPos(x, y)
            h.sigPositionChangeFinished.connect(self._finished)
            self.viewer.view.addItem(h)
            self.handles[key] = h
        label = pg.TextItem(text, color=PROPOSAL_COLOUR, anchor=(0, 1))
        top = min(scene.values(), key=lambda p: p[1])
        label.setPos(top[0], top[1] - 4.0)
        label.setZValue(26)
        self.viewer.view.addItem(label)
        self.label = label

    def label_text(self) -> str:
        return "" if self.label is None else str(self.label.textItem.toPlainText())

    def handle_scene_pos(self, key: str) -> tuple[float, float]:
        p = self.handles[key].pos()
        return float(p.x()), float(p.y())

    def _finished(self, handle: _ProposalHandle) -> None:
        source = self.viewer.source
        if source is None:
            return
        p = handle.pos()
        self.on_moved(
            handle.key, scene_to_lps(float(p.x()), float(p.y()), self.viewer.slice_index, source.geometry)
        )
