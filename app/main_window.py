"""The main window: layout, menus and toolbar, and the wiring of views to the session.

The window holds no state of its own beyond its widgets: the case, the open series, the
series shown, the level and the results live in the Qt-free :class:`~session.model.Session`
(``self.session``), which the views observe.  The work is done by controllers that
receive the session and the widgets they drive: :class:`~app.series_controller.SeriesController`
(open, scan, load, show, window presets), :class:`~app.placement_controller.PlacementController`
(clicks and drags into undoable commands), :class:`~app.stir_controller.StirController`
(STIR edema) and :class:`~app.case_actions.CaseActions` (save, export, dialogs).  Slow work
runs in :class:`~app.workers.Task` objects on the one :class:`~app.tasks.TaskRunner`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from app import commands, placement, recovery, workers
from app.assign_row import AssignRow, ask_patient
from app.browser import SeriesBrowser, SkippedFilesPanel
from app.carry_controller import CarryController
from app.case_actions import CaseActions, CloseDecision
from app.compare import CompareView
from app.measure_panel import MeasurementPanel
from app.overlay_state import overlay_state_for
from app.overlays import OverlayLayer
from app.placement_controller import PlacementController
from app.proposal_controller import ProposalController
from app.reader_entry import ReaderEntryDialog, ReaderEntryPanel
from app.series_controller import SeriesController
from app.snap_menu import SnapMenu
from app.status_widgets import StatusWidgets
from app.stir_controller import StirController
from app.tasks import TaskRunner
from app.viewer import SliceViewer
from dicomio.model import WindowPreset
from measure.case import VERTEBRA_STATUSES, Case
from measure.case_values import DisplayWindow
from session.identity import describe as describe_patient
from session.identity import is_blank
from session.model import Session, SessionEvent

if TYPE_CHECKING:  # dialogs not shown at start are imported when first opened (start-up time)
    from app.export_dialog import ExportDialog
    from app.pacs_dialog import PacsDialog
    from app.regional_dialog import RegionalDialog

log = logging.getLogger("endplate.app")


class MainWindow(QtWidgets.QMainWindow):
    """The Endplate workstation window."""

    def __init__(
        self,
        *,
        autosave_interval_s: float = recovery.AUTOSAVE_INTERVAL_S,
        close_decision: CloseDecision | None = None,
        interactive_errors: bool = True,
        session: Session | None = None,
        patient_decision: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.resize(1500, 920)
        self.session = session if session is not None else Session()
        self.undo_stack = QtGui.QUndoStack(self)
        self.errors: list[str] = []  # every error shown, for the log and for tests
        self.interactive_errors = interactive_errors

        # Every Qt object has a Qt parent: none is left for Python's collector to free.
        self.center = QtWidgets.QStackedWidget(self)
        self.viewer = SliceViewer(self.center)
        self.overlay = OverlayLayer(self.viewer)
        self.browser = SeriesBrowser(self)
        self.panel = MeasurementPanel(self.session, self)
        self.skipped_panel = SkippedFilesPanel(self)
        self.reader_panel = ReaderEntryPanel(self)
        self.window_combo = QtWidgets.QComboBox()
        self.status_widgets = StatusWidgets(self.statusBar())
        sw = self.status_widgets
        self.progress, self.cancel_button, self.hint = sw.progress, sw.cancel_button, sw.hint
        self.skipped_button = sw.skipped_button
        self.runner = TaskRunner(self.progress, self.cancel_button, self.show_error, self)
        self.runner.cancelled.connect(self._on_task_cancelled)
        self._build_docks()
        self.series = SeriesController(
            self.session,
            self.runner,
            self.viewer,
            self.browser,
            self.skipped_panel,
            self.window_combo,
            self.set_case,
            self.show_error,
            self,
        )
        self.loaded = self.series.loaded
        self.scanFinished = self.series.scanFinished
        self.displayLoaded = self.series.displayLoaded
        self.series.window_chosen = self._keep_window
        self.series.skipped_changed = sw.show_skipped_count
        self.series.warn = lambda sentence: self.statusBar().showMessage(sentence, 15000)
        self.compare = CompareView(self.session, self.series, self)
        self.series.extra_viewers = lambda: (
            [v for v in self.compare.viewers if v.isVisible()]
            if self.center.currentWidget() is self.compare
            else []
        )
        self.center.addWidget(self.viewer)
        self.center.addWidget(self.compare)
        self.setCentralWidget(self.center)
        self.autosaver = recovery.Autosaver(lambda: self.session.case, autosave_interval_s, parent=self)
        self.case_actions = CaseActions(
            self.session,
            self.undo_stack,
            self,
            self.series,
            self.autosaver,
            lambda: self.compare if self.center.currentWidget() is self.compare else self.viewer,
            self.show_error,
            self._update_title,
            close_decision,
        )
        self.act_place = QtGui.QAction("&Place landmarks", self)
        self.placement = PlacementController(
            self.session, self.undo_stack, self.viewer, self.overlay, self.act_place, self.statusBar(), self
        )
        #: Shift+click (or B) proposes a body's six points; Enter accepts, Esc rejects.
        self.proposals = ProposalController(self.placement, self)
        #: A later timepoint's series gets the earlier bodies proposed (C; Enter accepts all).
        self.carry = CarryController(self.proposals, self.runner, self.series.show_series_then, self)
        self.snap_menu = SnapMenu(self.placement.snap, self)  # Tools > Snap...; assist.json
        self.stir = StirController(
            self.session,
            self.runner,
            self,
            self.viewer,
            self.overlay,
            self.panel,
            self.undo_stack,
            self.statusBar(),
            self.series.show_series_then,
        )
        self.placement.patient_decision = patient_decision or (lambda sentence: ask_patient(self, sentence))
        self.placement.start_new_case = lambda: self.new_case(keep_series=True)
        self._build_actions()
        self.setAcceptDrops(True)
        self.browser.seriesActivated.connect(self.show_series)
        self.reader_panel.editRequested.connect(self.edit_reader_entry)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._unsubscribe = self.session.subscribe(self._on_session_event)
        self.set_case(self.session.case)

    # -- layout --------------------------------------------------------------------------
    def _dock(
        self, title: str, widget: QtWidgets.QWidget, area: QtCore.Qt.DockWidgetArea
    ) -> QtWidgets.QDockWidget:
        d = QtWidgets.QDockWidget(title, self)
        d.setObjectName(title.replace(" ", "") + "Dock")
        d.setWidget(widget)
        self.addDockWidget(area, d)
        return d

    def _build_docks(self) -> None:
        left = QtWidgets.QWidget(self)
        lay = QtWidgets.QVBoxLayout(left)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.browser)
        self.assign_row = AssignRow(self.session, self.browser, self.assign_series, left)
        self.assign_kind, self.assign_date = self.assign_row.kind, self.assign_row.date
        self.assign_button = self.assign_row.button
        lay.addWidget(self.assign_row)
        self.browser_dock = self._dock("Series", left, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        right = QtWidgets.QWidget(self)  # measurements above, the (small) procedure table below
        right_lay = QtWidgets.QVBoxLayout(right)
        right_lay.setContentsMargins(0, 0, 0, 0)
        right_lay.setSpacing(0)
        right_lay.addWidget(self.panel, 1)
        right_lay.addWidget(self.reader_panel)
        self.panel_dock = self._dock("Measurements", right, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.skipped_dock = self._dock(
            "Skipped files", self.skipped_panel, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.skipped_dock.hide()
        self.status_widgets.skipped_dock = self.skipped_dock
        self.resizeDocks([self.browser_dock, self.panel_dock], [330, 520], QtCore.Qt.Orientation.Horizontal)

    def _action(
        self, text: str, slot: Callable[[], Any], shortcut: Any = None, tip: str = ""
    ) -> QtGui.QAction:
        a = QtGui.QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QtGui.QKeySequence(shortcut))
        a.setToolTip(tip or text)
        a.triggered.connect(lambda _checked=False: slot())
        return a

    def _build_actions(self) -> None:
        sk = QtGui.QKeySequence.StandardKey
        acts = self.case_actions
        self.act_open_folder = self._action("Open &folder…", acts.open_folder_dialog, "Ctrl+Shift+O")
        self.act_open_files = self._action("Open &files…", acts.open_files_dialog)
        self.act_open_case = self._action("&Open case…", acts.open_case_dialog, sk.Open)
        self.act_open_pacs = self._action(
            "Open from &PACS…",
            self.open_pacs_dialog,
            "Ctrl+Shift+P",
            "Query a PACS, retrieve series and open them",
        )
        self.act_save = self._action("&Save case", self.save, sk.Save)
        self.act_save_as = self._action("Save case &as…", self.save_as, sk.SaveAs)
        self.act_export = self._action("Export key &image…", acts.export_key_image_dialog, "Ctrl+E")
        self.act_export_data = self._action(
            "E&xport measurements…",
            self.open_export_dialog,
            "Ctrl+Shift+E",
            "Export to CSV, JSON, DICOM SR, FHIR or PDF (optionally pseudonymised)",
        )
        self.act_procedure = self._action(
            "P&rocedure…", self.edit_reader_entry, "Ctrl+R", "Record procedure, cement volume, leakage"
        )
        self.act_clinical = self._action(
            "Clinical &outcomes…",
            self.case_actions.edit_clinical,
            "Ctrl+Shift+R",
            "Record VAS, ODI, analgesics, complications, stay and follow-up of the timepoint shown",
        )
        self.act_cohort = self._action(
            "Co&hort report…",
            self.case_actions.open_cohort_dialog,
            None,
            "The results table of a clinical series from a folder of case files",
        )
        self.act_regional = self._action(
            "Re&gional angles…",
            self.edit_regional_angles,
            "Ctrl+G",
            "Choose the endplates of the regional angles",
        )
        self.act_quit = self._action("&Quit", self.close, sk.Quit)
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QtGui.QKeySequence("Ctrl+Z"))
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])
        self.act_undo.setIconText("Undo")  # the menu says what ("Undo Move L1 ..."), the toolbar stays short
        self.act_redo.setIconText("Redo")
        self.act_place.setShortcut(QtGui.QKeySequence("P"))
        self.act_place.setCheckable(True)
        self.act_place.triggered.connect(lambda _checked=False: self.toggle_placing())
        self.act_delete = self._action("&Delete point", self.delete_selected, sk.Delete)
        self.act_delete_vertebra = self._action("Delete &vertebra", self.delete_current_vertebra, "Shift+Del")
        self.act_compare = self._action("&Compare timepoints", self.toggle_compare, "Ctrl+K")
        self.act_compare.setCheckable(True)
        self.act_hide_overlays = QtGui.QAction("&Hide overlays", self)
        self.act_hide_overlays.setCheckable(True)
        self.act_hide_overlays.setShortcut(QtGui.QKeySequence("H"))
        self.act_hide_overlays.setToolTip("Hide or show the landmarks, lines and labels (H)")
        self.act_hide_overlays.toggled.connect(lambda hidden: self.set_overlays_visible(not hidden))
        self.overlay.visibilityChanged.connect(lambda on: self.act_hide_overlays.setChecked(not on))
        self.act_copy = self._action("&Copy measurements", self.panel.copy_to_clipboard, "Ctrl+Shift+C")
        self.act_stop = self._action("Stop placing", lambda: self.set_placing(False), "Escape")
        self.act_measure_here = self._action(
            "&Measure this timepoint on this series", self.placement.measure_on_shown_series
        )
        self.act_measure_here.setToolTip(
            "A timepoint measured on two series (e.g. CT and MR): the registry, the PDF and the "
            "comparisons take the numbers of the series shown (★ in the panel)."
        )
        self.placement.measure_here_action = self.act_measure_here

        menu = self.menuBar()
        m_file = menu.addMenu("&File")
        self.act_new_case = self._action("&New case", lambda: self.new_case(True), sk.New)
        self.act_close_case = self._action("&Close case", self.close_case, sk.Close)
        for a in (
            self.act_new_case,
            self.act_open_folder,
            self.act_open_files,
            self.act_open_pacs,
            self.act_open_case,
        ):
            m_file.addAction(a)
        self.recent_menu = m_file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(lambda: acts.fill_recent_menu(self.recent_menu))
        m_file.addSeparator()
        for a in (self.act_save, self.act_save_as, self.act_export, self.act_export_data, self.act_cohort):
            m_file.addAction(a)
        m_file.addAction(self.act_close_case)
        m_file.addSeparator()
        m_file.addAction(self.act_quit)
        m_edit = menu.addMenu("&Edit")
        for a in (self.act_undo, self.act_redo):
            m_edit.addAction(a)
        m_edit.addSeparator()
        edit_actions = (self.act_place, self.act_delete, self.act_delete_vertebra, self.act_measure_here)
        for a in (*edit_actions, self.act_copy):
            m_edit.addAction(a)
        m_edit.addSeparator()
        m_edit.addAction(self.act_procedure)
        m_edit.addAction(self.act_clinical)
        m_edit.addAction(self.act_regional)
        m_edit.addAction(self.carry.action)
        m_view = menu.addMenu("&View")
        m_view.addAction(self.act_compare)
        m_view.addAction(self.act_hide_overlays)
        m_view.addAction(self.browser_dock.toggleViewAction())
        m_view.addAction(self.panel_dock.toggleViewAction())
        m_view.addAction(self.skipped_dock.toggleViewAction())
        self.snap_menu.fill(menu.addMenu("&Tools"))
        self.addAction(self.act_stop)

        for action, short in (
            (self.act_open_folder, "Open folder"),
            (self.act_open_case, "Open case"),
            (self.act_save, "Save"),
            (self.act_place, "Place"),
            (self.act_compare, "Compare"),
            (self.act_export, "Key image"),
        ):
            action.setIconText(short)
        tb = self.addToolBar("Tools")
        tb.setObjectName("ToolsBar")
        tb.setMovable(False)
        for a in (self.act_open_folder, self.act_open_case, self.act_save):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_undo)
        tb.addAction(self.act_redo)
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" Level "))
        self.level_combo = QtWidgets.QComboBox()
        self.level_combo.addItems(list(placement.PLACEMENT_LEVELS))
        self.level_combo.setCurrentText(self.session.current_level)
        self.level_combo.currentTextChanged.connect(self.set_level)
        tb.addWidget(self.level_combo)
        tb.addAction(self.act_place)
        tb.addWidget(QtWidgets.QLabel(" Mark "))
        self.status_buttons = self.placement.status_buttons
        for status in VERTEBRA_STATUSES:
            if status == "unknown":
                continue
            b = QtWidgets.QToolButton()
            b.setText(status)
            b.setObjectName(f"status_{status}")
            b.setToolTip(f"Mark the current level as {status} (click again to clear)")
            b.clicked.connect(lambda _c=False, s=status: self.toggle_status(s))
            tb.addWidget(b)
            self.status_buttons[status] = b
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" Window "))
        self.window_combo.setMinimumWidth(150)
        self.window_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        tb.addWidget(self.window_combo)
        self.stir.install_actions(m_edit, m_view, tb)
        tb.addSeparator()
        tb.addAction(self.act_compare)
        tb.addAction(self.act_export)

    # -- the session -------------------------------------------------------------------------
    @property
    def case(self) -> Case:
        return self.session.case

    @property
    def current_level(self) -> str:
        return self.session.current_level

    def current_timepoint(self) -> str | None:
        return self.session.current_timepoint

    @property
    def tasks(self) -> list[workers.Task]:
        return self.runner.tasks

    def set_case(self, case: Case) -> None:
        """Make ``case`` the window's case (undo history starts afresh)."""
        self.undo_stack.clear()
        self.autosaver.force_dirty = False
        self.session.set_case(case)

    def _on_session_event(self, event: SessionEvent) -> None:
        if event.kind == "level":
            if self.level_combo.currentText() != event.key:
                self.level_combo.blockSignals(True)
                self.level_combo.setCurrentText(event.key or "")
                self.level_combo.blockSignals(False)
            self.placement.update_prompt()
            self.placement.update_status_buttons()
        elif event.kind in ("case", "case-changed", "current", "series", "stir", "display"):
            ce = event.case_event
            current_uid = self.session.current_series_uid
            if ce is not None and ce.kind == "series-window" and current_uid and ce.key == current_uid:
                self.series.show_window(current_uid)  # an undone or redone window change
            self.refresh()

    def refresh(self) -> None:
        """Redraw what shows the case: overlay, procedure table, browser labels, titles."""
        s = self.session
        tp = s.current_timepoint
        if self.viewer.source is not None:
            self.overlay.set_state(overlay_state_for(s.case, s.results, tp, self.viewer.source.series_uid))
            self.stir.refresh_views()  # the badges join the labels just drawn
        self.reader_panel.show_entries(s.case)
        for key, stack in s.library.stacks.items():
            ref = s.case.series_ref(stack.series_uid)
            label = ""
            if ref is not None:
                t = s.case.timepoint(ref.timepoint)
                label = t.kind + (f"\n{t.date}" if t.date else "")  # two short lines: no elision
            self.browser.set_timepoint_label(key, label)
        self.placement.update_prompt()
        self.placement.update_status_buttons()
        self._update_title()
        if self.viewer.source is not None:
            label = self.series.series_title
            if tp is not None:
                t = s.case.timepoint(tp)
                label += f"  ·  {t.kind}" + (f" {t.date}" if t.date else "")
            self.viewer.set_title(label)
        if self.center.currentWidget() is self.compare:
            self.compare.refresh()

    def _on_clean_changed(self, _clean: bool) -> None:
        self._update_title()

    def _on_task_cancelled(self, description: str) -> None:
        self.statusBar().showMessage(f"{description}: cancelled", 5000)

    def _update_title(self) -> None:
        """File name, then the patient as the case holds it (read from the DICOM)."""
        case = self.session.case
        name = case.file_path.name if case.file_path else "Untitled case"
        who = "" if is_blank(case.patient) else f" — {describe_patient(case.patient)}"
        self.setWindowTitle(f"{name}[*]{who} — Endplate")
        self.setWindowModified(self.session.is_dirty())

    def new_case(self, keep_series: bool = True) -> bool:
        """File > New case: an empty case (the open series stay listed); asks before losing edits."""
        if not self.case_actions.confirm_discard():
            return False
        self.set_case(Case())
        if not keep_series:
            self.series.forget_series()
        self.statusBar().showMessage("New case.", 5000)
        return True

    def close_case(self) -> bool:
        """File > Close case: no case and no series open; asks before losing edits."""
        return self.new_case(keep_series=False)

    def _keep_window(self, series_uid: str, preset: WindowPreset) -> None:
        """The reader's window is kept with the series in the case (Compare and the PDF use it)."""
        ref = self.session.case.series_ref(series_uid)
        if ref is None:
            return  # not in the case (yet): the viewer keeps it for the session
        window = DisplayWindow(preset.center, preset.width, preset.name)
        if ref.window != window:
            self.undo_stack.push(commands.SetSeriesWindowCommand(self.session.case, series_uid, window))

    def is_dirty(self) -> bool:
        return self.session.is_dirty()

    def show_error(self, title: str, message: str) -> None:
        """Tell the user, in a dialog that does not block the event loop, and log it."""
        log.error("%s: %s", title, message)
        self.errors.append(message)
        self.statusBar().showMessage(message, 10000)
        if self.interactive_errors:
            box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message, parent=self)
            box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    # -- what the window offers (each delegates to its controller) ---------------------------
    def open_paths(self, paths: list[Path]) -> None:
        self.series.open_paths(paths)

    def open_case(self, path: Path) -> bool:
        return self.series.open_case(path)

    def open_pacs_dialog(self, cache_root: Path | None = None) -> PacsDialog:
        return self.case_actions.open_pacs_dialog(cache_root)

    def adopt_case(self, case: Case, show_uid: str | None = None) -> None:
        self.series.adopt_case(case, show_uid)

    def show_series(self, key_or_uid: str) -> None:
        self.series.show_series(key_or_uid)

    def save(self) -> bool:
        return self.case_actions.save()

    def save_as(self) -> bool:
        return self.case_actions.save_as()

    def save_to(self, path: Path) -> bool:
        return self.case_actions.save_to(path)

    def export_key_image(self, path: Path) -> Path:
        return self.case_actions.export_key_image(path)

    def open_export_dialog(self, ask_save: Callable[[str], bool] | None = None) -> ExportDialog:
        return self.case_actions.open_export_dialog(ask_save)

    def edit_reader_entry(self, scope: tuple[str | None, str | None] | None = None) -> ReaderEntryDialog:
        return self.case_actions.edit_reader_entry(scope)

    def edit_regional_angles(self) -> RegionalDialog:
        return self.case_actions.edit_regional_angles()

    def set_level(self, level: str) -> None:
        self.placement.set_level(level)

    def toggle_placing(self) -> None:
        self.placement.set_placing(not self.placement.placing)

    def set_placing(self, on: bool) -> None:
        self.placement.set_placing(on)

    @property
    def placing(self) -> bool:
        return self.placement.placing

    def delete_selected(self) -> None:
        self.placement.delete_selected()

    def delete_current_vertebra(self) -> None:
        self.placement.delete_current_vertebra()

    def toggle_status(self, status: str) -> None:
        self.placement.toggle_status(status)

    def assign_series(self, series_uid: str, kind: str, date: str | None = None) -> str | None:
        return self.placement.assign_series(series_uid, kind, date)

    def cancel_tasks(self) -> None:
        self.runner.cancel_all()

    def wait_for_tasks(self, timeout_s: float = 60.0) -> None:
        self.runner.wait(timeout_s)

    def set_overlays_visible(self, on: bool) -> None:
        """Show or hide the landmark overlays of every viewer (View > Hide overlays, H)."""
        self.overlay.set_visible(on)
        for layer in self.compare.layers:
            layer.set_visible(on)

    # -- compare ----------------------------------------------------------------------------------
    def toggle_compare(self) -> None:
        self.set_compare(self.center.currentWidget() is not self.compare)

    def set_compare(self, on: bool) -> None:
        """Switch between the single viewer and the side-by-side compare view.

        The compare view needs the width, so the browser and panel docks are hidden while
        it is shown (and restored as they were afterwards).
        """
        self.act_compare.setChecked(on)
        if on == (self.center.currentWidget() is self.compare):
            return
        docks = (self.browser_dock, self.panel_dock, self.skipped_dock)
        if on:
            self._dock_visibility = [d.isVisible() for d in docks]
            for d in docks:
                d.hide()
        else:
            for d, visible in zip(docks, getattr(self, "_dock_visibility", [True, True, False]), strict=True):
                d.setVisible(visible)
        self.center.setCurrentWidget(self.compare if on else self.viewer)
        if on:
            self.compare.refresh()

    # -- Qt events ----------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self.case_actions.confirm_discard():
            event.ignore()
            return
        self.runner.forget_all()  # their results would arrive at a closed window
        workers.wait_all()  # cancelled workers return within a file read; none outlives the window
        self.autosaver.timer.stop()
        recovery.discard_recovery()
        self.carry.close()
        self.session.close()  # no view hears of the session any more
        event.accept()
