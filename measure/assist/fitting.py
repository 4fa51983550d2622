"""Robust fits of snapped outline samples (Qt-free): one sample snapped onto cement, edema
or a fracture line must not tilt a whole endplate or wall, nor hide behind strong ones."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def consistent_score(
    strengths: list[float], u: list[float], v: list[float], coef: NDArray[np.float64], tol_mm: float = 1.0
) -> float:
    """A side's score: the mean snap strength over its samples, a sample counting 0 when it
    was not snapped or lies more than ``tol_mm`` off the refitted curve (a dropped outlier:
    an endplate whose samples scatter is not trusted however strong each edge is)."""
    snapped = [st for st in strengths if st > 0.0]
    off = np.abs(np.asarray(v, dtype=float) - np.polyval(coef, np.asarray(u, dtype=float))) > tol_mm
    dropped = sum(st for st, o in zip(snapped, off, strict=False) if o)
    return float((sum(strengths) - dropped) / max(1, len(strengths)))


def robust_polyfit(
    x: list[float], y: list[float], degree: int, max_residual_mm: float = 1.0
) -> NDArray[np.float64]:
    """A polynomial through snapped samples, refitted without those more than
    ``max_residual_mm`` off the fit of the others (leave-one-out, so that an end sample's
    leverage cannot hide it; at most a third dropped): one sample snapped onto cement, edema
    or a fracture line inside the body must not tilt a whole endplate or wall."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    min_kept = max(degree + 2, int(np.ceil(2 * len(xa) / 3)))
    while len(xa) > min_kept:
        loo = np.empty(len(xa))
        for k in range(len(xa)):
            others = np.arange(len(xa)) != k
            loo[k] = abs(ya[k] - np.polyval(np.polyfit(xa[others], ya[others], degree), xa[k]))
        worst = int(np.argmax(loo))
        if loo[worst] <= max_residual_mm:
            break
        keep = np.arange(len(xa)) != worst
        xa, ya = xa[keep], ya[keep]
    return np.asarray(np.polyfit(xa, ya, degree), dtype=float)
