"""The window's background tasks: one progress bar, one Cancel button, errors as sentences.

Every controller that runs slow work (scans, pixel loading, thumbnails, the STIR
analysis, exports) hands its :class:`~app.workers.Task` to the one :class:`TaskRunner`
instead of reaching into the window: the runner starts it, shows its progress when it has
a label, reports a failure through ``on_error`` and forgets it when it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtWidgets

from app import workers


class TaskRunner(QtCore.QObject):
    """Starts tasks, shows their progress, cancels them, waits for them."""

    #: A task was cancelled (its description).
    cancelled = QtCore.Signal(str)

    def __init__(
        self,
        progress: QtWidgets.QProgressBar,
        cancel_button: QtWidgets.QPushButton,
        on_error: Callable[[str, str], None],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.progress = progress
        self.cancel_button = cancel_button
        self.on_error = on_error
        self.tasks: list[workers.Task] = []
        cancel_button.clicked.connect(self.cancel_all)

    def run(self, task: workers.Task, label: str | None) -> workers.Task:
        """Start ``task``; with a ``label`` the progress bar and Cancel button show it."""
        self.tasks.append(task)
        if label is not None:
            self.progress.setFormat(label + " %p%")
            self.progress.setRange(0, 0)
            self.progress.show()
            self.cancel_button.show()
            task.signals.progress.connect(self._on_progress)

        def done(*_args: Any) -> None:
            if task in self.tasks:
                self.tasks.remove(task)
            if not self.tasks:
                self.progress.hide()
                self.cancel_button.hide()

        task.signals.finished.connect(done)
        task.signals.failed.connect(done)
        task.signals.cancelled.connect(done)
        task.signals.failed.connect(lambda message: self.on_error("Error", message))
        task.signals.cancelled.connect(lambda: self.cancelled.emit(task.description))
        workers.start(task)
        return task

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    def forget_all(self) -> None:
        """Cancel every task and ignore what it still reports (another case is opening)."""
        self.cancel_all()
        for task in self.tasks:
            task.signals.blockSignals(True)
        self.tasks = []
        self.progress.hide()
        self.cancel_button.hide()

    def wait(self, timeout_s: float = 60.0) -> None:
        """Block (processing events) until every task ended (CLI, tests)."""
        deadline = QtCore.QDeadlineTimer(int(timeout_s * 1000))
        while self.tasks and not deadline.hasExpired():
            QtWidgets.QApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            QtCore.QThread.msleep(5)
