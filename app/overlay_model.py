"""What the overlay layer draws: per vertebra its points (LPS mm) and text, regional angles.

Plain data (no Qt): :mod:`app.overlay_state` builds it from the case, and
:class:`~app.overlays.OverlayLayer` keeps its view items in step with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from measure.landmarks import LANDMARK_KEYS


@dataclass
class VertebraOverlay:
    """What to draw for one vertebra on one viewer."""

    level: str
    status: str
    points_mm: dict[str, NDArray[np.float64]]
    values_text: str = ""
    #: One more line under the values, in its own colour, with a tooltip (the STIR edema
    #: badge of :mod:`app.stir_controller`); empty: none.
    badge: str = ""
    badge_colour: tuple[int, int, int] | None = None
    badge_tooltip: str = ""


def is_complete(vert: VertebraOverlay) -> bool:
    """All six landmarks are there (a label is shown only then)."""
    return all(k in vert.points_mm for k in LANDMARK_KEYS)


@dataclass
class RegionalOverlay:
    """A regional angle: two endplate lines (anterior, posterior points) and its value."""

    label: str
    upper: tuple[NDArray[np.float64], NDArray[np.float64]]
    lower: tuple[NDArray[np.float64], NDArray[np.float64]]
    text: str = ""


@dataclass
class OverlayState:
    vertebrae: list[VertebraOverlay] = field(default_factory=list)
    regional: list[RegionalOverlay] = field(default_factory=list)
