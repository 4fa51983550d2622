"""What a vertebral body must look like before its numbers are believed.

Six landmarks in one spot were graded Genant 3 crush and landmarks scaled by 1e6 gave
Ha = 15,808,000 mm (issue 14, hole 7).  A body whose landmarks coincide, lie on one line,
or give a height outside a plausible range is *not measured*: its values are null and a
note says why, instead of a number nobody should read.

The height range, 3-80 mm, is deliberately wide: adult vertebral body heights run from
about 12 mm (C-spine) to 35 mm (L-spine), a vertebra plana keeps a few millimetres, and
80 mm is more than two bodies.  Change it (``Case.measure(plausibility=...)``, ``endplate
measure --height-range-mm MIN MAX``) for other anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from measure.landmarks import LANDMARK_KEYS


@dataclass(frozen=True)
class Plausibility:
    """Limits of a measurable body (mm); ``collinear_fraction``: second over first singular
    value of the in-plane points below which they lie on one line."""

    min_height_mm: float = 3.0
    max_height_mm: float = 80.0
    min_separation_mm: float = 1.0
    collinear_fraction: float = 0.02

    def __post_init__(self) -> None:
        if not 0 <= self.min_height_mm < self.max_height_mm:
            raise ValueError(
                f"the plausible height range {self.min_height_mm:g}-{self.max_height_mm:g} mm is empty; "
                "expected 0 <= minimum < maximum."
            )


DEFAULT_PLAUSIBILITY = Plausibility()

_ENDPLATE_PAIRS = {("sup_ant", "sup_post"): "superior", ("inf_ant", "inf_post"): "inferior"}


def endplate_problem(
    anterior: NDArray[np.float64],
    posterior: NDArray[np.float64],
    name: str,
    limits: Plausibility = DEFAULT_PLAUSIBILITY,
) -> str | None:
    """Why an endplate line cannot give an angle (None: it can)."""
    length = float(np.linalg.norm(np.asarray(posterior, float) - np.asarray(anterior, float)))
    if length < limits.min_separation_mm:
        return (
            f"the {name} endplate has zero length ({length:.2g} mm between its anterior and posterior "
            f"points; expected at least {limits.min_separation_mm:g} mm)"
        )
    return None


def body_problem(
    points_2d: NDArray[np.float64],
    heights_mm: tuple[float, float, float],
    limits: Plausibility = DEFAULT_PLAUSIBILITY,
) -> str | None:
    """Why a body cannot be measured (None: it can).  ``points_2d``: the six landmarks in
    the measurement plane, in ``LANDMARK_KEYS`` order; ``heights_mm``: Ha, Hm, Hp."""
    p = np.asarray(points_2d, dtype=float)
    index: dict[str, int] = {k: i for i, k in enumerate(LANDMARK_KEYS)}
    for (a, b), name in _ENDPLATE_PAIRS.items():
        problem = endplate_problem(p[index[a]], p[index[b]], name, limits)
        if problem is not None:
            return problem
    for i in range(len(LANDMARK_KEYS)):
        for j in range(i + 1, len(LANDMARK_KEYS)):
            d = float(np.linalg.norm(p[i] - p[j]))
            if d < limits.min_separation_mm:
                return (
                    f"landmarks {LANDMARK_KEYS[i]} and {LANDMARK_KEYS[j]} coincide ({d:.2g} mm apart; "
                    f"expected at least {limits.min_separation_mm:g} mm)"
                )
    centred = p - p.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    if s[0] <= 0 or s[1] < limits.collinear_fraction * s[0]:
        return "the six landmarks lie on one line (the body has no area)"
    for name, h in zip(("Ha", "Hm", "Hp"), heights_mm, strict=True):
        if not np.isfinite(h) or not limits.min_height_mm <= h <= limits.max_height_mm:
            return (
                f"{name} = {h:.4g} mm is outside the plausible range {limits.min_height_mm:g}-"
                f"{limits.max_height_mm:g} mm (check the landmarks and the image's pixel spacing)"
            )
    return None
