"""Every edit of the case is one of these undoable commands.

``QUndoStack.push()`` calls :meth:`redo` at once, so callers build the command and push it
without touching the case first.  Each command remembers what the case's mutation methods
return (the previous value) and puts it back on undo.  Changes that touch several things
run inside ``case.batch()`` so that views see one event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Generic, TypeVar

from PySide6.QtGui import QUndoCommand, QUndoStack

from measure.angles import RegionalSpec
from measure.case import Case, Patient, ReaderEntry, RemovedTimepoint, SeriesRef, Timepoint, Vertebra
from measure.case_values import DisplayWindow
from measure.clinical import ClinicalRecord
from measure.landmarks import LANDMARK_LABELS, Landmark
from session.assignment import AssignmentPlan

T = TypeVar("T")


class SetValueCommand(QUndoCommand, Generic[T]):
    """A change made by one case method that takes the new value and returns the one it
    replaced (the case's convention): redo sets ``value``, undo puts back what redo got."""

    def __init__(self, text: str, setter: Callable[[T], T], value: T) -> None:
        super().__init__(text)
        self._setter, self.value = setter, value
        self.previous: T = value  # replaced by redo, which the stack runs at push

    def redo(self) -> None:
        self.previous = self._setter(self.value)

    def undo(self) -> None:
        self._setter(self.previous)


class PlaceLandmarkCommand(QUndoCommand):
    """Place, move or remove (``landmark=None``) one landmark; adds the vertebra if needed."""

    def __init__(
        self,
        case: Case,
        timepoint: str,
        level: str,
        key: str,
        landmark: Landmark | None,
        series_uid: str | None = None,
        text: str = "",
    ) -> None:
        verb = "Remove" if landmark is None else "Place"
        super().__init__(text or f"{verb} {level} {LANDMARK_LABELS.get(key, key)}")
        self.case, self.timepoint, self.level, self.key = case, timepoint, level, key
        self.landmark = landmark
        #: The landmark set: the series it is placed on (``landmark.series_uid``) by default.
        self.series_uid = series_uid or (landmark.series_uid if landmark is not None else None)
        self.previous: Landmark | None = None
        self.created_vertebra = False

    def redo(self) -> None:
        with self.case.batch():
            self.created_vertebra = self.case.vertebra(self.timepoint, self.level) is None
            if self.created_vertebra:
                self.case.add_vertebra(self.timepoint, self.level)
            self.previous = self.case.set_landmark(
                self.timepoint, self.level, self.key, self.landmark, self.series_uid
            )

    def undo(self) -> None:
        with self.case.batch():
            self.case.set_landmark(self.timepoint, self.level, self.key, self.previous, self.series_uid)
            if self.created_vertebra:
                self.case.remove_vertebra(self.timepoint, self.level)


class MoveLandmarkCommand(PlaceLandmarkCommand):
    """A handle drag, pushed once on release."""

    def __init__(
        self,
        case: Case,
        timepoint: str,
        level: str,
        key: str,
        landmark: Landmark,
        series_uid: str | None = None,
    ) -> None:
        super().__init__(
            case, timepoint, level, key, landmark, series_uid, f"Move {level} {LANDMARK_LABELS.get(key, key)}"
        )


class SetStatusCommand(QUndoCommand):
    def __init__(self, case: Case, timepoint: str, level: str, status: str) -> None:
        super().__init__(f"Mark {level} {status}")
        self.case, self.timepoint, self.level, self.status = case, timepoint, level, status
        self.previous = "unknown"
        self.created_vertebra = False

    def redo(self) -> None:
        with self.case.batch():
            self.created_vertebra = self.case.vertebra(self.timepoint, self.level) is None
            if self.created_vertebra:
                self.case.add_vertebra(self.timepoint, self.level)
            self.previous = self.case.set_status(self.timepoint, self.level, self.status)

    def undo(self) -> None:
        with self.case.batch():
            self.case.set_status(self.timepoint, self.level, self.previous)
            if self.created_vertebra:
                self.case.remove_vertebra(self.timepoint, self.level)


class RemoveVertebraCommand(QUndoCommand):
    def __init__(self, case: Case, timepoint: str, level: str) -> None:
        super().__init__(f"Delete {level}")
        self.case, self.timepoint, self.level = case, timepoint, level
        self.removed: Vertebra | None = None

    def redo(self) -> None:
        self.removed = self.case.remove_vertebra(self.timepoint, self.level)

    def undo(self) -> None:
        v = self.removed
        assert v is not None
        self.case.add_vertebra(v.timepoint, v.level, v.status, landmark_sets=v.landmark_sets)


class SetPatientCommand(SetValueCommand[Patient]):
    """The case's patient (filled in from the DICOM of its first series)."""

    def __init__(self, case: Case, patient: Patient) -> None:
        super().__init__("Set the patient from the DICOM", case.set_patient, patient)


class SetMeasurementSeriesCommand(QUndoCommand):
    """Which landmark set of a timepoint goes to the registry."""

    def __init__(self, case: Case, timepoint: str, series_uid: str | None) -> None:
        super().__init__("Measure the timepoint on this series")
        self.case, self.timepoint, self.series_uid = case, timepoint, series_uid
        self.previous: Timepoint | None = None

    def redo(self) -> None:
        tp = self.case.timepoint(self.timepoint)
        self.previous = self.case.update_timepoint(replace(tp, measurement_series=self.series_uid))

    def undo(self) -> None:
        if self.previous is not None:
            self.case.update_timepoint(self.previous)


class SetSeriesWindowCommand(QUndoCommand):
    """The window the reader chose for a series, kept in the case (merged while dragging)."""

    ID = 7301

    def __init__(self, case: Case, series_uid: str, window: DisplayWindow | None) -> None:
        super().__init__("Change the window")
        self.case, self.series_uid, self.window = case, series_uid, window
        ref = case.series_ref(series_uid)
        self.previous = None if ref is None else ref.window

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetSeriesWindowCommand) or other.series_uid != self.series_uid:
            return False
        self.window = other.window
        return True

    def _set(self, window: DisplayWindow | None) -> None:
        ref = self.case.series_ref(self.series_uid)
        if ref is not None and ref.window != window:
            self.case.set_series_window(self.series_uid, window)

    def redo(self) -> None:
        self._set(self.window)

    def undo(self) -> None:
        self._set(self.previous)


