"""Proposed bodies: one Shift+click inside a body (or B at the view centre) proposes its six
landmarks; Enter accepts them into the case as one undo step and proposes the next body
caudally (Shift+Enter: cranially), the level label moving by one (counting stays the
reader's); a drag adjusts a proposed point (with snap), Esc rejects.

A proposal is not in the case: it changes no measurement and is never saved; only what the
reader accepts is (docs/assisted-landmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui

from app import commands, placement
from app.coords import scene_to_lps
from app.placement_controller import PlacementController
from app.proposal_overlay import ProposalOverlay
from measure.assist.propose import BodyProposal, ProposalSettings, propose_body
from measure.assist.snap import cortex_contrast_for
from measure.landmarks import LANDMARK_KEYS, Landmark

_ACCEPT_KEYS = (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter)
_REVIEW_EVENTS = (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress)


def take_review_key(event: QtCore.QEvent) -> tuple[bool, QtCore.Qt.Key | None]:
    """Enter/Return (accept) and Esc (reject) while something is under review: taken both as
    the shortcut override and as the press, so that no menu shortcut fires.  Returns
    (taken, the key when it was pressed, else None)."""
    if event.type() not in _REVIEW_EVENTS:
        return False, None
    key = QtCore.Qt.Key(event.key())  # type: ignore[attr-defined]
    if key not in (*_ACCEPT_KEYS, QtCore.Qt.Key.Key_Escape):
        return False, None
    event.accept()
    return True, key if event.type() == QtCore.QEvent.Type.KeyPress else None


@dataclass
class ShownProposal:
    """The proposal on screen: for which level, on which slice, its points as adjusted."""

    level: str
    slice_index: int
    points_mm: dict[str, tuple[float, float, float]]
    confidence: float


class ProposalController(QtCore.QObject):
    """Propose / adjust / accept / reject bodies on the viewer of a placement controller."""

    def __init__(
        self, placement_controller: PlacementController, parent: QtCore.QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.placement = placement_controller
        self.viewer = placement_controller.viewer
        self.session = placement_controller.session
        self.settings = ProposalSettings()
        self.overlay = ProposalOverlay(self.viewer, self._on_moved)
        self.shown: ShownProposal | None = None
        #: The last proposal computed (usable or not), for the status bar and the tests.
        self.last: BodyProposal | None = None
        self.viewer.clickedLps.connect(self._on_click)
        self.viewer.sliceChanged.connect(lambda _k: self.reject(quiet=True))
        self.viewer.installEventFilter(self)
        self.action = QtGui.QAction("Propose body at the view centre", self.viewer)
        self.action.setShortcut(QtGui.QKeySequence("B"))
        self.action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.action.triggered.connect(self.propose_at_view_centre)
        self.viewer.addAction(self.action)

    # -- proposing ---------------------------------------------------------------------------
    def _on_click(self, lps: NDArray[np.float64], _slice_index: int, modifiers: object) -> None:
        try:
            shift = bool(QtCore.Qt.KeyboardModifier(modifiers) & QtCore.Qt.KeyboardModifier.ShiftModifier)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            shift = False
        if shift:
            self.propose_at(lps)

    def propose_at_view_centre(self) -> None:
        source = self.viewer.source
        if source is None:
            return
        c = self.viewer.view.viewRect().center()
        self.propose_at(scene_to_lps(float(c.x()), float(c.y()), self.viewer.slice_index, source.geometry))

    def propose_at(self, lps: NDArray[np.float64], level: str | None = None) -> BodyProposal | None:
        """Propose the body around ``lps`` on the slice shown, for ``level`` (default: the
        current level).  Shows it when usable; else says so in the status bar."""
        image, source = self.viewer.current_image(), self.viewer.source
        if image is None or source is None:
            return None
        level = level or self.session.current_level
        stack = self.session.stack(source.series_uid)
        contrast = cortex_contrast_for(stack.modality if stack is not None else "")
        plane = source.geometry.slices[self.viewer.slice_index]
        p = propose_body(image, plane, lps, contrast, self.settings)
        self.last = p
        if not p.usable(self.settings):
            self.reject(quiet=True)
            self._say(
                f"{level}: no confident proposal ({p.reason or 'weak edges'}; "
                f"confidence {p.confidence:.2f}). Place the points by hand."
            )
            return p
        self.placement.set_level(level)
        self.shown = ShownProposal(level, self.viewer.slice_index, dict(p.landmarks), p.confidence)
        self._draw()
        self._say(
            f"{level}: proposed (confidence {p.confidence:.2f}). Enter accepts, drag adjusts, Esc rejects."
        )
        return p

    def _draw(self) -> None:
        sp = self.shown
        if sp is None:
            self.overlay.clear()
            return
        text = f"{sp.level}? proposed, confidence {sp.confidence:.2f} (not measured until accepted)"
        self.overlay.show(sp.points_mm, text)

    def _on_moved(self, key: str, lps: NDArray[np.float64]) -> None:
        sp = self.shown
        if sp is None:
            return
        mods = QtGui.QGuiApplication.queryKeyboardModifiers()
        snapped, _ = self.placement.snap.snap(lps, sp.level, key, mods)
        sp.points_mm[key] = (float(snapped[0]), float(snapped[1]), float(snapped[2]))
        QtCore.QTimer.singleShot(0, self._draw)  # not from inside the handle's own signal

    # -- accept / reject -----------------------------------------------------------------------
    def accept(self, direction: str = "caudal") -> bool:
        """Put the six points into the case (one undo step) and propose the next body
        ``direction`` ("caudal": Enter, "cranial": Shift+Enter)."""
        sp = self.shown
        source = self.viewer.source
        s = self.session
        if sp is None or source is None:
            return False
        uid = s.current_series_uid
        if s.current_timepoint is None and uid is not None and not self.placement.check_patient(uid):
            return False
        stack = self.placement.undo_stack
        stack.beginMacro(f"Accept proposed {sp.level}")
        try:
            tp = self.placement.ensure_timepoint()
            for key in LANDMARK_KEYS:
                landmark = Landmark(
                    sp.points_mm[key],
                    source.series_uid,
                    source.sop_uid_for_slice(sp.slice_index),
                    source.frame_index_for_slice(sp.slice_index),
                )
                stack.push(commands.PlaceLandmarkCommand(s.case, tp, sp.level, key, landmark))
        finally:
            stack.endMacro()
        accepted = sp
        self.shown = None
        self.overlay.clear()
        self._say(f"{accepted.level}: accepted ({len(LANDMARK_KEYS)} points; Ctrl+Z undoes all six).")
        self._chain(accepted, direction)
        return True

    def _chain(self, accepted: ShownProposal, direction: str) -> None:
        """Propose the next body caudally or cranially: across the disc, about one body
        height beyond the accepted one; the level label moves by one."""
        levels = placement.PLACEMENT_LEVELS
        step = 1 if direction == "caudal" else -1
        if accepted.level not in levels or not 0 <= levels.index(accepted.level) + step < len(levels):
            return
        nxt = levels[levels.index(accepted.level) + step]
        p = {k: np.asarray(v) for k, v in accepted.points_mm.items()}
        down = p["inf_mid"] - p["sup_mid"]  # one body height, caudally
        seed = p["inf_mid"] + 0.8 * down if step > 0 else p["sup_mid"] - 0.8 * down
        result = self.propose_at(seed, nxt)
        if result is None or not result.usable(self.settings):
            self.placement.set_level(nxt)

    def reject(self, quiet: bool = False) -> None:
        if self.shown is None:
            return
        self.shown = None
        self.overlay.clear()
        if not quiet:
            self._say("Proposal rejected: nothing was added.")

    def _say(self, text: str) -> None:
        self.placement.status_bar.showMessage(text, 8000)

    # -- keys: Enter / Esc act on the proposal while one is shown --------------------------------
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if self.shown is not None:
            taken, key = take_review_key(event)
            if key == QtCore.Qt.Key.Key_Escape:
                self.reject()
            elif key is not None:
                shift = event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier  # type: ignore[attr-defined]
                self.accept("cranial" if shift else "caudal")
            if taken:
                return True
        return super().eventFilter(watched, event)
