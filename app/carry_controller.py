"""Carry landmarks over between timepoints: the earlier timepoint's bodies proposed on a
later series (:mod:`measure.assist.carry`: registration, then snap).

It starts by itself when a series of a later timepoint is assigned and its timepoint holds
no landmarks on it yet (a series assigned while another one is shown is shown first: the
reader assigned it to work on it); Edit > "Carry landmarks from <timepoint>" (C) starts it by hand.
The carried bodies are drawn dashed like a proposed body, all at once (each on the slice
nearest to it), and are **not in the case** until the reader presses Enter: Enter accepts
every carried body as **one** undo step (one decision after reviewing them together; a
single wrong body is then deleted with Shift+Del or adjusted as usual); Esc rejects them
all; a drag moves one point (with snap, Alt exact) and it stays a proposal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui

from app import commands, workers
from app.proposal_controller import ProposalController, take_review_key
from app.proposal_overlay import ProposalOverlay
from app.snap_assist import exact_requested
from app.tasks import TaskRunner
from measure.assist.carry import CarryResult, CarrySettings, Stack, carry_bodies
from measure.assist.snap import cortex_contrast_for, snap_to_endplate
from measure.events import CaseEvent
from measure.landmarks import LANDMARK_KEYS, Landmark
from session.model import SessionEvent

Point = tuple[float, float, float]


@dataclass
class CarriedShown:
    """One carried body on screen, its points as the reader adjusted them."""

    level: str
    slice_index: int
    points_mm: dict[str, Point]
    confidence: float
    changed: bool


@dataclass
class CarryState:
    """What is shown: from which timepoint onto which series (and its timepoint)."""

    source_timepoint: str
    target_timepoint: str
    target_series: str
    bodies: dict[str, CarriedShown] = field(default_factory=dict)


class CarryController(QtCore.QObject):
    """Carry / adjust / accept / reject the earlier timepoint's bodies on the series shown."""

    #: The carried bodies were drawn (or the carry found nothing to show).
    carried = QtCore.Signal()

    def __init__(
        self,
        proposals: ProposalController,
        runner: TaskRunner,
        show_series_then: Callable[[str, Callable[[], None]], None],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.proposals = proposals
        self.placement = proposals.placement
        self.viewer = proposals.viewer
        self.session = proposals.session
        self.runner = runner
        self.show_series_then = show_series_then
        self.settings = CarrySettings()
        self.state: CarryState | None = None
        #: The last carry computed (for the status bar and the tests).
        self.last: CarryResult | None = None
        self.overlays: dict[str, ProposalOverlay] = {}
        self._pending: set[str] = set()  # assigned while another series was shown: showing it
        self._task: workers.Task | None = None
        self.action = QtGui.QAction("Carry landmarks from the earlier timepoint", self)
        self.action.setShortcut(QtGui.QKeySequence("C"))
        self.action.setToolTip("Propose the earlier timepoint's bodies on this series (Enter accepts)")
        self.action.triggered.connect(lambda _c=False: self.carry_to_shown())
        self.viewer.sliceChanged.connect(lambda _k: self._draw())
        self.viewer.installEventFilter(self)
        self._unsubscribe = self.session.subscribe(self._on_session_event)

    # -- when -----------------------------------------------------------------------------------
    def source_for(self, timepoint_id: str) -> tuple[str, str] | None:
        """The latest timepoint before ``timepoint_id`` (clinical order) with a complete body,
        and its measurement series."""
        case = self.session.case
        ordered = [tp.id for tp in case.ordered_timepoints()]
        if timepoint_id not in ordered:
            return None
        for tp in reversed(ordered[: ordered.index(timepoint_id)]):
            uid = case.measurement_series(tp)
            if uid is not None and self._bodies(tp, uid):
                return tp, uid
        return None

    def _bodies(self, timepoint_id: str, series_uid: str) -> dict[str, dict[str, Point]]:
        case = self.session.case
        out: dict[str, dict[str, Point]] = {}
        for v in case.vertebrae(timepoint_id):
            lms = case.landmarks(timepoint_id, v.level, series_uid)
            if all(k in lms for k in LANDMARK_KEYS):
                out[v.level] = {k: lms[k].position_mm for k in LANDMARK_KEYS}
        return out

    def _on_session_event(self, event: SessionEvent) -> None:
        ce = event.case_event
        if event.kind == "case":
            self.reject(quiet=True)
            self._pending.clear()
        elif event.kind == "current":
            self._draw()  # drawn on the target series only
        elif event.kind == "case-changed" and ce is not None and self._assigned(ce):
            uid = str(ce.key)
            QtCore.QTimer.singleShot(0, lambda: self._maybe_carry(uid))  # after the assignment's macro
        if self.state is not None and self.session.case.series_ref(self.state.target_series) is None:
            self.reject(quiet=True)  # the assignment was undone
        self._update_action()

    def _update_action(self) -> None:
        """Edit > "Carry landmarks from pre-op" names the timepoint it would carry from."""
        tp = self.session.current_timepoint
        found = None if tp is None else self.source_for(tp)
        kind = "the earlier timepoint" if found is None else self.session.case.timepoint(found[0]).kind
        self.action.setText(f"Carry landmarks from {kind}")
        self.action.setEnabled(found is not None)

    def _assigned(self, ce: CaseEvent) -> bool:
        events = ce.changes if ce.kind == "batch" else (ce,)
        return any(e.kind == "series" and e.key and self.session.case.series_ref(e.key) for e in events)

    def _maybe_carry(self, series_uid: str) -> None:
        ref = self.session.case.series_ref(series_uid)
        if ref is None or self.state is not None or self._task is not None:
            return
        if any(
            self.session.case.landmarks(ref.timepoint, v.level, series_uid)
            for v in self.session.case.vertebrae(ref.timepoint)
        ):
            self._pending.discard(series_uid)
            return  # the reader has started on this series
        if self.source_for(ref.timepoint) is None:
            return
        if self.session.current_series_uid != series_uid:
            if self.session.stack(series_uid) is not None and series_uid not in self._pending:
                self._pending.add(series_uid)  # show it: the reader assigned it to work on it
                self.show_series_then(series_uid, lambda: self._maybe_carry(series_uid))
            return
        self._pending.discard(series_uid)
        self.carry_to_shown()

    # -- carrying -------------------------------------------------------------------------------
    def carry_to_shown(self) -> bool:
        """Carry the earlier timepoint's bodies onto the series shown (in the background)."""
        s = self.session
        uid, tp = s.current_series_uid, s.current_timepoint
        if self._task is not None:
            self._say("Carrying landmarks is under way.")
            return False
        if uid is None or tp is None or self.viewer.source is None:
            self._say("Assign this series to a timepoint first: landmarks are carried to a later timepoint.")
            return False
        found = self.source_for(tp)
        if found is None:
            self._say("No earlier timepoint with a complete body to carry over.")
            return False
        src_tp, src_uid = found
        if s.stack(src_uid) is None:
            self._say(f"Open the {s.case.timepoint(src_tp).kind} series to carry its landmarks.")
            return False
        bodies = self._bodies(src_tp, src_uid)
        earlier, later = s.library.display(src_uid), s.library.display(uid)
        src_stack, dst_stack = s.stack(src_uid), s.stack(uid)
        same = bool(
            src_stack is not None
            and dst_stack is not None
            and src_stack.frame_of_reference_uid
            and src_stack.frame_of_reference_uid == dst_stack.frame_of_reference_uid
        )
        contrast = cortex_contrast_for(dst_stack.modality if dst_stack is not None else "")
        settings = self.settings
        self.reject(quiet=True)
        self.proposals.reject(quiet=True)

        def work(_progress: workers.ProgressFn, _cancel: workers.CancelFn) -> CarryResult:
            return carry_bodies(
                bodies,
                Stack(earlier.volume(), earlier.geometry),
                Stack(later.volume(), later.geometry),
                same_frame=same,
                contrast=contrast,
                settings=settings,
            )

        kind = s.case.timepoint(src_tp).kind
        task = workers.Task(work, f"Carrying landmarks from {kind}")
        task.signals.finished.connect(lambda result: self._on_carried(result, src_tp, tp, uid))
        task.signals.failed.connect(lambda _m: self._task_ended())
        task.signals.cancelled.connect(self._task_ended)
        self._task = task
        self.runner.run(task, f"Carrying landmarks from {kind}")
        self._say(
            f"Carrying {len(bodies)} bodies from {kind} ({'same' if same else 'another'} frame of reference)…"
        )
        return True

    def _task_ended(self) -> None:
        self._task = None
        self.carried.emit()

    def _on_carried(self, result: CarryResult, src_tp: str, tp: str, uid: str) -> None:
        self._task = None
        self.last = result
        ref = self.session.case.series_ref(uid)
        if ref is None or ref.timepoint != tp or self.session.current_series_uid != uid:
            self.carried.emit()
            return  # the reader moved on (or undid the assignment) meanwhile
        state = CarryState(src_tp, tp, uid)
        for b in result.bodies:
            state.bodies[b.level] = CarriedShown(
                b.level, b.slice_index, dict(b.landmarks), b.confidence, b.changed(self.settings)
            )
        self.state = state if state.bodies else None
        self._draw()
        if self.state is not None:
            self.viewer.setFocus()  # Enter / Esc act on what is shown
        kind = self.session.case.timepoint(src_tp).kind
        levels = ", ".join(state.bodies) or "none"
        skipped = "; ".join(f"{lv}: {why}" for lv, why in result.skipped)
        check = [lv for lv, b in state.bodies.items() if b.changed]
        self._say(
            f"Carried from {kind}: {levels}"
            + (f" ({', '.join(check)} changed: check)" if check else "")
            + (f"; not carried: {skipped}" if skipped else "")
            + ". Enter accepts all, drag adjusts, Esc rejects."
        )
        self.carried.emit()

    # -- showing and adjusting ---------------------------------------------------------------
    def _draw(self) -> None:
        for overlay in self.overlays.values():
            overlay.clear()
        self.overlays = {}
        st = self.state
        if st is None or self.viewer.source is None or self.viewer.source.series_uid != st.target_series:
            return
        kind = self.session.case.timepoint(st.source_timepoint).kind
        for level, b in st.bodies.items():
            if b.slice_index != self.viewer.slice_index:
                continue
            overlay = ProposalOverlay(self.viewer, partial(self._on_moved, level))
            note = "changed: check, " if b.changed else ""
            overlay.show(
                b.points_mm,
                f"{level}? carried from {kind}, {note}confidence {b.confidence:.2f} "
                "(not measured until accepted)",
            )
            self.overlays[level] = overlay

    def _on_moved(self, level: str, key: str, lps: NDArray[np.float64]) -> None:
        st = self.state
        source = self.viewer.source
        image = self.viewer.current_image()
        if st is None or level not in st.bodies or source is None or image is None:
            return
        b = st.bodies[level]
        p = np.asarray(lps, dtype=float)
        mods = QtGui.QGuiApplication.queryKeyboardModifiers()
        if self.placement.snap.enabled and not exact_requested(mods):
            side = key.split("_")[0]
            tangent = np.subtract(b.points_mm[f"{side}_post"], b.points_mm[f"{side}_ant"])
            stack = self.session.stack(source.series_uid)
            r = snap_to_endplate(
                image,
                source.geometry.slices[self.viewer.slice_index],
                p,
                tangent,
                "superior" if side == "sup" else "inferior",
                cortex_contrast_for(stack.modality if stack is not None else ""),
                self.placement.snap.settings,
            )
            p = np.asarray(r.point_mm)
        b.points_mm[key] = (float(p[0]), float(p[1]), float(p[2]))
        QtCore.QTimer.singleShot(0, self._draw)  # not from inside the handle's own signal

    # -- accept / reject -----------------------------------------------------------------------
    def accept(self) -> bool:
        """Every carried body into the case, on the image it sits on: one undo step."""
        st, source, s = self.state, self.viewer.source, self.session
        if st is None or source is None or source.series_uid != st.target_series:
            return False
        ref = s.case.series_ref(st.target_series)
        if ref is None or ref.timepoint != st.target_timepoint:
            self.reject(quiet=True)
            return False
        kind = s.case.timepoint(st.source_timepoint).kind
        stack = self.placement.undo_stack
        stack.beginMacro(f"Accept {', '.join(st.bodies)} carried from {kind}")
        try:
            for level, b in st.bodies.items():
                for key in LANDMARK_KEYS:
                    landmark = Landmark(
                        b.points_mm[key],
                        source.series_uid,
                        source.sop_uid_for_slice(b.slice_index),
                        source.frame_index_for_slice(b.slice_index),
                    )
                    stack.push(
                        commands.PlaceLandmarkCommand(s.case, st.target_timepoint, level, key, landmark)
                    )
        finally:
            stack.endMacro()
        n = len(st.bodies)
        self.reject(quiet=True)
        self._say(f"Accepted {n} carried bod{'y' if n == 1 else 'ies'} (Ctrl+Z undoes them all).")
        return True

    def reject(self, quiet: bool = False) -> None:
        if self.state is None:
            return
        self.state = None
        self._draw()
        if not quiet:
            self._say("Carried landmarks rejected: nothing was added.")

    def _say(self, text: str) -> None:
        self.placement.status_bar.showMessage(text, 10000)

    def close(self) -> None:
        self._unsubscribe()

    # -- keys: Enter / Esc act on the carried bodies (a body proposal, when shown, goes first) --
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if self.state is not None and self.proposals.shown is None:
            taken, key = take_review_key(event)
            if key == QtCore.Qt.Key.Key_Escape:
                self.reject()
            elif key is not None:
                self.accept()
            if taken:
                return True
        return super().eventFilter(watched, event)
