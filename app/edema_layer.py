"""The STIR edema drawing on a viewer: bright-voxel map, body outlines, badges.

On a viewer showing the STIR (or another series whose slices are parallel to it in the
same frame of reference, e.g. the T1 the landmarks sit on), :class:`EdemaLayer` draws the
bright voxels of every analysed body as a semi-transparent orange-red map, and on the
STIR view the body outline and a badge per vertebra ("edema: recent likely (SIR 6.44,
54%)", "no edema ...", "recency unknown: no STIR").  It draws what it is given
(:class:`EdemaContent`); the controller (:mod:`app.stir_controller`) decides what.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui

from app.coords import lps_to_scene
from app.stir_text import badge_colour, badge_text, badge_tooltip
from app.viewer import SliceViewer
from dicomio.geometry import StackGeometry
from measure.edema import STATUS_OK, bright_mask_for_slice
from measure.edema_config import DEFAULT_CONFIG
from measure.results import StirResult

#: Colour of the bright-voxel map (RGBA, alpha out of 255: semi-transparent).
OVERLAY_RGBA = (255, 64, 0, 150)
OUTLINE_COLOUR = (255, 200, 120)
#: Slices within this angle are "parallel": the STIR map can be drawn on that viewer.
PARALLEL_MAX_DEG = 3.0
BADGE_FONT_PT = 10
BADGE_GAP_MM = 10.0


@dataclass
class EdemaContent:
    """What :class:`EdemaLayer` draws for one viewer."""

    results: Mapping[str, StirResult]
    stir_geometry: StackGeometry
    outlines_mm: Mapping[str, NDArray[np.float64]]  # level -> (6, 3) LPS, in outline order
    badge_levels: frozenset[str]  # levels whose badge the layer draws (not in a landmark label)
    outlines_visible: bool = True


def _parallel(a: StackGeometry, b: StackGeometry) -> bool:
    cos = abs(float(a.normal @ b.normal))
    return cos >= float(np.cos(np.radians(PARALLEL_MAX_DEG)))


class EdemaLayer(QtCore.QObject):
    """The bright-voxel map, body outlines and badges on one :class:`~app.viewer.SliceViewer`."""

    def __init__(self, viewer: SliceViewer) -> None:
        super().__init__(viewer)  # owned by its viewer (Qt), not by a Python reference
        self.viewer = viewer
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(5)  # above the image, below landmark lines (10) and handles (20)
        self.image.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.image.setVisible(False)
        viewer.view.addItem(self.image)
        self.content: EdemaContent | None = None
        self.overlay_visible = True
        self._items: list[Any] = []
        #: STIR slice whose map is drawn (None: nothing drawn).
        self.stir_slice: int | None = None
        viewer.sliceChanged.connect(lambda _k: self.refresh())

    def set_content(self, content: EdemaContent | None) -> None:
        self.content = content
        self.refresh()

    def set_overlay_visible(self, on: bool) -> None:
        self.overlay_visible = bool(on)
        self.refresh()

    # -- geometry ------------------------------------------------------------------------
    def mapped_stir_slice(self) -> int | None:
        """The STIR slice that lies in the plane of the viewer's current slice (or None)."""
        viewer, content = self.viewer, self.content
        if viewer.source is None or content is None:
            return None
        view_geom: StackGeometry = viewer.source.geometry
        stir = content.stir_geometry
        if not _parallel(view_geom, stir):
            return None
        first = view_geom.first
        centre = view_geom.index_to_lps((first.columns - 1) / 2, (first.rows - 1) / 2, viewer.slice_index)
        along = float(np.asarray(centre).reshape(3) @ stir.normal)
        dist = np.abs(stir.slice_offsets_mm - along)
        k = int(np.argmin(dist))
        half = (stir.slice_spacing_mm or 1.0) / 2
        return k if dist[k] <= half + 1e-3 else None

    def stir_to_scene_transform(self, stir_slice: int) -> QtGui.QTransform:
        """Item coordinates of the STIR image (pixel (c, r) spans [c, c+1] x [r, r+1]) -> scene mm.

        Built from where three STIR pixel centres land in the viewer's scene
        (:func:`app.coords.lps_to_scene`), so it holds for another pixel spacing, field of
        view or in-plane orientation than the viewer's series.
        """
        assert self.content is not None and self.viewer.source is not None
        image = self.content.stir_geometry.slices[stir_slice]
        view_geom = self.viewer.source.geometry
        o = np.array(lps_to_scene(image.pixel_to_lps(0.0, 0.0), view_geom)[:2])
        ex = np.array(lps_to_scene(image.pixel_to_lps(1.0, 0.0), view_geom)[:2]) - o
        ey = np.array(lps_to_scene(image.pixel_to_lps(0.0, 1.0), view_geom)[:2]) - o
        # item (u, v) = pixel centre (u - 0.5, v - 0.5)
        t = o - 0.5 * ex - 0.5 * ey
        return QtGui.QTransform(ex[0], ex[1], ey[0], ey[1], t[0], t[1])

    def bright_union(self, stir_slice: int) -> NDArray[np.bool_]:
        """Bright voxels of the analysed bodies with some edema (extent grade >= 1) on one
        STIR slice (STIR rows x columns)."""
        assert self.content is not None
        g = self.content.stir_geometry.first
        mask = np.zeros((g.rows, g.columns), dtype=bool)
        for level, r in self.content.results.items():
            # A body below the noise floor (extent grade 0, "0 %") shows no stray noise voxels.
            if r.status == STATUS_OK and r.masks and (r.extent_grade or 0) > 0:
                mask |= bright_mask_for_slice(self.content.results, level, stir_slice)
        return mask

    # -- drawing ---------------------------------------------------------------------------
    def _clear_items(self) -> None:
        for item in self._items:
            self.viewer.view.removeItem(item)
        self._items = []

    def refresh(self) -> None:
        self._clear_items()
        k = self.mapped_stir_slice()
        self.stir_slice = k
        if k is None or self.content is None:
            self.image.clear()
            self.image.setVisible(False)
            return
        mask = self.bright_union(k)
        if self.overlay_visible and mask.any():
            rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
            rgba[mask] = OVERLAY_RGBA
            self.image.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.image.setTransform(self.stir_to_scene_transform(k))
            self.image.setVisible(True)
        else:
            self.image.clear()
            self.image.setVisible(False)
        self._draw_outlines_and_badges(k)

    def overlay_pixels(self) -> NDArray[np.bool_] | None:
        """Which STIR pixels the map paints now (None when it is hidden): for tests and checks."""
        if not self.image.isVisible() or self.image.image is None:
            return None
        return np.asarray(self.image.image)[..., 3] > 0

    def _draw_outlines_and_badges(self, stir_slice: int) -> None:
        content = self.content
        viewer = self.viewer
        assert content is not None and viewer.source is not None
        geom = viewer.source.geometry
        anterior = geom.first.anterior
        slab_mm = DEFAULT_CONFIG.slab_half_width_mm + (content.stir_geometry.slice_spacing_mm or 0.0) / 2
        plane_offset = float(content.stir_geometry.slice_offsets_mm[stir_slice])
        for level, outline in content.outlines_mm.items():
            result = content.results.get(level)
            if result is None:
                continue
            centre = outline.mean(axis=0)
            if abs(float(centre @ content.stir_geometry.normal) - plane_offset) > slab_mm:
                continue  # this body is not cut by the slice shown
            scene = np.array([lps_to_scene(p, geom)[:2] for p in outline])
            colour = badge_colour(result)
            if content.outlines_visible and stir_slice in result.slice_indices:
                closed = np.vstack([scene, scene[:1]])
                qc = QtGui.QColor(*OUTLINE_COLOUR)
                qc.setAlphaF(0.9)
                curve = pg.PlotCurveItem(
                    closed[:, 0], closed[:, 1], pen=pg.mkPen(qc, width=1.5, style=QtCore.Qt.PenStyle.DashLine)
                )
                curve.setZValue(9)
                viewer.view.addItem(curve)
                self._items.append(curve)
            if level in content.badge_levels:
                text = f"{level} · {badge_text(result, multiline=True)}"
                self._add_badge(text, badge_tooltip(result), colour, scene, anterior)

    def _add_badge(
        self,
        text: str,
        tooltip: str,
        colour: tuple[int, int, int],
        scene: NDArray[np.float64],
        anterior: str | None,
    ) -> None:
        item = pg.TextItem(text, color=colour, fill=pg.mkBrush(0, 0, 0, 170))
        font = QtGui.QFont()
        font.setPointSize(BADGE_FONT_PT)
        font.setBold(True)
        item.setFont(font)
        cy = float(scene[:, 1].mean())
        if anterior == "right":
            item.setAnchor((0.0, 0.5))
            item.setPos(float(scene[:, 0].max()) + BADGE_GAP_MM, cy)
        else:
            item.setAnchor((1.0, 0.5))
            item.setPos(float(scene[:, 0].min()) - BADGE_GAP_MM, cy)
        item.setToolTip(tooltip)
        item.textItem.setToolTip(tooltip)
        item.setZValue(15)
        self.viewer.view.addItem(item)
        self._items.append(item)

    def badge_texts(self) -> list[str]:
        """Text of the badges drawn now (for tests and checks)."""
        return [i.toPlainText() for i in self._items if isinstance(i, pg.TextItem)]
