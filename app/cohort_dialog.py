"""File > Cohort report: the results table of a folder of case files, with a progress bar.

The dialog only asks for the folder and the report file; the work is
:func:`session.cohort_run.build_cohort` and :func:`~session.cohort_run.write_report` in a
background :class:`~app.workers.Task`, so the window stays responsive and the reader can
cancel.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app import workers
from app.reader_entry import DIALOG_STYLE
from measure.cohort import CohortAccumulator, CohortFilters
from session.cohort_run import REPORT_FORMATS, build_cohort, write_report


class CohortDialog(QtWidgets.QDialog):
    """Choose a folder and a report file; Run builds the report; ``reportWritten(path)``."""

    reportWritten = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Cohort report")
        self.setStyleSheet(DIALOG_STYLE)
        self.folder_edit = QtWidgets.QLineEdit()
        self.folder_edit.setPlaceholderText("folder of case files (walked)")
        self.out_edit = QtWidgets.QLineEdit()
        self.out_edit.setPlaceholderText("report.html, .pdf, .csv or .json")
        browse = QtWidgets.QPushButton("Folder…")
        browse.clicked.connect(self._browse)
        self.all_levels = QtWidgets.QCheckBox("Imaging statistics over every level (default: treated levels)")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("Hint")
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QtWidgets.QPushButton("Close")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        form = QtWidgets.QFormLayout()
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        form.addRow("Cases", row)
        form.addRow("Report", self.out_edit)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.all_levels)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.task: workers.Task | None = None
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of case files")
        if folder:
            self.folder_edit.setText(folder)
            if not self.out_edit.text():
                self.out_edit.setText(str(Path(folder) / "cohort-report.html"))

    def run(self) -> bool:
        """Start the report; False (with the reason shown) when the inputs are not usable."""
        folder, out = Path(self.folder_edit.text().strip()), Path(self.out_edit.text().strip())
        if not self.folder_edit.text().strip() or not folder.is_dir():
            self.message.setText("Choose a folder of case files.")
            return False
        if out.suffix.lower() not in REPORT_FORMATS or not out.parent.is_dir():
            self.message.setText("Name the report file: .html, .pdf, .csv or .json, in an existing folder.")
            return False
        filters = CohortFilters(all_levels=self.all_levels.isChecked())

        def job(progress: workers.ProgressFn, cancel: workers.CancelFn) -> tuple[CohortAccumulator, str]:
            acc = build_cohort([folder], filters, progress=progress, cancelled=cancel)
            if cancel():
                raise workers.CancelledError()
            write_report(acc, out)
            return acc, str(out)

        self.run_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.message.setText("Reading the case files…")
        self.task = workers.Task(job, "The cohort report")
        self.task.signals.progress.connect(self._on_progress)
        self.task.signals.finished.connect(self._on_finished)
        self.task.signals.failed.connect(self._on_failed)
        self.task.signals.cancelled.connect(self._on_cancelled)
        workers.start(self.task)
        return True

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _on_finished(self, result: tuple[CohortAccumulator, str]) -> None:
        acc, path = result
        levels = sum(len(c.levels) for c in acc.cases)
        text = f"{len(acc.cases)} cases, {levels} levels: report written to {path}."
        if acc.skipped:
            text += f" {len(acc.skipped)} file(s) were not read; the report lists them with the reason."
        self.message.setText(text)
        self._done()
        self.reportWritten.emit(path)

    def _on_failed(self, sentence: str) -> None:
        self.message.setText(sentence)
        self._done()

    def _on_cancelled(self) -> None:
        self.message.setText("Cancelled: no report written.")
        self._done()

    def _done(self) -> None:
        self.task = None
        self.run_button.setEnabled(True)
        self.cancel_button.setText("Close")

    def _cancel_or_close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        else:
            self.close()
