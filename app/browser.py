"""Study/series browser: one row per series with a thumbnail and what ``info`` knows."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui, QtWidgets

from app.tables import cell_text
from dicomio.model import SeriesStack

THUMB_PX = 72
#: Text colour of a series that has warnings (gaps, no pixel decoder...).
WARNING_COLOUR = QtGui.QColor(255, 196, 80)
#: Warnings are wrapped to lines of this many characters (the browser column is narrow).
WARNING_WRAP_CHARS = 24
_STACK_ROLE = QtCore.Qt.ItemDataRole.UserRole
_KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1


def array_to_qimage(image: NDArray, levels: tuple[float, float] | None = None) -> QtGui.QImage:
    """8-bit grey QImage of a 2-D array (windowed to ``levels``, else 1st-99th percentile)."""
    a = np.asarray(image, dtype=np.float32)
    if levels is None:
        finite = a[np.isfinite(a)]
        lo, hi = np.percentile(finite, (1, 99)) if finite.size else (0.0, 1.0)
    else:
        lo, hi = levels
    scale = 255.0 / max(float(hi - lo), 1e-6)
    grey = np.clip((a - lo) * scale, 0, 255).astype(np.uint8)
    grey = np.ascontiguousarray(grey)
    h, w = grey.shape
    return QtGui.QImage(grey.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8).copy()


def summary_text(summary: dict[str, Any]) -> str:
    """Two or three lines from ``dicomio.info.series_summary``: what, how many, warnings."""
    parts = [str(summary.get("modality") or ""), str(summary.get("plane") or "")]
    if summary.get("sequence"):
        parts.append(str(summary["sequence"]))
    line1 = " · ".join(p for p in parts if p)
    lines = [line1, f"{summary.get('n_images', '?')} images"]
    spacing = summary.get("pixel_spacing")
    if spacing:
        text = "×".join(f"{float(v):.2f}" for v in spacing if v is not None)
        if summary.get("slice_spacing"):
            text += f"×{float(summary['slice_spacing']):.1f}"
        lines.append(text + " mm")
    for warning in summary.get("warnings") or []:
        # Wrapped, not elided: the reader must be able to read why a series is suspect.
        lines.extend(textwrap.wrap(f"⚠ {warning}", WARNING_WRAP_CHARS))
    return "\n".join(lines)


class SeriesBrowser(QtWidgets.QTreeWidget):
    """Studies as top-level rows, their series (stacks) as children."""

    #: The stack key of the series the user opened (double-click or Enter).
    seriesActivated = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SeriesBrowser")
        self.setHeaderLabels(["Series", "Timepoint"])
        self.setIconSize(QtCore.QSize(THUMB_PX, THUMB_PX))
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(False)
        self.setWordWrap(False)  # lines are wrapped by summary_text: rows get the right height
        self.setColumnWidth(0, 260)
        self.itemActivated.connect(self._on_activated)
        self._items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        #: Thumbnails by stack key: kept when the list is rebuilt after another scan.
        self._icons: dict[str, QtGui.QIcon] = {}

    def set_stacks(self, stacks: list[SeriesStack], summaries: dict[str, dict[str, Any]]) -> None:
        """List ``stacks`` by study; the thumbnails already made and the selection stay."""
        selected = self.current_key()
        self.clear()
        self._items = {}
        studies: dict[str, QtWidgets.QTreeWidgetItem] = {}
        for stack in stacks:
            study = studies.get(stack.study_uid)
            if study is None:
                title = stack.study_description or "Study"
                if stack.study_date:
                    title += f"  ({stack.study_date})"
                if stack.patient_id:
                    title += f"  · {stack.patient_id}"
                study = QtWidgets.QTreeWidgetItem([title, ""])
                font = study.font(0)
                font.setBold(True)
                study.setFont(0, font)
                self.addTopLevelItem(study)
                studies[stack.study_uid] = study
            summary = summaries.get(stack.key, {})
            name = stack.display_name
            item = QtWidgets.QTreeWidgetItem([f"{name}\n{summary_text(summary)}", ""])
            item.setData(0, _KEY_ROLE, stack.key)
            item.setToolTip(0, f"{name}\nSeries UID {stack.series_uid}\n{summary_text(summary)}")
            if summary.get("warnings"):
                item.setForeground(0, QtGui.QBrush(WARNING_COLOUR))  # a series with warnings stands out
            icon = self._icons.get(stack.key)
            if icon is not None:
                item.setIcon(0, icon)
            study.addChild(item)
            self._items[stack.key] = item
        self.expandAll()
        if selected is not None:
            self.select_key(selected)

    def set_thumbnail(
        self,
        key: str,
        image: NDArray,
        levels: tuple[float, float] | None = None,
        pixel_spacing_mm: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        """Show ``image`` in true proportions (``pixel_spacing_mm`` is (row, column))."""
        item = self._items.get(key)
        if item is None:
            return
        rows, cols = np.asarray(image).shape
        height_mm, width_mm = rows * pixel_spacing_mm[0], cols * pixel_spacing_mm[1]
        scale = THUMB_PX / max(height_mm, width_mm)
        size = QtCore.QSize(max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))
        qimg = array_to_qimage(image, levels).scaled(
            size,
            QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
            QtCore.Qt.TransformationMode.SmoothTransformation,
        )
        icon = QtGui.QIcon(QtGui.QPixmap.fromImage(qimg))
        self._icons[key] = icon
        item.setIcon(0, icon)

    def set_timepoint_label(self, key: str, text: str) -> None:
        item = self._items.get(key)
        if item is not None:
            item.setText(1, text)

    def item_text(self, key: str) -> str:
        """What the row of a series says (name, summary and warnings)."""
        item = self._items.get(key)
        return "" if item is None else item.text(0)

    def series_keys(self) -> list[str]:
        return list(self._items)

    def has_thumbnail(self, key: str) -> bool:
        item = self._items.get(key)
        return item is not None and not item.icon(0).isNull()

    def select_key(self, key: str) -> None:
        item = self._items.get(key)
        if item is not None:
            self.setCurrentItem(item)

    def current_key(self) -> str | None:
        item = self.currentItem()
        return None if item is None else item.data(0, _KEY_ROLE)

    def _on_activated(self, item: QtWidgets.QTreeWidgetItem, _column: int) -> None:
        key = item.data(0, _KEY_ROLE)
        if key:
            self.seriesActivated.emit(str(key))


class SkippedFilesPanel(QtWidgets.QWidget):
    """Lists every file that was not used, and why (shown in a dock after a scan)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SkippedFilesPanel")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.label = QtWidgets.QLabel("")
        layout.addWidget(self.label)
        self.table = QtWidgets.QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table)

    def set_skipped(self, skipped: list[Any]) -> None:
        self.label.setText(
            f"{len(skipped)} file(s) were not loaded; the other files were."
            if skipped
            else "No file was skipped."
        )
        self.table.setRowCount(len(skipped))
        for i, s in enumerate(skipped):
            self.table.setItem(i, 0, QtWidgets.QTableWidgetItem(str(s.path)))
            self.table.setItem(i, 1, QtWidgets.QTableWidgetItem(str(s.reason)))
        self.table.resizeColumnToContents(0)

    def rows(self) -> list[tuple[str, str]]:
        return [
            (cell_text(self.table, i, 0), cell_text(self.table, i, 1)) for i in range(self.table.rowCount())
        ]
