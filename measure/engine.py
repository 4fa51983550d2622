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
:mod:`measure.comparison`.  Results are the typed objects of :mod:`measure.results`.

Definitions follow /work/shared/docs/clinical-reference.md (sources in ../shared/seeds).
Numbers are floats, never rounded here (round only when printing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from measure.angles import (
    RegionalSpec,
    default_regional_pairs,
    regional_angle,
    regional_not_measured,
    vertebral_kyphotic_angle_deg,
)
from measure.grading import grade_vertebra
from measure.height_loss import (
    choose_references,
    mean_heights,
    mean_sigma,
    posterior_loss_pct,
    reference_loss_pct,
    reference_loss_sigma_pct,
)
from measure.landmarks import LANDMARK_KEYS, LEVELS, level_index
from measure.morphometry import VertebraInput, crush_ratio, shape_values
from measure.planes import resolve_plane
from measure.plausibility import DEFAULT_PLAUSIBILITY, Plausibility, body_problem
from measure.results import (
    HeightLoss,
    HeightLosses,
    Measured,
    PerHeight,
    ReferenceHeights,
    ReferenceLevels,
    TimepointResult,
    VertebraResult,
)
from measure.uncertainty import placement_steps, propagate

__all__ = ["measure_timepoint", "measure_vertebra"]


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


def measure_vertebra(v: VertebraInput, plausibility: Plausibility = DEFAULT_PLAUSIBILITY) -> VertebraResult:
    """Measure one vertebra on its own (no neighbours: no crush ratio, and the grade uses
    the vertebra's own posterior height).

    All six landmarks are needed; with fewer, every value is None and a note lists the
    missing ones.  Raises ``ValueError`` when the landmarks sit on non-parallel images or
    in a plane too far from sagittal (see :func:`measure.planes.resolve_plane`).
    """
    result = _measure_shape(v)
    if not result.measured:
        return result
    return _graded(result, HeightLosses(posterior=_posterior_loss(result)))


def _posterior_loss(result: VertebraResult) -> HeightLoss:
    """Loss against the own posterior height; its uncertainty: ``(1 - ratio) * 100`` is
    linear in the wedge/biconcave ratio, whose sigma was propagated with the heights."""
    heights = result.heights()
    assert heights is not None
    pct = posterior_loss_pct({"ha": heights.ha, "hm": heights.hm, "hp": heights.hp})  # type: ignore[dict-item]
    w, b = result.wedge_ratio.uncertainty, result.biconcave_ratio.uncertainty
    sigma = PerHeight(ha=None if w is None else 100.0 * w, hm=None if b is None else 100.0 * b)
    return HeightLoss("posterior", PerHeight(ha=pct["ha"], hm=pct["hm"]), sigma)


def _measure_shape(v: VertebraInput, plausibility: Plausibility = DEFAULT_PLAUSIBILITY) -> VertebraResult:
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
    problem = body_problem(plane.to_2d(points), (nominal[0], nominal[1], nominal[2]), plausibility)
    if problem is not None:
        return _unmeasured(v, f"{v.level}: not measured: {problem}.")
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


def _measure_shape_or_refuse(v: VertebraInput, plausibility: Plausibility) -> VertebraResult:
    """Like :func:`_measure_shape`, but a refused vertebra (landmarks on non-parallel
    images, a plane far from sagittal) becomes an unmeasured result carrying the refusal,
    so one bad vertebra does not hide the numbers of the others."""
    try:
        return _measure_shape(v, plausibility)
    except ValueError as exc:
        return _unmeasured(v, f"not measured: {exc}")


def _detail(loss: HeightLoss | None) -> dict[str, float] | None:
    """The ``{height: pct}`` mapping :func:`measure.grading.grade_vertebra` reads."""
    if loss is None:
        return None
    return {k: v for k in loss.heights if (v := loss.pct.get(k)) is not None}


def _graded(result: VertebraResult, losses: HeightLosses) -> VertebraResult:
    grade = grade_vertebra(
        result.level,
        {
            "posterior": _detail(losses.posterior),
            "adjacent": _detail(losses.adjacent),
            "nearest": _detail(losses.nearest),
        },
    )
    return replace(
        result,
        height_loss=losses,
        genant_grade=grade.grade,
        genant_reference=grade.reference,
        genant_height=grade.height,
        genant_loss_pct=grade.loss_pct,
        fracture_type=grade.type,
        notes=result.notes + grade.notes,
    )


def _heights_dict(h: PerHeight | None) -> dict[str, float]:
    assert h is not None and h.ha is not None and h.hm is not None and h.hp is not None
    return {"ha": h.ha, "hm": h.hm, "hp": h.hp}


def _sigmas_dict(h: PerHeight) -> dict[str, float | None]:
    return {"ha": h.ha, "hm": h.hm, "hp": h.hp}


def _reference_loss(
    reference: str, heights: dict[str, float], own_sigma: dict[str, float | None], ref: ReferenceHeights
) -> HeightLoss:
    ref_heights = _heights_dict(ref.heights_mm)
    return HeightLoss(
        reference,
        PerHeight.from_mapping(reference_loss_pct(heights, ref_heights)),
        PerHeight.from_mapping(
            reference_loss_sigma_pct(heights, own_sigma, ref_heights, _sigmas_dict(ref.sigma_mm))
        ),
    )


def _with_neighbours(result: VertebraResult, measured: dict[str, VertebraResult]) -> VertebraResult:
    """Add crush ratio, height loss against all three references and the grade to ``result``."""
    heights = _heights_dict(result.heights())
    reference_levels = [lv for lv, r in measured.items() if r.status == "reference"]
    choice = choose_references(result.level, reference_levels)
    notes = list(result.notes) + list(choice.notes)
    own_sigma = _sigmas_dict(result.height_sigmas())

    adjacent_ref = nearest_ref = None
    adjacent_loss = nearest_loss = None
    if choice.adjacent:
        adjacent_ref = ReferenceHeights(
            PerHeight.from_mapping(
                mean_heights(_heights_dict(measured[lv].heights()) for lv in choice.adjacent)
            ),
            PerHeight.from_mapping(
                mean_sigma(_sigmas_dict(measured[lv].height_sigmas()) for lv in choice.adjacent)
            ),
        )
        adjacent_loss = _reference_loss("adjacent", heights, own_sigma, adjacent_ref)
    if choice.nearest:
        nearest = measured[choice.nearest]
        assert nearest.heights() is not None
        nearest_ref = ReferenceHeights(nearest.heights(), nearest.height_sigmas())  # type: ignore[arg-type]
        nearest_loss = _reference_loss("nearest", heights, own_sigma, nearest_ref)

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
        adjacent_reference=adjacent_ref,
        nearest_reference=nearest_ref,
        references=ReferenceLevels(tuple(choice.adjacent), choice.nearest, tuple(neighbours)),
        notes=tuple(notes),
    )
    losses = HeightLosses(posterior=_posterior_loss(result), adjacent=adjacent_loss, nearest=nearest_loss)
    return _graded(updated, losses)


def measure_timepoint(
    vertebrae: Sequence[VertebraInput],
    regional: Sequence[RegionalSpec] | None = None,
    plausibility: Plausibility = DEFAULT_PLAUSIBILITY,
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
    first_pass = {v.level: _measure_shape_or_refuse(v, plausibility) for v in ordered}
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
                plausibility,
            )
        except ValueError as exc:  # e.g. the two vertebrae sit on non-parallel images
            # The message names the angle already ("regional angle ...: landmarks ...").
            result = regional_not_measured(spec, f"not measured: {exc}")
        regional_results.append(result)
    return TimepointResult(vertebrae=results, regional=tuple(regional_results), notes=tuple(notes))
