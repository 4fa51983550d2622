"""Hand computations of the clinical definitions, written in the tests (never imported
from ``measure``), for landmarks on a true sagittal plane.

Definitions from ``docs/clinical-reference.md`` ("Landmarks", "Angles", "Height loss"):

* heights are distances in patient space: ``Ha = |sup_ant - inf_ant|`` and so on;
* the vertebral kyphotic angle is the angle between the superior endplate line
  (``sup_ant -> sup_post``) and the inferior one (``inf_ant -> inf_post``), kyphosis
  (lines converging anteriorly) positive.  On a sagittal plane, with LPS +Y posterior and
  +Z superior, each line's angle from posterior towards superior is
  ``atan2(dz, dy)`` of its anterior -> posterior direction, and
  ``VKA = angle(superior line) - angle(inferior line)``;
* the "adjacent" height loss is ``(1 - H / mean(H of the nearest reference vertebra above
  and the nearest below)) * 100``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

Point = Sequence[float]
#: The levels this suite's cases use, cranial to caudal.
LEVEL_ORDER = ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5")


def heights_mm(lm: Mapping[str, Point]) -> dict[str, float]:
    """Ha, Hm, Hp: distances between the facing landmark pairs (mm)."""
    return {
        "Ha": math.dist(lm["sup_ant"], lm["inf_ant"]),
        "Hm": math.dist(lm["sup_mid"], lm["inf_mid"]),
        "Hp": math.dist(lm["sup_post"], lm["inf_post"]),
    }


def _line_angle_rad(anterior: Point, posterior: Point) -> float:
    d = np.subtract(posterior, anterior)
    assert d[1] > 0, "the posterior point must be posterior (+Y) of the anterior one"
    return math.atan2(float(d[2]), float(d[1]))


def signed_vka_deg(lm: Mapping[str, Point]) -> float:
    """Vertebral kyphotic angle (deg, kyphosis positive) of landmarks on a sagittal plane."""
    for p in lm.values():
        assert abs(p[0] - lm["sup_ant"][0]) < 1e-6, "hand VKA needs the landmarks on one sagittal plane"
    sup = _line_angle_rad(lm["sup_ant"], lm["sup_post"])
    inf = _line_angle_rad(lm["inf_ant"], lm["inf_post"])
    return math.degrees(sup - inf)


def adjacent_references(level: str, reference_levels: Sequence[str]) -> tuple[str, str] | None:
    """The nearest reference level above and the nearest below ``level`` (None if a side lacks one)."""
    i = LEVEL_ORDER.index(level)
    above = [lv for lv in reference_levels if LEVEL_ORDER.index(lv) < i]
    below = [lv for lv in reference_levels if LEVEL_ORDER.index(lv) > i]
    if not above or not below:
        return None
    return max(above, key=LEVEL_ORDER.index), min(below, key=LEVEL_ORDER.index)


def adjacent_loss_pct(
    level: str, heights_by_level: Mapping[str, Mapping[str, float]], reference_levels: Sequence[str]
) -> dict[str, float] | None:
    """``{"Ha": %, "Hm": %, "Hp": %}`` against the mean of the adjacent references, or None."""
    refs = adjacent_references(level, [lv for lv in reference_levels if lv != level])
    if refs is None:
        return None
    h = heights_by_level[level]
    return {
        k: (1.0 - h[k] / ((heights_by_level[refs[0]][k] + heights_by_level[refs[1]][k]) / 2.0)) * 100.0
        for k in ("Ha", "Hm", "Hp")
    }
