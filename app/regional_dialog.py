"""Choose the regional kyphotic angles of the case: which endplate of which two vertebrae.

The literature names different endplate pairs "local", "segmental" or "regional" (Ulmar,
Eur Spine J 2010), so the reader picks the endplates explicitly.  With an empty list the
engine measures its default around each fractured or treated level (superior endplate of
the vertebra above to inferior endplate of the vertebra below); a listed angle replaces
that default.  The dialog only collects :class:`~measure.angles.RegionalSpec` values; the
window stores them through an undoable :class:`~app.commands.SetRegionalCommand`.
"""

from __future__ import annotations

from PySide6 import QtWidgets

from app.dialog_parts import ok_cancel_buttons, problem_label
from app.placement import PLACEMENT_LEVELS
from app.reader_entry import DIALOG_STYLE
from measure.angles import ENDPLATES, REGIONAL_DEFAULT_STATUSES, RegionalSpec, default_regional_pairs
from measure.case import Case
from measure.landmarks import level_index

REGIONAL_DIALOG_COLUMNS = ("Upper endplate", "Lower endplate", "Label")
DEFAULT_EXPLANATION = (
    "With no angle listed, Endplate measures one regional angle around each fractured or treated "
    "level: superior endplate of the vertebra above to inferior endplate of the vertebra below. "
    "Angles listed here replace that default at every timepoint."
)


def default_specs(case: Case) -> list[RegionalSpec]:
    """The engine's default angles for the case (union over timepoints, cranial first)."""
    specs: list[RegionalSpec] = []
    for tp in case.ordered_timepoints():
        for spec in default_regional_pairs(case.vertebra_inputs(tp.id)):
            if not any(_same_endplates(spec, s) for s in specs):
                specs.append(spec)
    return sorted(specs, key=lambda s: (level_index(s.upper_level), level_index(s.lower_level)))


def proposed_spec(case: Case, level: str | None = None) -> tuple[str, str, str, str]:
    """The fields to propose: around the first fractured/treated level (else ``level``)."""
    marked = [v.level for v in case.vertebrae() if v.status in REGIONAL_DEFAULT_STATUSES]
    centre = marked[0] if marked else (level or "L1")
    i = PLACEMENT_LEVELS.index(centre) if centre in PLACEMENT_LEVELS else PLACEMENT_LEVELS.index("L1")
    above = PLACEMENT_LEVELS[max(i - 1, 0)]
    below = PLACEMENT_LEVELS[min(i + 1, len(PLACEMENT_LEVELS) - 1)]
    return above, "superior", below, "inferior"


def _same_endplates(a: RegionalSpec, b: RegionalSpec) -> bool:
    return (a.upper_level, a.upper_endplate, a.lower_level, a.lower_endplate) == (
        b.upper_level,
        b.upper_endplate,
        b.lower_level,
        b.lower_endplate,
    )


def _endplate_text(level: str, endplate: str) -> str:
    return f"{level} {endplate}"


def describe(spec: RegionalSpec) -> str:
    """``T12 superior - L2 inferior``, after its label when it has one."""
    endplates = f"{spec.upper_level} {spec.upper_endplate} - {spec.lower_level} {spec.lower_endplate}"
    return f"{spec.label} ({endplates})" if spec.label else endplates


