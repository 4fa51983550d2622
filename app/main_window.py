"""The main window: browser, viewer, measurement panel, compare view, files and undo.

The window owns one :class:`~measure.case.Case` and observes it; it never keeps its own
copy of a landmark.  Every edit becomes a command on ``self.undo_stack``; every slow step
(scan, pixel loading, thumbnails) runs in a :class:`~app.workers.Task`.  Opening and
loading live in :mod:`app.series_loading`, saving and dialogs in :mod:`app.case_files`
(mixins of this class); this module holds layout, case observation, placement and
timepoints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui, QtWidgets

from app import commands, placement, recovery, workers
from app.browser import SeriesBrowser, SkippedFilesPanel
from app.case_files import CaseFilesMixin
from app.compare import CompareView
from app.measure_panel import MeasurementPanel, overlay_state_for, vertebra_value_text
from app.overlays import OverlayLayer
from app.reader_entry import ReaderEntryPanel
from app.series_loading import SeriesLoadingMixin
from app.stir_view import StirController
from app.viewer import SliceViewer
from dicomio.model import SeriesStack
from measure.case import TIMEPOINT_KINDS, VERTEBRA_STATUSES, Case, SeriesRef, Timepoint
from measure.events import CaseEvent
from measure.landmarks import LANDMARK_LABELS, Landmark

log = logging.getLogger("endplate.app")

#: close decision: "save", "discard" or "cancel".
CloseDecision = Callable[[], str]


def new_timepoint_id(case: Case, kind: str) -> str:
    """``pre-op``, ``post-op``, ``follow-up``, then ``follow-up-2``... (ids must be unique)."""
    existing = {tp.id for tp in case.timepoints}
    if kind not in existing:
        return kind
    n = 2
    while f"{kind}-{n}" in existing:
        n += 1
    return f"{kind}-{n}"


class MainWindow(SeriesLoadingMixin, CaseFilesMixin, QtWidgets.QMainWindow):
    """The Endplate workstation window."""

    #: Emitted when a series is shown (its volume loaded) or a case finished opening.
    loaded = QtCore.Signal()
    #: Emitted after a folder scan finished (browser filled, skipped list updated).
    scanFinished = QtCore.Signal()
    #: A series' volume finished loading (series UID).
    displayLoaded = QtCore.Signal(str)

    def __init__(
        self,
        *,
        autosave_interval_s: float = recovery.AUTOSAVE_INTERVAL_S,
        close_decision: CloseDecision | None = None,
        interactive_errors: bool = True,
    ) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.resize(1500, 920)
        self.case = Case()
        self._unsubscribe: Callable[[], None] | None = None
        self.undo_stack = QtGui.QUndoStack(self)
        self.stacks: dict[str, SeriesStack] = {}
        self.summaries: dict[str, dict[str, Any]] = {}
        self.skipped: list[Any] = []
        self.displays: dict[str, Any] = {}  # series uid -> DisplayStack with its volume loaded
        self.volumes: dict[str, NDArray] = {}
        self.current_uid: str | None = None
        self._pending_show: str | None = None
        self._series_title = ""
        self._loading: set[str] = set()
        self.current_level = "L1"
        self.placing = False
        self.results: dict[str, Any] | None = None
        self.measure_error = ""
        self.tasks: list[workers.Task] = []
        self.errors: list[str] = []  # every error shown, for the log and for tests
        self.interactive_errors = interactive_errors
        self.close_decision = close_decision
        self.recovered_unsaved = False

        # Every Qt object has a Qt parent: none is left for Python's collector to free.
        self.center = QtWidgets.QStackedWidget(self)
        self.viewer = SliceViewer(self.center)
        self.overlay = OverlayLayer(self.viewer)
        self.compare = CompareView(self)
        self.center.addWidget(self.viewer)
        self.center.addWidget(self.compare)
        self.setCentralWidget(self.center)

        self.browser = SeriesBrowser(self)
        self.panel = MeasurementPanel(self)
        self.skipped_panel = SkippedFilesPanel(self)
        self.stir = StirController(self)  # STIR edema: analysis, overlay, badges, decisions
        self.reader_panel = ReaderEntryPanel(self)
        self._build_docks()
        self._build_actions()
        self._build_status_bar()
        self.setAcceptDrops(True)

        self.viewer.clickedLps.connect(self._on_viewer_click)
        self.overlay.handleMoved.connect(self._on_handle_moved)
        self.overlay.live_text = self._live_text
        self.browser.seriesActivated.connect(self.show_series)
        self.reader_panel.editRequested.connect(self.edit_reader_entry)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.autosaver = recovery.Autosaver(lambda: self.case, autosave_interval_s, parent=self)
        self.set_case(Case())

    # -- layout --------------------------------------------------------------------------
    def _build_docks(self) -> None:
        def dock(
            title: str, widget: QtWidgets.QWidget, area: QtCore.Qt.DockWidgetArea
        ) -> QtWidgets.QDockWidget:
            d = QtWidgets.QDockWidget(title, self)
            d.setObjectName(title.replace(" ", "") + "Dock")
            d.setWidget(widget)
            self.addDockWidget(area, d)
            return d

        left = QtWidgets.QWidget(self)
        lay = QtWidgets.QVBoxLayout(left)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.browser)
        assign_row = QtWidgets.QHBoxLayout()
        assign_row.addWidget(QtWidgets.QLabel("Assign to:"))
        self.assign_kind = QtWidgets.QComboBox()
        self.assign_kind.addItems(list(TIMEPOINT_KINDS))
        self.assign_date = QtWidgets.QDateEdit(QtCore.QDate.currentDate())
        self.assign_date.setCalendarPopup(True)
        self.assign_date.setDisplayFormat("yyyy-MM-dd")
        self.assign_date.setToolTip(
            "Date of a follow-up timepoint (pre-op and post-op take the study date of the series)"
        )
        self.assign_button = QtWidgets.QPushButton("Assign")
        self.assign_button.setToolTip("Assign the selected series to this timepoint (undoable)")
        self.assign_button.clicked.connect(self._assign_current_from_ui)
        self.assign_kind.currentTextChanged.connect(lambda _k: self._update_assign_date())
        self.browser.currentItemChanged.connect(lambda *_a: self._update_assign_date())
        assign_row.addWidget(self.assign_kind)
        assign_row.addWidget(self.assign_date)
        assign_row.addWidget(self.assign_button)
        self._update_assign_date()
        lay.addLayout(assign_row)
        self.browser_dock = dock("Series", left, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        right = QtWidgets.QWidget(self)  # measurements above, the (small) procedure table below
        right_lay = QtWidgets.QVBoxLayout(right)
        right_lay.setContentsMargins(0, 0, 0, 0)
        right_lay.setSpacing(0)
        right_lay.addWidget(self.panel, 1)
        right_lay.addWidget(self.reader_panel)
        self.panel_dock = dock("Measurements", right, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.skipped_dock = dock(
            "Skipped files", self.skipped_panel, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.skipped_dock.hide()
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
        SK = QtGui.QKeySequence.StandardKey
        self.act_open_folder = self._action("Open &folder…", self._open_folder_dialog, "Ctrl+Shift+O")
        self.act_open_files = self._action("Open &files…", self._open_files_dialog)
        self.act_open_case = self._action("&Open case…", self._open_case_dialog, SK.Open)
        self.act_save = self._action("&Save case", self.save, SK.Save)
        self.act_save_as = self._action("Save case &as…", self.save_as, SK.SaveAs)
        self.act_export = self._action("Export key &image…", self._export_dialog, "Ctrl+E")
        self.act_export_data = self._action(
            "E&xport measurements…",
            self.open_export_dialog,
            "Ctrl+Shift+E",
            "Export to CSV, JSON, DICOM SR, FHIR or PDF (optionally pseudonymised)",
        )
        self.act_procedure = self._action(
            "P&rocedure…", self.edit_reader_entry, "Ctrl+R", "Record procedure, cement volume, leakage"
        )
        self.act_regional = self._action(
            "Re&gional angles…",
            self.edit_regional_angles,
            "Ctrl+G",
            "Choose the endplates of the regional angles",
        )
        self.act_quit = self._action("&Quit", self.close, SK.Quit)
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QtGui.QKeySequence("Ctrl+Z"))
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])
        self.act_undo.setIconText("Undo")  # the menu says what ("Undo Move L1 ..."), the toolbar stays short
        self.act_redo.setIconText("Redo")
        self.act_place = self._action("&Place landmarks", self.toggle_placing, "P")
        self.act_place.setCheckable(True)
        self.act_delete = self._action("&Delete point", self.delete_selected, SK.Delete)
        self.act_delete_vertebra = self._action("Delete &vertebra", self.delete_current_vertebra, "Shift+Del")
        self.act_compare = self._action("&Compare timepoints", self.toggle_compare, "Ctrl+K")
        self.act_compare.setCheckable(True)
        self.act_copy = self._action("&Copy measurements", self.panel.copy_to_clipboard, "Ctrl+Shift+C")
        self.act_stop = self._action("Stop placing", lambda: self.set_placing(False), "Escape")

        menu = self.menuBar()
        m_file = menu.addMenu("&File")
        for a in (self.act_open_folder, self.act_open_files, self.act_open_case):
            m_file.addAction(a)
        self.recent_menu = m_file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m_file.addSeparator()
        for a in (self.act_save, self.act_save_as, self.act_export, self.act_export_data):
            m_file.addAction(a)
        m_file.addSeparator()
        m_file.addAction(self.act_quit)
        m_edit = menu.addMenu("&Edit")
        for a in (self.act_undo, self.act_redo):
            m_edit.addAction(a)
        m_edit.addSeparator()
        for a in (self.act_place, self.act_delete, self.act_delete_vertebra, self.act_copy):
            m_edit.addAction(a)
        m_edit.addSeparator()
        m_edit.addAction(self.act_procedure)
        m_edit.addAction(self.act_regional)
        m_view = menu.addMenu("&View")
        m_view.addAction(self.act_compare)
        m_view.addAction(self.browser_dock.toggleViewAction())
        m_view.addAction(self.panel_dock.toggleViewAction())
        m_view.addAction(self.skipped_dock.toggleViewAction())
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
        tb.addAction(self.act_open_folder)
        tb.addAction(self.act_open_case)
        tb.addAction(self.act_save)
        tb.addSeparator()
        tb.addAction(self.act_undo)
        tb.addAction(self.act_redo)
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" Level "))
        self.level_combo = QtWidgets.QComboBox()
        self.level_combo.addItems(list(placement.PLACEMENT_LEVELS))
        self.level_combo.setCurrentText(self.current_level)
        self.level_combo.currentTextChanged.connect(self.set_level)
        tb.addWidget(self.level_combo)
        tb.addAction(self.act_place)
        tb.addWidget(QtWidgets.QLabel(" Mark "))
        self.status_buttons: dict[str, QtWidgets.QToolButton] = {}
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
        self.window_combo = QtWidgets.QComboBox()
        self.window_combo.setMinimumWidth(150)
        self.window_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.window_combo.activated.connect(self._apply_window_preset)
        tb.addWidget(self.window_combo)
        self.stir.install_actions(m_edit, m_view, tb)
        tb.addSeparator()
        tb.addAction(self.act_compare)
        tb.addAction(self.act_export)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_tasks)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)

    # -- case ------------------------------------------------------------------------------
    def set_case(self, case: Case) -> None:
        """Make ``case`` the window's case (undo history starts afresh)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.case = case
        self._unsubscribe = case.subscribe(self._on_case_event)
        self.undo_stack.clear()
        self.recovered_unsaved = False
        self.autosaver.force_dirty = False
        self.stir.reset()
        self.refresh()

    def _on_case_event(self, event: CaseEvent) -> None:
        self.stir.on_case_event(event)
        self.refresh()

    def current_timepoint(self) -> str | None:
        if self.current_uid is None:
            return None
        ref = self.case.series_ref(self.current_uid)
        return None if ref is None else ref.timepoint

    def refresh(self) -> None:
        """Recompute measurements and redraw every view of the case (one call per event)."""
        try:
            self.results = self.case.measure()
            self.measure_error = ""
        except Exception as exc:  # a half-placed case must still display
            log.exception("measurement failed")
            self.results = None
            self.measure_error = str(exc)
        tp = self.current_timepoint()
        if self.viewer.source is not None:
            self.overlay.set_state(
                overlay_state_for(self.case, self.results, tp, self.viewer.source.series_uid)
            )
        self.panel.show_results(self.case, self.results, self.measure_error)
        self.stir.refresh_views()
        self.reader_panel.show_entries(self.case)
        for key, stack in self.stacks.items():
            ref = self.case.series_ref(stack.series_uid)
            label = ""
            if ref is not None:
                t = self.case.timepoint(ref.timepoint)
                label = t.kind + (f"\n{t.date}" if t.date else "")  # two short lines: no elision
            self.browser.set_timepoint_label(key, label)
        self._update_prompt()
        self._update_status_buttons()
        self._update_title()
        if self.viewer.source is not None:
            label = self._series_title
            if tp is not None:
                t = self.case.timepoint(tp)
                label += f"  ·  {t.kind}" + (f" {t.date}" if t.date else "")
            self.viewer.set_title(label)
        if self.center.currentWidget() is self.compare:
            self.compare.refresh()

    def _on_clean_changed(self, _clean: bool) -> None:
        self._update_title()

    def _update_title(self) -> None:
        name = self.case.file_path.name if self.case.file_path else "Untitled case"
        self.setWindowTitle(f"{name}[*] — Endplate")
        self.setWindowModified(self.case.dirty or self.recovered_unsaved)

    def is_dirty(self) -> bool:
        return self.case.dirty or self.recovered_unsaved

    # -- placement ---------------------------------------------------------------------------
    def set_level(self, level: str) -> None:
        if level not in placement.PLACEMENT_LEVELS:
            return
        self.current_level = level
        if self.level_combo.currentText() != level:
            self.level_combo.blockSignals(True)
            self.level_combo.setCurrentText(level)
            self.level_combo.blockSignals(False)
        self._update_prompt()
        self._update_status_buttons()

    def toggle_placing(self) -> None:
        self.set_placing(not self.placing)

    def set_placing(self, on: bool) -> None:
        self.placing = bool(on)
        self.act_place.setChecked(self.placing)
        if (
            self.placing
            and placement.next_key(self.case, self.current_timepoint(), self.current_level) is None
        ):
            self.set_level(placement.suggest_level(self.case, self.current_timepoint(), self.current_level))
        self._update_prompt()

    def _update_prompt(self) -> None:
        if not self.placing or self.viewer.source is None:
            self.viewer.set_prompt("")
            return
        key = placement.next_key(self.case, self.current_timepoint(), self.current_level)
        self.viewer.set_prompt(placement.prompt_for(self.current_level, key))

    def _landmark_at(self, lps: NDArray[np.float64], slice_index: int) -> Landmark:
        source = self.viewer.source
        assert source is not None
        frame = getattr(source, "frame_index_for_slice", lambda _k: None)(slice_index)
        return Landmark(
            tuple(float(x) for x in lps),  # type: ignore[arg-type]
            source.series_uid,
            source.sop_uid_for_slice(slice_index),
            frame,
        )

    def _ensure_timepoint(self) -> str:
        """The current series' timepoint, assigning it first when needed.

        The series joins the timepoint of the same study date if there is one; else it
        becomes the pre-op timepoint (the first one) or a dated follow-up.  Post-op is
        never guessed: the reader assigns it.  Must be called inside an undo macro: the
        assignment is part of the user's action.
        """
        tp = self.current_timepoint()
        if tp is not None:
            return tp
        assert self.current_uid is not None
        stack = self._stack_for_uid(self.current_uid)
        date = _iso_date(stack.study_date if stack is not None else None)
        for t in self.case.timepoints:
            if date is not None and t.date == date:
                return self._push_assignment(t.kind, date)
        has_pre = any(t.kind == "pre-op" for t in self.case.timepoints)
        return self._push_assignment("follow-up" if has_pre else "pre-op", date)

    def _on_viewer_click(self, lps: NDArray[np.float64], slice_index: int, _modifiers: object) -> None:
        if self.viewer.source is None:
            return
        if not self.placing:
            hit = self.overlay.nearest_handle(lps)
            if hit is not None:
                self.set_level(hit[0])
                self.overlay.select(*hit)
            return
        key = placement.next_key(self.case, self.current_timepoint(), self.current_level)
        if key is None:
            return
        landmark = self._landmark_at(lps, slice_index)
        level = self.current_level
        self.undo_stack.beginMacro(f"Place {level} {LANDMARK_LABELS[key]}")
        try:
            tp = self._ensure_timepoint()
            self.undo_stack.push(commands.PlaceLandmarkCommand(self.case, tp, level, key, landmark))
        finally:
            self.undo_stack.endMacro()
        if placement.next_key(self.case, tp, level) is None:
            self.set_level(placement.suggest_level(self.case, tp, level))

    def _live_text(self, level: str, points_mm: dict[str, NDArray[np.float64]]) -> str:
        """Angle and heights of ``level`` with its points where the handles are now."""
        from measure.engine import measure_vertebra

        tp = self.current_timepoint()
        if tp is None:
            return ""
        inputs = {vi.level: vi for vi in self.case.vertebra_inputs(tp)}
        vi = inputs.get(level)
        if vi is None:
            return ""
        landmarks = {
            k: (lm.moved_to(points_mm[k]) if k in points_mm else lm) for k, lm in vi.landmarks.items()
        }
        return vertebra_value_text(measure_vertebra(replace(vi, landmarks=landmarks)))

    def _on_handle_moved(self, level: str, key: str, lps: NDArray[np.float64]) -> None:
        tp = self.current_timepoint()
        if tp is None or self.case.landmark(tp, level, key) is None:
            return
        landmark = self._landmark_at(lps, self.viewer.slice_index)
        self.undo_stack.push(commands.MoveLandmarkCommand(self.case, tp, level, key, landmark))

    def delete_selected(self) -> None:
        tp = self.current_timepoint()
        sel = self.overlay.selected
        if tp is None or sel is None or self.case.landmark(tp, *sel) is None:
            return
        self.overlay.selected = None
        self.undo_stack.push(commands.PlaceLandmarkCommand(self.case, tp, sel[0], sel[1], None))

    def delete_current_vertebra(self) -> None:
        tp = self.current_timepoint()
        if tp is None or self.case.vertebra(tp, self.current_level) is None:
            return
        self.undo_stack.push(commands.RemoveVertebraCommand(self.case, tp, self.current_level))

    def toggle_status(self, status: str) -> None:
        if self.current_uid is None:
            self.statusBar().showMessage(
                "Open a series first: the status belongs to a vertebra of a timepoint.", 5000
            )
            return
        tp = self.current_timepoint()
        v = None if tp is None else self.case.vertebra(tp, self.current_level)
        new = "unknown" if v is not None and v.status == status else status
        self.undo_stack.beginMacro(f"Mark {self.current_level} {new}")
        try:
            tp = self._ensure_timepoint()
            self.undo_stack.push(commands.SetStatusCommand(self.case, tp, self.current_level, new))
        finally:
            self.undo_stack.endMacro()

    def _update_status_buttons(self) -> None:
        tp = self.current_timepoint()
        v = None if tp is None else self.case.vertebra(tp, self.current_level)
        for status, b in self.status_buttons.items():
            b.setCheckable(True)
            b.setChecked(v is not None and v.status == status)

    # -- timepoints ------------------------------------------------------------------------------
    def _push_assignment(self, kind: str, date: str | None, series_uid: str | None = None) -> str:
        """Assign a series (default: the current one) to a new or existing timepoint of ``kind``.

        An existing timepoint of that kind (and date, when given) is reused; returns its id.
        """
        uid = series_uid or self.current_uid
        assert uid is not None
        tp_id = None
        for t in self.case.timepoints:
            same_date = t.date == date if kind == "follow-up" else (date is None or t.date in (date, None))
            if t.kind == kind and same_date:
                tp_id = t.id
                if date is not None and t.date != date:
                    self.undo_stack.push(commands.UpdateTimepointCommand(self.case, replace(t, date=date)))
                break
        if tp_id is None:
            tp_id = new_timepoint_id(self.case, kind)
            self.undo_stack.push(commands.AddTimepointCommand(self.case, Timepoint(tp_id, kind, date)))
        self.undo_stack.push(commands.AssignSeriesCommand(self.case, self._series_ref(uid, tp_id)))
        return tp_id

    def _series_ref(self, uid: str, timepoint: str) -> SeriesRef:
        stack = self._stack_for_uid(uid)
        display = self.displays.get(uid)
        geom = display.geometry if display is not None else (stack.geometry if stack is not None else None)
        existing = self.case.series_ref(uid)
        path = existing.path if existing is not None else ""
        if stack is not None and stack.frames:
            paths = {f.path.parent for f in stack.frames}
            path = (
                str(paths.pop().absolute())
                if len(paths) == 1
                else str(stack.frames[0].path.parent.absolute())
            )
        return SeriesRef(
            series_uid=uid,
            timepoint=timepoint,
            path=path or ".",
            description=stack.description
            if stack is not None
            else (existing.description if existing else ""),
            modality=stack.modality if stack is not None else (existing.modality if existing else ""),
            sequence=stack.sequence if stack is not None else (existing.sequence if existing else None),
            orientation=tuple(geom.first.orientation) if geom is not None else None,  # type: ignore[arg-type]
            pixel_spacing_mm=tuple(geom.first.pixel_spacing_mm) if geom is not None else None,  # type: ignore[arg-type]
            reformat=bool(getattr(display, "is_reformat", False)),
        )

    def assign_series(self, series_uid: str, kind: str, date: str | None = None) -> str:
        """Assign a series to a timepoint (one undoable step); returns the timepoint id."""
        self.undo_stack.beginMacro(f"Assign series to {kind}")
        try:
            return self._push_assignment(kind, date, series_uid)
        finally:
            self.undo_stack.endMacro()

    def _assign_current_from_ui(self) -> None:
        key = self.browser.current_key()
        stack = self.stacks.get(key) if key else None
        uid = stack.series_uid if stack is not None else self.current_uid
        if uid is None:
            return
        kind = self.assign_kind.currentText()
        if kind == "follow-up":
            date = self.assign_date.date().toString("yyyy-MM-dd")
        else:
            stack = self._stack_for_uid(uid)
            date = _iso_date(stack.study_date if stack is not None else None)
        self.assign_series(uid, kind, date)

    def _update_assign_date(self) -> None:
        """The date field is for follow-ups only; it starts at the selected series' study date."""
        follow_up = self.assign_kind.currentText() == "follow-up"
        self.assign_date.setEnabled(follow_up)
        key = self.browser.current_key()
        stack = self.stacks.get(key) if key else None
        iso = _iso_date(stack.study_date if stack is not None else None)
        if iso is not None:
            self.assign_date.setDate(QtCore.QDate.fromString(iso, "yyyy-MM-dd"))

    def _stack_for_uid(self, uid: str) -> SeriesStack | None:
        for stack in self.stacks.values():
            if stack.series_uid == uid:
                return stack
        return None

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
        if not self._confirm_discard():
            event.ignore()
            return
        self.cancel_tasks()
        for task in self.tasks:  # their results would arrive at a closed window
            task.signals.blockSignals(True)
        self.tasks = []
        workers.wait_all()  # cancelled workers return within a file read; none outlives the window
        self.autosaver.timer.stop()
        recovery.discard_recovery()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        event.accept()


def _iso_date(dicom_date: str | None) -> str | None:
    """DICOM ``YYYYMMDD`` as ISO ``YYYY-MM-DD`` (None when absent or malformed)."""
    if not dicom_date or len(dicom_date) < 8 or not dicom_date[:8].isdigit():
        return None
    return f"{dicom_date[:4]}-{dicom_date[4:6]}-{dicom_date[6:8]}"
