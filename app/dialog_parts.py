"""Pieces every form dialog of the app has: the problem line and the OK / Cancel buttons.

One definition, so the reader entry, regional angle and clinical outcome dialogs look and
behave alike (the problem line is styled by ``QLabel#Problem`` in
:data:`app.reader_entry.DIALOG_STYLE`).
"""

from __future__ import annotations

from PySide6 import QtWidgets


def problem_label(min_lines: int = 2) -> QtWidgets.QLabel:
    """The line where a dialog says in a sentence why its input cannot be taken; kept
    ``min_lines`` high so the dialog does not jump when a sentence appears."""
    label = QtWidgets.QLabel("")
    label.setObjectName("Problem")
    label.setWordWrap(True)
    if min_lines:
        label.setMinimumHeight(min_lines * label.fontMetrics().lineSpacing())
    return label


def ok_cancel_buttons(dialog: QtWidgets.QDialog) -> QtWidgets.QDialogButtonBox:
    """OK and Cancel, wired to the dialog's accept and reject."""
    buttons = QtWidgets.QDialogButtonBox(
        QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons
