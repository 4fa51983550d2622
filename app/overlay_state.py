"""What a viewer draws over an image: the landmarks, lines and values of one series.

:func:`overlay_state_for` turns the case and its typed results into the plain
:class:`~app.overlays.OverlayState` an :class:`~app.overlays.OverlayLayer` draws: only the
landmark set of the series shown (each series holds its own set), at the timepoint shown,
with that set's values beside each vertebra and its regional angles.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from app.overlay_model import OverlayState, RegionalOverlay, VertebraOverlay
from measure.case import Case
from measure.results import CaseResults
from measure.results_text import fmt, vertebra_value_text


def overlay_state_for(
    case: Case, results: CaseResults | None, timepoint: str | None, series_uid: str
) -> OverlayState:
    """What a viewer showing ``series_uid`` at ``timepoint`` draws."""
    state = OverlayState()
    if timepoint is None:
        return state
    tp_result = None if results is None else results.on_series(timepoint, series_uid)
    for v in case.vertebrae(timepoint):
        points = {k: lm.array for k, lm in v.landmarks_on(series_uid).items()}
        if not points:
            continue
        r = None if tp_result is None else tp_result.vertebrae.get(v.level)
        state.vertebrae.append(VertebraOverlay(v.level, v.status, points, vertebra_value_text(r)))
    if tp_result is not None:
        for reg in tp_result.regional:
            upper = _endplate_points(case, timepoint, reg.upper_level, reg.upper_endplate, series_uid)
            lower = _endplate_points(case, timepoint, reg.lower_level, reg.lower_endplate, series_uid)
            if upper is None or lower is None or reg.angle_deg is None:
                continue
            text = f"{fmt(reg.angle_deg, reg.uncertainty_deg)}°"
            state.regional.append(RegionalOverlay(f"{reg.upper_level}–{reg.lower_level}", upper, lower, text))
    return state


def _endplate_points(
    case: Case, tp: str, level: str, endplate: str, series_uid: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    prefix = "sup" if endplate == "superior" else "inf"
    ant = case.landmark(tp, level, f"{prefix}_ant", series_uid)
    post = case.landmark(tp, level, f"{prefix}_post", series_uid)
    if ant is None or post is None:
        return None
    return ant.array, post.array
