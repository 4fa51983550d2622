"""The status bar's permanent widgets: the mouse hint, the "N files skipped" button (shows
the Skipped files dock), the task progress bar and its Cancel button."""

from __future__ import annotations

from PySide6 import QtWidgets

from app.viewer import SliceViewer


class StatusWidgets:
    """Built into ``status_bar``; ``skipped_dock`` is set once the window made its docks."""

    def __init__(self, status_bar: QtWidgets.QStatusBar) -> None:
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.hide()
        self.hint = QtWidgets.QLabel(SliceViewer.HINT)
        self.hint.setObjectName("MouseHint")
        status_bar.addWidget(self.hint, 1)
        self.skipped_button = QtWidgets.QToolButton()
        self.skipped_button.setObjectName("SkippedFiles")
        self.skipped_button.setToolTip("Show the files that were not loaded, and why")
        self.skipped_button.setAutoRaise(True)
        self.skipped_button.clicked.connect(self.toggle_skipped)
        self.skipped_button.hide()
        status_bar.addPermanentWidget(self.skipped_button)
        status_bar.addPermanentWidget(self.progress)
        status_bar.addPermanentWidget(self.cancel_button)
        self.skipped_dock: QtWidgets.QDockWidget | None = None

    def show_skipped_count(self, n: int) -> None:
        self.skipped_button.setText(f"{n} file{'s' if n != 1 else ''} skipped")
        self.skipped_button.setVisible(n > 0)
        if n == 0 and self.skipped_dock is not None:
            self.skipped_dock.hide()

    def toggle_skipped(self) -> None:
        if self.skipped_dock is not None:
            self.skipped_dock.setVisible(not self.skipped_dock.isVisible())