class RemoveLandmarkSetCommand(QUndoCommand):
    """Delete a vertebra's landmarks on one series (its other sets and its status stay)."""

    def __init__(self, case: Case, timepoint: str, level: str, series_uid: str) -> None:
        super().__init__(f"Delete {level} on this series")
        self.case, self.timepoint, self.level, self.series_uid = case, timepoint, level, series_uid
        self.previous: dict[str, Landmark] = {}

    def redo(self) -> None:
        self.previous = dict(self.case.set_landmark_set(self.timepoint, self.level, self.series_uid, None))

    def undo(self) -> None:
        self.case.set_landmark_set(self.timepoint, self.level, self.series_uid, self.previous)


class AddTimepointCommand(QUndoCommand):
    def __init__(self, case: Case, timepoint: Timepoint) -> None:
        super().__init__(f"Add timepoint {timepoint.label or timepoint.kind}")
        self.case, self.timepoint = case, timepoint
        self.removed: RemovedTimepoint | None = None

    def redo(self) -> None:
        if self.removed is not None:
            self.case.restore_timepoint(self.removed)
        else:
            self.case.add_timepoint(self.timepoint)

    def undo(self) -> None:
        self.removed = self.case.remove_timepoint(self.timepoint.id)


class UpdateTimepointCommand(SetValueCommand[Timepoint]):
    def __init__(self, case: Case, timepoint: Timepoint) -> None:
        super().__init__(
            f"Edit timepoint {timepoint.label or timepoint.kind}", case.update_timepoint, timepoint
        )


class AssignSeriesCommand(QUndoCommand):
    """Assign a series to a timepoint (replacing its earlier assignment, if any)."""

    def __init__(self, case: Case, ref: SeriesRef) -> None:
        super().__init__(f"Assign {ref.description or 'series'} to {ref.timepoint}")
        self.case, self.ref = case, ref
        self.previous: SeriesRef | None = None

    def redo(self) -> None:
        self.previous = self.case.assign_series(self.ref)

    def undo(self) -> None:
        if self.previous is None:
            self.case.unassign_series(self.ref.series_uid)
        else:
            self.case.assign_series(self.previous)


class SetRegionalCommand(SetValueCommand[tuple[RegionalSpec, ...]]):
    def __init__(self, case: Case, specs: Sequence[RegionalSpec]) -> None:
        super().__init__("Set regional angles", case.set_regional, tuple(specs))


class SetReaderEntryCommand(SetValueCommand[ReaderEntry | None]):
    """Set or clear (``entry=None``) the reader entry of a timepoint+level, or of the case."""

    def __init__(
        self, case: Case, timepoint: str | None, level: str | None, entry: ReaderEntry | None
    ) -> None:
        where = f"{level} {timepoint}" if timepoint is not None else "case"
        text = f"{'Clear' if entry is None else 'Edit'} procedure of {where}"
        super().__init__(text, partial(case.set_reader_entry, timepoint, level), entry)


def push_assignment(stack: QUndoStack, case: Case, plan: AssignmentPlan) -> str:
    """Push the commands of an assignment plan (inside the caller's macro); its timepoint id."""
    if plan.patient is not None:
        stack.push(SetPatientCommand(case, plan.patient))
    if plan.add_timepoint is not None:
        stack.push(AddTimepointCommand(case, plan.add_timepoint))
    if plan.update_timepoint is not None:
        stack.push(UpdateTimepointCommand(case, plan.update_timepoint))
    stack.push(AssignSeriesCommand(case, plan.series))
    return plan.timepoint_id


class SetClinicalCommand(SetValueCommand[ClinicalRecord | None]):
    """Set or clear (``record=None``) the clinical outcomes of a timepoint."""

    def __init__(self, case: Case, timepoint: str, record: ClinicalRecord | None) -> None:
        text = f"{'Clear' if record is None else 'Edit'} clinical outcomes of {timepoint}"
        super().__init__(text, partial(case.set_clinical, timepoint), record)
