"""The measurement engine: landmarks of one timepoint in, every number with units out.

This is the one entry point the case model, the ``endplate measure`` CLI, the app, the
STIR analysis and the exports use.  It is pure (no I/O, no Qt) and recomputes everything
from the landmarks: measurements are derived, never stored as truth.

Per vertebra (:func:`measure_vertebra`): heights Ha/Hm/Hp, wedge and biconcave ratios,
VKA, each with a one-pixel placement uncertainty (:mod:`measure.uncertainty`), and the
height loss against its own posterior height.  Per timepoint (:func:`measure_timepoint`):
what needs neighbours - crush ratio, height loss against the "adjacent" and "nearest"
references (:mod:`measure.height_loss`), Genant grade and type (:mod:`measure.grading`),
regional angles (:mod:`measure.angles`).  Comparisons between timepoints live in
:mod:`measure.comparison` and are re-exported here.

Definitions follow /work/shared/docs/clinical-reference.md (sources in ../shared/seeds).
Numbers are floats, never rounded here (round only when printing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from measure.angles import (
    RegionalResult,
    RegionalSpec,
    default_regional_pairs,
    regional_angle,
    vertebral_kyphotic_angle_deg,
)
from measure.comparison import (
    DEFAULT_THRESHOLDS,
    ChangeThresholds,
    ComparisonResult,
    compare,
    compare_timepoints,
)
from measure.grading import grade_vertebra
from measure.height_loss import (
    choose_references,
    largest_loss_kind,
    mean_heights,
    mean_sigma,
    posterior_loss_pct,
    reference_loss_pct,
    reference_loss_sigma_pct,
)
from measure.landmarks import LANDMARK_KEYS, LEVELS, level_index
from measure.morphometry import Measured, VertebraInput, crush_ratio, shape_values
from measure.planes import resolve_plane
from measure.uncertainty import placement_steps, propagate

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ChangeThresholds",
    "ComparisonResult",
    "Measured",
    "RegionalResult",
    "RegionalSpec",
    "TimepointResult",
    "VertebraInput",
    "VertebraResult",
    "compare",
    "compare_timepoints",
    "default_regional_pairs",
    "measure_timepoint",
    "measure_vertebra",
    "regional_angle",
]

_MEASURED_FIELDS = ("vka_deg", "ha_mm", "hm_mm", "hp_mm", "wedge_ratio", "biconcave_ratio", "crush_ratio")


def _no_loss() -> dict[str, dict[str, float] | None]:
    return {"posterior": None, "adjacent": None, "nearest": None}


def _no_loss_sigma() -> dict[str, dict[str, float | None] | None]:
    return {"posterior": None, "adjacent": None, "nearest": None}


def _summary(
    detail: dict[str, float] | None, sigma: dict[str, float | None] | None
) -> tuple[float | None, float | None]:
    """The largest loss of one reference and its uncertainty (that of the height it came from)."""
    kind = largest_loss_kind(detail)
    if kind is None or detail is None:
        return None, None
    return detail[kind], None if sigma is None else sigma.get(kind)


@dataclass(frozen=True)
class VertebraResult:
    """Every measurement of one vertebra at one timepoint.

    ``height_loss_pct`` holds, per reference ("posterior", "adjacent", "nearest"), the loss
    of each height in percent (``{"ha", "hm"}`` for posterior, ``{"ha", "hm", "hp"}`` for
    the others), or None when that reference is missing; ``height_loss_sigma_pct`` its
    one-pixel uncertainty, same shape (a height's sigma is None when a pixel spacing is
    unknown).  ``reference_heights_mm`` holds the reference heights behind "adjacent" and
    "nearest" (used for restoration).
    """

    level: str
    status: str
    ha_mm: Measured
    hm_mm: Measured
    hp_mm: Measured
    wedge_ratio: Measured
    biconcave_ratio: Measured
    crush_ratio: Measured
    vka_deg: Measured
    height_loss_pct: dict[str, dict[str, float] | None] = field(default_factory=_no_loss)
    height_loss_sigma_pct: dict[str, dict[str, float | None] | None] = field(default_factory=_no_loss_sigma)
    reference_heights_mm: dict[str, dict[str, float] | None] = field(
        default_factory=lambda: {"adjacent": None, "nearest": None}
    )
    reference_heights_sigma_mm: dict[str, dict[str, float | None] | None] = field(
        default_factory=lambda: {"adjacent": None, "nearest": None}
    )
    genant_grade: int | None = None
    genant_reference: str | None = None
    genant_height: str | None = None
    genant_loss_pct: float | None = None
    type: str | None = None
    references: dict[str, Any] = field(default_factory=lambda: {"adjacent": [], "nearest": None, "crush": []})
    plane_source: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def measured(self) -> bool:
        """True when all six landmarks were present and the heights computed."""
        return self.ha_mm.value is not None and self.hm_mm.value is not None and self.hp_mm.value is not None

    def heights(self) -> dict[str, float] | None:
        """``{"ha", "hm", "hp"}`` in mm, or None when not measured."""
        ha, hm, hp = self.ha_mm.value, self.hm_mm.value, self.hp_mm.value
        if ha is None or hm is None or hp is None:
            return None
        return {"ha": ha, "hm": hm, "hp": hp}

    def height_sigmas(self) -> dict[str, float | None]:
        """``{"ha", "hm", "hp"}`` one-pixel uncertainties in mm (None where unknown)."""
        return {"ha": self.ha_mm.uncertainty, "hm": self.hm_mm.uncertainty, "hp": self.hp_mm.uncertainty}

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (keys are a contract with the case file, CLI and exports)."""
        refs = ("posterior", "adjacent", "nearest")
        summary = {
            ref: _summary(self.height_loss_pct.get(ref), self.height_loss_sigma_pct.get(ref)) for ref in refs
        }
        genant_sigma = None
        if self.genant_reference is not None and self.genant_height is not None:
            ref_sigma = self.height_loss_sigma_pct.get(self.genant_reference)
            genant_sigma = None if ref_sigma is None else ref_sigma.get(self.genant_height)
        return {
            "level": self.level,
            "status": self.status,
            **{name: getattr(self, name).value for name in _MEASURED_FIELDS},
            "height_loss_pct": {ref: summary[ref][0] for ref in refs},
            "height_loss_detail": {
                ref: (None if d is None else dict(d)) for ref, d in self.height_loss_pct.items()
            },
            "reference_heights_mm": {
                ref: (None if d is None else dict(d)) for ref, d in self.reference_heights_mm.items()
            },
            "genant_grade": self.genant_grade,
            "genant_reference": self.genant_reference,
            "genant_height": self.genant_height,
            "genant_loss_pct": self.genant_loss_pct,
            "type": self.type,
            "uncertainty": {
                **{name: getattr(self, name).uncertainty for name in _MEASURED_FIELDS},
                "height_loss_pct": {ref: summary[ref][1] for ref in refs},
                "height_loss_detail": {
                    ref: (None if d is None else dict(d)) for ref, d in self.height_loss_sigma_pct.items()
                },
                "genant_loss_pct": genant_sigma,
            },
            "references": {
                "adjacent": list(self.references.get("adjacent", [])),
                "nearest": self.references.get("nearest"),
                "crush": list(self.references.get("crush", [])),
            },
            "plane_source": self.plane_source,
            "notes": list(self.notes),
        }


