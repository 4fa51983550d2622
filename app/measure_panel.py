"""The measurement panel: tables per timepoint and level, regional angles, comparisons.

It observes the :class:`~session.model.Session` and redraws from its typed results (and
its STIR results) after every change; the cells are written by :mod:`measure.results_text` and
:mod:`app.stir_text`.  Values are shown with their one-pixel placement uncertainty
(``12.3 ± 0.4``), and a change within measurement error is marked ``≈``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6 import QtCore, QtGui, QtWidgets

from app.stir_text import STIR_COLUMNS, badge_tooltip, stir_cells
from app.tables import header_texts, table_rows
from measure.case import Case
from measure.edema import NO_CUTOFF_NOTE, default_choice_note
from measure.results import CaseResults, StirResult
from measure.results_text import comparison_row, fmt, vertebra_row
from session.model import Session, SessionEvent

VERTEBRA_COLUMNS = (
    "Timepoint",
    "Level",
    "Series",
    "Status",
    "VKA (°)",
    "Ha (mm)",
    "Hm (mm)",
    "Hp (mm)",
    "Ha/Hp",
    "Hm/Hp",
    "Crush",
    "Loss vs own Hp (%)",
    "Loss vs adjacent (%)",
    "Loss vs nearest (%)",
    "Genant",
    "Type",
    *STIR_COLUMNS,  # STIR edema (app.stir_text): SIR, bright % (grade), T1 ratio, flag, reader
)
#: Index of the first STIR column of the vertebra table.
FIRST_STIR_COLUMN = len(VERTEBRA_COLUMNS) - len(STIR_COLUMNS)
REGIONAL_COLUMNS = ("Timepoint", "Regional angle", "Angle (°)")
COMPARISON_COLUMNS = (
    "Level",
    "From → to",
    "Kind",
    "Correction (°)",
    "ΔHa (mm)",
    "ΔHm (mm)",
    "ΔHp (mm)",
    "Restoration Ha (%)",
    "Restoration Hm (%)",
    "Loss of correction (°)",
)
#: Marks the series whose numbers go to the registry (the timepoint's measurement set).
MEASUREMENT_MARK = "★ "
#: Session events after which the panel redraws.
REDRAW_EVENTS = frozenset({"case", "case-changed", "stir", "series"})
#: Said under the tables of a case without a STIR series (its columns are hidden).
NO_STIR_MESSAGE = "No STIR series in these studies: the fracture's age (marrow edema) is not assessed."


class _Table(QtWidgets.QTableWidget):
    def __init__(self, columns: tuple[str, ...], first_number_column: int) -> None:
        super().__init__(0, len(columns))
        self.first_number_column = first_number_column
        self.setHorizontalHeaderLabels(list(columns))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setDefaultAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)

    def set_rows(self, rows: list[list[str]]) -> None:
        self.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                item = QtWidgets.QTableWidgetItem(text)
                align = (
                    QtCore.Qt.AlignmentFlag.AlignRight
                    if j >= self.first_number_column
                    else QtCore.Qt.AlignmentFlag.AlignLeft
                )
                item.setTextAlignment(align | QtCore.Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, j, item)
        self.resizeColumnsToContents()

    def rows(self) -> list[list[str]]:
        return table_rows(self)

    def header(self) -> list[str]:
        return header_texts(self)


class MeasurementPanel(QtWidgets.QWidget):
    """Three tables: vertebrae (per timepoint and level), regional angles, comparisons.

    With a ``session`` the panel observes it and redraws after every change of the case
    or of the STIR results; :meth:`show_results` draws given results (tests, other views).
    """

    #: A row of the vertebra table was asked about (right click or double click on a STIR
    #: cell): (timepoint id, level, global position of a right click or None).
    stirRequested = QtCore.Signal(str, str, object)

    def __init__(self, session: Session | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MeasurementPanel")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.vertebrae = _Table(VERTEBRA_COLUMNS, 4)
        self.regional = _Table(REGIONAL_COLUMNS, 2)
        self.comparisons = _Table(COMPARISON_COLUMNS, 3)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("PanelMessage")
        for title, table, stretch in (
            ("Vertebrae", self.vertebrae, 3),
            ("Regional angles", self.regional, 1),
            ("Pre/post comparison  (≈ : within measurement error)", self.comparisons, 2),
        ):
            label = QtWidgets.QLabel(title)
            label.setObjectName("SectionTitle")
            layout.addWidget(label)
            layout.addWidget(table, stretch)
        layout.addWidget(self.message)
        copy = QtWidgets.QPushButton("Copy as table")
        copy.setToolTip("Copy every table to the clipboard, tab-separated (pastes into a spreadsheet)")
        copy.clicked.connect(self.copy_to_clipboard)
        layout.addWidget(copy)
        for j in range(FIRST_STIR_COLUMN, len(VERTEBRA_COLUMNS)):
            header = self.vertebrae.horizontalHeaderItem(j)
            if header is not None:
                header.setToolTip(
                    "STIR edema (double-click or right-click a row to confirm or override). "
                    + NO_CUTOFF_NOTE
                    + "\n"
                    + default_choice_note()
                )
        self.vertebrae.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        self.vertebrae.customContextMenuRequested.connect(self._on_context_menu)
        self.vertebrae.cellDoubleClicked.connect(self._on_double_click)
        self._unsubscribe: Callable[[], None] | None = None
        self.session = session
        if session is not None:
            self._unsubscribe = session.subscribe(self._on_session_event)
            self.refresh()

    def _on_session_event(self, event: SessionEvent) -> None:
        if event.kind in REDRAW_EVENTS:
            self.refresh()

    def refresh(self) -> None:
        """Redraw from the session's case, results and STIR results."""
        if self.session is not None:
            s = self.session
            self.show_results(s.case, s.results, s.measure_error, s.stir, stir_available=s.has_stir())

    def show_results(
        self,
        case: Case,
        results: CaseResults | None,
        error: str = "",
        stir: Mapping[str, Mapping[str, StirResult]] | None = None,
        *,
        stir_available: bool = True,
    ) -> None:
        """Draw ``results``; without a STIR series (``stir_available`` False) the STIR
        columns are hidden and one line says the fracture's age is not assessed."""
        stir = stir or {}
        rows: list[list[str]] = []
        regional: list[list[str]] = []
        comparisons: list[list[str]] = []
        refused: dict[int, str] = {}  # row -> why a complete vertebra was not measured
        if results is not None:
            for tp in case.ordered_timepoints():
                tp_result = results.timepoints.get(tp.id)
                if tp_result is None:
                    continue
                main = results.measurement_series.get(tp.id)
                sets = [(main, tp_result)] + [
                    (uid, r) for uid, r in results.by_series.get(tp.id, {}).items() if uid != main
                ]
                for uid, set_result in sets:
                    label = self._series_label(case, uid)
                    if uid == main and len(sets) > 1:
                        label = MEASUREMENT_MARK + label
                    for r in set_result.vertebrae.values():
                        v = case.vertebra(tp.id, r.level)
                        placed = 0 if v is None else len(v.landmarks_on(uid))
                        if uid != main and placed == 0:
                            continue  # another set: only the levels placed on it
                        row = vertebra_row(tp.id, r)
                        row.insert(2, label)
                        if not r.measured and v is not None:
                            row[4] = "not measured" if placed == 6 else f"{placed}/6 points"
                            if placed == 6 and r.notes:
                                refused[len(rows)] = " ".join(r.notes)
                        body = (stir.get(tp.id) or {}).get(r.level)
                        analysed_here = body is not None and body.landmark_series_uid in (uid, None)
                        row += stir_cells(body if analysed_here or uid == main else None)
                        rows.append(row)
                for reg in tp_result.regional:
                    regional.append([tp.id, reg.label, fmt(reg.angle_deg, reg.uncertainty_deg)])
            comparisons = [comparison_row(c) for c in results.comparisons]
        self.vertebrae.set_rows(rows)
        for i, why in refused.items():
            for j in range(self.vertebrae.columnCount()):
                item = self.vertebrae.item(i, j)
                if item is not None:
                    item.setToolTip(why)
        self._stir_tooltips(stir)
        self.regional.set_rows(regional)
        self.comparisons.set_rows(comparisons)
        for j in range(FIRST_STIR_COLUMN, len(VERTEBRA_COLUMNS)):
            self.vertebrae.setColumnHidden(j, not stir_available)
        messages = [f"Measurements could not be computed: {error}"] if error else []
        messages += [rows[i][0] + " " + why for i, why in refused.items()]
        if not stir_available and rows:
            messages.append(NO_STIR_MESSAGE)
        self.message.setText("\n".join(messages))

    @staticmethod
    def _series_label(case: Case, series_uid: str | None) -> str:
        """How a row names the series its numbers come from."""
        if series_uid is None:
            return "–"
        ref = case.series_ref(series_uid)
        if ref is None:
            return series_uid[-12:]
        name = ref.description or series_uid[-12:]
        return f"{ref.modality} {name}".strip() if ref.modality else name

    def _stir_tooltips(self, stir: Mapping[str, Mapping[str, StirResult]]) -> None:
        """Each STIR cell explains itself: the analysis sentence and the no-cut-off note."""
        table = self.vertebrae
        for i in range(table.rowCount()):
            key = self.row_key(i)
            r = None if key is None else (stir.get(key[0]) or {}).get(key[1])
            tip = badge_tooltip(r) if r is not None else "STIR edema not analysed. " + NO_CUTOFF_NOTE
            for j in range(FIRST_STIR_COLUMN, len(VERTEBRA_COLUMNS)):
                item = table.item(i, j)
                if item is not None:
                    item.setToolTip(tip)

    def row_key(self, row: int) -> tuple[str, str] | None:
        """(timepoint id, level) of a row of the vertebra table."""
        tp_item, level_item = self.vertebrae.item(row, 0), self.vertebrae.item(row, 1)
        if tp_item is None or level_item is None:
            return None
        return tp_item.text(), level_item.text()

    def _on_context_menu(self, pos: QtCore.QPoint) -> None:
        key = self.row_key(self.vertebrae.rowAt(pos.y()))
        if key is not None:
            self.stirRequested.emit(key[0], key[1], self.vertebrae.viewport().mapToGlobal(pos))

    def _on_double_click(self, row: int, column: int) -> None:
        key = self.row_key(row)
        if key is not None and column >= FIRST_STIR_COLUMN:
            self.stirRequested.emit(key[0], key[1], None)

    def as_tsv(self) -> str:
        blocks = []
        for table in (self.vertebrae, self.regional, self.comparisons):
            lines = ["\t".join(table.header())] + ["\t".join(r) for r in table.rows()]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"

    def copy_to_clipboard(self) -> None:
        QtGui.QGuiApplication.clipboard().setText(self.as_tsv())

    def detach(self) -> None:
        """Stop observing the session (the window is closing)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
