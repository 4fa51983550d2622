"""The case: the single source of truth for one patient's measured spine images.

Plain Python (no Qt).  Every value the case hands out is an immutable snapshot
(frozen dataclasses, read-only mappings), and every change goes through a method that

* validates its arguments (``ValueError`` with a full sentence),
* returns the previous value, so an undo command can put it back,
* bumps :attr:`Case.revision` and sends one :class:`~measure.events.CaseEvent`.

``with case.batch():`` groups many changes into one event.  Measurements are never
stored: :meth:`Case.measure` derives them from the landmarks with ``measure.engine``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from measure.angles import RegionalSpec
from measure.case_state import CaseState
from measure.case_values import (
    LEAKAGE_TYPES,
    PROCEDURES,
    SEXES,
    STIR_DECISIONS,
    TIMEPOINT_KINDS,
    VERTEBRA_STATUSES,
    DisplayWindow,
    LandmarkSet,
    Patient,
    ReaderEntry,
    RemovedTimepoint,
    SeriesRef,
    StirDecision,
    Timepoint,
    TimepointKind,
    Vertebra,
    VertebraStatus,
    check_choice,
    check_level,
    set_series_of,
)
from measure.clinical import ClinicalRecord
from measure.comparison import compare_timepoints
from measure.engine import measure_timepoint
from measure.events import CaseEvent
from measure.landmarks import LANDMARK_KEYS, LEVELS, Landmark
from measure.morphometry import VertebraInput
from measure.plausibility import DEFAULT_PLAUSIBILITY, Plausibility
from measure.results import DEFAULT_THRESHOLDS, CaseResults, ChangeThresholds, TimepointResult

# -- the case -----------------------------------------------------------------------


class Case(CaseState):
    """One patient's case: timepoints, series, vertebrae with landmarks, reader input.

    ``folder`` is the folder of the case file (set by load/save): relative series paths
    are resolved against it.  ``unknown_fields`` keeps top-level file fields this
    version does not know, so that saving does not drop them.
    """

    # -- checks ----------------------------------------------------------------------
    def _require_timepoint(self, timepoint_id: str) -> None:
        self.timepoint(timepoint_id)

    def _require_vertebra(self, timepoint_id: str, level: str) -> Vertebra:
        self._require_timepoint(timepoint_id)
        check_level(level)
        v = self._vertebrae.get((timepoint_id, level))
        if v is None:
            raise ValueError(f"timepoint {timepoint_id!r} has no vertebra {level}; add the vertebra first")
        return v

    # -- mutations: patient, timepoints, series ----------------------------------------
    def set_patient(self, patient: Patient) -> Patient:
        previous, self._patient = self._patient, patient
        self._changed("patient")
        return previous

    def set_case_id(self, case_id: str) -> str:
        previous, self._case_id = self._case_id, str(case_id)
        self._changed("patient", key="case_id")
        return previous

    def add_timepoint(self, timepoint: Timepoint, index: int | None = None) -> None:
        """Add a timepoint (at ``index`` in file order, default last)."""
        if timepoint.id in self._timepoints:
            raise ValueError(
                f"the case already has a timepoint {timepoint.id!r}; timepoint ids must be unique"
            )
        if index is None:
            self._timepoints[timepoint.id] = timepoint
        else:
            items = list(self._timepoints.items())
            items.insert(index, (timepoint.id, timepoint))
            self._timepoints = dict(items)
        self._changed("timepoint-added", timepoint.id)

    def update_timepoint(self, timepoint: Timepoint) -> Timepoint:
        """Replace kind/date/label of an existing timepoint (same id); returns the old one."""
        previous = self.timepoint(timepoint.id)
        self._timepoints[timepoint.id] = timepoint
        self._changed("timepoint-changed", timepoint.id)
        return previous

    def remove_timepoint(self, timepoint_id: str) -> RemovedTimepoint:
        """Remove a timepoint with its series, vertebrae, reader entries and STIR decisions."""
        tp = self.timepoint(timepoint_id)
        removed = RemovedTimepoint(
            timepoint=tp,
            index=list(self._timepoints).index(timepoint_id),
            series=tuple(self.series_of(timepoint_id)),
            vertebrae=tuple(self.vertebrae(timepoint_id)),
            reader_entries=tuple((lvl, e) for (t, lvl), e in self._reader.items() if t == timepoint_id),
            stir_decisions=tuple((lvl, d) for (t, lvl), d in self._stir.items() if t == timepoint_id),
            clinical=self._clinical.get(timepoint_id),
        )
        del self._timepoints[timepoint_id]
        self._series = {k: s for k, s in self._series.items() if s.timepoint != timepoint_id}
        self._vertebrae = {k: v for k, v in self._vertebrae.items() if k[0] != timepoint_id}
        self._reader = {k: e for k, e in self._reader.items() if k[0] != timepoint_id}
        self._stir = {k: d for k, d in self._stir.items() if k[0] != timepoint_id}
        self._clinical.pop(timepoint_id, None)
        self._changed("timepoint-removed", timepoint_id)
        return removed

    def restore_timepoint(self, removed: RemovedTimepoint) -> None:
        """Undo :meth:`remove_timepoint` (one event)."""
        if removed.timepoint.id in self._timepoints:
            raise ValueError(f"the case already has a timepoint {removed.timepoint.id!r}")
        items = list(self._timepoints.items())
        items.insert(removed.index, (removed.timepoint.id, removed.timepoint))
        self._timepoints = dict(items)
        tp_id = removed.timepoint.id
        for s in removed.series:
            self._series[s.series_uid] = s
        for v in removed.vertebrae:
            self._vertebrae[(tp_id, v.level)] = v
        for level, entry in removed.reader_entries:
            self._reader[(tp_id, level)] = entry
        for level, decision in removed.stir_decisions:
            self._stir[(tp_id, level)] = decision
        if removed.clinical is not None:
            self._clinical[tp_id] = removed.clinical
        self._changed("timepoint-added", tp_id)

    def assign_series(self, ref: SeriesRef) -> SeriesRef | None:
        """Add or replace (same UID) a series reference; returns the one it replaced."""
        self._require_timepoint(ref.timepoint)
        previous = self._series.get(ref.series_uid)
        self._series[ref.series_uid] = ref
        self._changed("series", ref.timepoint, key=ref.series_uid)
        return previous

    def set_series_window(self, series_uid: str, window: DisplayWindow | None) -> DisplayWindow | None:
        """Keep the window the reader chose for a series (None: its default); returns the old one.

        Its own event kind ("series-window"), so that views redraw but no analysis reruns.
        """
        ref = self._series.get(series_uid)
        if ref is None:
            raise ValueError(f"the case has no series with UID {series_uid}")
        self._series[series_uid] = replace(ref, window=window)
        self._changed("series-window", ref.timepoint, key=series_uid)
        return ref.window

    def unassign_series(self, series_uid: str) -> SeriesRef:
        """Remove a series reference (landmarks placed on it stay); returns it."""
        ref = self._series.pop(series_uid, None)
        if ref is None:
            raise ValueError(f"the case has no series with UID {series_uid}")
        self._changed("series", ref.timepoint, key=series_uid)
        return ref

    # -- mutations: vertebrae and landmarks --------------------------------------------
    def _note_sets(self, v: Vertebra) -> None:
        order = self._set_order.setdefault(v.timepoint, [])
        order.extend(uid for uid in v.series if uid not in order)

    def add_vertebra(
        self,
        timepoint_id: str,
        level: str,
        status: str = "unknown",
        landmarks: Mapping[str, Landmark] | None = None,
        landmark_sets: Mapping[str, Mapping[str, Landmark]] | None = None,
    ) -> Vertebra:
        """Add a vertebra (optionally with landmarks, to undo a removal); returns it.

        ``landmarks`` is one set (kept on the series most of its landmarks lie on, see
        :func:`~measure.case_values.set_series_of`); ``landmark_sets`` several, by series.
        """
        self._require_timepoint(timepoint_id)
        if (timepoint_id, level) in self._vertebrae:
            raise ValueError(f"timepoint {timepoint_id!r} already has a vertebra {level}")
        sets: dict[str, Mapping[str, Landmark]] = dict(landmark_sets or {})
        if landmarks:
            sets[set_series_of(landmarks)] = dict(landmarks)
        v = Vertebra(timepoint_id, level, status, sets)
        self._vertebrae[(timepoint_id, level)] = v
        self._note_sets(v)
        self._changed("vertebra-added", timepoint_id, level)
        return v

    def remove_vertebra(self, timepoint_id: str, level: str) -> Vertebra:
        """Remove a vertebra with all its landmark sets; returns it (for undo)."""
        v = self._require_vertebra(timepoint_id, level)
        del self._vertebrae[(timepoint_id, level)]
        self._changed("vertebra-removed", timepoint_id, level)
        return v

    def set_landmark_set(
        self, timepoint_id: str, level: str, series_uid: str, landmarks: Mapping[str, Landmark] | None
    ) -> LandmarkSet:
        """Replace (None or empty: remove) a vertebra's set on one series; returns the previous set."""
        v = self._require_vertebra(timepoint_id, level)
        previous = v.landmarks_on(series_uid)
        updated = v.with_set(series_uid, landmarks)
        self._vertebrae[(timepoint_id, level)] = updated
        self._note_sets(updated)
        self._changed("landmark", timepoint_id, level)
        return previous

    def set_status(self, timepoint_id: str, level: str, status: str) -> str:
        v = self._require_vertebra(timepoint_id, level)
        self._vertebrae[(timepoint_id, level)] = replace(v, status=status)
        self._changed("status", timepoint_id, level)
        return v.status

    def set_landmark(
        self,
        timepoint_id: str,
        level: str,
        key: str,
        landmark: Landmark | None,
        series_uid: str | None = None,
    ) -> Landmark | None:
        """Place, move or (``None``) remove one landmark; returns the previous one.

        The landmark goes into the set of ``series_uid``, by default the series it was
        placed on (a removal, by default, from the measurement set).
        """
        v = self._require_vertebra(timepoint_id, level)
        check_choice(key, LANDMARK_KEYS, "landmark key")
        if landmark is not None and not isinstance(landmark, Landmark):
            raise ValueError(f"set_landmark needs a Landmark or None, got {type(landmark).__name__}")
        target = series_uid or (
            landmark.series_uid if landmark is not None else self.measurement_series(timepoint_id)
        )
        if target is None:  # removing from a vertebra without landmarks: nothing changes
            return None
        previous = v.landmarks_on(target).get(key)
        updated = v.with_landmark(target, key, landmark)
        self._vertebrae[(timepoint_id, level)] = updated
        self._note_sets(updated)
        self._changed("landmark", timepoint_id, level, key)
        return previous

    def remove_landmark(
        self, timepoint_id: str, level: str, key: str, series_uid: str | None = None
    ) -> Landmark | None:
        return self.set_landmark(timepoint_id, level, key, None, series_uid)

    # -- mutations: reader input ---------------------------------------------------------
    def set_reader_entry(
        self, timepoint_id: str | None, level: str | None, entry: ReaderEntry | None
    ) -> ReaderEntry | None:
        """Set (or clear with ``None``) the entry of a timepoint+level, or the case (None, None)."""
        if (timepoint_id is None) != (level is None):
            raise ValueError(
                "a reader entry belongs to a timepoint and a level together, or to the whole case"
            )
        if timepoint_id is not None and level is not None:
            self._require_timepoint(timepoint_id)
            check_level(level)
        key = (timepoint_id, level)
        previous = self._reader.get(key)
        if entry is None:
            self._reader.pop(key, None)
        else:
            self._reader[key] = entry
        self._changed("reader", timepoint_id, level)
        return previous

    def set_clinical(self, timepoint_id: str, record: ClinicalRecord | None) -> ClinicalRecord | None:
        """Set (or clear with ``None`` / an empty record) a timepoint's clinical record;
        returns the previous one."""
        self._require_timepoint(timepoint_id)
        previous = self._clinical.get(timepoint_id)
        if record is None or record.empty:
            self._clinical.pop(timepoint_id, None)
        else:
            self._clinical[timepoint_id] = record
        self._changed("clinical", timepoint_id)
        return previous

    def set_stir_decision(
        self, timepoint_id: str, level: str, decision: StirDecision | None
    ) -> StirDecision | None:
        self._require_timepoint(timepoint_id)
        check_level(level)
        previous = self._stir.get((timepoint_id, level))
        if decision is None:
            self._stir.pop((timepoint_id, level), None)
        else:
            self._stir[(timepoint_id, level)] = decision
        self._changed("stir", timepoint_id, level)
        return previous

    def set_regional(self, specs: Sequence[RegionalSpec]) -> tuple[RegionalSpec, ...]:
        """Replace the regional angle specifications; returns the previous ones."""
        for spec in specs:
            if not isinstance(spec, RegionalSpec):
                raise ValueError(f"a regional angle must be a RegionalSpec, got {type(spec).__name__}")
        previous, self._regional = self._regional, tuple(specs)
        self._changed("regional")
        return previous

    def set_extra(self, key: str, value: Any) -> Any:
        """Set a free-form extra (JSON-compatible) value; ``None`` removes it."""
        previous = self._extras.get(key)
        if value is None:
            self._extras.pop(key, None)
        else:
            self._extras[key] = copy.deepcopy(value)
        self._changed("extras", key=key)
        return previous

    # -- measurement -------------------------------------------------------------------
    def vertebra_inputs(self, timepoint_id: str, series_uid: str | None = None) -> list[VertebraInput]:
        """The engine's input for one timepoint: one landmark set (default: the measurement
        set) plus the planes its landmarks lie on.  Every vertebra of the timepoint is in it,
        without landmarks when it has none on that series."""
        self._require_timepoint(timepoint_id)
        series = series_uid if series_uid is not None else self.measurement_series(timepoint_id)
        inputs = []
        for v in self.vertebrae(timepoint_id):
            landmarks = dict(v.landmarks_on(series))
            planes = {}
            for lm in landmarks.values():
                ref = self._series.get(lm.series_uid)
                plane = None if ref is None else ref.plane
                if plane is not None:
                    planes[lm.series_uid] = plane
            inputs.append(VertebraInput(v.level, v.status, landmarks, planes))
        return inputs

    def measure(
        self, thresholds: ChangeThresholds | None = None, plausibility: Plausibility = DEFAULT_PLAUSIBILITY
    ) -> CaseResults:
        """Measure every timepoint and compare them in clinical order.

        Each timepoint is measured on its measurement set (:meth:`measurement_series`):
        those numbers are compared and registered; its other landmark sets are measured too
        (``CaseResults.by_series``), for the views.

        Timepoints come in :meth:`ordered_timepoints` order.  A vertebra the engine cannot
        measure (landmarks on non-parallel images, a plane far from sagittal, missing
        landmarks) is in its timepoint with null values and the reason in its ``notes``;
        the other vertebrae are measured as usual.  A timepoint the engine refuses as a
        whole (e.g. the same level twice) is left out and its reason is a note.  Regional
        angles naming a level absent at a timepoint are skipped there (a note says so);
        with no regional specification the engine's default pairs are used.
        ``thresholds`` are the "within measurement error" limits of the comparisons
        (default :data:`measure.results.DEFAULT_THRESHOLDS`, from the clinical reference).
        """
        notes: list[str] = []
        results: dict[str, TimepointResult] = {}
        by_series: dict[str, dict[str, TimepointResult]] = {}
        measured_on: dict[str, str | None] = {}
        ordered = self.ordered_timepoints()
        for tp in ordered:
            main = self.measurement_series(tp.id)
            measured_on[tp.id] = main
            inputs = self.vertebra_inputs(tp.id, main)
            regional: list[RegionalSpec] | None = None
            if self._regional:
                levels = {v.level for v in inputs}
                regional = []
                for spec in self._regional:
                    if spec.upper_level in levels and spec.lower_level in levels:
                        regional.append(spec)
                    else:
                        notes.append(
                            f"timepoint {tp.id}: regional angle {spec.display_label} not measured, "
                            f"{spec.upper_level} or {spec.lower_level} has no vertebra there."
                        )
            try:
                results[tp.id] = measure_timepoint(inputs, regional=regional, plausibility=plausibility)
            except ValueError as exc:
                notes.append(f"timepoint {tp.id}: not measured: {exc}")
                continue
            per_series = by_series[tp.id] = {}
            for uid in self.landmark_series(tp.id):
                if uid == main:
                    per_series[uid] = results[tp.id]
                    continue
                try:  # another landmark set (e.g. the MR T1 of the same day): shown, not registered
                    per_series[uid] = measure_timepoint(
                        self.vertebra_inputs(tp.id, uid), regional=regional, plausibility=plausibility
                    )
                except ValueError as exc:
                    notes.append(f"timepoint {tp.id}, series {uid}: not measured: {exc}")
        try:
            comparisons = compare_timepoints(
                [(tp.id, tp.kind, results[tp.id]) for tp in ordered if tp.id in results],
                thresholds if thresholds is not None else DEFAULT_THRESHOLDS,
            )
        except ValueError as exc:
            comparisons = []
            notes.append(f"no comparisons: {exc}")
        return CaseResults(
            timepoints=results,
            comparisons=tuple(comparisons),
            notes=tuple(notes),
            by_series=by_series,
            measurement_series=measured_on,
        )


__all__ = [
    "LEAKAGE_TYPES",
    "LEVELS",
    "PROCEDURES",
    "SEXES",
    "STIR_DECISIONS",
    "TIMEPOINT_KINDS",
    "VERTEBRA_STATUSES",
    "Case",
    "CaseEvent",
    "Patient",
    "ReaderEntry",
    "RegionalSpec",
    "RemovedTimepoint",
    "SeriesRef",
    "StirDecision",
    "Timepoint",
    "TimepointKind",
    "Vertebra",
    "VertebraStatus",
]