def _unmeasured(v: VertebraInput, note: str) -> VertebraResult:
    return VertebraResult(
        level=v.level,
        status=v.status,
        ha_mm=Measured.missing("mm"),
        hm_mm=Measured.missing("mm"),
        hp_mm=Measured.missing("mm"),
        wedge_ratio=Measured.missing("ratio"),
        biconcave_ratio=Measured.missing("ratio"),
        crush_ratio=Measured.missing("ratio"),
        vka_deg=Measured.missing("deg"),
        notes=(note,),
    )


def measure_vertebra(v: VertebraInput) -> VertebraResult:
    """Measure one vertebra on its own (no neighbours: no crush ratio, and the grade uses
    the vertebra's own posterior height).

    All six landmarks are needed; with fewer, every value is None and a note lists the
    missing ones.  Raises ``ValueError`` when the landmarks sit on non-parallel images or
    in a plane too far from sagittal (see :func:`measure.planes.resolve_plane`).
    """
    result = _measure_shape(v)
    if not result.measured:
        return result
    loss = _no_loss()
    loss["posterior"] = posterior_loss_pct(result.heights() or {})
    return _graded(result, loss, _posterior_sigma(result))


def _posterior_sigma(result: VertebraResult) -> dict[str, dict[str, float | None] | None]:
    """Uncertainty of the loss against the own posterior height: ``(1 - ratio) * 100`` is
    linear in the wedge/biconcave ratio, whose sigma was propagated with the heights."""
    sigma = _no_loss_sigma()
    w, b = result.wedge_ratio.uncertainty, result.biconcave_ratio.uncertainty
    sigma["posterior"] = {
        "ha": None if w is None else 100.0 * w,
        "hm": None if b is None else 100.0 * b,
    }
    return sigma


