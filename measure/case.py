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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from measure.angles import RegionalSpec
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
from measure.clinical import ClinicalRecord, clinical_problems
from measure.comparison import compare_timepoints
from measure.engine import measure_timepoint
from measure.events import CaseEvent, EventEmitter, Subscriber
from measure.file_stamp import FileStamp
from measure.landmarks import LANDMARK_KEYS, LEVELS, Landmark, level_index
from measure.morphometry import VertebraInput
from measure.plausibility import DEFAULT_PLAUSIBILITY, Plausibility
from measure.results import DEFAULT_THRESHOLDS, CaseResults, ChangeThresholds, TimepointResult

_KIND_ORDER = {kind: i for i, kind in enumerate(TIMEPOINT_KINDS)}


# -- the case -----------------------------------------------------------------------


class Case:
    """One patient's case: timepoints, series, vertebrae with landmarks, reader input.

    ``folder`` is the folder of the case file (set by load/save): relative series paths
    are resolved against it.  ``unknown_fields`` keeps top-level file fields this
    version does not know, so that saving does not drop them.
    """

    def __init__(self, case_id: str = "", patient: Patient | None = None) -> None:
        self._events = EventEmitter()
        self._case_id = case_id
        self._patient = patient or Patient()
        self._timepoints: dict[str, Timepoint] = {}
        self._series: dict[str, SeriesRef] = {}
        self._vertebrae: dict[tuple[str, str], Vertebra] = {}
        #: Per timepoint, the series of its landmark sets in the order they were started.
        self._set_order: dict[str, list[str]] = {}
        self._reader: dict[tuple[str | None, str | None], ReaderEntry] = {}
        self._clinical: dict[str, ClinicalRecord] = {}
        self._stir: dict[tuple[str, str], StirDecision] = {}
        self._regional: tuple[RegionalSpec, ...] = ()
        self._extras: dict[str, Any] = {}
        self._revision = 0
        #: Vertebrae per timepoint, cranial to caudal, as of ``_index_revision`` (so that
        #: measuring is linear in the size of the case, not quadratic in its timepoints).
        self._index: dict[str, list[Vertebra]] = {}
        self._index_revision = -1
        self._saved_revision = 0
        self.folder: Path | None = None
        self.file_path: Path | None = None
        #: The file as this session last read or wrote it (the save's conflict check).
        self.file_stamp: FileStamp | None = None
        self.unknown_fields: dict[str, Any] = {}
        self._saved_content: tuple[Any, ...] = self._content_snapshot()

    # -- events, revision ------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns the unsubscribe function."""
        return self._events.subscribe(callback)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group the changes made in the block into one event."""
        with self._events.batch():
            yield

    @property
    def revision(self) -> int:
        """Counts changes (only ever grows; compare two readings to see if anything changed)."""
        return self._revision

    @property
    def dirty(self) -> bool:
        """True when the case holds changes that are not in its file.

        Compared by content, not by counting changes: undoing back to the saved state
        makes the case clean again, as the reader expects from the unsaved marker.
        """
        if self._revision == self._saved_revision:
            return False
        return self._content() != self._saved_content

    def mark_saved(self, file_path: Path | None = None) -> None:
        """Record that the current state is what the file holds (sends a "saved" event)."""
        self._saved_revision = self._revision
        self._saved_content = self._content_snapshot()
        if file_path is not None:
            self.file_path = Path(file_path)
            self.folder = self.file_path.parent
        self._events.emit(CaseEvent("saved"))

    def rebase(self, folder: Path, series_paths: Mapping[str, str]) -> None:
        """The case file moved to ``folder``: rewrite series paths so they resolve to the
        same places.  Not a modification of the case (no event, no revision)."""
        for uid, stored in series_paths.items():
            ref = self._series.get(uid)
            if ref is not None:
                self._series[uid] = replace(ref, path=stored)
        self.folder = Path(folder)

    def _changed(
        self, kind: str, timepoint: str | None = None, level: str | None = None, key: str | None = None
    ) -> None:
        self._revision += 1
        self._events.emit(CaseEvent(kind, timepoint, level, key))

    # -- read access -----------------------------------------------------------------
    @property
    def case_id(self) -> str:
        return self._case_id

    @property
    def patient(self) -> Patient:
        return self._patient

    @property
    def timepoints(self) -> tuple[Timepoint, ...]:
        """Timepoints in the order they were added (the file order)."""
        return tuple(self._timepoints.values())

    def ordered_timepoints(self) -> list[Timepoint]:
        """Timepoints in clinical order: pre-op, post-op, follow-up; then by date."""
        index = {tp_id: i for i, tp_id in enumerate(self._timepoints)}
        return sorted(
            self._timepoints.values(),
            key=lambda tp: (_KIND_ORDER[tp.kind], tp.date or "9999-99-99", index[tp.id]),
        )

    def timepoint(self, timepoint_id: str) -> Timepoint:
        try:
            return self._timepoints[timepoint_id]
        except KeyError:
            known = ", ".join(self._timepoints) or "none"
            raise ValueError(f"the case has no timepoint {timepoint_id!r} (timepoints: {known})") from None

    @property
    def series(self) -> tuple[SeriesRef, ...]:
        return tuple(self._series.values())

    def series_ref(self, series_uid: str) -> SeriesRef | None:
        return self._series.get(series_uid)

    def series_of(self, timepoint_id: str) -> list[SeriesRef]:
        return [s for s in self._series.values() if s.timepoint == timepoint_id]

    def series_path(self, series_uid: str) -> Path:
        """Where a series is on disk: its path, resolved against the case file's folder."""
        ref = self._series.get(series_uid)
        if ref is None:
            raise ValueError(f"the case has no series with UID {series_uid}")
        path = Path(ref.path).expanduser()
        if not path.is_absolute() and self.folder is not None:
            path = self.folder / path
        return path

    def _vertebrae_by_timepoint(self) -> dict[str, list[Vertebra]]:
        if self._index_revision != self._revision:
            index: dict[str, list[Vertebra]] = {}
            for v in self._vertebrae.values():
                index.setdefault(v.timepoint, []).append(v)
            for items in index.values():
                items.sort(key=lambda v: level_index(v.level))
            self._index, self._index_revision = index, self._revision
        return self._index

    def vertebrae(self, timepoint_id: str | None = None) -> list[Vertebra]:
        """Vertebrae (of one timepoint, or all), cranial to caudal within a timepoint."""
        if timepoint_id is not None:
            return list(self._vertebrae_by_timepoint().get(timepoint_id, ()))
        tp_order = {tp_id: i for i, tp_id in enumerate(self._timepoints)}
        items = [v for v in self._vertebrae.values() if timepoint_id is None or v.timepoint == timepoint_id]
        return sorted(items, key=lambda v: (tp_order.get(v.timepoint, 0), level_index(v.level)))

    def vertebra(self, timepoint_id: str, level: str) -> Vertebra | None:
        return self._vertebrae.get((timepoint_id, level))

    def landmark(
        self, timepoint_id: str, level: str, key: str, series_uid: str | None = None
    ) -> Landmark | None:
        """One landmark of the set on ``series_uid`` (default: the timepoint's measurement set)."""
        return self.landmarks(timepoint_id, level, series_uid).get(key)

    def landmarks(self, timepoint_id: str, level: str, series_uid: str | None = None) -> LandmarkSet:
        """The landmark set of a vertebra on ``series_uid`` (default: the measurement set)."""
        v = self._vertebrae.get((timepoint_id, level))
        if v is None:
            return MappingProxyType({})
        return v.landmarks_on(series_uid if series_uid is not None else self.measurement_series(timepoint_id))

    def landmark_series(self, timepoint_id: str) -> tuple[str, ...]:
        """The series that hold a landmark set at a timepoint, in the order the sets were started."""
        present = {uid for v in self._vertebrae_by_timepoint().get(timepoint_id, ()) for uid in v.series}
        ordered = [uid for uid in self._set_order.get(timepoint_id, []) if uid in present]
        return tuple(ordered + sorted(present - set(ordered)))

    def measurement_series(self, timepoint_id: str) -> str | None:
        """The landmark set whose numbers go to the registry: the reader's choice when it
        holds landmarks, else the first set started at the timepoint (None: no landmarks)."""
        sets = self.landmark_series(timepoint_id)
        chosen = self.timepoint(timepoint_id).measurement_series
        if chosen is not None and chosen in sets:
            return chosen
        return sets[0] if sets else None

    def reader_entry(self, timepoint_id: str | None = None, level: str | None = None) -> ReaderEntry | None:
        """The reader entry of a timepoint+level, or the case-wide one (both None)."""
        return self._reader.get((timepoint_id, level))

    def reader_entries(self) -> dict[tuple[str | None, str | None], ReaderEntry]:
        return dict(self._reader)

    def clinical(self, timepoint_id: str) -> ClinicalRecord | None:
        """The clinical outcomes recorded at a timepoint (None: nothing recorded)."""
        return self._clinical.get(timepoint_id)

    def clinical_records(self) -> dict[str, ClinicalRecord]:
        """timepoint id -> its clinical record, in clinical timepoint order."""
        return {tp.id: self._clinical[tp.id] for tp in self.ordered_timepoints() if tp.id in self._clinical}

    def clinical_problems(self) -> list[str]:
        """Cross-field rules of the clinical records (dates in order, a follow-up after the
        procedure), one sentence each; empty when all hold."""
        return clinical_problems(
            [(tp.id, tp.kind, tp.date) for tp in self.ordered_timepoints()], self.clinical_records()
        )

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

    def stir_decision(self, timepoint_id: str, level: str) -> StirDecision | None:
        return self._stir.get((timepoint_id, level))

    def stir_decisions(self) -> dict[tuple[str, str], StirDecision]:
        return dict(self._stir)

    @property
    def regional(self) -> tuple[RegionalSpec, ...]:
        return self._regional

    @property
    def extras(self) -> dict[str, Any]:
        """A deep copy of the free-form extras (change them with :meth:`set_extra`)."""
        return copy.deepcopy(self._extras)

    def same_content(self, other: Case) -> bool:
        """True when both cases hold the same data (ignores revision and file location)."""
        return self._content() == other._content()

    def _content(self) -> tuple[Any, ...]:
        return (
            self._case_id,
            self._patient,
            list(self._timepoints.values()),
            dict(self._series),
            dict(self._vertebrae),
            dict(self._reader),
            dict(self._clinical),
            dict(self._stir),
            self._regional,
            self._extras,
            self.unknown_fields,
        )

    def _content_snapshot(self) -> tuple[Any, ...]:
        """:meth:`_content` safe to keep: every part is immutable or copied (the two
        free-form dicts deeply)."""
        content = self._content()
        return (*content[:-2], copy.deepcopy(self._extras), copy.deepcopy(self.unknown_fields))

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
