"""The :class:`Session`: what the workstation has open, as a Qt-free model that views observe.

As napari's ``ViewerModel`` sits under its Qt views, the session sits under the app's
widgets: one :class:`~measure.case.Case`, the :class:`~session.library.SeriesLibrary`
(open series, display stacks, one volume cache), the series shown and the level being
placed, and the results of the case, recomputed once per change of the case and handed
out as typed objects.  Widgets subscribe (:meth:`Session.subscribe`) and redraw from it;
controllers receive it; none keeps a copy of a landmark or reaches into another widget.
Every change happens in the thread that owns the session (the GUI thread); background
work returns its results to that thread, which stores them here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from dicomio.info import series_summary
from dicomio.model import ScanResult, SeriesStack
from measure.case import Case
from measure.case_values import SeriesRef
from measure.events import CaseEvent
from measure.landmarks import LEVELS
from measure.results import CaseResults, StirResult
from session.assignment import (
    AssignmentPlan,
    default_assignment,
    plan_assignment,
    series_identity,
    series_ref_from_stack,
)
from session.identity import conflict_sentence, is_blank
from session.library import SeriesLibrary

log = logging.getLogger("endplate.session")

#: ``SessionEvent.kind`` values.
SESSION_EVENTS: tuple[str, ...] = (
    "case",  # another case object became the session's case
    "case-changed",  # the case changed (``case_event`` says how); results are recomputed
    "series",  # series were added to (or removed from) the library
    "display",  # a series' display stack finished loading (``key`` = series UID)
    "current",  # the series shown changed (``key`` = series UID or None)
    "level",  # the level being placed changed (``key`` = level)
    "stir",  # the STIR results changed
)


@dataclass(frozen=True)
class SessionEvent:
    kind: str
    key: str | None = None
    case_event: CaseEvent | None = None


SessionSubscriber = Callable[[SessionEvent], None]


class Session:
    """One case, the open series, where the reader is, and the case's results."""

    def __init__(self, library: SeriesLibrary | None = None, case: Case | None = None) -> None:
        self.library = library if library is not None else SeriesLibrary()
        self._subscribers: list[SessionSubscriber] = []
        self._case = case if case is not None else Case()
        self._unsubscribe_case = self._case.subscribe(self._on_case_event)
        self._summaries: dict[str, dict[str, Any]] = {}
        self._current_uid: str | None = None
        self._level = "L1"
        self._stir: dict[str, dict[str, StirResult]] = {}
        self.results: CaseResults | None = None
        self.measure_error = ""
        #: A recovered case that was never saved counts as unsaved until it is.
        self.recovered_unsaved = False
        self._measure()

    # -- observing -----------------------------------------------------------------------
    def subscribe(self, callback: SessionSubscriber) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, kind: str, key: str | None = None, case_event: CaseEvent | None = None) -> None:
        event = SessionEvent(kind, key, case_event)
        for callback in list(self._subscribers):
            callback(event)

    def close(self) -> None:
        """Stop observing the case and drop every subscriber (the window is closing)."""
        self._unsubscribe_case()
        self._subscribers.clear()

    # -- the case --------------------------------------------------------------------------
    @property
    def case(self) -> Case:
        return self._case

    def set_case(self, case: Case) -> None:
        """Make ``case`` the session's case (its STIR results are those of the new case: none yet)."""
        self._unsubscribe_case()
        self._case = case
        self._unsubscribe_case = case.subscribe(self._on_case_event)
        self._stir = {}
        self.recovered_unsaved = False
        self._measure()
        self._emit("case")

    def _on_case_event(self, event: CaseEvent) -> None:
        self._measure()
        self._emit("case-changed", case_event=event)

    def _measure(self) -> None:
        try:
            self.results = self._case.measure()
            self.measure_error = ""
        except Exception as exc:  # a half-placed case must still display
            log.exception("measurement failed")
            self.results = None
            self.measure_error = str(exc)

    def is_dirty(self) -> bool:
        return self._case.dirty or self.recovered_unsaved

    # -- the open series -------------------------------------------------------------------
    def add_scan(self, result: ScanResult) -> list[SeriesStack]:
        """Keep what a scan found (and a summary of each series for the browser)."""
        stacks = self.library.add_scan(result)
        for stack in stacks:
            try:
                self._summaries[stack.key] = series_summary(stack)
            except Exception as exc:  # a summary is for display: never lose the series for it
                log.exception("series summary failed")
                self._summaries[stack.key] = {"modality": stack.modality, "warnings": [str(exc)]}
        self._emit("series")
        return stacks

    def forget_series(self) -> None:
        """Close every open series (another case opens)."""
        self.library.clear()
        self._summaries.clear()
        self._current_uid = None
        self._emit("series")
        self._emit("current")

    @property
    def summaries(self) -> Mapping[str, dict[str, Any]]:
        return MappingProxyType(self._summaries)

    def stack(self, key_or_uid: str) -> SeriesStack | None:
        return self.library.stack(key_or_uid)

    def display_loaded(self, series_uid: str) -> None:
        """A worker finished loading a display stack's voxels."""
        self._emit("display", series_uid)

    # -- where the reader is -------------------------------------------------------------
    @property
    def current_series_uid(self) -> str | None:
        return self._current_uid

    def set_current_series(self, series_uid: str | None) -> None:
        """The viewer shows ``series_uid`` now (again: the views redraw either way)."""
        self._current_uid = series_uid
        self._emit("current", series_uid)

    @property
    def current_timepoint(self) -> str | None:
        """The timepoint of the series shown (None while it is not assigned)."""
        if self._current_uid is None:
            return None
        ref = self._case.series_ref(self._current_uid)
        return None if ref is None else ref.timepoint

    @property
    def current_level(self) -> str:
        return self._level

    def set_level(self, level: str) -> None:
        if level not in LEVELS:
            raise ValueError(
                f"unknown vertebral level {level!r}; expected one of C1..C7, T1..T12, L1..L5, S1"
            )
        if level != self._level:
            self._level = level
            self._emit("level", level)

    def has_stir(self) -> bool:
        """Does the case have a STIR series (assigned, or scanned in one of its studies)?
        Without one the edema tools stay out of the reader's way."""
        case = self._case
        if any(ref.sequence == "STIR" for ref in case.series):
            return True
        stacks = (self.library.stack(ref.series_uid) for ref in case.series)
        studies = {st.study_uid for st in stacks if st is not None}
        return any(st.sequence == "STIR" and st.study_uid in studies for st in self.library.stacks.values())

    # -- STIR results ------------------------------------------------------------------------
    @property
    def stir(self) -> Mapping[str, Mapping[str, StirResult]]:
        """The latest STIR analysis, with the reader's decisions as the case holds them now."""
        case = self._case
        return {
            tp: {lvl: replace(r, reader_decision=case.stir_decision(tp, lvl)) for lvl, r in per_level.items()}
            for tp, per_level in self._stir.items()
            if any(t.id == tp for t in case.timepoints)
        }

    def set_stir(self, results: Mapping[str, Mapping[str, StirResult]]) -> None:
        self._stir = {tp: dict(per_level) for tp, per_level in results.items()}
        self._emit("stir")

    # -- assignment policy -------------------------------------------------------------------
    def series_ref(self, series_uid: str, timepoint: str) -> SeriesRef:
        """The reference the case keeps for a series: the displayed geometry when it is shown."""
        stack = self.library.stack(series_uid)
        display = self.library.loaded_display(series_uid)
        return series_ref_from_stack(
            stack,
            series_uid,
            timepoint,
            display_geometry=None if display is None else display.geometry,
            reformat=display is not None and display.is_reformat,
            existing=self._case.series_ref(series_uid),
        )

    def plan_assignment(self, series_uid: str, kind: str, date: str | None) -> AssignmentPlan:
        """Assigning a series to the timepoint of ``kind`` (ISO ``date``, follow-ups)."""
        return plan_assignment(self._case, kind, date, self.series_ref(series_uid, ""))

    def patient_conflict(self, series_uid: str) -> str | None:
        """A sentence naming both patients when a series is not of the case's patient (the
        case's own patient, else that of a series already in it); None when it is or
        cannot be told."""
        stack = self.library.stack(series_uid)
        if stack is None:
            return None
        theirs = series_identity(stack).patient
        what = f"the series {stack.description or series_uid}"
        case = self._case
        if not is_blank(case.patient):
            return conflict_sentence(case.patient, theirs, what)
        for ref in case.series:
            if ref.series_uid != series_uid and ref.identity is not None:
                sentence = conflict_sentence(ref.identity.patient, theirs, what)
                if sentence is not None:
                    return sentence
        return None

    def plan_default_assignment(self, series_uid: str) -> AssignmentPlan:
        """Where a series the reader starts measuring on goes (:func:`default_assignment`)."""
        stack = self.library.stack(series_uid)
        kind, date = default_assignment(self._case, stack.study_date if stack is not None else None)
        return self.plan_assignment(series_uid, kind, date)
