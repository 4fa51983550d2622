"""The one serializer of results: typed objects in, the documented JSON form out.

``endplate measure --json`` prints :func:`case_results_json` and the case file keeps it as
its ``measurements`` snapshot; keys and units are listed in docs/data-dictionary.md and
are a contract with registries (change them only with the data dictionary and a version
note).  Nothing inside Endplate reads this JSON back: every consumer in the program reads
the objects of :mod:`measure.results`.  NaN and infinities become null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from measure.results import (
    LOSS_REFERENCES,
    CaseResults,
    ComparisonResult,
    HeightFlags,
    HeightLoss,
    PerHeight,
    ReferenceHeights,
    RegionalResult,
    StirResult,
    StirResults,
    TimepointResult,
    VertebraResult,
)

if TYPE_CHECKING:
    from measure.case import Case

#: Vertebra values with a one-pixel uncertainty, in the order the JSON lists them.
_MEASURED_FIELDS = ("vka_deg", "ha_mm", "hm_mm", "hp_mm", "wedge_ratio", "biconcave_ratio", "crush_ratio")


def clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null, tuples become lists, numpy scalars floats."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def _per_height(
    values: PerHeight | HeightFlags, keys: tuple[str, ...] = ("ha", "hm", "hp")
) -> dict[str, Any]:
    return {k: values.get(k) for k in keys}


def _loss_detail(loss: HeightLoss | None, sigma: bool = False) -> dict[str, Any] | None:
    if loss is None:
        return None
    return _per_height(loss.sigma_pct if sigma else loss.pct, loss.heights)


def _reference(ref: ReferenceHeights | None) -> dict[str, Any] | None:
    return None if ref is None else _per_height(ref.heights_mm)


def vertebra_json(r: VertebraResult) -> dict[str, Any]:
    """One vertebra (keys: docs/data-dictionary.md, "measure --json")."""
    losses = {ref: r.height_loss.get(ref) for ref in LOSS_REFERENCES}
    return {
        "level": r.level,
        "status": r.status,
        **{name: getattr(r, name).value for name in _MEASURED_FIELDS},
        "height_loss_pct": {
            ref: (None if loss is None else loss.largest_pct) for ref, loss in losses.items()
        },
        "height_loss_detail": {ref: _loss_detail(loss) for ref, loss in losses.items()},
        "reference_heights_mm": {
            "adjacent": _reference(r.adjacent_reference),
            "nearest": _reference(r.nearest_reference),
        },
        "genant_grade": r.genant_grade,
        "genant_reference": r.genant_reference,
        "genant_height": r.genant_height,
        "genant_loss_pct": r.genant_loss_pct,
        "type": r.fracture_type,
        "uncertainty": {
            **{name: getattr(r, name).uncertainty for name in _MEASURED_FIELDS},
            "height_loss_pct": {
                ref: (None if loss is None else loss.largest_sigma_pct) for ref, loss in losses.items()
            },
            "height_loss_detail": {ref: _loss_detail(loss, sigma=True) for ref, loss in losses.items()},
            "genant_loss_pct": r.genant_loss_sigma_pct,
        },
        "references": {
            "adjacent": list(r.references.adjacent),
            "nearest": r.references.nearest,
            "crush": list(r.references.crush),
        },
        "plane_source": r.plane_source,
        "notes": list(r.notes),
    }


def regional_json(r: RegionalResult) -> dict[str, Any]:
    return {
        "upper_level": r.upper_level,
        "upper_endplate": r.upper_endplate,
        "lower_level": r.lower_level,
        "lower_endplate": r.lower_endplate,
        "angle_deg": r.angle_deg,
        "uncertainty_deg": r.uncertainty_deg,
        "label": r.label,
        "notes": list(r.notes),
    }


def timepoint_json(r: TimepointResult) -> dict[str, Any]:
    return {
        "vertebrae": {level: vertebra_json(v) for level, v in r.vertebrae.items()},
        "regional": [regional_json(g) for g in r.regional],
        "notes": list(r.notes),
    }


def comparison_json(c: ComparisonResult) -> dict[str, Any]:
    """One comparison (keys: docs/data-dictionary.md, "comparisons")."""
    loss = c.loss_of_correction
    within: dict[str, Any] = {
        "correction_deg": c.correction_within_error,
        "height_gain_mm": _per_height(c.height_gain_within_error),
        "height_loss_change_pct": _per_height(c.height_loss_change_within_error),
    }
    uncertainty: dict[str, Any] = {
        "correction_deg": c.correction_sigma_deg,
        "height_gain_mm": _per_height(c.height_gain_sigma_mm),
        "restoration_pct": _per_height(c.restoration_sigma_pct),
    }
    if loss is not None and c.loss_of_correction_within_error is not None:
        flags = c.loss_of_correction_within_error
        within["loss_of_correction"] = {
            "vka_deg": flags.vka_deg,
            "ha_mm": flags.ha_mm,
            "hm_mm": flags.hm_mm,
            "hp_mm": flags.hp_mm,
        }
        # differences of the same values as the correction and the gains: the same sigmas
        uncertainty["loss_of_correction"] = {
            "vka_deg": c.correction_sigma_deg,
            **{f"{h}_mm": c.height_gain_sigma_mm.get(h) for h in ("ha", "hm", "hp")},
        }
    return {
        "level": c.level,
        "from": c.from_id,
        "to": c.to_id,
        "kind": c.kind,
        "correction_deg": c.correction_deg,
        "height_gain_mm": _per_height(c.height_gain_mm),
        "restoration_pct": _per_height(c.restoration_pct),
        "loss_of_correction": None
        if loss is None
        else {"vka_deg": loss.vka_deg, "ha_mm": loss.ha_mm, "hm_mm": loss.hm_mm, "hp_mm": loss.hp_mm},
        "height_loss_change_pct": _per_height(c.height_loss_change_pct),
        "within_error": within,
        "uncertainty": uncertainty,
        "thresholds": {
            "angle_deg": c.thresholds.angle_deg,
            "height_loss_pct": c.thresholds.height_loss_pct,
            "height_mm": c.thresholds.height_mm,
        },
        "notes": list(c.notes),
    }


def stir_json(r: StirResult) -> dict[str, Any]:
    """One body's STIR edema object (docs/data-dictionary.md, "stir"), at report precision."""
    r = r.reported()
    decision = r.reader_decision
    out: dict[str, Any] = {
        "sir": r.sir,
        "edema_fraction": r.edema_fraction,
        "extent_grade": r.extent_grade,
        "flag": r.flag,
        "reader_decision": None
        if decision is None
        else {"decision": decision.decision, "note": decision.note},
        "recent": r.recent,
        "status": r.status,
        "message": r.message,
        "mean": r.mean,
        "median": r.median,
        "p90": r.p90,
        "n_voxels": int(r.n_voxels),
        "reference_levels": list(r.reference_levels),
        "reference_median": r.reference_median,
        "is_reference": r.is_reference,
        "reference_rejected": r.reference_rejected,
        "stir_series_uid": r.stir_series_uid,
        "landmark_series_uid": r.landmark_series_uid,
    }
    if r.t1_available:
        out["t1_ratio"] = r.t1_ratio
    return out


