"""The reader confirms or overrides the STIR edema flag of one vertebra, with a note.

The tool's flag uses a configurable threshold, not a validated cut-off (none exists), so
the reader has the last word: "confirmed", "overridden-recent" or
"overridden-not-recent" (``measure.case.STIR_DECISIONS``), stored in the case through
:meth:`measure.case.Case.set_stir_decision` by :class:`SetStirDecisionCommand` (undoable),
and exported with the case.
"""

from __future__ import annotations

from functools import partial

from PySide6 import QtWidgets

from app.commands import SetValueCommand
from app.stir_text import badge_colour, badge_text
from measure.case import Case, StirDecision
from measure.edema import NO_CUTOFF_NOTE, STATUS_OK, StirResult, default_choice_note

#: Radio-button order and wording; None clears the decision.
CHOICES: tuple[tuple[str | None, str], ...] = (
    ("confirmed", "Confirm the tool's flag"),
    ("overridden-recent", "Override: recent fracture (edema)"),
    ("overridden-not-recent", "Override: not recent (no edema)"),
    (None, "No decision yet"),
)


class StirDecisionDialog(QtWidgets.QDialog):
    """Shows the analysis of one body and asks for the reader's decision and a note."""

    def __init__(
        self,
        level: str,
        timepoint_label: str,
        result: StirResult | None,
        current: StirDecision | None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("StirDecisionDialog")
        self.setWindowTitle(f"STIR edema: {level}, {timepoint_label}")
        self.setMinimumWidth(480)
        layout = QtWidgets.QVBoxLayout(self)

        head = QtWidgets.QLabel(badge_text(result) if result is not None else "not analysed yet")
        head.setObjectName("StirDecisionHead")
        font = head.font()
        font.setBold(True)
        font.setPointSize(font.pointSize() + 2)
        head.setFont(font)
        if result is not None:
            head.setStyleSheet(f"color: rgb{tuple(badge_colour(result))};")
        layout.addWidget(head)
        details = QtWidgets.QLabel(
            result.message if result is not None else "The STIR analysis has not finished for this vertebra."
        )
        details.setWordWrap(True)
        layout.addWidget(details)
        cutoff = QtWidgets.QLabel(NO_CUTOFF_NOTE)
        cutoff.setObjectName("StirNoCutoff")
        cutoff.setWordWrap(True)
        cutoff.setStyleSheet("font-style: italic;")
        layout.addWidget(cutoff)
        choice = QtWidgets.QLabel(default_choice_note())
        choice.setObjectName("StirDefaultChoice")
        choice.setWordWrap(True)
        choice.setStyleSheet("font-style: italic; color: #b8b8b8;")
        layout.addWidget(choice)

        box = QtWidgets.QGroupBox("Reader's decision")
        box_layout = QtWidgets.QVBoxLayout(box)
        self.buttons: dict[str | None, QtWidgets.QRadioButton] = {}
        self._group = QtWidgets.QButtonGroup(self)
        for value, text in CHOICES:
            b = QtWidgets.QRadioButton(text)
            self._group.addButton(b)
            box_layout.addWidget(b)
            self.buttons[value] = b
        if result is None or result.status != STATUS_OK:
            # Nothing to confirm: the tool gave no flag; the reader may still decide.
            self.buttons["confirmed"].setEnabled(False)
            self.buttons["confirmed"].setToolTip("The tool gave no flag for this vertebra.")
        chosen = current.decision if current is not None else None
        self.buttons[chosen if chosen in self.buttons else None].setChecked(True)
        layout.addWidget(box)

        layout.addWidget(QtWidgets.QLabel("Note (kept in the case and exported):"))
        self.note = QtWidgets.QPlainTextEdit(current.note if current is not None else "")
        self.note.setPlaceholderText("e.g. band-like edema under the superior endplate; fluid cleft")
        self.note.setMaximumHeight(90)
        layout.addWidget(self.note)

        bb = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        self.button_box = bb
        layout.addWidget(bb)

    def choose(self, decision: str | None, note: str | None = None) -> None:
        """Select a decision (and set the note): what a click does, for scripts and tests."""
        if decision not in self.buttons:
            raise ValueError(
                f"unknown STIR decision {decision!r}; expected one of {', '.join(str(v) for v, _ in CHOICES)}"
            )
        self.buttons[decision].setChecked(True)
        if note is not None:
            self.note.setPlainText(note)

    def decision(self) -> StirDecision | None:
        """The decision as chosen (None when neither a decision nor a note is given)."""
        value = next((v for v, b in self.buttons.items() if b.isChecked()), None)
        note = self.note.toPlainText().strip()
        if value is None and not note:
            return None
        return StirDecision(value, note)


class SetStirDecisionCommand(SetValueCommand[StirDecision | None]):
    """Set (or clear, with ``None``) the reader's STIR decision of one vertebra."""

    def __init__(self, case: Case, timepoint: str, level: str, decision: StirDecision | None) -> None:
        what = decision.decision if decision is not None and decision.decision else "clear"
        super().__init__(
            f"STIR edema {level}: {what}", partial(case.set_stir_decision, timepoint, level), decision
        )


__all__ = ["CHOICES", "SetStirDecisionCommand", "StirDecisionDialog"]
