"""File > Export…: the registry export (CSV, JSON, DICOM SR, FHIR, PDF) from the app.

The dialog collects the same choices as ``endplate export`` and calls
:func:`session.export_run.export_cases` in a background :class:`~app.workers.Task` (the SR and
the PDF read DICOM files), with its step sentences as progress.  The result is told in
plain sentences: what was written, which case failed and why.  The exporters read case
files, so the current case is saved first when it has unsaved changes (after asking).
Every choice has a setter, so tests drive the dialog without file dialogs.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from app import workers
from app.export_choices import (
    EXPORT_FORMAT_CHOICES,
    FORMATS_BY_KEY,
    NO_PSEUDONYM_WARNING,
    OVERWRITE_LABEL,
    PSEUDONYM_EXPLANATION,
    SHORT_NAMES,
    CurrentCase,
    ExportFormat,
    ExportRequest,
    default_output,
    full_stop,
    summary_sentences,
    with_suffix,
)
from app.reader_entry import DIALOG_STYLE
from session.export_run import ExportSummary, export_and_send, export_cases
from session.pacs_settings import pacs_node_names


class _StepSignal(QtCore.QObject):
    """Carries the exporter's step sentences from the worker thread to the dialog."""

    step = QtCore.Signal(str)


class ExportDialog(QtWidgets.QDialog):
    """Choose format, output, cases, pseudonymisation and overwrite; run; show the result."""

    #: The :class:`ExportSummary` of a finished export (None when the task itself failed).
    exportFinished = QtCore.Signal(object)

    def __init__(
        self,
        current: CurrentCase | None,
        parent: QtWidgets.QWidget | None = None,
        *,
        ask_save: Callable[[str], bool] | None = None,
        choose_output: Callable[[ExportFormat, Path | None], Path | None] | None = None,
        choose_cases: Callable[[], Sequence[Path]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ExportDialog")
        self.setWindowTitle("Export measurements")
        self.setStyleSheet(DIALOG_STYLE)
        self.current = current
        # Injected questions and file choosers (tests); None: the Qt dialogs.  Never bound
        # methods of self: a reference cycle would leave the dialog to the garbage collector.
        self.ask_save_hook = ask_save
        self.choose_output_hook = choose_output
        self.choose_cases_hook = choose_cases
        self.summary: ExportSummary | None = None
        self.task: workers.Task | None = None
        self._output_touched = False
        self._steps = _StepSignal(self)
        self._steps.step.connect(self._on_step, QtCore.Qt.ConnectionType.QueuedConnection)
        layout = QtWidgets.QVBoxLayout(self)

        cases = QtWidgets.QGroupBox("Cases")
        box = QtWidgets.QVBoxLayout(cases)
        self.current_check = QtWidgets.QCheckBox()
        self._describe_current()
        box.addWidget(self.current_check)
        self.case_list = QtWidgets.QListWidget()
        self.case_list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.case_list.setMaximumHeight(96)
        self.case_list.setToolTip("More case files to export with the current one (CSV and JSON hold many)")
        box.addWidget(self.case_list)
        row = QtWidgets.QHBoxLayout()
        hint = QtWidgets.QLabel("More case files (one CSV/JSON/FHIR/PDF file holds them all):")
        hint.setObjectName("Hint")
        row.addWidget(hint, 1)
        self.add_cases_button = QtWidgets.QPushButton("Add case files…")
        self.add_cases_button.clicked.connect(self._add_cases_clicked)
        self.remove_cases_button = QtWidgets.QPushButton("Remove")
        self.remove_cases_button.clicked.connect(self._remove_selected_cases)
        row.addWidget(self.add_cases_button)
        row.addWidget(self.remove_cases_button)
        box.addLayout(row)
        layout.addWidget(cases)

        target = QtWidgets.QGroupBox("Format and output")
        form = QtWidgets.QFormLayout(target)
        self.format_combo = QtWidgets.QComboBox()
        for f in EXPORT_FORMAT_CHOICES:
            self.format_combo.addItem(f.label, f.key)
        form.addRow("Format", self.format_combo)
        out_row = QtWidgets.QHBoxLayout()
        self.output_edit = QtWidgets.QLineEdit()
        self.output_edit.textEdited.connect(self._on_output_edited)
        self.browse_button = QtWidgets.QPushButton("Choose…")
        self.browse_button.clicked.connect(self._browse_output)
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(self.browse_button)
        self.output_label = QtWidgets.QLabel("Output file")
        form.addRow(self.output_label, out_row)
        self.force_check = QtWidgets.QCheckBox(OVERWRITE_LABEL)
        self.force_check.setToolTip("Without it, an existing file is left as it is and nothing is written")
        form.addRow("", self.force_check)
        send_row = QtWidgets.QHBoxLayout()
        self.send_check = QtWidgets.QCheckBox("Send to PACS")
        self.send_check.setToolTip("DICOM SR only: also send the SR files by C-STORE or STOW-RS")
        self.send_node = QtWidgets.QComboBox()
        self.send_node.setEditable(True)
        self.send_node.addItems(pacs_node_names())
        self.send_node.setToolTip(
            "A node from the PACS settings, dicom://AE@HOST:PORT or http(s)://…/dicom-web"
        )
        send_row.addWidget(self.send_check)
        send_row.addWidget(self.send_node, 1)
        form.addRow("", send_row)
        layout.addWidget(target)

        privacy = QtWidgets.QGroupBox("Privacy")
        pbox = QtWidgets.QVBoxLayout(privacy)
        key_row = QtWidgets.QHBoxLayout()
        self.pseudo_check = QtWidgets.QCheckBox("Pseudonymise with the key")
        self.key_edit = QtWidgets.QLineEdit()
        self.key_edit.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("secret key")
        self.show_key = QtWidgets.QCheckBox("show")
        self.show_key.toggled.connect(self._on_show_key)
        key_row.addWidget(self.pseudo_check)
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.show_key)
        pbox.addLayout(key_row)
        self.privacy_label = QtWidgets.QLabel("")
        self.privacy_label.setObjectName("Hint")
        self.privacy_label.setWordWrap(True)
        pbox.addWidget(self.privacy_label)
        self.pseudo_check.toggled.connect(self._on_pseudo_toggled)
        layout.addWidget(privacy)

        progress_row = QtWidgets.QHBoxLayout()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.step_label = QtWidgets.QLabel("")
        self.step_label.setObjectName("Hint")
        progress_row.addWidget(self.progress)
        progress_row.addWidget(self.step_label, 1)
        layout.addLayout(progress_row)
        self.result_view = QtWidgets.QTextBrowser()
        self.result_view.setObjectName("ExportResult")
        self.result_view.setOpenLinks(False)
        self.result_view.setFixedHeight(6 * self.result_view.fontMetrics().lineSpacing())
        self.result_view.setPlaceholderText(
            "What the export wrote, and any case it could not export, appears here."
        )
        layout.addWidget(self.result_view)

        buttons = QtWidgets.QDialogButtonBox()
        self.export_button = buttons.addButton("Export", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.close_button = buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.start_export)  # Export runs; the dialog stays open
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.format_combo.currentIndexChanged.connect(self._on_format_changed)
        self._on_format_changed()
        self._on_pseudo_toggled(False)
        self.resize(640, self.sizeHint().height())

    # -- choices (setters for code and tests) -------------------------------------------
    def set_format(self, fmt: str) -> None:
        index = self.format_combo.findData(fmt)
        if index < 0:
            raise ValueError(
                f"export format {fmt!r} is not known; expected one of {', '.join(FORMATS_BY_KEY)}"
            )
        self.format_combo.setCurrentIndex(index)

    def set_output(self, path: Path | str) -> None:
        self.output_edit.setText(str(path))
        self._output_touched = True

    def set_pseudonymize(self, key: str | None) -> None:
        self.pseudo_check.setChecked(key is not None)
        self.key_edit.setText(key or "")

    def set_force(self, force: bool) -> None:
        self.force_check.setChecked(force)

    def set_include_current(self, include: bool) -> None:
        self.current_check.setChecked(include)

    def add_case_files(self, paths: Sequence[Path | str]) -> None:
        known = set(self.extra_cases())
        for p in paths:
            path = Path(p)
            if path not in known:
                item = QtWidgets.QListWidgetItem(path.name)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, str(path))
                item.setToolTip(str(path))
                self.case_list.addItem(item)
                known.add(path)

    def extra_cases(self) -> list[Path]:
        return [
            Path(self.case_list.item(i).data(QtCore.Qt.ItemDataRole.UserRole))
            for i in range(self.case_list.count())
        ]

    def request(self) -> ExportRequest:
        text = self.output_edit.text().strip()
        return ExportRequest(
            fmt=self.format_combo.currentData(),
            out=Path(text).expanduser() if text else None,
            include_current=self.current_check.isChecked() and self.current_check.isEnabled(),
            extra_cases=self.extra_cases(),
            pseudonymize_key=self.key_edit.text() if self.pseudo_check.isChecked() else None,
            force=self.force_check.isChecked(),
            send_to=self.send_target(),
        )

    def send_target(self) -> str | None:
        """The PACS node to send the SR to (None: not sending)."""
        fmt = self.format_combo.currentData()
        text = self.send_node.currentText().strip()
        return text if fmt == "sr" and self.send_check.isChecked() and text else None

    def set_send_to(self, node: str | None) -> None:
        self.send_check.setChecked(node is not None)
        if node is not None:
            self.send_node.setEditText(node)

    def is_running(self) -> bool:
        return self.task is not None

    def result_text(self) -> str:
        """The sentences shown after the last export (one per line)."""
        return self.result_view.toPlainText()

    # -- running --------------------------------------------------------------------------
    def start_export(self) -> bool:
        """Check the choices, save the current case if needed, and start the export.

        Returns False (with the reason shown in the dialog) when nothing was started.
        """
        if self.task is not None:
            return False
        req = self.request()
        problem = self._problem(req)
        if problem is None and req.include_current:
            problem = self._save_current_if_needed()
        if problem is not None:
            self._show_result([problem], ok=False)
            return False
        cases = self._case_paths(req)
        assert req.out is not None
        self._show_result([], ok=True)
        self.step_label.setText("Starting the export…")
        self.progress.show()
        self.export_button.setEnabled(False)
        self.close_button.setEnabled(False)
        out, fmt, key, force, send = req.out, req.fmt, req.pseudonymize_key, req.force, req.send_to
        emit_step = self._steps.step.emit

        def say(sentence: str) -> None:
            with contextlib.suppress(RuntimeError):  # the dialog went away with the window
                emit_step(sentence)  # ... and the export goes on

        def job(_progress: workers.ProgressFn, _cancel: workers.CancelFn) -> ExportSummary:
            if send is not None:
                return export_and_send(cases, out, send, pseudonymize_key=key, force=force, progress=say)
            return export_cases(cases, fmt, out, pseudonymize_key=key, force=force, progress=say)

        self.task = workers.Task(job, "The export")
        self.task.signals.finished.connect(self._on_finished)
        self.task.signals.failed.connect(self._on_failed)
        workers.start(self.task)
        return True

    def _case_paths(self, req: ExportRequest) -> list[Path]:
        paths: list[Path] = []
        current = self.current.path() if self.current is not None and req.include_current else None
        for p in ([current] if current is not None else []) + req.extra_cases:
            if all(p.absolute() != q.absolute() for q in paths):
                paths.append(p)
        return paths

    def _problem(self, req: ExportRequest) -> str | None:
        """The first reason not to start, as a sentence (None: go ahead)."""
        fmt = FORMATS_BY_KEY[req.fmt]
        if not req.include_current and not req.extra_cases:
            return "There is no case to export: include the current case or add case files."
        if req.out is None:
            what = "a folder" if fmt.key == "sr" else "a file name"
            return f"Choose where to write the export: {what} for {SHORT_NAMES[fmt.key]}."
        if req.pseudonymize_key is not None and not req.pseudonymize_key:
            return "Type a pseudonymisation key, or untick “Pseudonymise with the key”."
        inputs = [p.absolute() for p in req.extra_cases]
        current = self.current.path() if req.include_current and self.current is not None else None
        if current is not None:
            inputs.append(current.absolute())
        if req.out.absolute() in inputs:
            return f"The output {req.out} is one of the case files to export; choose another name."
        if fmt.key == "sr":
            if req.out.exists() and not req.out.is_dir():
                return f"The output {req.out} is a file; DICOM SR needs a folder (one file per timepoint)."
        elif req.out.is_dir():
            return f"The output {req.out} is a folder; {SHORT_NAMES[fmt.key]} needs a file name."
        elif req.out.exists() and not req.force:
            return (
                f"The file {req.out.name} already exists in {req.out.parent}; it was not overwritten. "
                f"Tick “{OVERWRITE_LABEL}” to replace it, or choose another name."
            )
        return None

    def _save_current_if_needed(self) -> str | None:
        cur = self.current
        if cur is None:
            return None
        if cur.is_dirty() or cur.path() is None:
            question = (
                "The export reads the case file, and the current case has unsaved changes. "
                "Save the case now and export it?"
            )
            if not (self.ask_save_hook or self._ask_save)(question):
                return "Export cancelled: the current case has unsaved changes (save it, or untick it)."
            if not cur.save() or cur.path() is None:
                return "Export cancelled: the current case could not be saved."
            self._describe_current()
        return None

    def _on_step(self, sentence: str) -> None:
        if self.task is not None:
            self.step_label.setText(sentence[:1].upper() + sentence[1:] + "…")

    def _end_task(self) -> None:
        self.task = None
        self.progress.hide()
        self.step_label.setText("")
        self.export_button.setEnabled(True)
        self.close_button.setEnabled(True)

    def _on_finished(self, summary: Any) -> None:
        self._end_task()
        self.summary = summary
        self._show_result(summary_sentences(summary), ok=summary.exit_status == 0)
        self.exportFinished.emit(summary)

    def _on_failed(self, message: str) -> None:
        self._end_task()
        self.summary = None
        self._show_result(
            [
                f"{full_stop(message)} Files already complete were kept; no file was left half-written. "
                "The details are in the log."
            ],
            ok=False,
        )
        self.exportFinished.emit(None)

    def _show_result(self, lines: list[str], *, ok: bool) -> None:
        """One paragraph per sentence: green what was written, orange problems, grey notes."""
        paragraphs = []
        for line in lines:
            if line.startswith("Note:"):
                colour = "#9aa3ad"
            elif line.startswith("Exported"):
                colour = "#7ee28f"
            else:
                colour = "#7ee28f" if ok else "#ffb86b"
            paragraphs.append(f'<p style="color: {colour}; margin: 0 0 4px 0;">{html.escape(line)}</p>')
        self.result_view.setHtml("".join(paragraphs))

    # -- widgets ----------------------------------------------------------------------------
    def _describe_current(self) -> None:
        cur = self.current
        if cur is None or cur.is_empty:
            self.current_check.setText("Current case (none open)")
            self.current_check.setChecked(False)
            self.current_check.setEnabled(False)
            return
        path = cur.path()
        where = str(path) if path is not None else "not saved yet"
        unsaved = ", unsaved changes: it will be saved first" if cur.is_dirty() else ""
        self.current_check.setText(f"Current case: {cur.title}  ({where}{unsaved})")
        self.current_check.setChecked(True)
        self.current_check.setEnabled(True)

    def _on_format_changed(self) -> None:
        fmt = FORMATS_BY_KEY[self.format_combo.currentData()]
        self.send_check.setEnabled(fmt.key == "sr")
        self.send_node.setEnabled(fmt.key == "sr")
        self.output_label.setText("Output folder" if fmt.key == "sr" else "Output file")
        text = self.output_edit.text().strip()
        if not self._output_touched or not text:
            base = default_output(self.current.path() if self.current is not None else None, fmt.key)
            self.output_edit.setText("" if base is None else str(base))
            self._output_touched = False
        else:  # keep the user's name, change its extension
            self.output_edit.setText(str(with_suffix(Path(text), fmt)))

    def _on_output_edited(self, _text: str) -> None:
        self._output_touched = True

    def _on_pseudo_toggled(self, on: bool) -> None:
        self.key_edit.setEnabled(on)
        self.show_key.setEnabled(on)
        self.privacy_label.setText(PSEUDONYM_EXPLANATION if on else NO_PSEUDONYM_WARNING)
        if on:
            self.key_edit.setFocus()

    def _on_show_key(self, on: bool) -> None:
        mode = QtWidgets.QLineEdit.EchoMode
        self.key_edit.setEchoMode(mode.Normal if on else mode.Password)

    def _add_cases_clicked(self) -> None:
        self.add_case_files((self.choose_cases_hook or self._choose_cases)())

    def _remove_selected_cases(self) -> None:
        for item in self.case_list.selectedItems():
            self.case_list.takeItem(self.case_list.row(item))

    def _browse_output(self) -> None:
        fmt = FORMATS_BY_KEY[self.format_combo.currentData()]
        text = self.output_edit.text().strip()
        chosen = (self.choose_output_hook or self._choose_output)(fmt, Path(text) if text else None)
        if chosen is not None:
            self.set_output(chosen)

    def _choose_output(self, fmt: ExportFormat, start: Path | None) -> Path | None:
        if fmt.key == "sr":
            folder = QtWidgets.QFileDialog.getExistingDirectory(
                self, "Folder for the DICOM SR files", str(start or "")
            )
            return Path(folder) if folder else None
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self,
            "Export to",
            str(start or f"endplate-export{fmt.suffix}"),
            fmt.file_filter,
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite,  # the overwrite box decides
        )
        return Path(path) if path else None

    def _choose_cases(self) -> list[Path]:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Add case files", "", "Endplate case (*.json)"
        )
        return [Path(f) for f in files]

    def _ask_save(self, question: str) -> bool:
        buttons = QtWidgets.QMessageBox.StandardButton
        answer = QtWidgets.QMessageBox.question(
            self, "Save before export", question, buttons.Save | buttons.Cancel, buttons.Save
        )
        return answer == buttons.Save

    # -- closing ----------------------------------------------------------------------------
    def reject(self) -> None:
        if self.task is not None:  # the files are being written: wait for the result
            self.step_label.setText("The export is still running; close the dialog when it has finished.")
            return
        super().reject()

    def closeEvent(self, event: Any) -> None:
        if self.task is not None:
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)


__all__ = ["CurrentCase", "ExportDialog", "ExportFormat", "ExportRequest"]
