"""Snap while placing: a click or a drag lands on the endplate edge, Alt places exactly.

The search itself is Qt-free (:mod:`measure.assist.snap`); this module feeds it the slice
shown, the series' modality (bright cortex on CT, dark on MR) and the endplate's direction
from the points already placed on it, and draws where the point will go while the left
button is held (a ring at the snapped position, joined to the pointer), so that the reader
sees the move before releasing.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6 import QtCore

from app.coords import lps_to_scene
from app.viewer import SliceViewer
from measure.assist.snap import SnapResult, SnapSettings, cortex_contrast_for, snap_to_endplate
from measure.landmarks import Endplate
from session.model import Session

PREVIEW_COLOUR = (0, 230, 255)


def exact_requested(modifiers: object) -> bool:
    """Alt (Option on macOS) held: place exactly where clicked, no snap."""
    try:
        return bool(QtCore.Qt.KeyboardModifier(modifiers) & QtCore.Qt.KeyboardModifier.AltModifier)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


class _PassiveMarker(pg.ScatterPlotItem):
    """The preview ring: drawn under the pointer, so it must let the click through to the view."""

    def mouseClickEvent(self, ev: object) -> None:  # type: ignore[override]
        ev.ignore()  # type: ignore[attr-defined]


class PlacementSnap:
    """Snaps landmark positions for the placement controller and shows the preview."""

    def __init__(self, session: Session, viewer: SliceViewer) -> None:
        self.session = session
        self.viewer = viewer
        #: Snap clicks and drags (the reader can turn it off; Alt overrides per click).
        self.enabled = True
        self.settings = SnapSettings()
        #: The last snap computed (for the status bar and the tests).
        self.last: SnapResult | None = None
        self.marker = _PassiveMarker(
            size=14, symbol="o", pen=pg.mkPen(PREVIEW_COLOUR, width=2), brush=pg.mkBrush(0, 0, 0, 0)
        )
        self.link = pg.PlotCurveItem(pen=pg.mkPen(PREVIEW_COLOUR, width=1, style=QtCore.Qt.PenStyle.DotLine))
        for item in (self.link, self.marker):
            item.setZValue(30)
            item.setVisible(False)
            viewer.view.addItem(item)

    def _modality(self) -> str:
        source = self.viewer.source
        if source is None:
            return ""
        stack = self.session.stack(source.series_uid)
        return stack.modality if stack is not None else ""

    def _tangent(self, level: str, key: str, lps: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """The endplate's direction from the other points already placed on it (this
        series): the anterior-posterior chord, else the line to the one placed; None lets
        the image decide (structure tensor)."""
        s = self.session
        tp, uid = s.current_timepoint, s.current_series_uid
        if tp is None or uid is None:
            return None
        side = key.split("_")[0]
        placed = {
            k: lm.array
            for k, lm in s.case.landmarks(tp, level, uid).items()
            if k.startswith(side) and k != key
        }
        ant, post = placed.get(f"{side}_ant"), placed.get(f"{side}_post")
        if ant is not None and post is not None:
            return np.asarray(post - ant, dtype=float)
        for other in placed.values():
            d = np.asarray(lps, dtype=float) - other
            if float(np.linalg.norm(d)) > 3.0:
                return d
        return None

    def snap(
        self, lps: NDArray[np.float64], level: str, key: str, modifiers: object = None
    ) -> tuple[NDArray[np.float64], SnapResult | None]:
        """Where a point of ``level``/``key`` clicked at ``lps`` goes (and the snap, or None
        when off, Alt held, or nothing is shown)."""
        image = self.viewer.current_image()
        source = self.viewer.source
        if not self.enabled or exact_requested(modifiers) or image is None or source is None:
            self.last = None
            return np.asarray(lps, dtype=float), None
        plane = source.geometry.slices[self.viewer.slice_index]
        endplate: Endplate = "superior" if key.startswith("sup") else "inferior"
        result = snap_to_endplate(
            image,
            plane,
            lps,
            self._tangent(level, key, lps),
            endplate,
            cortex_contrast_for(self._modality()),
            self.settings,
        )
        self.last = result
        return np.asarray(result.point_mm, dtype=float), result

    def show_preview(self, pointer_lps: NDArray[np.float64], snapped_lps: NDArray[np.float64]) -> None:
        source = self.viewer.source
        if source is None:
            return
        px, py, _ = lps_to_scene(pointer_lps, source.geometry)
        sx, sy, _ = lps_to_scene(snapped_lps, source.geometry)
        self.marker.setData([sx], [sy])
        self.link.setData([px, sx], [py, sy])
        self.marker.setVisible(True)
        self.link.setVisible(True)

    def hide_preview(self) -> None:
        self.marker.setVisible(False)
        self.link.setVisible(False)

    @property
    def preview_visible(self) -> bool:
        return bool(self.marker.isVisible())

    def preview_scene_mm(self) -> tuple[float, float] | None:
        """Scene position (mm) of the preview ring, or None when hidden."""
        if not self.preview_visible:
            return None
        xs, ys = self.marker.getData()
        return float(xs[0]), float(ys[0])

    def status_text(self) -> str:
        """One line for the status bar about the last snap."""
        r = self.last
        if r is None:
            return "Placed where clicked (no snap)."
        if not r.snapped:
            return f"No clear endplate edge within {self.settings.radius_mm:g} mm: placed where clicked."
        return (
            f"Snapped {r.offset_mm:+.1f} mm onto the endplate (edge strength {r.strength:.2f}); "
            "Alt places exactly."
        )
