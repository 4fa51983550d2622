"""Reader entries (registry fields): the dialog that edits one, and the table that lists them.

A reader entry records the treatment of a level at a timepoint (procedure, cement volume,
leakage types B/S/C/D, complications, notes), or of the whole case.  The dialog only
collects values; the window turns them into a :class:`~app.commands.SetReaderEntryCommand`
so the change is undoable.  Values are validated by :class:`measure.case.ReaderEntry`.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from app.dialog_parts import ok_cancel_buttons, problem_label
from app.placement import PLACEMENT_LEVELS
from app.tables import table_rows
from measure.case import LEAKAGE_TYPES, PROCEDURES, Case, ReaderEntry

PROCEDURE_LABELS: dict[str, str] = {
    "vertebroplasty": "Vertebroplasty",
    "kyphoplasty": "Kyphoplasty (balloon)",
    "spinejack": "SpineJack",
    "other": "Other",
}
#: Cement leakage types of the clinical reference (registry coding).
LEAKAGE_LABELS: dict[str, str] = {
    "B": "B · basivertebral vein",
    "S": "S · segmental vein",
    "C": "C · cortical defect",
    "D": "D · into the disc",
}
ENTRY_COLUMNS = ("Timepoint", "Level", "Procedure", "Cement (ml)", "Leakage", "Complications", "Notes")
#: Widgets the dark theme does not style; kept local to these dialogs.
DIALOG_STYLE = """
QDoubleSpinBox, QPlainTextEdit {
    background: #24272d; border: 1px solid #3b414a; border-radius: 4px; padding: 3px 6px;
}
QGroupBox { border: 1px solid #2d3137; border-radius: 5px; margin-top: 14px; padding: 8px 6px 6px 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #8fc4ff; font-weight: bold; }
QLabel#Hint { color: #9aa3ad; }
QLabel#Problem { color: #ffb86b; }
QCheckBox::indicator {
    width: 13px; height: 13px; border: 1px solid #7a8490; border-radius: 3px; background: #24272d;
}
QCheckBox::indicator:checked { background: #2f6fb3; border-color: #a9d0ff; }
QCheckBox::indicator:disabled { border-color: #454b54; background: #1f2226; }
QTextBrowser { background: #1f2226; border: 1px solid #2d3137; border-radius: 4px; }
QPushButton:disabled { color: #6c727b; background: #22252a; border-color: #30343a; }
"""
_TREATED_FIRST = ("treated", "fractured")


def default_scope(
    case: Case, timepoint: str | None = None, level: str | None = None
) -> tuple[str | None, str | None]:
    """Where a new entry most likely belongs: the post-op timepoint's treated/fractured level.

    The level is the first treated (else fractured) vertebra, looked for at the post-op
    timepoint first and then at the others; the timepoint is the post-op one when the case
    has one (the procedure happened before it), else the one where the level was found.
    Without a marked level the given ``timepoint``/``level`` are used; a case without
    timepoints gets the case-wide entry ``(None, None)``.
    """
    ordered = case.ordered_timepoints()
    if not ordered:
        return None, None
    post = [tp for tp in ordered if tp.kind == "post-op"]
    search = post + [tp for tp in ordered if tp.kind != "post-op"]
    for status in _TREATED_FIRST:
        for tp in search:
            for v in case.vertebrae(tp.id):
                if v.status == status:
                    return (post[0].id if post else tp.id), v.level
    if timepoint is not None and any(tp.id == timepoint for tp in ordered):
        return timepoint, level or "L1"
    return (post or ordered)[0].id, level or "L1"


def format_volume_ml(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def entry_row(timepoint: str | None, level: str | None, entry: ReaderEntry) -> list[str]:
    """One table row: what the reader recorded, in words."""
    return [
        timepoint or "whole case",
        level or "all",
        PROCEDURE_LABELS.get(entry.procedure or "", "–"),
        format_volume_ml(entry.cement_volume_ml),
        ", ".join(entry.leakage) if entry.leakage else "none",
        entry.complications or "–",
        entry.notes or "–",
    ]


def entry_rows(case: Case) -> list[tuple[str | None, str | None, list[str]]]:
    """Every entry of the case: the case-wide one first, then in clinical timepoint order."""
    entries = case.reader_entries()
    order = {tp.id: i for i, tp in enumerate(case.ordered_timepoints())}

    def key(scope: tuple[str | None, str | None]) -> tuple[int, int]:
        tp, level = scope
        if tp is None:
            return (-1, -1)
        return (order.get(tp, len(order)), PLACEMENT_LEVELS.index(level) if level in PLACEMENT_LEVELS else 99)

    return [(tp, lv, entry_row(tp, lv, entries[(tp, lv)])) for tp, lv in sorted(entries, key=key)]


class ReaderEntryDialog(QtWidgets.QDialog):
    """Edit the reader entry of one timepoint+level (or of the whole case).

    Changing the timepoint or level shows the entry stored there (blank when none).  After
    ``accepted``, :meth:`scope` and :meth:`entry` say what to store (``entry() is None``
    clears it).
    """

    def __init__(
        self,
        case: Case,
        scope: tuple[str | None, str | None] | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ReaderEntryDialog")
        self.setWindowTitle("Procedure and registry fields")
        self.setStyleSheet(DIALOG_STYLE)
        self.case = case
        layout = QtWidgets.QVBoxLayout(self)

        where = QtWidgets.QGroupBox("Where")
        form = QtWidgets.QFormLayout(where)
        self.timepoint_combo = QtWidgets.QComboBox()
        for tp in case.ordered_timepoints():
            self.timepoint_combo.addItem(tp.id + (f"  ({tp.date})" if tp.date else ""), tp.id)
        self.timepoint_combo.addItem("Whole case (every level)", None)
        self.level_combo = QtWidgets.QComboBox()
        form.addRow("Timepoint", self.timepoint_combo)
        form.addRow("Level", self.level_combo)
        layout.addWidget(where)

        what = QtWidgets.QGroupBox("Treatment")
        form = QtWidgets.QFormLayout(what)
        self.procedure_combo = QtWidgets.QComboBox()
        self.procedure_combo.addItem("not recorded", None)
        for p in PROCEDURES:
            self.procedure_combo.addItem(PROCEDURE_LABELS[p], p)
        form.addRow("Procedure", self.procedure_combo)
        volume_row = QtWidgets.QHBoxLayout()
        self.volume_check = QtWidgets.QCheckBox("recorded:")
        self.volume_spin = QtWidgets.QDoubleSpinBox()
        self.volume_spin.setRange(0.0, 50.0)
        self.volume_spin.setDecimals(1)
        self.volume_spin.setSingleStep(0.5)
        self.volume_spin.setSuffix(" ml")
        self.volume_spin.setEnabled(False)
        self.volume_check.toggled.connect(self.volume_spin.setEnabled)
        volume_row.addWidget(self.volume_check)
        volume_row.addWidget(self.volume_spin, 1)
        form.addRow("Cement volume", volume_row)
        leak_box = QtWidgets.QWidget()
        leak_grid = QtWidgets.QGridLayout(leak_box)
        leak_grid.setContentsMargins(0, 0, 0, 0)
        self.leakage_checks: dict[str, QtWidgets.QCheckBox] = {}
        for i, kind in enumerate(LEAKAGE_TYPES):
            check = QtWidgets.QCheckBox(LEAKAGE_LABELS[kind])
            check.setObjectName(f"leakage_{kind}")
            self.leakage_checks[kind] = check
            leak_grid.addWidget(check, i // 2, i % 2)
        form.addRow("Cement leakage", leak_box)
        self.complications_edit = QtWidgets.QLineEdit()
        self.complications_edit.setPlaceholderText("none")
        form.addRow("Complications", self.complications_edit)
        self.notes_edit = QtWidgets.QPlainTextEdit()
        self.notes_edit.setFixedHeight(64)
        self.notes_edit.setPlaceholderText(
            "Free text. Write no patient names here: notes are exported as they are."
        )
        form.addRow("Notes", self.notes_edit)
        layout.addWidget(what)

        self.problem = problem_label()
        layout.addWidget(self.problem)
        buttons = ok_cancel_buttons(self)
        self.clear_button = buttons.addButton("Clear fields", QtWidgets.QDialogButtonBox.ButtonRole.ResetRole)
        self.clear_button.clicked.connect(self.clear_fields)
        self.ok_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        layout.addWidget(buttons)

        self.timepoint_combo.currentIndexChanged.connect(self._on_timepoint_changed)
        self.level_combo.currentIndexChanged.connect(self._on_scope_changed)
        self.set_scope(*(scope if scope is not None else default_scope(case)))
        self.resize(520, self.sizeHint().height())

    # -- scope ------------------------------------------------------------------------------
    def set_scope(self, timepoint: str | None, level: str | None) -> None:
        """Show the entry of ``timepoint``+``level`` (``None, None``: the whole case)."""
        self.timepoint_combo.blockSignals(True)
        self.timepoint_combo.setCurrentIndex(max(0, self.timepoint_combo.findData(timepoint)))
        self.timepoint_combo.blockSignals(False)
        self._fill_levels(level or "L1")
        self._on_scope_changed()

    def scope(self) -> tuple[str | None, str | None]:
        tp = self.timepoint_combo.currentData()
        return (None, None) if tp is None else (tp, self.level_combo.currentData())

    def _fill_levels(self, level: str) -> None:
        tp = self.timepoint_combo.currentData()
        self.level_combo.blockSignals(True)
        self.level_combo.clear()
        if tp is not None:
            statuses = {v.level: v.status for v in self.case.vertebrae(tp)}
            for lv in PLACEMENT_LEVELS:
                status = statuses.get(lv)
                marked = status is not None and status != "unknown"
                self.level_combo.addItem(f"{lv}  ({status})" if marked else lv, lv)
            self.level_combo.setCurrentIndex(max(0, self.level_combo.findData(level)))
        self.level_combo.setEnabled(tp is not None)
        self.level_combo.blockSignals(False)

    def _on_timepoint_changed(self) -> None:
        self._fill_levels(self.level_combo.currentData() or "L1")
        self._on_scope_changed()

    def _on_scope_changed(self) -> None:
        self.load_entry(self.case.reader_entry(*self.scope()))

    # -- values -----------------------------------------------------------------------------
    def load_entry(self, entry: ReaderEntry | None) -> None:
        """Put ``entry``'s values in the fields (``None``: blank fields)."""
        entry = entry or ReaderEntry()
        self.procedure_combo.setCurrentIndex(max(0, self.procedure_combo.findData(entry.procedure)))
        self.volume_check.setChecked(entry.cement_volume_ml is not None)
        self.volume_spin.setValue(entry.cement_volume_ml or 0.0)
        for kind, check in self.leakage_checks.items():
            check.setChecked(kind in entry.leakage)
        self.complications_edit.setText(entry.complications)
        self.notes_edit.setPlainText(entry.notes)
        self.problem.setText("")

    def clear_fields(self) -> None:
        self.load_entry(None)

    def set_values(
        self,
        procedure: str | None = None,
        cement_volume_ml: float | None = None,
        leakage: tuple[str, ...] = (),
        complications: str = "",
        notes: str = "",
    ) -> None:
        """Fill the fields (as the reader would)."""
        self.load_entry(ReaderEntry(procedure, cement_volume_ml, leakage, complications, notes))

    def entry(self) -> ReaderEntry | None:
        """The entry the fields describe; ``None`` when every field is empty."""
        entry = ReaderEntry(
            procedure=self.procedure_combo.currentData(),
            cement_volume_ml=self.volume_spin.value() if self.volume_check.isChecked() else None,
            leakage=tuple(k for k, c in self.leakage_checks.items() if c.isChecked()),
            complications=self.complications_edit.text().strip(),
            notes=self.notes_edit.toPlainText().strip(),
        )
        return None if entry == ReaderEntry() else entry


class ReaderEntryPanel(QtWidgets.QWidget):
    """A small table of the case's reader entries; double-click or "Edit…" to change one."""

    #: ``(timepoint, level)`` of the row to edit, or None for a new entry at the default place.
    editRequested = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ReaderEntryPanel")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        head = QtWidgets.QHBoxLayout()
        title = QtWidgets.QLabel("Procedure (registry fields)")
        title.setObjectName("SectionTitle")
        self.edit_button = QtWidgets.QPushButton("Edit…")
        self.edit_button.setToolTip(
            "Record procedure, cement volume, leakage and complications (of the selected row, "
            "else of the post-op treated level)"
        )
        self.edit_button.clicked.connect(self._on_edit_clicked)
        head.addWidget(title, 1)
        head.addWidget(self.edit_button)
        layout.addLayout(head)
        self.empty_label = QtWidgets.QLabel("No procedure recorded yet (Edit > Procedure…).")
        self.empty_label.setObjectName("Hint")
        self.empty_label.setStyleSheet("color: #9aa3ad;")
        layout.addWidget(self.empty_label)
        self.table = QtWidgets.QTableWidget(0, len(ENTRY_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(ENTRY_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        layout.addWidget(self.table, 1)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Maximum)
        self._scopes: list[tuple[str | None, str | None]] = []

    def show_entries(self, case: Case) -> None:
        rows = entry_rows(case)
        self._scopes = [(tp, lv) for tp, lv, _ in rows]
        self.table.setRowCount(len(rows))
        for i, (_tp, _lv, cells) in enumerate(rows):
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(text)
                if j == 3:
                    item.setTextAlignment(
                        QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        self.empty_label.setVisible(not rows)
        self.table.setVisible(bool(rows))
        if rows:  # as tall as its rows (up to about four), so the measurements keep the room
            row_h = self.table.verticalHeader().defaultSectionSize()
            header_h = self.table.horizontalHeader().sizeHint().height()
            scroll_h = self.table.horizontalScrollBar().sizeHint().height()
            self.table.setFixedHeight(min(header_h + len(rows) * row_h + scroll_h + 6, 150))

    def rows(self) -> list[list[str]]:
        return table_rows(self.table)

    def _selected_scope(self) -> tuple[str | None, str | None] | None:
        row = self.table.currentRow()
        if 0 <= row < len(self._scopes) and self.table.selectionModel().hasSelection():
            return self._scopes[row]
        return None

    def _on_edit_clicked(self) -> None:
        self.editRequested.emit(self._selected_scope())

    def _on_double_click(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._scopes):
            self.editRequested.emit(self._scopes[row])
