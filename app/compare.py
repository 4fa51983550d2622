"""Pre/post comparison: one viewer per timepoint, side by side, on the same level.

Each viewer shows the first series assigned to its timepoint with that timepoint's
landmarks; choosing a level moves every viewer to the slice of that level's landmarks and
centres it.  Below, the deltas of the level (correction, height gain, restoration, loss of
correction) from ``Case.measure()``, in large type.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from app.measure_panel import COMPARISON_COLUMNS
from app.overlay_state import overlay_state_for
from app.overlays import OverlayLayer
from app.series_controller import SeriesController
from app.viewer import SliceViewer
from measure.landmarks import level_index
from measure.results_text import comparison_row
from session.model import Session

MAX_VIEWERS = 3
#: Space around the compared level's landmarks (mm): enough to see the levels next to it.
LEVEL_MARGIN_MM = 55.0


class CompareView(QtWidgets.QWidget):
    """Up to three timepoints side by side; loads their series through the series controller."""

    def __init__(
        self, session: Session, series: SeriesController, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("CompareView")
        self.session = session
        self.series = series
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Level"))
        self.level_combo = QtWidgets.QComboBox()
        self.level_combo.currentTextChanged.connect(self.go_to_level)
        top.addWidget(self.level_combo)
        top.addStretch(1)
        self.hint = QtWidgets.QLabel("")
        top.addWidget(self.hint)
        layout.addLayout(top)
        row = QtWidgets.QHBoxLayout()
        self.viewers: list[SliceViewer] = []
        self.layers: list[OverlayLayer] = []
        self.timepoints: list[str] = []
        for _ in range(MAX_VIEWERS):
            v = SliceViewer(self)
            self.viewers.append(v)
            self.layers.append(OverlayLayer(v))
            row.addWidget(v, 1)
            v.hide()
        layout.addLayout(row, 1)
        self.deltas = QtWidgets.QTableWidget(0, len(COMPARISON_COLUMNS))
        self.deltas.setObjectName("DeltaTable")
        self.deltas.setHorizontalHeaderLabels(list(COMPARISON_COLUMNS))
        self.deltas.verticalHeader().setVisible(False)
        self.deltas.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.deltas.setMaximumHeight(120)
        layout.addWidget(self.deltas)
        series.displayLoaded.connect(self._on_display_loaded)

    def _on_display_loaded(self, _uid: str) -> None:
        if self.isVisible():
            self.refresh()

    @property
    def level(self) -> str:
        return self.level_combo.currentText()

    def refresh(self) -> None:
        """Rebuild from the case: which timepoints, which series, which levels, deltas."""
        case = self.session.case
        library = self.session.library
        tps = [tp for tp in case.ordered_timepoints() if case.series_of(tp.id)][:MAX_VIEWERS]
        self.timepoints = [tp.id for tp in tps]
        levels: list[str] = []
        for tp in tps:
            for v in case.vertebrae(tp.id):
                if case.landmarks(tp.id, v.level) and v.level not in levels:
                    levels.append(v.level)
        levels.sort(key=level_index)
        current = self.level_combo.currentText()
        self.level_combo.blockSignals(True)
        self.level_combo.clear()
        self.level_combo.addItems(levels)
        fractured = [
            v.level for tp in tps for v in case.vertebrae(tp.id) if v.status in ("fractured", "treated")
        ]
        chosen = (
            current if current in levels else (fractured[0] if fractured else (levels[0] if levels else ""))
        )
        self.level_combo.setCurrentText(chosen)
        self.level_combo.blockSignals(False)
        self.hint.setText("" if len(tps) >= 2 else "Assign series to at least two timepoints to compare.")

        for i, viewer in enumerate(self.viewers):
            if i >= len(tps):
                viewer.hide()
                continue
            tp = tps[i]
            uid = self.series_of(tp.id)
            viewer.show()
            display = library.loaded_display(uid)
            if display is None:
                viewer.set_title(f"{tp.kind}: loading…")
                self.series.load_display(uid)
                continue
            if viewer.source is not display:
                viewer.set_source(display, volume=display.volume())
                window = self.series.window_for(uid)
                viewer.set_window(window.center, window.width)
            title = (
                tp.kind + (f"  {tp.date}" if tp.date else "") + (f"  ({tp.id})" if tp.id != tp.kind else "")
            )
            viewer.set_title(title)
            self.layers[i].set_state(overlay_state_for(case, self.session.results, tp.id, uid))
        self.go_to_level(self.level)
        self._fill_deltas()

    def series_of(self, timepoint_id: str) -> str:
        """The series a timepoint is shown on: the one its compared numbers come from."""
        case = self.session.case
        return case.measurement_series(timepoint_id) or case.series_of(timepoint_id)[0].series_uid

    def go_to_level(self, level: str) -> None:
        case = self.session.case
        for i, tp in enumerate(self.timepoints):
            placed = case.landmarks(tp, level) if level else {}
            if not placed or self.viewers[i].source is None:
                continue
            pts = np.array([lm.position_mm for lm in placed.values()])
            # The level and its neighbours fill the view, the same way at every timepoint.
            self.viewers[i].fit_points(pts, margin_mm=LEVEL_MARGIN_MM)
        self._fill_deltas()

    def delta_rows(self) -> list[list[str]]:
        results = self.session.results
        if results is None:
            return []
        return [comparison_row(c) for c in results.comparisons if c.level == self.level]

    def _fill_deltas(self) -> None:
        rows = self.delta_rows()
        self.deltas.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                item = QtWidgets.QTableWidgetItem(text)
                item.setTextAlignment(
                    (QtCore.Qt.AlignmentFlag.AlignRight if j >= 3 else QtCore.Qt.AlignmentFlag.AlignLeft)
                    | QtCore.Qt.AlignmentFlag.AlignVCenter
                )
                self.deltas.setItem(i, j, item)
        self.deltas.resizeColumnsToContents()