def _measure_shape(v: VertebraInput) -> VertebraResult:
    """Heights, ratios and VKA with uncertainties; no height loss or grade yet."""
    missing = v.missing_landmarks
    if missing:
        return _unmeasured(v, f"{v.level}: not measured, landmarks {', '.join(missing)} are missing.")
    keys = list(LANDMARK_KEYS)
    resolved = resolve_plane(v.landmarks, v.planes, keys, v.level)
    plane = resolved.plane
    points = np.array([v.landmarks[k].array for k in keys])

    def values(points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        p = plane.to_2d(points_mm)
        return np.array([*shape_values(p), vertebral_kyphotic_angle_deg(p)])

    nominal = values(points)
    notes = list(resolved.notes)
    steps = placement_steps(v.landmarks, keys, v.planes)
    if steps is None:
        sigma = np.full_like(nominal, math.nan)
        notes.append(f"{v.level}: no uncertainty, the pixel spacing of an image is unknown.")
    else:
        sigma = propagate(values, points, steps)
    ha, hm, hp, wedge, biconcave, vka = (
        Measured.of(float(a), float(b), "") for a, b in zip(nominal, sigma, strict=True)
    )
    return VertebraResult(
        level=v.level,
        status=v.status,
        ha_mm=replace(ha, unit="mm"),
        hm_mm=replace(hm, unit="mm"),
        hp_mm=replace(hp, unit="mm"),
        wedge_ratio=replace(wedge, unit="ratio"),
        biconcave_ratio=replace(biconcave, unit="ratio"),
        crush_ratio=Measured.missing("ratio"),
        vka_deg=replace(vka, unit="deg"),
        plane_source=plane.source,
        notes=tuple(notes),
    )


def _measure_shape_or_refuse(v: VertebraInput) -> VertebraResult:
    """Like :func:`_measure_shape`, but a refused vertebra (landmarks on non-parallel
    images, a plane far from sagittal) becomes an unmeasured result carrying the refusal,
    so one bad vertebra does not hide the numbers of the others."""
    try:
        return _measure_shape(v)
    except ValueError as exc:
        return _unmeasured(v, f"not measured: {exc}")


def _graded(
    result: VertebraResult,
    loss: dict[str, dict[str, float] | None],
    sigma: dict[str, dict[str, float | None] | None],
) -> VertebraResult:
    grade = grade_vertebra(result.level, loss)
    return replace(
        result,
        height_loss_pct=loss,
        height_loss_sigma_pct=sigma,
        genant_grade=grade.grade,
        genant_reference=grade.reference,
        genant_height=grade.height,
        genant_loss_pct=grade.loss_pct,
        type=grade.type,
        notes=result.notes + grade.notes,
    )


@dataclass(frozen=True)
class TimepointResult:
    """All vertebrae (cranial to caudal) and regional angles of one timepoint."""

    vertebrae: dict[str, VertebraResult]
    regional: list[RegionalResult]
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "vertebrae": {level: r.as_dict() for level, r in self.vertebrae.items()},
            "regional": [r.as_dict() for r in self.regional],
            "notes": list(self.notes),
        }


