"""The view items of the landmark overlays: handles, value labels, and their styles.

Constants (colours per status, opacities by slice distance, screen sizes) and the two
interactive items: :class:`LandmarkHandle` (a draggable point of constant screen size) and
:class:`OverlayLabel` (a value label of constant screen size the reader may drag).
:class:`~app.overlays.OverlayLayer` makes them once per landmark set and then moves them.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from dataclasses import dataclass, field

import pyqtgraph as pg
from PySide6 import QtCore, QtGui

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
#: Handle diameter on screen (pixels, at any zoom): small enough to leave the corner visible.
HANDLE_SIZE_PX = 9
#: Gap between the posterior wall and a label, and between two labels (screen pixels).
LABEL_GAP_PX = 14.0
LABEL_SPACING_PX = 4.0
LABEL_FONT_PT = 10
#: How far the regional angle's endplate lines are drawn beyond the anterior points.
REGIONAL_EXTENSION_MM = 8.0

HEIGHT_PAIRS = (("sup_ant", "inf_ant"), ("sup_mid", "inf_mid"), ("sup_post", "inf_post"))
ENDPLATE_PAIRS = (("sup_ant", "sup_post"), ("inf_ant", "inf_post"))
#: The body's outline, in order (the quadrilateral of the four corners).
BODY_OUTLINE = ("sup_ant", "sup_post", "inf_post", "inf_ant")


def _handle_symbol() -> QtGui.QPainterPath:
    """A ring with four ticks pointing at (not covering) the exact point: unit size."""
    path = QtGui.QPainterPath()
    path.addEllipse(QtCore.QPointF(0.0, 0.0), 0.5, 0.5)
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        path.moveTo(0.5 * dx, 0.5 * dy)
        path.lineTo(0.17 * dx, 0.17 * dy)
    return path


@functools.cache
def line_pens(colour: tuple[int, int, int], alpha: float = 1.0) -> tuple[QtGui.QPen, QtGui.QPen, QtGui.QPen]:
    """Endplate (solid), height (dashed) and leader pens of a colour at an opacity (made once)."""
    qc = QtGui.QColor(*colour)
    qc.setAlphaF(alpha)
    lc = QtGui.QColor(*colour)
    lc.setAlphaF(0.8)
    return (
        pg.mkPen(qc, width=2),
        pg.mkPen(qc, width=1.5, style=QtCore.Qt.PenStyle.DashLine),
        pg.mkPen(lc, width=1),
    )


class LandmarkHandle(pg.TargetItem):
    """A draggable landmark point; knows which vertebra and which of the six it is."""

    def __init__(self, level: str, key: str, colour: tuple[int, int, int]) -> None:
        super().__init__(
            size=HANDLE_SIZE_PX,
            symbol=_handle_symbol(),
            pen=pg.mkPen(colour, width=1.5),
            hoverPen=pg.mkPen(SELECTED_COLOUR, width=1.5),
            brush=pg.mkBrush(0, 0, 0, 0),
            hoverBrush=pg.mkBrush(255, 255, 255, 60),
            movable=True,
        )
        self.level = level
        self.key = key
        self.setZValue(20)


class OverlayLabel(pg.TextItem):
    """A value label of constant screen size; the reader may drag it (left button)."""

    def __init__(self, key: str, on_drag: Callable[[OverlayLabel, QtCore.QPointF, bool], None]) -> None:
        super().__init__("", color=(255, 255, 255), anchor=(0.0, 0.0), fill=pg.mkBrush(0, 0, 0, 150))
        font = QtGui.QFont()
        font.setPointSize(LABEL_FONT_PT)
        font.setBold(True)
        self.setFont(font)
        self.key = key
        self.setZValue(15)
        self._on_drag = on_drag
        self._content: tuple[object, ...] = ()

    def set_content(
        self, text: str, colour: tuple[int, int, int], badge: tuple[str, tuple[int, int, int], str] | None
    ) -> bool:
        """Show ``text`` (and a badge line); False when it was already shown (nothing to do)."""
        content = (text, colour, badge)
        if content == self._content:
            return False
        self._content = content
        self.setColor(colour)
        if badge is None:
            self.setText(text)
            self.setToolTip("")
            self.textItem.setToolTip("")
        else:
            badge_text, badge_rgb, tooltip = badge
            badge_html = html.escape(badge_text).replace("\n", "<br>")
            self.setHtml(
                f'<span style="color: rgb{tuple(colour)}">{html.escape(text).replace(chr(10), "<br>")}</span>'
                f'<br><span style="color: rgb{tuple(badge_rgb)}">{badge_html}</span>'
            )
            self.setToolTip(tooltip)
            self.textItem.setToolTip(tooltip)
        return True

    def paint(self, p: QtGui.QPainter, *args: object) -> None:
        """The fill is an upright rectangle: drawn without antialiasing (a large
        antialiased translucent polygon was most of a slice step's paint time)."""
        s = self.scene()
        if s is not self._lastScene:
            super().paint(p, *args)
            return
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(self.fill)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
        p.drawRect(self.textItem.mapRectToParent(self.textItem.boundingRect()))

    def size_px(self) -> tuple[float, float]:
        r = self.textItem.boundingRect()
        return float(r.width()), float(r.height())

    def mouseDragEvent(self, ev: object) -> None:  # type: ignore[override]
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            ev.ignore()  # type: ignore[attr-defined]
            return
        ev.accept()  # type: ignore[attr-defined]
        d = ev.screenPos() - ev.lastScreenPos()  # type: ignore[attr-defined]
        self._on_drag(self, QtCore.QPointF(d), bool(ev.isFinish()))  # type: ignore[attr-defined]


@dataclass
class VertebraItems:
    """The view items of one vertebra and what they were last drawn with.

    The lines hang under one group whose opacity and visibility a slice step sets (one
    call; re-penning each line would make pyqtgraph recompute its bounds at the next paint)."""

    group: pg.ItemGroup | None = None
    lines: dict[tuple[str, str], pg.PlotCurveItem] = field(default_factory=dict)
    label: OverlayLabel | None = None
    leader: pg.PlotCurveItem | None = None
    alpha: float = -1.0
    colour: tuple[int, int, int] = (0, 0, 0)
