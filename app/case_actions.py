"""Saving the case, key images, the export, procedure and regional-angle dialogs, file dialogs.

Saving goes through ``measure.casefile.save_case`` (atomic, with a backup); a successful
save removes the recovery file and records the case among the recent ones.  Each dialog
that changes the case turns its result into one undoable command.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtGui, QtWidgets

from app import commands, recovery
from app.reader_entry import ReaderEntryDialog, default_scope
from app.series_controller import SeriesController
from measure.casefile import CaseConflictError, CaseFileError, save_case
from session.case_location import DEFAULT_FOLDER_NAME, suggested_case_path
from session.model import Session

if TYPE_CHECKING:  # the dialogs are imported when first opened (start-up time, issue 15)
    from app.clinical_form import ClinicalDialog
    from app.cohort_dialog import CohortDialog
    from app.export_dialog import ExportDialog
    from app.pacs_dialog import PacsDialog
    from app.regional_dialog import RegionalDialog
    from session.export_run import ExportSummary

log = logging.getLogger("endplate.app")

#: Close decision: "save", "discard" or "cancel".
CloseDecision = Callable[[], str]
#: Save-conflict decision, given the sentence: "overwrite", "save-as", "reload" or "cancel".
ConflictDecision = Callable[[str], str]


class CaseActions:
    """File and dialog actions of the window; ``window`` is the dialogs' parent."""

    def __init__(
        self,
        session: Session,
        undo_stack: QtGui.QUndoStack,
        window: QtWidgets.QMainWindow,
        series: SeriesController,
        autosaver: recovery.Autosaver,
        shown_widget: Callable[[], QtWidgets.QWidget],
        report_error: Callable[[str, str], None],
        on_saved: Callable[[], None],
        close_decision: CloseDecision | None = None,
        conflict_decision: ConflictDecision | None = None,
    ) -> None:
        self.session = session
        self.undo_stack = undo_stack
        self.window = window
        self.series = series
        self.autosaver = autosaver
        self.shown_widget = shown_widget
        self.report_error = report_error
        self.on_saved = on_saved
        self.close_decision = close_decision
        self.conflict_decision = conflict_decision
        self.export_dialog: ExportDialog | None = None
        self.reader_dialog: ReaderEntryDialog | None = None
        self.regional_dialog: RegionalDialog | None = None
        self.clinical_dialog: ClinicalDialog | None = None
        self.cohort_dialog: CohortDialog | None = None

    def _status(self, message: str, ms: int = 5000) -> None:
        self.window.statusBar().showMessage(message, ms)

    # -- saving ------------------------------------------------------------------------------------
    def save(self) -> bool:
        path = self.session.case.file_path
        return self.save_as() if path is None else self.save_to(path)

    def save_as(self) -> bool:
        start = suggested_case_path(self.session.case, recovery.recent_cases(), Path.home())
        if start.parent.name == DEFAULT_FOLDER_NAME:
            with contextlib.suppress(OSError):  # the dialog opens in it, not in home
                start.parent.mkdir(parents=True, exist_ok=True)
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Save case", str(start), "Endplate case (*.json)"
        )
        return bool(path) and self.save_to(Path(path))

    def save_to(self, path: Path, overwrite_changes: bool = False) -> bool:
        try:
            save_case(self.session.case, path, overwrite_changes=overwrite_changes)
        except CaseConflictError as exc:
            decision = (self.conflict_decision or self._ask_conflict)(str(exc))
            if decision == "overwrite":
                return self.save_to(path, overwrite_changes=True)
            if decision == "save-as":
                return self.save_as()
            if decision == "reload":
                self.series.open_case(path)
            return False
        except CaseFileError as exc:
            self.report_error("Cannot save case", str(exc))
            return False
        self.session.recovered_unsaved = False
        self.autosaver.force_dirty = False
        recovery.discard_recovery()
        recovery.add_recent_case(path)
        self.undo_stack.setClean()
        self.on_saved()
        self._status(f"Saved {path}")
        return True

    def export_key_image(self, path: Path) -> Path:
        """Write the current view (image and overlays) as a PNG."""
        image = self.shown_widget().grab()
        if not image.save(str(path), "PNG"):
            raise ValueError(
                f"could not write the key image to {path}; check the folder exists and is writable"
            )
        return Path(path)

    def export_key_image_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Export key image", "key-image.png", "PNG (*.png)"
        )
        if path:
            try:
                self.export_key_image(Path(path))
            except ValueError as exc:
                self.report_error("Cannot export", str(exc))

    # -- registry export, procedure and regional angle dialogs -------------------------------------
    def open_export_dialog(self, ask_save: Callable[[str], bool] | None = None) -> ExportDialog:
        """File > Export…: a modeless dialog; the export runs in a worker thread."""
        from app.export_dialog import CurrentCase, ExportDialog

        previous = self.export_dialog
        if previous is not None and previous.is_running():
            previous.raise_()
            return previous
        case = self.session.case
        current = CurrentCase(
            title=case.case_id or (case.file_path.name if case.file_path else "Untitled case"),
            path=lambda: self.session.case.file_path,
            is_dirty=self.session.is_dirty,
            save=self.save,
            is_empty=case.file_path is None and not case.timepoints and not case.vertebrae(),
        )
        dialog = ExportDialog(current, self.window, ask_save=ask_save)
        dialog.exportFinished.connect(self._on_export_finished)
        self._replace_dialog(self.export_dialog)
        self.export_dialog = dialog
        dialog.show()  # modeless: the reader may go on working while the files are written
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _on_export_finished(self, summary: ExportSummary | None) -> None:
        if summary is not None and summary.exported:
            n = len(summary.exported)
            self._status(f"Exported {n} case{'s' if n != 1 else ''} ({summary.format})", 8000)

    def edit_reader_entry(self, scope: tuple[str | None, str | None] | None = None) -> ReaderEntryDialog:
        """Open the procedure dialog (default: the post-op timepoint's treated level).

        On OK, a changed entry becomes one undoable command.
        """
        case = self.session.case
        if scope is None:
            scope = default_scope(case, self.session.current_timepoint, self.session.current_level)
        dialog = ReaderEntryDialog(case, scope, self.window)
        self._replace_dialog(self.reader_dialog)
        self.reader_dialog = dialog
        ref = weakref.ref(dialog)  # the slot must not keep its own dialog alive

        def store() -> None:
            d = ref()
            if d is None:
                return
            tp, level = d.scope()
            entry = d.entry()
            if entry != self.session.case.reader_entry(tp, level):
                self.undo_stack.push(commands.SetReaderEntryCommand(self.session.case, tp, level, entry))

        dialog.accepted.connect(store)
        dialog.open()
        return dialog

    def edit_clinical(self, timepoint_id: str | None = None) -> ClinicalDialog | None:
        """Open the clinical outcomes form of a timepoint (default: the one shown); on OK a
        changed record becomes one undoable command."""
        case = self.session.case
        tp_id = timepoint_id or self.session.current_timepoint
        if tp_id is None or tp_id not in {tp.id for tp in case.timepoints}:
            self._status("Assign a series to a timepoint first: outcomes are recorded per timepoint.", 8000)
            return None
        from app.clinical_form import ClinicalDialog

        dialog = ClinicalDialog(case, tp_id, self.window)
        self._replace_dialog(self.clinical_dialog)
        self.clinical_dialog = dialog
        ref = weakref.ref(dialog)

        def store() -> None:
            d = ref()
            if d is None:
                return
            record = d.record()
            if record != self.session.case.clinical(d.timepoint_id):
                self.undo_stack.push(commands.SetClinicalCommand(self.session.case, d.timepoint_id, record))

        dialog.accepted.connect(store)
        dialog.open()
        return dialog

    def open_cohort_dialog(self) -> CohortDialog:
        """The cohort report of a folder of case files (runs in the background)."""
        from app.cohort_dialog import CohortDialog

        dialog = CohortDialog(self.window)
        self._replace_dialog(self.cohort_dialog)
        self.cohort_dialog = dialog
        dialog.open()
        return dialog

    def edit_regional_angles(self) -> RegionalDialog:
        """Open the regional angle dialog; on OK, a changed list becomes one undoable command."""
        from app.regional_dialog import RegionalDialog

        dialog = RegionalDialog(self.session.case, self.session.current_level, self.window)
        self._replace_dialog(self.regional_dialog)
        self.regional_dialog = dialog
        ref = weakref.ref(dialog)

        def store() -> None:
            d = ref()
            if d is not None and d.specs() != self.session.case.regional:
                self.undo_stack.push(commands.SetRegionalCommand(self.session.case, d.specs()))

        dialog.accepted.connect(store)
        dialog.open()
        return dialog

    @staticmethod
    def _replace_dialog(previous: QtWidgets.QDialog | None) -> None:
        """One dialog of each kind: the previous one is closed and deleted by Qt.

        ``deleteLater`` (in the GUI thread's event loop), not the garbage collector: freeing
        a dialog from a GC pass while a worker thread runs crashed PySide.
        """
        if previous is not None:
            previous.close()
            previous.deleteLater()

    # -- open dialogs -------------------------------------------------------------------------------
    def open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Open DICOM folder")
        if folder:
            self.series.open_paths([Path(folder)])

    def open_files_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(self.window, "Open DICOM files")
        if files:
            self.series.open_paths([Path(f) for f in files])

    def open_case_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Open case", "", "Endplate case (*.json)"
        )
        if path and self.confirm_discard():
            self.series.open_case(Path(path))

    def fill_recent_menu(self, menu: QtWidgets.QMenu) -> None:
        menu.clear()
        for p in recovery.recent_cases():
            action = menu.addAction(str(p))
            action.triggered.connect(
                lambda _c=False, p=p: self.confirm_discard() and self.series.open_case(p)
            )
        if not menu.actions():
            menu.addAction("(none)").setEnabled(False)

    def confirm_discard(self) -> bool:
        if not self.session.is_dirty():
            return True
        decision = self.close_decision() if self.close_decision else self._ask_save()
        if decision == "save":
            return self.save()
        return decision == "discard"

    def _ask_conflict(self, sentence: str) -> str:
        box = QtWidgets.QMessageBox(self.window)
        box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
        box.setWindowTitle("Case changed on disk")
        box.setText(sentence[:1].upper() + sentence[1:] + ".")
        role = QtWidgets.QMessageBox.ButtonRole
        choices: dict[QtWidgets.QAbstractButton, str] = {
            box.addButton("Save As…", role.AcceptRole): "save-as",
            box.addButton("Reload (discard my changes)", role.DestructiveRole): "reload",
            box.addButton("Overwrite", role.DestructiveRole): "overwrite",
        }
        cancel = box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.exec()
        clicked = box.clickedButton()
        return choices.get(clicked, "cancel") if clicked is not None else "cancel"

    def _ask_save(self) -> str:
        buttons = QtWidgets.QMessageBox.StandardButton
        answer = QtWidgets.QMessageBox.question(
            self.window,
            "Unsaved changes",
            "The case has unsaved changes. Save them?",
            buttons.Save | buttons.Discard | buttons.Cancel,
        )
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")

    def open_pacs_dialog(self, cache_root: Path | None = None) -> PacsDialog:
        """The (non-modal) Open from PACS dialog; retrieved series open in this window."""
        from app.pacs_dialog import PacsDialog

        existing = self.window.findChild(PacsDialog, "PacsDialog")
        if existing is not None and cache_root is None:
            existing.show()
            existing.raise_()
            return existing
        dialog = PacsDialog(self.window, cache_root)
        dialog.retrieved.connect(lambda folders: self.series.open_paths(folders) if folders else None)
        dialog.show()
        return dialog
