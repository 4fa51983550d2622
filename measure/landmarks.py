"""Landmarks: six points per vertebral body, in patient LPS millimetres.

Quantitative morphometry (clinical reference, "Landmarks"): on a mid-sagittal slice,
superior endplate anterior / middle / posterior and inferior endplate anterior / middle /
posterior.  Positions are stored in LPS mm with the UIDs of the image they were placed
on; pixel positions are always derived, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray

LandmarkKey = Literal["sup_ant", "sup_mid", "sup_post", "inf_ant", "inf_mid", "inf_post"]
LANDMARK_KEYS: tuple[LandmarkKey, ...] = (
    "sup_ant",
    "sup_mid",
    "sup_post",
    "inf_ant",
    "inf_mid",
    "inf_post",
)
LANDMARK_LABELS: dict[str, str] = {
    "sup_ant": "superior endplate, anterior",
    "sup_mid": "superior endplate, middle",
    "sup_post": "superior endplate, posterior",
    "inf_ant": "inferior endplate, anterior",
    "inf_mid": "inferior endplate, middle",
    "inf_post": "inferior endplate, posterior",
}

#: Levels from cranial to caudal; the index is the anatomical order.
LEVELS: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "S1",
)

Endplate = Literal["superior", "inferior"]


def level_index(level: str) -> int:
    """Anatomical order of a level (C1 = 0 ... S1 = last); ValueError if unknown."""
    try:
        return LEVELS.index(level)
    except ValueError:
        raise ValueError(
            f"unknown vertebral level {level!r}; expected one of C1..C7, T1..T12, L1..L5, S1"
        ) from None


@dataclass(frozen=True)
class ImagePlane:
    """The image a landmark sits on, as far as measurement needs it.

    ``row_cosine``/``col_cosine`` are the ImageOrientationPatient vectors and
    ``pixel_spacing_mm`` is (row spacing, column spacing); together they give the plane
    normal and the one-pixel placement error used for uncertainties.
    """

    row_cosine: tuple[float, float, float]
    col_cosine: tuple[float, float, float]
    pixel_spacing_mm: tuple[float, float]

    @cached_property
    def normal(self) -> NDArray[np.float64]:
        """The unit normal ``row x col``, computed once (the engine asks for it thousands of
        times a case: uncertainties, plane checks); read-only, as the plane is frozen."""
        n = np.cross(np.asarray(self.row_cosine), np.asarray(self.col_cosine))
        unit = n / np.linalg.norm(n)
        unit.setflags(write=False)
        return unit

    @classmethod
    def from_orientation(cls, orientation: Sequence[float], pixel_spacing_mm: Sequence[float]) -> ImagePlane:
        o = [float(x) for x in orientation]
        return cls(
            (o[0], o[1], o[2]), (o[3], o[4], o[5]), (float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1]))
        )


@dataclass(frozen=True)
class Landmark:
    """One point in patient space and the image it was placed on."""

    position_mm: tuple[float, float, float]
    series_uid: str
    sop_uid: str | None = None  # optional for landmarks written by other tools
    frame_index: int | None = None  # frame of a multi-frame object, when that matters

    def __post_init__(self) -> None:
        pos = tuple(float(x) for x in self.position_mm)
        if len(pos) != 3 or not all(np.isfinite(pos)):
            raise ValueError(f"a landmark position needs 3 finite LPS values in mm, got {self.position_mm}")
        object.__setattr__(self, "position_mm", pos)

    @property
    def array(self) -> NDArray[np.float64]:
        return np.asarray(self.position_mm, dtype=float)

    def moved_to(self, position_mm: Sequence[float]) -> Landmark:
        return replace(self, position_mm=tuple(float(x) for x in position_mm))  # type: ignore[arg-type]
