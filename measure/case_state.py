"""The state of a case and everything that reads it (no changes: see :mod:`measure.case`).

Split from :class:`~measure.case.Case` so the queries and the validated changes each
stay a readable size; only :class:`~measure.case.Case` is meant to be built.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from measure.angles import RegionalSpec
from measure.case_values import (
    TIMEPOINT_KINDS,
    LandmarkSet,
    Patient,
    ReaderEntry,
    SeriesRef,
    StirDecision,
    Timepoint,
    Vertebra,
)
from measure.clinical import ClinicalRecord, clinical_problems
from measure.events import CaseEvent, EventEmitter, Subscriber
from measure.file_stamp import FileStamp
from measure.landmarks import Landmark, level_index

_KIND_ORDER = {kind: i for i, kind in enumerate(TIMEPOINT_KINDS)}


class CaseState:
    """A case's state and its read access (:class:`~measure.case.Case` adds the changes).

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

    def same_content(self, other: CaseState) -> bool:
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
