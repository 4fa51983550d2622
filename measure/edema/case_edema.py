"""STIR edema of a case's timepoint: choose the STIR (and T1), analyse, attach the reader's decision.

The glue between the case model and :func:`measure.edema.analysis.analyse_edema`.  It
receives the scanned stacks and a volume loader from its caller (the session, which owns
the one volume cache); it never opens a file itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from numpy.typing import NDArray

from dicomio.model import SeriesStack
from measure.case_values import SeriesRef, StirDecision, Timepoint, Vertebra
from measure.edema.analysis import BodyInput, analyse_edema
from measure.edema.constants import (
    NO_STIR_MESSAGE,
    STATUS_FRAME,
    STATUS_NO_STIR,
    STATUS_OK,
    STATUS_UNREADABLE,
)
from measure.edema_config import DEFAULT_CONFIG, EdemaConfig
from measure.landmarks import Landmark
from measure.results import StirResult

#: ``load_volume(stack)``: the stack's voxels (slices, rows, columns), bright = high.
VolumeLoader = Callable[[SeriesStack], NDArray[Any]]


class CaseView(Protocol):
    """What the analysis reads from a case: a :class:`~measure.case.Case` or its
    :class:`~measure.case_snapshot.CaseSnapshot` (a frozen copy for a worker thread)."""

    @property
    def timepoints(self) -> tuple[Timepoint, ...]: ...

    @property
    def series(self) -> tuple[SeriesRef, ...]: ...

    def timepoint(self, timepoint_id: str) -> Timepoint: ...

    def vertebrae(self, timepoint_id: str | None = None) -> list[Vertebra]: ...

    def stir_decision(self, timepoint_id: str, level: str) -> StirDecision | None: ...

    def series_of(self, timepoint_id: str) -> list[SeriesRef]: ...

    def series_ref(self, series_uid: str) -> SeriesRef | None: ...

    def measurement_series(self, timepoint_id: str) -> str | None: ...


def no_stir_results(levels: Sequence[str], reason: str = NO_STIR_MESSAGE) -> dict[str, StirResult]:
    """Results saying that recency is unknown because no STIR series exists."""
    return {lvl: StirResult(lvl, STATUS_NO_STIR, f"{lvl}: {reason}.") for lvl in levels}


def _sequence_of(stack: SeriesStack, case: CaseView) -> str | None:
    if getattr(stack, "sequence", None):
        return str(stack.sequence)
    ref = case.series_ref(stack.series_uid)
    return None if ref is None else ref.sequence


def _timepoint_stacks(case: CaseView, timepoint_id: str, stacks: Sequence[SeriesStack]) -> list[SeriesStack]:
    """Stacks that belong to the timepoint.

    A stack belongs when its series is assigned to the timepoint, or when it is in the
    same study as an assigned one (the STIR of the session is often not assigned: the
    landmarks sit on the T1); stacks assigned to another timepoint never do.  When none of
    ``stacks`` is assigned to the timepoint, all unassigned ones are taken (the caller
    passed this session's series).
    """
    mine = {s.series_uid for s in case.series_of(timepoint_id)}
    others = {s.series_uid for s in case.series if s.timepoint != timepoint_id}
    free = [s for s in stacks if s.series_uid not in others]
    assigned = [s for s in free if s.series_uid in mine]
    if not assigned:
        return free
    studies = {s.study_uid for s in assigned}
    return [s for s in free if s.series_uid in mine or s.study_uid in studies]


def _set_frames(landmarks: Mapping[str, Landmark], by_series: Mapping[str, SeriesStack]) -> set[str]:
    """The frames of reference of the series one landmark set lies on."""
    frames = set()
    for lm in landmarks.values():
        stack = by_series.get(lm.series_uid)
        if stack is not None and stack.frame_of_reference_uid:
            frames.add(stack.frame_of_reference_uid)
    return frames


def _set_for(
    case: CaseView,
    timepoint_id: str,
    vertebra: Vertebra,
    stir_for: str | None,
    by_series: Mapping[str, SeriesStack],
) -> str | None:
    """The landmark set the STIR analysis of a body reads: one in the STIR's frame of
    reference (e.g. the MR T1 set of a CT + MR workup), else the measurement set."""
    for uid in vertebra.series:
        if stir_for is not None and stir_for in _set_frames(vertebra.landmarks_on(uid), by_series):
            return uid
    main = case.measurement_series(timepoint_id)
    return main if main in vertebra.series else (vertebra.series[0] if vertebra.series else None)


def _pick(
    stacks: Sequence[SeriesStack], preferred_frames: set[str], preferred_series: set[str]
) -> SeriesStack:
    """The best stack: in the landmarks' frame of reference, sagittal, landmark series, most images."""

    def score(s: SeriesStack) -> tuple[bool, bool, bool, int]:
        return (
            s.frame_of_reference_uid in preferred_frames,
            s.geometry.first.plane == "sagittal",
            s.series_uid in preferred_series,
            s.n_images,
        )

    return max(stacks, key=score)


def analyse_case_timepoint(
    case: CaseView,
    timepoint_id: str,
    stacks: Sequence[SeriesStack],
    load_volume: VolumeLoader,
    config: EdemaConfig = DEFAULT_CONFIG,
) -> dict[str, StirResult]:
    """STIR edema of every vertebra of one timepoint of a ``measure.case.Case``.

    ``stacks`` are the scanned :class:`dicomio.model.SeriesStack` objects available (of this
    timepoint, or of the whole case: see :func:`_timepoint_stacks`).  The STIR is chosen by
    sequence class (``stack.sequence``, else the case's series reference): in the
    landmarks' frame of reference, sagittal, most images first.  A T1 in the STIR's frame of
    reference, if any, gives the supporting T1 ratio.  ``load_volume(stack)`` returns the
    voxels (the session's volume cache: this module never reads a file).  The reader's
    decision stored in the case is attached to each result.  Without a STIR every result says
    "recency unknown: no STIR series".
    """
    case.timepoint(timepoint_id)  # ValueError sentence when unknown
    vertebrae = case.vertebrae(timepoint_id)
    levels = [v.level for v in vertebrae]
    decisions = {lvl: case.stir_decision(timepoint_id, lvl) for lvl in levels}

    def finish(results: Mapping[str, StirResult]) -> dict[str, StirResult]:
        return {lvl: replace(results[lvl], reader_decision=decisions[lvl]) for lvl in levels}

    candidates = _timepoint_stacks(case, timepoint_id, stacks)
    stirs = [s for s in candidates if _sequence_of(s, case) == "STIR"]
    if not stirs:
        return finish(no_stir_results(levels))

    by_series = {s.series_uid: s for s in stacks}
    all_sets = [v.landmarks_on(uid) for v in vertebrae for uid in v.series]
    landmark_series = {lm.series_uid for lms in all_sets for lm in lms.values()}
    all_frames = set().union(*(_set_frames(lms, by_series) for lms in all_sets))
    stir = _pick(stirs, all_frames, landmark_series)
    stir_for = stir.frame_of_reference_uid
    set_of = {v.level: _set_for(case, timepoint_id, v, stir_for, by_series) for v in vertebrae}

    try:
        stir_volume = load_volume(stir)
    except (ValueError, OSError) as exc:
        name = stir.description or stir.series_uid
        message = f"recency unknown: the STIR series {name} could not be read ({exc})"
        return finish({lvl: StirResult(lvl, STATUS_UNREADABLE, f"{lvl}: {message}.") for lvl in levels})

    t1_pair = None
    t1_stack = None
    t1_note = ""
    t1s = [
        s
        for s in candidates
        if _sequence_of(s, case) == "T1" and stir_for is not None and s.frame_of_reference_uid == stir_for
    ]
    if t1s:
        t1_stack = _pick(t1s, {stir_for} if stir_for else set(), landmark_series)
        try:
            t1_pair = (load_volume(t1_stack), t1_stack.geometry)
        except (ValueError, OSError) as exc:
            t1_stack, t1_note = None, f" The T1 series could not be read ({exc}); no T1 ratio."

    bodies: dict[str, BodyInput] = {}
    results: dict[str, StirResult] = {}
    for v in vertebrae:
        landmarks = v.landmarks_on(set_of[v.level])
        frames = _set_frames(landmarks, by_series)
        if stir_for is not None and frames and stir_for not in frames:
            results[v.level] = StirResult(
                v.level,
                STATUS_FRAME,
                f"{v.level}: the landmarks were placed on a series in frame of reference "
                f"{', '.join(sorted(frames))}, the STIR series is in {stir_for}; edema is only measured "
                "when both share one frame of reference. Recency unknown.",
            )
            continue
        points = {k: lm.position_mm for k, lm in landmarks.items()}
        bodies[v.level] = BodyInput(points, v.status)

    report = analyse_edema(
        stir_volume,
        stir.geometry,
        bodies,
        config,
        t1=t1_pair,
        frame_of_reference_uid=stir_for,
        t1_frame_of_reference_uid=t1_stack.frame_of_reference_uid if t1_stack is not None else None,
    )
    for lvl, r in report.bodies.items():
        extra = t1_note if r.status == STATUS_OK else ""
        results[lvl] = replace(
            r,
            message=r.message + extra,
            stir_series_uid=stir.series_uid,
            landmark_series_uid=set_of.get(lvl),
            t1_series_uid=t1_stack.series_uid if t1_stack is not None else None,
        )
    return finish(results)


def case_stir_results(
    case: CaseView,
    stacks: Sequence[SeriesStack],
    load_volume: VolumeLoader,
    config: EdemaConfig = DEFAULT_CONFIG,
    missing_paths: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, StirResult]]:
    """:func:`analyse_case_timepoint` for every timepoint: ``{timepoint id: {level: result}}``.

    ``missing_paths`` (timepoint id -> series paths that were not found on disk) make the
    "recency unknown" message of that timepoint say so; a series that cannot be analysed
    gives results with status "unreadable" instead of failing.
    """
    missing = missing_paths or {}
    out: dict[str, dict[str, StirResult]] = {}
    for tp in case.timepoints:
        try:
            results = analyse_case_timepoint(case, tp.id, stacks, load_volume=load_volume, config=config)
        except ValueError as exc:
            results = {
                v.level: StirResult(v.level, STATUS_UNREADABLE, f"{v.level}: recency unknown: {exc}")
                for v in case.vertebrae(tp.id)
            }
        if missing.get(tp.id):
            gone = ", ".join(missing[tp.id])
            results = {
                lvl: replace(r, message=f"{r.message} Series files not found: {gone}.")
                if r.status == STATUS_NO_STIR
                else r
                for lvl, r in results.items()
            }
        out[tp.id] = results
    return out
