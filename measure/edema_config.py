"""Thresholds of the STIR marrow-edema analysis, each with the reason for its default.

No validated numeric cut-off exists for a STIR signal-intensity ratio or for the bright
fraction of a vertebral body (clinical reference, "Fracture recency on MRI").  The
defaults below were chosen by us, not taken from a study: they separate the synthetic
phantom cases (normal marrow with 10 % noise, band-like edema under one endplate,
whole-body edema) with a wide margin and follow what the literature says qualitatively
(any definite STIR hyperintensity of the body, band-like under the fractured endplate or
diffuse, points to a recent fracture).  Every number is configurable, and the reader
confirms or overrides the flag.  See docs/edema.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FlagRule = Literal["either", "both", "sir", "fraction"]
FLAG_RULES: tuple[str, ...] = ("either", "both", "sir", "fraction")

#: 1.4826 * MAD estimates the standard deviation of normally distributed values.
MAD_TO_SD = 1.4826

#: Upper bounds (exclusive) of the bright fraction for extent grades 0, 1 and 2; grade 3
#: is anything from the last bound up.  Research grades: 0 %, 1-24 %, 25-74 %, 75-100 %.
GRADE_1_MIN_FRACTION = 0.01
GRADE_2_MIN_FRACTION = 0.25
GRADE_3_MIN_FRACTION = 0.75


@dataclass(frozen=True)
class EdemaConfig:
    """Parameters of :func:`measure.edema.analyse_edema` (all distances in mm).

    Attributes
    ----------
    slab_half_width_mm
        STIR slices whose centre lies within this distance of the landmark plane (along
        the STIR slice normal) are used.  5 mm keeps the ROI inside the central third of a
        lumbar body (about 35-45 mm wide left-right) while using 2-3 slices of a typical
        3-4 mm sagittal STIR.  When no slice centre is that close, the single nearest slice
        is used if it is within ``slab_half_width_mm + slice spacing / 2``.
    margin_mm
        The body outline (polygon through the six landmarks) is shrunk by this distance in
        mm, in every in-plane direction, so that cortex, endplates and the fluid-bright
        discs stay out of the ROI; 2 mm is about a cortex plus one STIR pixel.
    bright_k
        A voxel is "bright" when it exceeds the reference median by ``bright_k`` robust
        standard deviations of the reference bodies (1.4826 x MAD).  With k = 3 a normal
        body with Gaussian noise has about 0.13 % bright voxels, well under the noise floor.
    min_spread_fraction
        Floor of that robust spread as a fraction of the reference median: a noise-free
        or smoothed series would otherwise call a voxel 0.1 % above the median bright.
        With the defaults a voxel must be at least 15 % above the reference median.
    noise_floor_fraction
        A bright fraction below this counts as 0 % (extent grade 0): isolated bright
        voxels from noise, vessels or partial volume are not edema.  1 % is the lower
        bound of research grade 1 (1-24 %).
    sir_threshold
        Flag when the signal-intensity ratio (median of the body / reference median) is at
        least this.  1.3 is far above the scatter of normal bodies on the phantom (within
        +-3 % at 10 % noise) and below diffuse edema (ratio 2-3).  Not validated on patients.
    fraction_threshold
        Flag when at least this fraction of the body is bright.  10 % is ten times the noise
        floor, and a band of edema under one endplate of 3-4 mm in a 25 mm tall body
        (typical of a recent fracture) exceeds it.  Not validated on patients.
    flag_rule
        How the two tests combine: ``"either"`` (default: band-like edema raises the
        fraction but hardly the median, so requiring both would miss it), ``"both"``,
        ``"sir"`` or ``"fraction"`` alone.
    min_voxels
        A body with fewer ROI voxels than this is not analysed (too thin after the margin,
        or mostly outside the STIR field of view).
    max_plane_angle_deg
        The landmarks' plane and the STIR slices must be within this angle (an oblique
        sagittal STIR is fine; an axial STIR is not, the outline would project to a line).
    t1_support_ratio
        Only for wording: a T1 ratio below this is reported as "dark on T1, supports edema".
    """

    slab_half_width_mm: float = 5.0
    margin_mm: float = 2.0
    bright_k: float = 3.0
    min_spread_fraction: float = 0.05
    noise_floor_fraction: float = GRADE_1_MIN_FRACTION
    sir_threshold: float = 1.3
    fraction_threshold: float = 0.10
    flag_rule: FlagRule = "either"
    min_voxels: int = 20
    max_plane_angle_deg: float = 30.0
    t1_support_ratio: float = 0.9

    def __post_init__(self) -> None:
        checks: list[tuple[str, float, float, float]] = [
            ("slab_half_width_mm", self.slab_half_width_mm, 0.0, 100.0),
            ("margin_mm", self.margin_mm, 0.0, 20.0),
            ("bright_k", self.bright_k, 0.0, 50.0),
            ("min_spread_fraction", self.min_spread_fraction, 0.0, 1.0),
            ("noise_floor_fraction", self.noise_floor_fraction, 0.0, GRADE_2_MIN_FRACTION),
            ("sir_threshold", self.sir_threshold, 0.0, 100.0),
            ("fraction_threshold", self.fraction_threshold, 0.0, 1.0),
            ("min_voxels", float(self.min_voxels), 1.0, 1e9),
            ("max_plane_angle_deg", self.max_plane_angle_deg, 0.0, 90.0),
            ("t1_support_ratio", self.t1_support_ratio, 0.0, 10.0),
        ]
        for name, value, low, high in checks:
            if not (low <= float(value) <= high):
                raise ValueError(
                    f"EdemaConfig.{name} is {value}; expected a number between {low:g} and {high:g}."
                )
        if self.flag_rule not in FLAG_RULES:
            raise ValueError(
                f"EdemaConfig.flag_rule is {self.flag_rule!r}; expected one of {', '.join(FLAG_RULES)}."
            )

    def as_dict(self) -> dict[str, float | int | str]:
        """The parameters as plain values (stored next to results so they can be reproduced)."""
        return {
            "slab_half_width_mm": self.slab_half_width_mm,
            "margin_mm": self.margin_mm,
            "bright_k": self.bright_k,
            "min_spread_fraction": self.min_spread_fraction,
            "noise_floor_fraction": self.noise_floor_fraction,
            "sir_threshold": self.sir_threshold,
            "fraction_threshold": self.fraction_threshold,
            "flag_rule": self.flag_rule,
            "min_voxels": self.min_voxels,
            "max_plane_angle_deg": self.max_plane_angle_deg,
            "t1_support_ratio": self.t1_support_ratio,
        }


def extent_grade(fraction: float, noise_floor_fraction: float = GRADE_1_MIN_FRACTION) -> int:
    """Edema extent grade 0-3 from the bright fraction (0-1) of the body.

    Grade 0 below the noise floor, 1 up to 24 %, 2 from 25 % to 74 %, 3 from 75 %.
    """
    if fraction < noise_floor_fraction:
        return 0
    if fraction < GRADE_2_MIN_FRACTION:
        return 1
    if fraction < GRADE_3_MIN_FRACTION:
        return 2
    return 3


DEFAULT_CONFIG = EdemaConfig()