def case_results_json(case: Case, results: CaseResults, stir: StirResults | None = None) -> dict[str, Any]:
    """The ``measure --json`` object: ``{"timepoints": {id: {...}}, "comparisons": [...],
    "notes": [...]}`` in clinical timepoint order.

    With ``stir`` (timepoint -> level -> :class:`~measure.results.StirResult`) every
    vertebra gets a ``"stir"`` object (null when the analysis did not see it); without,
    the key is absent (the case file's snapshot).
    """
    timepoints: dict[str, Any] = {}
    for tp in case.ordered_timepoints():
        result = results.timepoints.get(tp.id)
        if result is None:
            continue
        entry: dict[str, Any] = {
            "kind": tp.kind,
            "date": tp.date,
            "label": tp.label,
            "series_uid": results.measurement_series.get(tp.id),
        }
        entry.update(timepoint_json(result))
        if stir is not None:
            per_level: Mapping[str, StirResult] = stir.get(tp.id, {})
            for level, vertebra in entry["vertebrae"].items():
                r = per_level.get(level)
                vertebra["stir"] = None if r is None else stir_json(r)
        timepoints[tp.id] = entry
    out = {
        "timepoints": timepoints,
        "comparisons": [comparison_json(c) for c in results.comparisons],
        "notes": list(results.notes),
    }
    cleaned: dict[str, Any] = clean(out)
    return cleaned
