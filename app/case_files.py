"""Saving the case, key images, and the dialogs of the main window (a mixin).

Saving goes through ``measure.casefile.save_case`` (atomic, with a backup); a successful
save removes the recovery file and records the case among the recent ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app import recovery

log = logging.getLogger("endplate.app")


class CaseFilesMixin:
    """Save / save as / export, error dialogs, open dialogs, unsaved-changes question."""

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
