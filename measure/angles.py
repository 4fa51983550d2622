"""Kyphotic angles: vertebral (one body) and regional (between two vertebrae).

Definitions (clinical reference, "Angles"):

* vertebral kyphotic angle (VKA, wedge angle): between the superior endplate line
  (``sup_ant -> sup_post``) and the inferior endplate line (``inf_ant -> inf_post``);
* regional (segmental) angle: between an endplate of a vertebra above and an endplate of
  a vertebra below; the literature uses "local/segmental/regional" for different pairs
  (Ulmar, Eur Spine J 2010), so a result always stores which endplates it joins.  The
  default for a fractured level is the superior endplate of the vertebra above to the
  inferior endplate of the vertebra below.

Sign: kyphosis positive (endplates converge anteriorly), lordosis negative.  Computation
in the 2-D anatomical frame of :mod:`measure.planes` (x posterior, y superior, both from
patient LPS): each endplate line is taken pointing posteriorly, so the order of its two
points cannot turn the angle into its 180-deg complement; its angle is
``atan2(superior, posterior)``; the kyphotic angle is ``angle(upper line) - angle(lower
line)``.  ``atan2`` only, never an unclamped ``acos``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from measure.landmarks import LANDMARK_KEYS, LEVELS, level_index
from measure.morphometry import VertebraInput
from measure.planes import resolve_plane
from measure.plausibility import DEFAULT_PLAUSIBILITY, Plausibility, endplate_problem
from measure.results import RegionalResult
from measure.uncertainty import placement_steps, propagate

EndplateName = Literal["superior", "inferior"]
ENDPLATES: tuple[str, ...] = ("superior", "inferior")
_ENDPLATE_KEYS: dict[str, tuple[str, str]] = {
    "superior": ("sup_ant", "sup_post"),
    "inferior": ("inf_ant", "inf_post"),
}
#: Position of each landmark key in ``LANDMARK_KEYS`` order.
_KEY_INDEX: dict[str, int] = {k: n for n, k in enumerate(LANDMARK_KEYS)}
#: Statuses for which a default regional angle is proposed.
REGIONAL_DEFAULT_STATUSES: tuple[str, ...] = ("fractured", "treated")


def endplate_line_angle_deg(anterior_2d: NDArray[np.float64], posterior_2d: NDArray[np.float64]) -> float:
    """Angle (deg, -90..90) of an endplate line in the (posterior, superior) frame.

    The direction is flipped to point posteriorly, so swapping the two points changes
    nothing.
    """
    dx, dy = (np.asarray(posterior_2d, dtype=float) - np.asarray(anterior_2d, dtype=float)).tolist()
    if dx < 0:
        dx, dy = -dx, -dy
    return math.degrees(math.atan2(dy, dx))


def kyphotic_angle_deg(
    upper_ant_2d: NDArray[np.float64],
    upper_post_2d: NDArray[np.float64],
    lower_ant_2d: NDArray[np.float64],
    lower_post_2d: NDArray[np.float64],
) -> float:
    """Angle between an upper and a lower endplate line, kyphosis positive.

    When the upper line rises posteriorly relative to the lower one, the two converge
    anteriorly (kyphosis) and the result is positive.
    """
    return endplate_line_angle_deg(upper_ant_2d, upper_post_2d) - endplate_line_angle_deg(
        lower_ant_2d, lower_post_2d
    )


def vertebral_kyphotic_angle_deg(points_2d: NDArray[np.float64]) -> float:
    """VKA from in-plane points in ``LANDMARK_KEYS`` order (see the module docstring)."""
    p = np.asarray(points_2d, dtype=float)
    i = _KEY_INDEX
    return kyphotic_angle_deg(p[i["sup_ant"]], p[i["sup_post"]], p[i["inf_ant"]], p[i["inf_post"]])


@dataclass(frozen=True)
class RegionalSpec:
    """Which endplates a regional angle joins; ``label`` is free text for display."""

    upper_level: str
    upper_endplate: str
    lower_level: str
    lower_endplate: str
    label: str | None = None

    def __post_init__(self) -> None:
        for what, endplate in (("upper", self.upper_endplate), ("lower", self.lower_endplate)):
            if endplate not in ENDPLATES:
                raise ValueError(
                    f"regional angle: the {what} endplate {endplate!r} is not known; expected "
                    "'superior' or 'inferior'."
                )
        upper, lower = level_index(self.upper_level), level_index(self.lower_level)
        same_body = upper == lower and (self.upper_endplate, self.lower_endplate) == ("superior", "inferior")
        if upper > lower or (upper == lower and not same_body):
            raise ValueError(
                f"regional angle: {self.upper_level} {self.upper_endplate} endplate is not above "
                f"{self.lower_level} {self.lower_endplate} endplate; expected the upper endplate first."
            )

    @property
    def display_label(self) -> str:
        return self.label or (
            f"{self.upper_level} {self.upper_endplate} - {self.lower_level} {self.lower_endplate}"
        )


def regional_not_measured(spec: RegionalSpec, note: str) -> RegionalResult:
    """The result of an angle that could not be measured: no value, ``note`` says why."""
    return RegionalResult(
        spec.upper_level,
        spec.upper_endplate,
        spec.lower_level,
        spec.lower_endplate,
        None,
        None,
        spec.display_label,
        (note,),
    )


def regional_angle(
    upper: VertebraInput,
    upper_endplate: str,
    lower: VertebraInput,
    lower_endplate: str,
    label: str | None = None,
    plausibility: Plausibility = DEFAULT_PLAUSIBILITY,
) -> RegionalResult:
    """Kyphotic angle between ``upper``'s and ``lower``'s chosen endplates.

    Same sign convention and plane handling as the VKA: all landmarks present on both
    vertebrae decide the common plane (parallel slices are projected onto it, non-parallel
    images are refused with ``ValueError``); the uncertainty propagates a one-pixel
    placement error of the four endplate points.  Missing endplate landmarks give a
    result with ``angle_deg = None`` and a note.
    """
    spec = RegionalSpec(upper.level, upper_endplate, lower.level, lower_endplate, label)
    used = [(upper, key) for key in _ENDPLATE_KEYS[upper_endplate]]
    used += [(lower, key) for key in _ENDPLATE_KEYS[lower_endplate]]
    missing = [f"{v.level} {key}" for v, key in used if key not in v.landmarks]
    if missing:
        return regional_not_measured(
            spec, f"regional angle {spec.display_label}: landmarks {', '.join(missing)} are missing."
        )

    # One namespace for the landmarks of both vertebrae ("T12.sup_ant", ...).
    combined = {f"{v.level}.{k}": lm for v in (upper, lower) for k, lm in v.landmarks.items()}
    images = {**upper.planes, **lower.planes}
    all_keys = list(combined)
    used_keys = [f"{v.level}.{key}" for v, key in used]
    context = f"regional angle {spec.display_label}"
    resolved = resolve_plane(combined, images, all_keys, context)
    plane = resolved.plane
    points = np.array([combined[k].array for k in used_keys])

    def angle(points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        p = plane.to_2d(points_mm)
        return np.array([kyphotic_angle_deg(p[0], p[1], p[2], p[3])])

    p2 = plane.to_2d(points)
    for (a, b), (v, name) in (((0, 1), (upper, upper_endplate)), ((2, 3), (lower, lower_endplate))):
        problem = endplate_problem(p2[a], p2[b], f"{v.level} {name}", plausibility)
        if problem is not None:
            return regional_not_measured(
                spec, f"regional angle {spec.display_label}: not measured: {problem}."
            )
    value = float(angle(points)[0])
    steps = placement_steps(combined, used_keys, images)
    sigma = None if steps is None else float(propagate(angle, points, steps)[0])
    notes = list(resolved.notes)
    if steps is None:
        notes.append(f"{context}: no uncertainty, the pixel spacing of an image is unknown.")
    return RegionalResult(
        upper.level,
        upper_endplate,
        lower.level,
        lower_endplate,
        value,
        sigma,
        spec.display_label,
        tuple(notes),
    )


def default_regional_pairs(
    vertebrae: Sequence[VertebraInput], notes: list[str] | None = None
) -> list[RegionalSpec]:
    """Default regional angles: for each fractured or treated level, superior endplate of the
    vertebra directly above to inferior endplate of the vertebra directly below.

    Levels whose neighbour above or below is not among ``vertebrae`` get no default angle;
    when ``notes`` is given, a sentence saying so is appended to it.
    """
    by_level = {v.level: v for v in vertebrae}
    specs: list[RegionalSpec] = []
    if notes is None:
        notes = []
    for v in sorted(vertebrae, key=lambda v: level_index(v.level)):
        if v.status not in REGIONAL_DEFAULT_STATUSES:
            continue
        i = level_index(v.level)
        above = LEVELS[i - 1] if i > 0 else None
        below = LEVELS[i + 1] if i + 1 < len(LEVELS) else None
        if above not in by_level or below not in by_level:
            absent = [lvl for lvl in (above, below) if lvl is None or lvl not in by_level]
            names = " and ".join(str(a) for a in absent)
            verb = f"vertebrae {names} are" if len(absent) > 1 else f"vertebra {names} is"
            notes.append(f"no default regional angle around {v.level}: {verb} not measured.")
            continue
        assert above is not None and below is not None
        specs.append(RegionalSpec(above, "superior", below, "inferior", f"regional {v.level}"))
    return specs