def _with_neighbours(result: VertebraResult, measured: dict[str, VertebraResult]) -> VertebraResult:
    """Add crush ratio, height loss against all three references and the grade to ``result``."""
    heights = result.heights()
    assert heights is not None
    reference_levels = [lv for lv, r in measured.items() if r.status == "reference"]
    choice = choose_references(result.level, reference_levels)
    notes = list(result.notes) + list(choice.notes)

    loss = _no_loss()
    loss["posterior"] = posterior_loss_pct(heights)
    sigma = _posterior_sigma(result)
    own_sigma = result.height_sigmas()
    reference_heights: dict[str, dict[str, float] | None] = {"adjacent": None, "nearest": None}
    reference_sigmas: dict[str, dict[str, float | None] | None] = {"adjacent": None, "nearest": None}
    if choice.adjacent:
        ref = mean_heights(measured[lv].heights() or {} for lv in choice.adjacent)
        ref_sigma = mean_sigma(measured[lv].height_sigmas() for lv in choice.adjacent)
        reference_heights["adjacent"] = ref
        reference_sigmas["adjacent"] = ref_sigma
        loss["adjacent"] = reference_loss_pct(heights, ref)
        sigma["adjacent"] = reference_loss_sigma_pct(heights, own_sigma, ref, ref_sigma)
    if choice.nearest:
        ref = dict(measured[choice.nearest].heights() or {})
        nearest_sigma = measured[choice.nearest].height_sigmas()
        reference_heights["nearest"] = ref
        reference_sigmas["nearest"] = nearest_sigma
        loss["nearest"] = reference_loss_pct(heights, ref)
        sigma["nearest"] = reference_loss_sigma_pct(heights, own_sigma, ref, nearest_sigma)

    # Crush ratio (Chou & Vokes): against the directly adjacent levels that were measured,
    # whatever their status: the ratio describes shape, the reader judges it.
    i = level_index(result.level)
    neighbours = [LEVELS[j] for j in (i - 1, i + 1) if 0 <= j < len(LEVELS) and LEVELS[j] in measured]
    crush = crush_ratio(result.hp_mm, [measured[lv].hp_mm for lv in neighbours])
    if not neighbours:
        notes.append(f"{result.level}: no crush ratio, neither adjacent level is measured.")

    updated = replace(
        result,
        crush_ratio=crush,
        reference_heights_mm=reference_heights,
        reference_heights_sigma_mm=reference_sigmas,
        references={"adjacent": list(choice.adjacent), "nearest": choice.nearest, "crush": neighbours},
        notes=tuple(notes),
    )
    return _graded(updated, loss, sigma)


def measure_timepoint(
    vertebrae: Sequence[VertebraInput], regional: Sequence[RegionalSpec] | None = None
) -> TimepointResult:
    """Measure every vertebra of one timepoint and the regional angles.

    ``regional=None`` uses :func:`default_regional_pairs`; an explicit (possibly empty)
    list is measured as given.  Raises ``ValueError`` for two vertebrae with the same
    level or a regional angle naming an absent level.  A vertebra (or regional angle)
    whose landmarks lie on non-parallel images is not measured: its values are null and
    its notes carry the reason, and every other vertebra is still measured.
    """
    seen: set[str] = set()
    for v in vertebrae:
        if v.level in seen:
            raise ValueError(f"vertebra {v.level} is given twice in one timepoint; expected each level once.")
        seen.add(v.level)
    ordered = sorted(vertebrae, key=lambda v: level_index(v.level))
    first_pass = {v.level: _measure_shape_or_refuse(v) for v in ordered}
    measured = {lv: r for lv, r in first_pass.items() if r.measured}
    results = {lv: (_with_neighbours(r, measured) if r.measured else r) for lv, r in first_pass.items()}

    notes: list[str] = []
    by_level = {v.level: v for v in ordered}
    specs = default_regional_pairs(ordered, notes) if regional is None else list(regional)
    regional_results = []
    for spec in specs:
        for lv in (spec.upper_level, spec.lower_level):
            if lv not in by_level:
                raise ValueError(
                    f"regional angle {spec.display_label}: vertebra {lv} is not in this timepoint; "
                    f"expected one of {', '.join(by_level) or 'the measured levels'}."
                )
        try:
            result = regional_angle(
                by_level[spec.upper_level],
                spec.upper_endplate,
                by_level[spec.lower_level],
                spec.lower_endplate,
                spec.display_label,
            )
        except ValueError as exc:  # e.g. the two vertebrae sit on non-parallel images
            # The message names the angle already ("regional angle ...: landmarks ...").
            result = RegionalResult.not_measured(spec, f"not measured: {exc}")
        regional_results.append(result)
    return TimepointResult(vertebrae=results, regional=regional_results, notes=tuple(notes))
