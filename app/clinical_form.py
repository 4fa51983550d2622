"""The clinical outcomes of one timepoint: a form the reader fills, checked before it is kept.

The form only collects texts; :func:`session.clinical_run.record_from_texts` turns them into
a :class:`measure.clinical.ClinicalRecord` (ranges, codes, dates in order, a follow-up after
the procedure) and the window makes the change one undoable
:class:`~app.commands.SetClinicalCommand`.  A refused value keeps the dialog open with the
sentence that says why.
"""

from __future__ import annotations

from PySide6 import QtWidgets

from app.dialog_parts import ok_cancel_buttons, problem_label
from app.reader_entry import DIALOG_STYLE
from measure.case import Case
from measure.clinical import DISCHARGE_DESTINATIONS, ClinicalRecord
from session.clinical_run import ClinicalEntryError, record_from_texts, record_texts

#: (field, label, placeholder) of the free-text fields, in form order.
TEXT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("vas", "Pain, VAS (EVA)", "0-10"),
    ("odi", "Oswestry disability index", "0-100"),
    ("symptom_duration_days", "Symptom duration (days)", "pain onset to this timepoint"),
    ("operating_time_min", "Operating time (min)", "the procedure at this timepoint"),
    ("length_of_stay_days", "Length of stay (days)", ""),
    ("complications", "Complications", "cement_leakage:epidural:symptomatic:L1; haematoma"),
    ("new_fractures", "New fractures", "L2:adjacent:2026-09-01; T8:remote"),
    ("death_date", "Date of death", "YYYY-MM-DD"),
)
CHOICE_FIELDS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("analgesic_step", "Analgesic step (WHO)", (("0", "0 · none"), ("1", "1"), ("2", "2"), ("3", "3"))),
    (
        "discharge_destination",
        "Discharge destination",
        tuple((d, d.replace("_", " ")) for d in DISCHARGE_DESTINATIONS),
    ),
    ("lost_to_follow_up", "Lost to follow-up", (("yes", "yes"), ("no", "no"))),
    ("death", "Death", (("yes", "yes"), ("no", "no"))),
)


class ClinicalDialog(QtWidgets.QDialog):
    """Edit the clinical outcomes of ``timepoint_id``; :meth:`record` after ``accepted``."""

    def __init__(self, case: Case, timepoint_id: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.case, self.timepoint_id = case, timepoint_id
        tp = case.timepoint(timepoint_id)
        self.setWindowTitle(f"Clinical outcomes · {tp.kind} {tp.date or ''}".strip())
        self.setStyleSheet(DIALOG_STYLE)
        form = QtWidgets.QFormLayout()
        texts = record_texts(case.clinical(timepoint_id))
        self.edits: dict[str, QtWidgets.QLineEdit] = {}
        for name, label, hint in TEXT_FIELDS:
            edit = QtWidgets.QLineEdit(texts[name])
            edit.setPlaceholderText(hint)
            edit.setObjectName(name)
            self.edits[name] = edit
            form.addRow(label, edit)
        self.choices: dict[str, QtWidgets.QComboBox] = {}
        for name, label, options in CHOICE_FIELDS:
            combo = QtWidgets.QComboBox()
            combo.setObjectName(name)
            combo.addItem("not recorded", "")
            for value, text in options:
                combo.addItem(text, value)
            combo.setCurrentIndex(max(0, combo.findData(texts[name])))
            self.choices[name] = combo
            form.addRow(label, combo)
        self.problem = problem_label(min_lines=0)
        buttons = ok_cancel_buttons(self)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self._record: ClinicalRecord | None = case.clinical(timepoint_id)

    def texts(self) -> dict[str, str]:
        out = {name: edit.text() for name, edit in self.edits.items()}
        out.update({name: str(combo.currentData() or "") for name, combo in self.choices.items()})
        return out

    def record(self) -> ClinicalRecord | None:
        """The checked record (None: nothing recorded)."""
        return self._record

    def accept(self) -> None:
        try:
            self._record = record_from_texts(self.case, self.timepoint_id, self.texts())
        except ClinicalEntryError as exc:
            self.problem.setText(f"Not kept: {str(exc).rstrip('.')}.")
            return
        self.problem.setText("")
        super().accept()
