"""Saving the case, key images, registry export, and the dialogs of the main window (a mixin).

Saving goes through ``measure.casefile.save_case`` (atomic, with a backup); a successful
save removes the recovery file and records the case among the recent ones.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtWidgets

from app import commands, recovery

if TYPE_CHECKING:
    from app.export_dialog import ExportDialog
    from app.reader_entry import ReaderEntryDialog
    from app.regional_dialog import RegionalDialog

log = logging.getLogger("endplate.app")


class CaseFilesMixin:
    """Save / save as / export, procedure and regional angle dialogs, error and open dialogs,
    unsaved-changes question."""

    # -- saving ------------------------------------------------------------------------------------
    def save(self) -> bool:
        if self.case.file_path is None:
            return self.save_as()
        return self.save_to(self.case.file_path)

    def save_as(self) -> bool:
        start = str(self.case.file_path or (Path.home() / "case.json"))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save case", start, "Endplate case (*.json)")
        if not path:
            return False
        return self.save_to(Path(path))

    def save_to(self, path: Path) -> bool:
        from measure.casefile import CaseFileError, save_case

        try:
            save_case(self.case, path)
        except CaseFileError as exc:
            self.show_error("Cannot save case", str(exc))
            return False
        self.recovered_unsaved = False
        self.autosaver.force_dirty = False
        recovery.discard_recovery()
        recovery.add_recent_case(path)
        self.undo_stack.setClean()
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def export_key_image(self, path: Path) -> Path:
        """Write the current view (image and overlays) as a PNG."""
        widget = self.compare if self.center.currentWidget() is self.compare else self.viewer
        image = widget.grab()
        if not image.save(str(path), "PNG"):
            raise ValueError(
                f"could not write the key image to {path}; check the folder exists and is writable"
            )
        return Path(path)

    def _export_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export key image", "key-image.png", "PNG (*.png)"
        )
        if path:
            try:
                self.export_key_image(Path(path))
            except ValueError as exc:
                self.show_error("Cannot export", str(exc))

    # -- registry export, procedure and regional angle dialogs -------------------------------------
    def open_export_dialog(self, ask_save: Callable[[str], bool] | None = None) -> ExportDialog:
        """File > Export…: a modeless dialog; the export runs in a worker thread."""
        from app.export_dialog import CurrentCase, ExportDialog

        previous = getattr(self, "export_dialog", None)
        if previous is not None and previous.is_running():
            previous.raise_()
            return previous
        case = self.case
        current = CurrentCase(
            title=case.case_id or (case.file_path.name if case.file_path else "Untitled case"),
            path=lambda: self.case.file_path,
            is_dirty=self.is_dirty,
            save=self.save,
            is_empty=case.file_path is None and not case.timepoints and not case.vertebrae(),
        )
        dialog = ExportDialog(current, self, ask_save=ask_save)
        dialog.exportFinished.connect(self._on_export_finished)
        self._keep_dialog("export_dialog", dialog)
        dialog.show()  # modeless: the reader may go on working while the files are written
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _on_export_finished(self, summary: Any) -> None:
        if summary is not None and summary.exported:
            n = len(summary.exported)
            self.statusBar().showMessage(f"Exported {n} case{'s' if n != 1 else ''} ({summary.format})", 8000)

    def edit_reader_entry(self, scope: tuple[str | None, str | None] | None = None) -> ReaderEntryDialog:
        """Open the procedure dialog (default: the post-op timepoint's treated level).

        On OK, a changed entry becomes one undoable command.
        """
        from app.reader_entry import ReaderEntryDialog, default_scope

        if scope is None:
            scope = default_scope(self.case, self.current_timepoint(), self.current_level)
        dialog = ReaderEntryDialog(self.case, scope, self)
        self._keep_dialog("reader_dialog", dialog)
        ref = weakref.ref(dialog)  # the slot must not keep its own dialog alive

        def store() -> None:
            d = ref()
            if d is None:
                return
            tp, level = d.scope()
            entry = d.entry()
            if entry != self.case.reader_entry(tp, level):
                self.undo_stack.push(commands.SetReaderEntryCommand(self.case, tp, level, entry))

        dialog.accepted.connect(store)
        dialog.open()
        return dialog

    def edit_regional_angles(self) -> RegionalDialog:
        """Open the regional angle dialog; on OK, a changed list becomes one undoable command."""
        from app.regional_dialog import RegionalDialog

        dialog = RegionalDialog(self.case, self.current_level, self)
        self._keep_dialog("regional_dialog", dialog)
        ref = weakref.ref(dialog)

        def store() -> None:
            d = ref()
            if d is not None and d.specs() != self.case.regional:
                self.undo_stack.push(commands.SetRegionalCommand(self.case, d.specs()))

        dialog.accepted.connect(store)
        dialog.open()
        return dialog

    def _keep_dialog(self, name: str, dialog: QtWidgets.QDialog) -> None:
        """One dialog of each kind: the previous one is closed and deleted by Qt.

        ``deleteLater`` (in the GUI thread's event loop), not the garbage collector: freeing
        a dialog from a GC pass while a worker thread runs crashed PySide.
        """
        previous = getattr(self, name, None)
        if previous is not None:
            previous.close()
            previous.deleteLater()
        setattr(self, name, dialog)

    # -- dialogs ------------------------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """Tell the user, in a dialog that does not block the event loop, and log it."""
        log.error("%s: %s", title, message)
        self.errors.append(message)
        self.statusBar().showMessage(message, 10000)
        if self.interactive_errors:
            box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message, parent=self)
            box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    def _open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open DICOM folder")
        if folder:
            self.open_paths([Path(folder)])

    def _open_files_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open DICOM files")
        if files:
            self.open_paths([Path(f) for f in files])

    def _open_case_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open case", "", "Endplate case (*.json)")
        if path and self._confirm_discard():
            self.open_case(Path(path))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in recovery.recent_cases():
            a = self.recent_menu.addAction(str(p))
            a.triggered.connect(lambda _c=False, p=p: self._confirm_discard() and self.open_case(p))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _confirm_discard(self) -> bool:
        if not self.is_dirty():
            return True
        decision = self.close_decision() if self.close_decision else self._ask_save()
        if decision == "save":
            return self.save()
        return decision == "discard"

    def _ask_save(self) -> str:
        buttons = QtWidgets.QMessageBox.StandardButton
        answer = QtWidgets.QMessageBox.question(
            self,
            "Unsaved changes",
            "The case has unsaved changes. Save them?",
            buttons.Save | buttons.Discard | buttons.Cancel,
        )
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")