class RegionalDialog(QtWidgets.QDialog):
    """Add and remove the case's regional angles; :meth:`specs` after ``accepted``."""

    def __init__(self, case: Case, level: str | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("RegionalDialog")
        self.setWindowTitle("Regional angles")
        self.setStyleSheet(DIALOG_STYLE)
        self.case = case
        self._specs: list[RegionalSpec] = list(case.regional)
        layout = QtWidgets.QVBoxLayout(self)

        explanation = QtWidgets.QLabel(DEFAULT_EXPLANATION)
        explanation.setObjectName("Hint")
        explanation.setWordWrap(True)
        layout.addWidget(explanation)

        listed = QtWidgets.QGroupBox("Regional angles of this case")
        box = QtWidgets.QVBoxLayout(listed)
        self.table = QtWidgets.QTableWidget(0, len(REGIONAL_DIALOG_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(REGIONAL_DIALOG_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(120)
        box.addWidget(self.table)
        self.state_label = QtWidgets.QLabel("")
        self.state_label.setObjectName("Hint")
        self.state_label.setWordWrap(True)
        box.addWidget(self.state_label)
        row = QtWidgets.QHBoxLayout()
        self.remove_button = QtWidgets.QPushButton("Remove selected")
        self.remove_button.clicked.connect(self.remove_selected)
        self.defaults_button = QtWidgets.QPushButton("List the default angles")
        self.defaults_button.setToolTip("Put the default angles in the list, to keep them next to your own")
        self.defaults_button.clicked.connect(self.add_defaults)
        self.clear_button = QtWidgets.QPushButton("Back to default")
        self.clear_button.setToolTip("Empty the list: the default angles are measured")
        self.clear_button.clicked.connect(self.clear)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        row.addWidget(self.defaults_button)
        row.addWidget(self.clear_button)
        box.addLayout(row)
        layout.addWidget(listed)

        add = QtWidgets.QGroupBox("Add an angle")
        grid = QtWidgets.QGridLayout(add)
        self.upper_level = self._level_combo()
        self.upper_endplate = self._endplate_combo()
        self.lower_level = self._level_combo()
        self.lower_endplate = self._endplate_combo()
        self.label_edit = QtWidgets.QLineEdit()
        self.label_edit.setPlaceholderText("optional, e.g. “segmental L1”")
        grid.addWidget(QtWidgets.QLabel("From (upper)"), 0, 0)
        grid.addWidget(self.upper_level, 0, 1)
        grid.addWidget(self.upper_endplate, 0, 2)
        grid.addWidget(QtWidgets.QLabel("to (lower)"), 1, 0)
        grid.addWidget(self.lower_level, 1, 1)
        grid.addWidget(self.lower_endplate, 1, 2)
        grid.addWidget(QtWidgets.QLabel("Label"), 2, 0)
        grid.addWidget(self.label_edit, 2, 1, 1, 2)
        self.add_button = QtWidgets.QPushButton("Add")
        self.add_button.clicked.connect(self.add_from_fields)
        grid.addWidget(self.add_button, 2, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        layout.addWidget(add)

        self.problem = problem_label()
        layout.addWidget(self.problem)
        buttons = ok_cancel_buttons(self)
        self.ok_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        layout.addWidget(buttons)

        self.set_fields(*proposed_spec(case, level))
        self._show()
        self.resize(560, self.sizeHint().height())

    def _level_combo(self) -> QtWidgets.QComboBox:
        combo = QtWidgets.QComboBox()
        for lv in PLACEMENT_LEVELS:
            combo.addItem(lv, lv)
        return combo

    def _endplate_combo(self) -> QtWidgets.QComboBox:
        combo = QtWidgets.QComboBox()
        for e in ENDPLATES:
            combo.addItem(f"{e} endplate", e)
        return combo

    # -- the list ---------------------------------------------------------------------------
    def specs(self) -> tuple[RegionalSpec, ...]:
        return tuple(self._specs)

    def _show(self) -> None:
        self.table.setRowCount(len(self._specs))
        for i, s in enumerate(self._specs):
            cells = (
                _endplate_text(s.upper_level, s.upper_endplate),
                _endplate_text(s.lower_level, s.lower_endplate),
                s.label or "",
            )
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        if self._specs:
            self.state_label.setText("Only the angles listed are measured.")
        else:
            defaults = default_specs(self.case)
            names = "; ".join(describe(s) for s in defaults) if defaults else "none yet (mark a level)"
            self.state_label.setText(f"Empty list: the default angles are measured: {names}.")
        self.remove_button.setEnabled(bool(self._specs))
        self.clear_button.setEnabled(bool(self._specs))

    def add_spec(self, spec: RegionalSpec) -> bool:
        """Add ``spec`` unless the same endplates are listed already (then say so)."""
        listed = next((s for s in self._specs if _same_endplates(spec, s)), None)
        if listed is not None:
            self.problem.setText(f"The angle {describe(listed)} is listed already.")
            return False
        self._specs.append(spec)
        self.problem.setText("")
        self._show()
        return True

    def set_fields(
        self, upper_level: str, upper_endplate: str, lower_level: str, lower_endplate: str, label: str = ""
    ) -> None:
        """Set the "Add an angle" fields (as the reader would)."""
        for combo, value in (
            (self.upper_level, upper_level),
            (self.upper_endplate, upper_endplate),
            (self.lower_level, lower_level),
            (self.lower_endplate, lower_endplate),
        ):
            index = combo.findData(value)
            if index < 0:
                raise ValueError(f"{value!r} is not a choice of the regional angle dialog")
            combo.setCurrentIndex(index)
        self.label_edit.setText(label)

    def add_from_fields(self) -> bool:
        """Add the angle described by the fields; an impossible pair is explained, not added."""
        try:
            spec = RegionalSpec(
                self.upper_level.currentData(),
                self.upper_endplate.currentData(),
                self.lower_level.currentData(),
                self.lower_endplate.currentData(),
                self.label_edit.text().strip() or None,
            )
        except ValueError as exc:
            self.problem.setText(_sentence(str(exc)))
            return False
        return self.add_spec(spec)

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for row in rows:
            del self._specs[row]
        self.problem.setText("")
        self._show()

    def remove_row(self, row: int) -> None:
        del self._specs[row]
        self._show()

    def add_defaults(self) -> None:
        defaults = [
            s for s in default_specs(self.case) if not any(_same_endplates(s, t) for t in self._specs)
        ]
        if not defaults and not default_specs(self.case):
            self.problem.setText(
                "There is no default angle: mark a level fractured or treated, with the vertebrae "
                "above and below it measured."
            )
            return
        self._specs.extend(defaults)
        self.problem.setText("")
        self._show()

    def clear(self) -> None:
        self._specs = []
        self.problem.setText("")
        self._show()


def _sentence(text: str) -> str:
    """``regional angle: T12 ... first.`` -> ``T12 ... first.`` with a capital letter."""
    text = text.removeprefix("regional angle: ").strip()
    return text[:1].upper() + text[1:]
