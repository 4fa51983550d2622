"""Placing, moving and deleting landmarks, marking vertebrae, assigning series: each an undo step.

The controller reads the viewer's clicks (LPS mm, through :mod:`app.coords`) and the
overlay's handle drags, asks the :class:`~session.model.Session` where the reader is
(series shown, its timepoint, the level) and which timepoint an unassigned series joins
(:mod:`session.assignment`), and pushes :mod:`app.commands` on the window's undo stack.
It never changes the case directly: ``QUndoStack.push`` runs the command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui, QtWidgets

from app import commands, placement
from app.overlays import OverlayLayer
from app.snap_assist import PlacementSnap, exact_requested
from app.viewer import SliceViewer
from measure.engine import measure_vertebra
from measure.landmarks import LANDMARK_LABELS, Landmark
from measure.results_text import vertebra_value_text
from session.model import Session


def _shift(modifiers: object) -> bool:
    try:
        return bool(QtCore.Qt.KeyboardModifier(modifiers) & QtCore.Qt.KeyboardModifier.ShiftModifier)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


class PlacementController(QtCore.QObject):
    """Guided six-point placement, drags, deletion, status marks and series assignment."""

    def __init__(
        self,
        session: Session,
        undo_stack: QtGui.QUndoStack,
        viewer: SliceViewer,
        overlay: OverlayLayer,
        place_action: QtGui.QAction,
        status_bar: QtWidgets.QStatusBar,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.undo_stack = undo_stack
        self.viewer = viewer
        self.overlay = overlay
        self.place_action = place_action
        self.status_bar = status_bar
        self.placing = False
        #: The level whose sixth point was placed last (Mark acts on it, not on the empty
        #: level placement moved on to).
        self.just_completed: str | None = None
        #: Asked when a series is not of the case's patient: "add", "new-case" or "cancel".
        self.patient_decision: Callable[[str], str] = lambda _sentence: "cancel"
        #: Makes a new, empty case (True when it did; the reader may refuse to lose edits).
        self.start_new_case: Callable[[], bool] = lambda: False
        self.status_buttons: dict[str, QtWidgets.QToolButton] = {}
        #: "Measure this timepoint on this series" (enabled when the shown series holds a set
        #: that is not the measurement set); set by the window.
        self.measure_here_action: QtGui.QAction | None = None
        #: Snap onto the endplate (measure.assist.snap); Alt places exactly.
        self.snap = PlacementSnap(session, viewer)
        viewer.clickedLps.connect(self._on_viewer_click)
        viewer.pointerLps.connect(self._on_pointer)
        overlay.handleMoved.connect(self._on_handle_moved)
        overlay.live_text = self.live_text

    # -- level and mode ----------------------------------------------------------------------
    def set_level(self, level: str) -> None:
        if level in placement.PLACEMENT_LEVELS:
            self.just_completed = None  # the reader chose a level: Mark acts on it
            self.session.set_level(level)

    def mark_target(self) -> str:
        """The level Mark acts on: the one with a handle selected, else the current level when
        it holds landmarks on this series, else the level just completed (placement moved on
        to an empty one), else the current level."""
        s = self.session
        if self.overlay.selected is not None:
            return self.overlay.selected[0]
        tp, uid, level = s.current_timepoint, s.current_series_uid, s.current_level
        if tp is not None and uid is not None and s.case.landmarks(tp, level, uid):
            return level
        return self.just_completed or level

    def check_patient(self, series_uid: str) -> bool:
        """Before a series joins the case: is it the case's patient? When not, the reader
        decides (both patients named): add it anyway, start a new case, or cancel."""
        sentence = self.session.patient_conflict(series_uid)
        if sentence is None:
            return True
        decision = self.patient_decision(sentence)
        if decision == "add":
            return True
        if decision == "new-case":
            return self.start_new_case()
        self.status_bar.showMessage("Not added to the case: " + sentence, 8000)
        return False

    def set_placing(self, on: bool) -> None:
        self.placing = bool(on)
        self.place_action.setChecked(self.placing)
        self.viewer.view.left_drag_windows = not self.placing
        s = self.session
        case, tp, level, uid = s.case, s.current_timepoint, s.current_level, s.current_series_uid
        if self.placing and placement.next_key(case, tp, level, uid) is None:
            self.set_level(placement.suggest_level(case, tp, level, uid))
        self.update_prompt()

    def update_prompt(self) -> None:
        if not self.placing or self.viewer.source is None:
            self.viewer.set_prompt("")
            return
        s = self.session
        key = placement.next_key(s.case, s.current_timepoint, s.current_level, s.current_series_uid)
        self.viewer.set_prompt(placement.prompt_for(s.current_level, key))

    def update_status_buttons(self) -> None:
        if self.measure_here_action is not None:
            self.measure_here_action.setEnabled(self.can_measure_here())
        tp = self.session.current_timepoint
        v = None if tp is None else self.session.case.vertebra(tp, self.mark_target())
        for status, b in self.status_buttons.items():
            b.setCheckable(True)
            b.setChecked(v is not None and v.status == status)

    # -- timepoints ------------------------------------------------------------------------------
    def ensure_timepoint(self) -> str:
        """The shown series' timepoint, assigning it first when needed (inside a macro).

        The rule is the session's (:func:`session.assignment.default_assignment`); the
        assignment is part of the user's action, so it is undone with it.
        """
        tp = self.session.current_timepoint
        if tp is not None:
            return tp
        uid = self.session.current_series_uid
        assert uid is not None  # the caller checked the patient (check_patient) before its macro
        return commands.push_assignment(
            self.undo_stack, self.session.case, self.session.plan_default_assignment(uid)
        )

    def assign_series(self, series_uid: str, kind: str, date: str | None = None) -> str | None:
        """Assign a series to a timepoint (one undoable step); returns the timepoint id, or
        None when the reader declined a series of another patient."""
        if self.session.case.series_ref(series_uid) is None and not self.check_patient(series_uid):
            return None
        self.undo_stack.beginMacro(f"Assign series to {kind}")
        try:
            plan = self.session.plan_assignment(series_uid, kind, date)
            return commands.push_assignment(self.undo_stack, self.session.case, plan)
        finally:
            self.undo_stack.endMacro()

    # -- landmarks ---------------------------------------------------------------------------------
    def _landmark_at(self, lps: NDArray[np.float64], slice_index: int) -> Landmark:
        source = self.viewer.source
        assert source is not None
        x, y, z = (float(v) for v in lps)
        return Landmark(
            (x, y, z),
            source.series_uid,
            source.sop_uid_for_slice(slice_index),
            source.frame_index_for_slice(slice_index),
        )

    def _on_pointer(self, kind: str, lps: NDArray[np.float64], _slice_index: int, modifiers: object) -> None:
        """While the left button is held in placing mode, show where the next point goes."""
        s = self.session
        key = placement.next_key(s.case, s.current_timepoint, s.current_level, s.current_series_uid)
        if kind == "release" or not self.placing or key is None or self.viewer.source is None:
            self.snap.hide_preview()
            return
        snapped, _ = self.snap.snap(lps, s.current_level, key, modifiers)
        self.snap.show_preview(lps, snapped)

    def _on_viewer_click(self, lps: NDArray[np.float64], slice_index: int, modifiers: object) -> None:
        if self.viewer.source is None or _shift(modifiers):  # Shift+click proposes a body
            return
        s = self.session
        if not self.placing:
            hit = self.overlay.nearest_handle(lps)
            if hit is not None:
                self.set_level(hit[0])
                self.overlay.select(*hit)
            return
        level = s.current_level
        uid = s.current_series_uid
        key = placement.next_key(s.case, s.current_timepoint, level, uid)
        if key is None:
            return
        lps, _ = self.snap.snap(lps, level, key, modifiers)
        self.status_bar.showMessage(self.snap.status_text(), 5000)
        landmark = self._landmark_at(lps, slice_index)
        if s.current_timepoint is None and uid is not None and not self.check_patient(uid):
            return
        self.undo_stack.beginMacro(f"Place {level} {LANDMARK_LABELS[key]}")
        try:
            tp = self.ensure_timepoint()
            self.undo_stack.push(commands.PlaceLandmarkCommand(s.case, tp, level, key, landmark))
        finally:
            self.undo_stack.endMacro()
        if placement.next_key(s.case, tp, level, uid) is None:
            self.set_level(placement.suggest_level(s.case, tp, level, uid))
            self.just_completed = level

    def live_text(self, level: str, points_mm: dict[str, NDArray[np.float64]]) -> str:
        """Angle and heights of ``level`` with its points where the handles are now."""
        tp = self.session.current_timepoint
        if tp is None:
            return ""
        inputs = {
            vi.level: vi for vi in self.session.case.vertebra_inputs(tp, self.session.current_series_uid)
        }
        vi = inputs.get(level)
        if vi is None:
            return ""
        landmarks = {
            k: (lm.moved_to(tuple(points_mm[k])) if k in points_mm else lm) for k, lm in vi.landmarks.items()
        }
        return vertebra_value_text(measure_vertebra(replace(vi, landmarks=landmarks)))

    def _on_handle_moved(self, level: str, key: str, lps: NDArray[np.float64]) -> None:
        tp, uid = self.session.current_timepoint, self.session.current_series_uid
        if tp is None or uid is None or self.session.case.landmark(tp, level, key, uid) is None:
            return
        modifiers = QtGui.QGuiApplication.queryKeyboardModifiers()
        if not exact_requested(modifiers):
            lps, _ = self.snap.snap(lps, level, key, modifiers)
        landmark = self._landmark_at(lps, self.viewer.slice_index)
        self.undo_stack.push(commands.MoveLandmarkCommand(self.session.case, tp, level, key, landmark, uid))

    def delete_selected(self) -> None:
        tp, uid = self.session.current_timepoint, self.session.current_series_uid
        sel = self.overlay.selected
        if tp is None or uid is None or sel is None or self.session.case.landmark(tp, *sel, uid) is None:
            return
        self.overlay.selected = None
        self.undo_stack.push(commands.PlaceLandmarkCommand(self.session.case, tp, sel[0], sel[1], None, uid))

    def delete_current_vertebra(self) -> None:
        """Delete the level's landmarks on the series shown; the whole vertebra (status too)
        when that was its only landmark set."""
        s = self.session
        tp, level, uid = s.current_timepoint, s.current_level, s.current_series_uid
        v = None if tp is None else s.case.vertebra(tp, level)
        if tp is None or v is None:
            return
        if uid is not None and uid in v.series and len(v.series) > 1:
            self.undo_stack.push(commands.RemoveLandmarkSetCommand(s.case, tp, level, uid))
        else:
            self.undo_stack.push(commands.RemoveVertebraCommand(s.case, tp, level))

    def can_measure_here(self) -> bool:
        """Does the series shown hold another landmark set than the timepoint's measurement set?"""
        s = self.session
        tp, uid = s.current_timepoint, s.current_series_uid
        if tp is None or uid is None:
            return False
        return uid in s.case.landmark_series(tp) and s.case.measurement_series(tp) != uid

    def measure_on_shown_series(self) -> bool:
        """The registry takes this timepoint's numbers from the landmarks on the series shown
        (undoable); says so in the status bar.  False when the series holds no set."""
        s = self.session
        tp, uid = s.current_timepoint, s.current_series_uid
        if tp is None or uid is None or uid not in s.case.landmark_series(tp):
            self.status_bar.showMessage("This series holds no landmarks at this timepoint.", 5000)
            return False
        if s.case.measurement_series(tp) != uid:
            self.undo_stack.push(commands.SetMeasurementSeriesCommand(s.case, tp, uid))
        ref = s.case.series_ref(uid)
        name = (ref.description if ref is not None else "") or uid
        self.status_bar.showMessage(f"{tp}: the numbers exported are those measured on {name}.", 8000)
        return True

    def toggle_status(self, status: str) -> None:
        s = self.session
        if s.current_series_uid is None:
            self.status_bar.showMessage(
                "Open a series first: the status belongs to a vertebra of a timepoint.", 5000
            )
            return
        if s.current_timepoint is None and not self.check_patient(s.current_series_uid):
            return
        tp = s.current_timepoint
        level = self.mark_target()
        v = None if tp is None else s.case.vertebra(tp, level)
        new = "unknown" if v is not None and v.status == status else status
        self.undo_stack.beginMacro(f"Mark {level} {new}")
        try:
            tp = self.ensure_timepoint()
            self.undo_stack.push(commands.SetStatusCommand(s.case, tp, level, new))
        finally:
            self.undo_stack.endMacro()
