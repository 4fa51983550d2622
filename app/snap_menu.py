"""Tools > Snap to endplate (checkable) and Tools > Snap radius...: the reader's snap
preferences, applied to the placement snap at once and kept between sessions
(:mod:`session.assist_settings`, ``assist.json`` in the user-data folder).

Alt+click still places exactly with snapping on; with it off every click and drag lands
where it was made.  The proposals (Shift+click) keep their own snapping: they are a
separate action the reader accepts or rejects.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6 import QtCore, QtGui, QtWidgets

from app.snap_assist import PlacementSnap
from session.assist_settings import (
    RADIUS_RANGE_MM,
    AssistSettings,
    load_assist_settings,
    save_assist_settings,
)


class SnapMenu(QtCore.QObject):
    """The two actions and the radius dialog; the settings live in ``self.settings``."""

    changed = QtCore.Signal(object)  # AssistSettings

    def __init__(self, snap: PlacementSnap, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self._snap = snap
        self._parent = parent
        self.settings = load_assist_settings()
        self.dialog: QtWidgets.QInputDialog | None = None
        self.act_enabled = QtGui.QAction("&Snap to endplate", parent)
        self.act_enabled.setCheckable(True)
        self.act_enabled.setToolTip(
            "Clicks and drags land on the nearest endplate edge (Alt: exactly where clicked)"
        )
        self.act_enabled.toggled.connect(self.set_enabled)
        self.act_radius = QtGui.QAction("Snap &radius...", parent)
        self.act_radius.triggered.connect(self.ask_radius)
        self._apply(self.settings, save=False)

    def fill(self, menu: QtWidgets.QMenu) -> None:
        menu.addAction(self.act_enabled)
        menu.addAction(self.act_radius)

    def set_enabled(self, on: bool) -> None:
        if on != self.settings.snap_enabled:
            self._apply(replace(self.settings, snap_enabled=bool(on)))

    def set_radius_mm(self, radius_mm: float) -> None:
        """A radius in :data:`RADIUS_RANGE_MM` (the dialog allows nothing else)."""
        self._apply(replace(self.settings, snap_radius_mm=float(radius_mm)))

    def ask_radius(self) -> None:
        """A small dialog (not blocking the event loop) for the radius in mm."""
        lo, hi = RADIUS_RANGE_MM
        dialog = QtWidgets.QInputDialog(self._parent)
        dialog.setObjectName("SnapRadiusDialog")
        dialog.setWindowTitle("Snap radius")
        dialog.setLabelText(
            f"Search this far (mm, {lo:g}-{hi:g}) on either side of a click for the endplate edge:"
        )
        dialog.setInputMode(QtWidgets.QInputDialog.InputMode.DoubleInput)
        dialog.setDoubleRange(lo, hi)
        dialog.setDoubleDecimals(1)
        dialog.setDoubleStep(0.5)
        dialog.setDoubleValue(self.settings.snap_radius_mm)
        dialog.doubleValueSelected.connect(self.set_radius_mm)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()

    def _apply(self, settings: AssistSettings, save: bool = True) -> None:
        self.settings = settings
        self._snap.enabled = settings.snap_enabled
        self._snap.settings = replace(self._snap.settings, radius_mm=settings.snap_radius_mm)
        with QtCore.QSignalBlocker(self.act_enabled):
            self.act_enabled.setChecked(settings.snap_enabled)
        self.act_radius.setText(f"Snap &radius ({settings.snap_radius_mm:g} mm)...")
        if save:
            save_assist_settings(settings)
        self.changed.emit(settings)
