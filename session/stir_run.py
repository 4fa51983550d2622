"""The STIR edema analysis of a whole case, as one job a worker thread can run.

The app's controller takes a :class:`~measure.case_snapshot.CaseSnapshot` in the GUI
thread, runs :func:`analyse_case` in a worker, and hands the results back to the session.
Voxels come from the library's one volume cache (thread-safe), so a STIR loaded for the
viewer is not decoded again, and the analysis's volumes stay for the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dicomio.model import SeriesStack
from measure.case_snapshot import CaseSnapshot
from measure.edema import STATUS_UNREADABLE, analyse_case_timepoint
from measure.results import StirResult
from session.library import SeriesLibrary


class AnalysisCancelled(Exception):  # noqa: N818 - a signal to stop, not an error
    """The caller's ``cancel()`` returned True between two timepoints."""


def analyse_case(
    snapshot: CaseSnapshot,
    stacks: Sequence[SeriesStack],
    library: SeriesLibrary,
    cancel: Callable[[], bool] = lambda: False,
) -> dict[str, dict[str, StirResult]]:
    """STIR results of every timepoint that has vertebrae: ``{timepoint: {level: result}}``."""
    out: dict[str, dict[str, StirResult]] = {}
    for tp in snapshot.timepoints:
        if cancel():
            raise AnalysisCancelled()
        if not snapshot.vertebrae(tp.id):
            continue
        try:
            out[tp.id] = analyse_case_timepoint(
                snapshot, tp.id, stacks, load_volume=lambda s: library.volume(s, cancel=cancel)
            )
        except ValueError as exc:  # e.g. frames of reference that differ: said per vertebra
            out[tp.id] = {
                v.level: StirResult(v.level, STATUS_UNREADABLE, f"{v.level}: recency unknown: {exc}")
                for v in snapshot.vertebrae(tp.id)
            }
    return out
