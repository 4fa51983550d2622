"""STIR edema in the window: the analysis in a worker, the overlay and badges, the reader's decision.

The analysis itself is :mod:`measure.edema` (no Qt), run for a whole case by
:func:`session.stir_run.analyse_case` on a frozen copy of the case, in a
:class:`~app.workers.Task`: when the case's series have been scanned, and again
(debounced) when landmarks, statuses or series assignments change.  Its results go to the
:class:`~session.model.Session`, which attaches the reader's decisions; the panel
observes the session, and this controller draws on the viewer (:mod:`app.edema_layer`)
and adds the badge to the landmark labels.  No validated numeric cut-off exists for STIR
edema: every badge, cell and the dialog say so (:data:`measure.edema.NO_CUTOFF_NOTE`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import shiboken6
from PySide6 import QtCore, QtGui, QtWidgets

from app import workers
from app.edema_layer import EdemaContent, EdemaLayer
from app.measure_panel import MeasurementPanel
from app.overlays import OverlayLayer
from app.series_controller import LANDMARK_MARGIN_MM
from app.stir_dialog import SetStirDecisionCommand, StirDecisionDialog
from app.stir_text import badge_colour, badge_text, badge_tooltip
from app.tasks import TaskRunner
from app.viewer import SliceViewer
from measure.case_snapshot import CaseSnapshot
from measure.case_values import StirDecision
from measure.edema import NO_CUTOFF_NOTE, OUTLINE_ORDER, STATUS_NO_STIR, default_choice_note
from measure.results import StirResult
from session.model import Session, SessionEvent
from session.stir_run import AnalysisCancelled, analyse_case

log = logging.getLogger("endplate.app")

#: Case changes that call for a new analysis (a reader decision does not).
REANALYSE_KINDS = frozenset(
    {
        "landmark",
        "vertebra-added",
        "vertebra-removed",
        "status",  # the reference bodies change the baseline
        "series",
        "timepoint-added",
        "timepoint-removed",
        "timepoint-changed",
    }
)
#: Wait this long after the last edit before analysing again (a burst of edits = one run).
DEBOUNCE_MS = 300


class StirController(QtCore.QObject):
    """Runs the STIR analysis for the session's case and shows it (overlay, badges)."""

    #: A timepoint's results changed (timepoint id).
    resultsChanged = QtCore.Signal(str)

    def __init__(
        self,
        session: Session,
        runner: TaskRunner,
        window: QtWidgets.QWidget,
        viewer: SliceViewer,
        overlay: OverlayLayer,
        panel: MeasurementPanel,
        undo_stack: QtGui.QUndoStack,
        status_bar: QtWidgets.QStatusBar,
        show_series: Callable[[str, Callable[[], None]], None],
    ) -> None:
        super().__init__(window)
        self.session = session
        self.runner = runner
        self.window = window
        self.viewer = viewer
        self.overlay = overlay
        self.undo_stack = undo_stack
        self.status_bar = status_bar
        self._show_series = show_series
        self.layer = EdemaLayer(viewer)
        self._generation = 0
        self._task: workers.Task | None = None
        self.dialog: StirDecisionDialog | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_now)
        window.installEventFilter(self)  # no analysis for a closed window (see eventFilter)
        self.act_overlay = QtGui.QAction("&Edema overlay", self)
        self.act_overlay.setCheckable(True)
        self.act_overlay.setChecked(True)
        self.act_overlay.setShortcut(QtGui.QKeySequence("E"))
        self.act_overlay.setIconText("Edema")
        self.act_overlay.setToolTip(
            "Show the STIR-bright voxels inside each analysed vertebral body (E). "
            + NO_CUTOFF_NOTE
            + "\n"
            + default_choice_note()
        )
        self.act_overlay.toggled.connect(self.set_overlay_visible)
        self.act_decision = QtGui.QAction("STIR edema &decision…", self)
        self.act_decision.setToolTip(
            "Confirm or override the STIR edema flag of the current level. " + NO_CUTOFF_NOTE
        )
        self.act_decision.triggered.connect(lambda _c=False: self.edit_decision())
        self.act_show_stir = QtGui.QAction("Show &STIR series", self)
        self.act_show_stir.triggered.connect(lambda _c=False: self.show_stir_view())
        panel.stirRequested.connect(self._on_panel_request)
        self._unsubscribe = session.subscribe(self._on_session_event)

    # -- wiring ----------------------------------------------------------------------------
    def install_actions(self, edit_menu: QtWidgets.QMenu, view_menu: QtWidgets.QMenu, toolbar: Any) -> None:
        """Put the actions in the window's Edit and View menus and the toolbar."""
        edit_menu.addAction(self.act_decision)
        view_menu.addSeparator()
        view_menu.addAction(self.act_overlay)
        view_menu.addAction(self.act_show_stir)
        toolbar.addAction(self.act_overlay)

    @property
    def results(self) -> Mapping[str, Mapping[str, StirResult]]:
        """The session's STIR results (with the reader's decisions)."""
        return self.session.stir

    def _on_session_event(self, event: SessionEvent) -> None:
        if event.kind == "case":  # a new case: forget every result (a running analysis is ignored)
            self._generation += 1
            self._timer.stop()
            self.refresh_views()
        elif event.kind == "case-changed" and event.case_event is not None:
            kinds = {event.case_event.kind} | {c.kind for c in event.case_event.changes}
            if kinds & REANALYSE_KINDS:
                self.schedule()
            self.refresh_views()
        elif event.kind == "series" and self.session.library.stacks:
            self.run_now()  # the scan of the case's series finished
        elif event.kind in ("stir", "current"):
            self.refresh_views()

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        """A closed window starts no analysis (a pending one would outlive it)."""
        if watched is self.window and event.type() == QtCore.QEvent.Type.Close:
            self._timer.stop()
            self._unsubscribe()
        return False

    def _alive(self) -> bool:
        return shiboken6.isValid(self) and shiboken6.isValid(self.viewer) and self.window.isVisible()

    def schedule(self) -> None:
        """Analyse again after a short quiet period (edits in a burst give one run)."""
        self._timer.start()

    # -- analysis --------------------------------------------------------------------------
    def run_now(self) -> workers.Task | None:
        """Start the analysis of every timepoint in a worker (results: the session's ``stir``)."""
        self._timer.stop()
        if not self._alive():
            return None
        session = self.session
        case = session.case
        self._generation += 1
        generation = self._generation
        if not any(case.vertebrae(t.id) for t in case.timepoints):
            session.set_stir({})
            return None
        if case.series and not session.library.stacks:
            return None  # the scan of the case's series has not finished: its "series" event runs us
        snapshot = CaseSnapshot(case)
        stacks = list(session.library.stacks.values())
        library = session.library

        def job(_progress: workers.ProgressFn, cancel: workers.CancelFn) -> dict[str, dict[str, StirResult]]:
            try:
                return analyse_case(snapshot, stacks, library, cancel)
            except AnalysisCancelled:
                raise workers.CancelledError() from None

        task = workers.Task(job, "STIR edema analysis")
        task.signals.finished.connect(lambda r: self._on_finished(generation, r))
        self._task = task
        self.runner.run(task, None)
        return task

    def _on_finished(self, generation: int, results: dict[str, dict[str, StirResult]]) -> None:
        if not shiboken6.isValid(self) or generation != self._generation:
            return  # the window is gone, or the case changed meanwhile and a newer run is coming
        self.session.set_stir(results)
        for tp in results:
            self.resultsChanged.emit(tp)

    def results_for(self, timepoint: str | None) -> Mapping[str, StirResult] | None:
        return None if timepoint is None else self.results.get(timepoint)

    # -- views -----------------------------------------------------------------------------
    def refresh_views(self) -> None:
        """Badges in the landmark labels, and the overlay layer of the viewer; the edema
        actions only where the case has a STIR series to analyse."""
        available = self.session.has_stir()
        for act in (self.act_overlay, self.act_decision, self.act_show_stir):
            act.setVisible(available)
        source = self.viewer.source
        if source is None:
            self.layer.set_content(None)
            return
        labelled = self._decorate_labels()
        self.layer.set_content(self._content_for(source.series_uid, labelled))

    def _decorate_labels(self) -> set[str]:
        """Add the badge to the landmark labels drawn on the viewer; returns those levels."""
        per_level = self.results_for(self.session.current_timepoint) or {}
        labelled = set()
        changed = False
        for vert in self.overlay.state.vertebrae:
            r = per_level.get(vert.level)
            if r is not None and r.status == STATUS_NO_STIR:
                r = None  # said once under the tables, not on every vertebra
            labelled.add(vert.level)
            badge = badge_text(r, multiline=True) if r is not None else ""
            colour = badge_colour(r) if r is not None else None
            tip = badge_tooltip(r) if r is not None else ""
            if (vert.badge, vert.badge_colour, vert.badge_tooltip) != (badge, colour, tip):
                vert.badge, vert.badge_colour, vert.badge_tooltip = badge, colour, tip
                changed = True
        if changed:
            self.overlay.refresh()
        return labelled

    def _timepoint_shown(self, uid: str) -> str | None:
        """The timepoint whose analysis belongs on the series ``uid``."""
        for tp, per_level in self.results.items():
            if any(r.stir_series_uid == uid for r in per_level.values()):
                return tp
        return self.session.current_timepoint

    def _content_for(self, uid: str, labelled: set[str]) -> EdemaContent | None:
        session = self.session
        tp = self._timepoint_shown(uid)
        per_level = self.results_for(tp)
        if not per_level or tp is None:
            return None
        stir_uid = next((r.stir_series_uid for r in per_level.values() if r.stir_series_uid), None)
        stir = session.stack(stir_uid) if stir_uid else None
        shown = session.stack(uid)
        if stir is None or shown is None:
            return None
        if uid != stir_uid and (
            shown.modality != "MR" or shown.frame_of_reference_uid != stir.frame_of_reference_uid
        ):
            return None  # another frame of reference (e.g. the CT): the STIR map does not belong there
        outlines = {}
        for v in session.case.vertebrae(tp):
            analysed = per_level.get(v.level)
            placed = v.landmarks_on(analysed.landmark_series_uid if analysed is not None else None)
            if analysed is not None and len(placed) == len(OUTLINE_ORDER):
                outlines[v.level] = np.array([placed[k].position_mm for k in OUTLINE_ORDER], dtype=np.float64)
        badge_levels = frozenset(lvl for lvl in outlines if uid == stir_uid or lvl not in labelled)
        return EdemaContent(
            per_level, stir.geometry, outlines, badge_levels, outlines_visible=uid == stir_uid
        )

    def set_overlay_visible(self, on: bool) -> None:
        if self.act_overlay.isChecked() != bool(on):
            self.act_overlay.setChecked(bool(on))  # toggled -> here again
            return
        self.layer.set_overlay_visible(on)

    @property
    def overlay_visible(self) -> bool:
        return self.layer.overlay_visible

    def stir_series_uid(self, timepoint: str | None = None) -> str | None:
        """The STIR analysed for ``timepoint`` (default: the first one with a STIR)."""
        for tp, per_level in self.results.items():
            if timepoint is not None and tp != timepoint:
                continue
            for r in per_level.values():
                if r.stir_series_uid:
                    return r.stir_series_uid
        return None

    def show_stir_view(self, timepoint: str | None = None) -> bool:
        """Show the analysed STIR, on the slice of the landmarks and zoomed on them.

        Returns False (and says so in the status bar) when no STIR has been analysed.
        """
        uid = self.stir_series_uid(timepoint)
        if uid is None:
            self._status("No STIR series has been analysed for this case.")
            return False
        tp = timepoint or self._timepoint_shown(uid)
        case = self.session.case
        points = [
            lm.position_mm
            for v in (case.vertebrae(tp) if tp else [])
            for uid in v.series
            for lm in v.landmarks_on(uid).values()
            if lm.series_uid == uid
        ]

        def fit() -> None:
            if self.viewer.source is not None and self.viewer.source.series_uid == uid and points:
                self.viewer.fit_points(np.array(points), margin_mm=LANDMARK_MARGIN_MM)

        self._show_series(uid, fit)
        return True

    def _status(self, message: str) -> None:
        self.status_bar.showMessage(message, 5000)

    # -- reader decision -----------------------------------------------------------------------
    def _on_panel_request(self, timepoint: str, level: str, global_pos: object) -> None:
        if not self.session.has_stir():
            return  # no STIR: nothing to confirm or override
        if not isinstance(global_pos, QtCore.QPoint):
            self.edit_decision(timepoint, level)
            return
        menu = QtWidgets.QMenu(self.window)
        menu.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)  # Qt deletes it, in this thread
        act = menu.addAction(f"Confirm or override STIR edema of {level} ({timepoint})…")
        act.triggered.connect(lambda _c=False: self.edit_decision(timepoint, level))
        menu.popup(global_pos)

    def edit_decision(
        self, timepoint: str | None = None, level: str | None = None
    ) -> StirDecisionDialog | None:
        """Open the confirm/override dialog (non-blocking); OK pushes an undoable command."""
        session = self.session
        tp = timepoint or session.current_timepoint or next(iter(self.results), None)
        level = level or session.current_level
        if tp is None or session.case.vertebra(tp, level) is None:
            self._status(
                f"No vertebra {level} at this timepoint: place its landmarks before deciding on edema."
            )
            return None
        result = (self.results.get(tp) or {}).get(level)
        t = session.case.timepoint(tp)
        dialog = StirDecisionDialog(
            level,
            f"{t.kind}" + (f" {t.date}" if t.date else ""),
            result,
            session.case.stir_decision(tp, level),
            parent=self.window,
        )
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_decision(tp, level, dialog.decision()))
        self.dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        dialog.open()
        return dialog

    def apply_decision(self, timepoint: str, level: str, decision: StirDecision | None) -> None:
        """Store the reader's decision (None clears it) as one undoable step."""
        if decision == self.session.case.stir_decision(timepoint, level):
            return
        self.undo_stack.push(SetStirDecisionCommand(self.session.case, timepoint, level, decision))


__all__ = ["StirController"]
