"""Quantitative morphometry of one vertebral body: heights and shape ratios.

Definitions (clinical reference, "Landmarks: six points per vertebra", after Chou & Vokes,
J Clin Densitom 2015):

* ``Ha = |sup_ant - inf_ant|``, ``Hm = |sup_mid - inf_mid|``, ``Hp = |sup_post - inf_post|`` (mm);
* wedge ratio ``Ha / Hp``, biconcave ratio ``Hm / Hp``;
* crush ratio ``Hp / mean(Hp of the adjacent vertebrae)``: it needs neighbours, so the
  engine computes it per timepoint with :func:`crush_ratio`.

Distances are taken between the points projected onto the measurement plane
(:mod:`measure.planes`), in patient millimetres, never in pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from measure.case_values import VERTEBRA_STATUSES
from measure.landmarks import LANDMARK_KEYS, ImagePlane, Landmark, level_index
from measure.results import Measured

#: Below this a height (mm) is treated as zero, so a ratio over it is undefined.
_MIN_DENOMINATOR_MM = 1e-9


@dataclass(frozen=True)
class VertebraInput:
    """One vertebra of one timepoint, as the reader marked it.

    ``planes`` maps series_uid to the ``ImagePlane`` of the image(s) used; it may be empty
    (landmarks from other tools), in which case the plane is fitted and no uncertainty is
    given.
    """

    level: str
    status: str
    landmarks: Mapping[str, Landmark]
    planes: Mapping[str, ImagePlane] = field(default_factory=dict)

    def __post_init__(self) -> None:
        level_index(self.level)  # raises a full-sentence ValueError for an unknown level
        if self.status not in VERTEBRA_STATUSES:
            raise ValueError(
                f"vertebra {self.level}: status {self.status!r} is not known; expected one of "
                f"{', '.join(VERTEBRA_STATUSES)}."
            )
        unknown = sorted(set(self.landmarks) - set(LANDMARK_KEYS))
        if unknown:
            raise ValueError(
                f"vertebra {self.level}: landmark keys {', '.join(unknown)} are not known; expected "
                f"some of {', '.join(LANDMARK_KEYS)}."
            )

    @property
    def missing_landmarks(self) -> list[str]:
        """Landmark keys still to be placed (all six are needed to measure)."""
        return [k for k in LANDMARK_KEYS if k not in self.landmarks]


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is (nearly) zero."""
    if not math.isfinite(denominator) or abs(denominator) < _MIN_DENOMINATOR_MM:
        return math.nan
    return numerator / denominator


def shape_values(points_2d: NDArray[np.float64]) -> tuple[float, float, float, float, float]:
    """``(Ha, Hm, Hp, Ha/Hp, Hm/Hp)`` from in-plane points in ``LANDMARK_KEYS`` order."""
    p = np.asarray(points_2d, dtype=float)
    sup_ant, sup_mid, sup_post, inf_ant, inf_mid, inf_post = p
    ha = _length(sup_ant - inf_ant)
    hm = _length(sup_mid - inf_mid)
    hp = _length(sup_post - inf_post)
    return ha, hm, hp, ratio(ha, hp), ratio(hm, hp)


def _length(d: NDArray[np.float64]) -> float:
    """``np.linalg.norm(d)`` of a 1-D vector, computed as it does (``sqrt(d . d)``) without its
    overhead: the uncertainty propagation asks for it hundreds of times a case."""
    return math.sqrt(float(d.dot(d)))


def crush_ratio(hp: Measured, neighbours_hp: list[Measured]) -> Measured:
    """``Hp / mean(Hp of neighbours)`` with first-order uncertainty (independent vertebrae).

    Missing value when ``hp`` or every neighbour is missing; the uncertainty is None when
    any input uncertainty is.
    """
    usable = [n for n in neighbours_hp if n.value is not None]
    if hp.value is None or not usable:
        return Measured.missing("ratio")
    mean = sum(float(n.value) for n in usable if n.value is not None) / len(usable)
    value = ratio(hp.value, mean)
    sigmas = [n.uncertainty for n in usable]
    if hp.uncertainty is None or any(s is None for s in sigmas) or not math.isfinite(value):
        return Measured.of(value, None, "ratio")
    # d(ratio)/d(Hp) = 1/mean ; d(ratio)/d(Hp_k) = -Hp / (n * mean^2)
    variance = (hp.uncertainty / mean) ** 2 + sum(
        (hp.value * float(s) / (len(usable) * mean**2)) ** 2 for s in sigmas if s is not None
    )
    return Measured.of(value, math.sqrt(variance), "ratio")
