"""A frozen copy of what background analyses read from a case.

A worker thread must not read the live :class:`~measure.case.Case` while the GUI thread
edits it.  The case's vertebrae, series references and decisions are immutable
dataclasses, so copying the containers once, in the thread that owns the case, is enough.
"""

from __future__ import annotations

from measure.case import Case
from measure.case_values import SeriesRef, StirDecision, Timepoint, Vertebra


class CaseSnapshot:
    """Read-only view of a case at one moment (satisfies :class:`measure.edema.CaseView`)."""

    def __init__(self, case: Case) -> None:
        self._timepoints = tuple(case.timepoints)
        self._by_id = {t.id: t for t in self._timepoints}
        self._series = tuple(case.series)
        self._vertebrae = {t.id: tuple(case.vertebrae(t.id)) for t in self._timepoints}
        self._decisions = dict(case.stir_decisions())
        self._measurement = {t.id: case.measurement_series(t.id) for t in self._timepoints}

    @property
    def timepoints(self) -> tuple[Timepoint, ...]:
        return self._timepoints

    @property
    def series(self) -> tuple[SeriesRef, ...]:
        return self._series

    def timepoint(self, timepoint_id: str) -> Timepoint:
        try:
            return self._by_id[timepoint_id]
        except KeyError:
            known = ", ".join(self._by_id) or "none"
            raise ValueError(f"the case has no timepoint {timepoint_id!r} (timepoints: {known})") from None

    def vertebrae(self, timepoint_id: str | None = None) -> list[Vertebra]:
        if timepoint_id is None:
            return [v for t in self._timepoints for v in self._vertebrae[t.id]]
        return list(self._vertebrae.get(timepoint_id, ()))

    def stir_decision(self, timepoint_id: str, level: str) -> StirDecision | None:
        return self._decisions.get((timepoint_id, level))

    def series_of(self, timepoint_id: str) -> list[SeriesRef]:
        return [s for s in self._series if s.timepoint == timepoint_id]

    def measurement_series(self, timepoint_id: str) -> str | None:
        return self._measurement.get(timepoint_id)

    def series_ref(self, series_uid: str) -> SeriesRef | None:
        return next((s for s in self._series if s.series_uid == series_uid), None)
