"""Measurement uncertainty from landmark placement error.

Model: each landmark may be misplaced by one pixel, independently, along each image axis.
One pixel is the row spacing along the column-cosine direction (moving one row) and the
column spacing along the row-cosine direction (moving one column); PixelSpacing is
(row spacing, column spacing), and on many series the two differ (clinical reference,
"Landmarks": distances in pixels are wrong), so the error is anisotropic.

Propagation is first order with a finite-difference Jacobian and independent errors::

    sigma_f = sqrt( sum_i sum_dir (df/dx_{i,dir} * delta_dir)^2 )

It gives a +/- one-sided value in the unit of ``f``.  It is ``None`` when the pixel
spacing of any landmark's image is unknown: a number would be invented.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from measure.landmarks import ImagePlane, Landmark

#: Central-difference step (mm).  Positions are O(100 mm) and derivatives smooth, so
#: 1e-3 mm keeps both truncation (O(h^2)) and rounding (eps*|x|/h) below 1e-9.
FINITE_DIFFERENCE_STEP_MM = 1e-3


@dataclass(frozen=True)
class PlacementStep:
    """One independent error source: point ``index`` may move ``size_mm`` along ``direction``."""

    index: int
    direction: NDArray[np.float64]  # unit LPS vector
    size_mm: float


def placement_steps(
    landmarks: Mapping[str, Landmark], keys: Sequence[str], planes: Mapping[str, ImagePlane]
) -> list[PlacementStep] | None:
    """One-pixel steps (two per landmark) for ``keys``; None if any image is unknown."""
    steps: list[PlacementStep] = []
    for index, key in enumerate(keys):
        image = planes.get(landmarks[key].series_uid)
        if image is None:
            return None
        row_spacing_mm, col_spacing_mm = image.pixel_spacing_mm
        row_cos = np.asarray(image.row_cosine, dtype=float)
        col_cos = np.asarray(image.col_cosine, dtype=float)
        # Moving one row goes along the column cosine by the row spacing, and vice versa.
        steps.append(PlacementStep(index, col_cos / np.linalg.norm(col_cos), float(row_spacing_mm)))
        steps.append(PlacementStep(index, row_cos / np.linalg.norm(row_cos), float(col_spacing_mm)))
    return steps


def propagate(
    function: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    points_mm: NDArray[np.float64],
    steps: Sequence[PlacementStep],
    step_mm: float = FINITE_DIFFERENCE_STEP_MM,
) -> NDArray[np.float64]:
    """First-order sigma of every output of ``function(points_mm)`` (see module docstring).

    ``function`` maps an (N, 3) array of LPS points to a 1-D array of outputs; outputs that
    are NaN at the nominal or perturbed points come out NaN.
    """
    points = np.asarray(points_mm, dtype=float)
    nominal = np.asarray(function(points), dtype=float)
    variance = np.zeros_like(nominal)
    for step in steps:
        plus = points.copy()
        minus = points.copy()
        plus[step.index] += step_mm * step.direction
        minus[step.index] -= step_mm * step.direction
        derivative = (np.asarray(function(plus)) - np.asarray(function(minus))) / (2.0 * step_mm)
        variance += (derivative * step.size_mm) ** 2
    return np.sqrt(variance)


def quotient_sigma(
    numerator: float, numerator_sigma: float, denominator: float, denominator_sigma: float
) -> float:
    """First-order sigma of ``numerator / denominator`` with independent errors."""
    return float(np.hypot(numerator_sigma / denominator, numerator * denominator_sigma / denominator**2))
