"""Guided landmark placement: which level, which of the six points comes next, the prompt.

Plain logic over the case (no Qt) so that the order and the suggestions are easy to test:
points are asked for in the fixed order of ``LANDMARK_KEYS``, on the series shown (each
series holds its own landmark set); when a level is complete the next level (caudal, then
cranial) without complete landmarks is suggested.
"""

from __future__ import annotations

from measure.case import Case
from measure.landmarks import LANDMARK_KEYS, LANDMARK_LABELS, LEVELS

#: Levels offered in the level chooser (thoraco-lumbar spine and sacrum).
PLACEMENT_LEVELS: tuple[str, ...] = tuple(lv for lv in LEVELS if lv[0] in "TLS")


def next_key(case: Case, timepoint: str | None, level: str, series_uid: str | None = None) -> str | None:
    """First landmark of ``level`` not placed yet on ``series_uid`` (in fixed order; default:
    the timepoint's measurement set), or None when that set is complete."""
    placed = {} if timepoint is None else case.landmarks(timepoint, level, series_uid)
    for key in LANDMARK_KEYS:
        if key not in placed:
            return key
    return None


def suggest_level(case: Case, timepoint: str | None, after: str | None, series_uid: str | None = None) -> str:
    """The level to place next: the first incomplete one below ``after``, else above it."""
    start = PLACEMENT_LEVELS.index(after) if after in PLACEMENT_LEVELS else -1

    def incomplete(level: str) -> bool:
        return next_key(case, timepoint, level, series_uid) is not None

    for level in PLACEMENT_LEVELS[start + 1 :]:
        if incomplete(level):
            return level
    for level in reversed(PLACEMENT_LEVELS[: max(start, 0)]):
        if incomplete(level):
            return level
    return after or "L1"


def prompt_for(level: str, key: str | None) -> str:
    """The on-screen instruction, e.g. "L1: click superior endplate, anterior"."""
    if key is None:
        return f"{level}: all six points placed"
    return f"{level}: click {LANDMARK_LABELS[key]}"
