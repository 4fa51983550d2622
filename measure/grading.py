"""Genant semi-quantitative grade and morphological type of a vertebral fracture.

Clinical reference, "Height loss and fracture grade": grade from the largest height
reduction, grade 0 < 20%, grade 1 (mild) 20-25%, grade 2 (moderate) 25-40%, grade 3
(severe) > 40%; type wedge (anterior loss), biconcave (middle loss), crush (whole body,
posterior too).

Rules chosen here (documented because the source leaves them open):

* Boundaries: 20% and 25% belong to the higher grade, 40% to grade 2 (the source says
  "> 40%" for grade 3).  So ``[0, 20) -> 0``, ``[20, 25) -> 1``, ``[25, 40] -> 2``,
  ``(40, ...) -> 3``.  Losses within :data:`BOUNDARY_TOLERANCE_PCT` of a boundary count as
  on it, so floating-point noise (1 - 15/25 = 0.40000000000000002) cannot change a grade.
* Reference: "adjacent" when available, else "posterior"; the one used is recorded.
  "largest reduction" is over Ha, Hm and Hp for "adjacent" (Genant grades anterior,
  middle and/or posterior height loss) and over Ha, Hm for "posterior" (Hp is its own
  reference there).  The height that gave the grade is recorded too.
* Type (grade >= 1 only, "none" for grade 0): "crush" when Hp is also reduced by >= 20%
  against the reference; otherwise "wedge" when the anterior loss is at least the middle
  loss, else "biconcave".  With the "posterior" reference Hp cannot be judged, so crush
  cannot be recognised: a note says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

GRADE_1_MIN_PCT = 20.0
GRADE_2_MIN_PCT = 25.0
GRADE_3_ABOVE_PCT = 40.0
#: Posterior loss from which the whole body counts as crushed.
CRUSH_POSTERIOR_MIN_PCT = 20.0
BOUNDARY_TOLERANCE_PCT = 1e-6


def genant_grade(loss_pct: float) -> int:
    """Genant grade (0-3) of a height reduction in percent (boundary rules above)."""
    if not math.isfinite(loss_pct):
        raise ValueError(f"a height reduction must be a finite percentage to be graded, got {loss_pct}.")
    if loss_pct > GRADE_3_ABOVE_PCT + BOUNDARY_TOLERANCE_PCT:
        return 3
    if loss_pct >= GRADE_2_MIN_PCT - BOUNDARY_TOLERANCE_PCT:
        return 2
    if loss_pct >= GRADE_1_MIN_PCT - BOUNDARY_TOLERANCE_PCT:
        return 1
    return 0


@dataclass(frozen=True)
class Grade:
    """Grade, type and what they were based on (None when nothing could be graded)."""

    grade: int | None
    type: str | None  # "wedge" | "biconcave" | "crush" | "none"
    reference: str | None  # "adjacent" | "posterior"
    height: str | None  # "ha" | "hm" | "hp": the largest reduction
    loss_pct: float | None
    notes: tuple[str, ...] = ()


def grade_vertebra(level: str, loss_detail: Mapping[str, Mapping[str, float] | None]) -> Grade:
    """Grade and type from ``{"posterior": {...}, "adjacent": {...} | None, ...}`` (percent)."""
    reference = "adjacent" if loss_detail.get("adjacent") is not None else "posterior"
    detail = loss_detail.get(reference)
    if detail is None:
        return Grade(None, None, None, None, None, (f"{level}: no height loss to grade.",))
    kinds = ("ha", "hm", "hp") if reference == "adjacent" else ("ha", "hm")
    finite = {k: detail[k] for k in kinds if k in detail and math.isfinite(detail[k])}
    if not finite:
        return Grade(None, None, None, None, None, (f"{level}: heights are zero; no grade.",))
    height = max(finite, key=lambda k: finite[k])
    loss = finite[height]
    grade = genant_grade(loss)
    notes: list[str] = []
    if grade == 0:
        kind = "none"
    elif reference == "adjacent" and finite.get("hp", -math.inf) >= (
        CRUSH_POSTERIOR_MIN_PCT - BOUNDARY_TOLERANCE_PCT
    ):
        kind = "crush"
    else:
        ha_loss = finite.get("ha", -math.inf)
        hm_loss = finite.get("hm", -math.inf)
        kind = "wedge" if ha_loss >= hm_loss else "biconcave"
        if reference == "posterior":
            notes.append(
                f"{level}: graded against its own posterior height (no adjacent reference); a crush "
                "fracture (posterior height reduced too) cannot be recognised this way."
            )
    return Grade(grade, kind, reference, height, loss, tuple(notes))
