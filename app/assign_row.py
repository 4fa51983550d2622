"""Adding a series to the case: the browser's "Assign to: [kind] [date] [Assign]" row, and
the question asked when a series is of another patient.

The row assigns the series selected in the browser (else the one shown) to the timepoint
of the kind chosen; the date field is for follow-ups only (pre-op and post-op take the
study date of the series).  The assignment itself is the placement controller's (one undo
step); this module only asks what.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from app.browser import SeriesBrowser
from dicomio.dates import dicom_date_iso
from measure.case import TIMEPOINT_KINDS
from session.model import Session


class AssignRow(QtWidgets.QWidget):
    """Kind, date and the Assign button, under the series browser."""

    def __init__(
        self,
        session: Session,
        browser: SeriesBrowser,
        assign: Callable[[str, str, str | None], str | None],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.browser, self.assign = session, browser, assign
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QtWidgets.QLabel("Assign to:"))
        self.kind = QtWidgets.QComboBox()
        self.kind.addItems(list(TIMEPOINT_KINDS))
        self.date = QtWidgets.QDateEdit(QtCore.QDate.currentDate())
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.date.setToolTip(
            "Date of a follow-up timepoint (pre-op and post-op take the study date of the series)"
        )
        self.button = QtWidgets.QPushButton("Assign")
        self.button.setToolTip("Assign the selected series to this timepoint (undoable)")
        self.button.clicked.connect(self.assign_from_ui)
        self.kind.currentTextChanged.connect(lambda _k: self.update_date())
        browser.currentItemChanged.connect(lambda *_a: self.update_date())
        for w in (self.kind, self.date, self.button):
            row.addWidget(w)
        self.update_date()

    def selected_series_uid(self) -> str | None:
        key = self.browser.current_key()
        stack = self.session.library.stacks.get(key) if key else None
        return stack.series_uid if stack is not None else self.session.current_series_uid

    def assign_from_ui(self) -> None:
        uid = self.selected_series_uid()
        if uid is None:
            return
        kind = self.kind.currentText()
        date: str | None
        if kind == "follow-up":
            date = self.date.date().toString("yyyy-MM-dd")
        else:
            stack = self.session.stack(uid)
            date = dicom_date_iso(stack.study_date if stack is not None else None)
        self.assign(uid, kind, date)

    def update_date(self) -> None:
        """The date field is for follow-ups only; it starts at the selected series' study date."""
        self.date.setEnabled(self.kind.currentText() == "follow-up")
        key = self.browser.current_key()
        stack = self.session.library.stacks.get(key) if key else None
        iso = dicom_date_iso(stack.study_date if stack is not None else None)
        if iso is not None:
            self.date.setDate(QtCore.QDate.fromString(iso, "yyyy-MM-dd"))


def ask_patient(parent: QtWidgets.QWidget, sentence: str) -> str:
    """Another patient's series: "add" it anyway, start a "new-case", or "cancel"."""
    box = QtWidgets.QMessageBox(
        QtWidgets.QMessageBox.Icon.Warning, "Another patient", sentence, parent=parent
    )
    box.setInformativeText("Add it to this case anyway, or start a new case with it?")
    add = box.addButton("Add to this case", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
    new = box.addButton("New case", QtWidgets.QMessageBox.ButtonRole.ActionRole)
    box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    return "add" if clicked is add else "new-case" if clicked is new else "cancel"
