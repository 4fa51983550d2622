"""One flat, format-neutral export structure, built once per case; every format reads it.

:class:`ExportRecord` is one row per case x timepoint x level, with exactly the columns
of the data dictionary (``measure/export/data_dictionary.json``, docs/data-dictionary.md)
in the same order.  :class:`CaseRecords` adds what does not fit one row without loss:
every regional angle and every comparison (the CSV row carries one of each, the JSON,
FHIR and PDF carry all), and the landmarks the SR and the PDF draw.

The numbers are the typed results of the engine (:class:`measure.results.CaseResults`)
and of the STIR analysis; nothing is recomputed or parsed here.  The patient fields come
from a :class:`~measure.export.pseudonymize.PatientIdentity`, so pseudonymisation happens
before any exporter sees a name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from measure.clinical import ClinicalColumns
from measure.export.codes import LEVEL_SCT_CODES
from measure.export.pseudonymize import PatientIdentity
from measure.landmarks import LANDMARK_KEYS, Landmark, level_index
from measure.results import PerHeight

if TYPE_CHECKING:
    from measure.case import Case
    from measure.case_values import SeriesRef
    from measure.results import (
        CaseResults,
        ComparisonResult,
        RegionalResult,
        StirResult,
        StirResults,
        VertebraResult,
    )


@cache
def data_dictionary() -> dict[str, Any]:
    """The machine-readable data dictionary (``data_dictionary.json``)."""
    text = resources.files("measure.export").joinpath("data_dictionary.json").read_text(encoding="utf-8")
    return json.loads(text)


def column_names() -> list[str]:
    """CSV column names, in order, from the data dictionary."""
    return [c["name"] for c in data_dictionary()["columns"]]


@dataclass
class ExportRecord:
    """One registry row: a vertebral level at one timepoint of one case.

    Field names, order, units and meaning are the data dictionary's; ``None`` means
    "not available" (an empty CSV cell, a JSON null).
    """

    case_id: str
    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    pseudonymized: bool
    study_dates: str
    timepoint_id: str
    timepoint_kind: str
    timepoint_date: str
    study_description: str
    accession_number: str
    level: str
    level_sct_code: str
    status: str
    landmarks_placed: int
    measurement_series_uid: str
    measurement_series_description: str
    fracture_type: str | None = None
    genant_grade: int | None = None
    vka_deg: float | None = None
    vka_uncertainty_deg: float | None = None
    regional_angle_deg: str | None = None  # ';'-joined when several angles span this level
    regional_upper_level: str | None = None
    regional_upper_endplate: str | None = None
    regional_lower_level: str | None = None
    regional_lower_endplate: str | None = None
    ha_mm: float | None = None
    hm_mm: float | None = None
    hp_mm: float | None = None
    wedge_ratio: float | None = None
    biconcave_ratio: float | None = None
    crush_ratio: float | None = None
    height_loss_posterior_ha_pct: float | None = None
    height_loss_posterior_hm_pct: float | None = None
    height_loss_adjacent_ha_pct: float | None = None
    height_loss_adjacent_hm_pct: float | None = None
    height_loss_adjacent_hp_pct: float | None = None
    height_loss_nearest_ha_pct: float | None = None
    height_loss_nearest_hm_pct: float | None = None
    height_loss_nearest_hp_pct: float | None = None
    stir_ratio: float | None = None
    stir_edema_fraction: float | None = None
    stir_extent_grade: int | None = None
    stir_flag: bool | None = None
    stir_reader_decision: str | None = None
    stir_reader_note: str | None = None
    t1_ratio: float | None = None
    procedure: str | None = None
    cement_volume_ml: float | None = None
    cement_leakage: str | None = None
    complications: str | None = None
    reader_notes: str | None = None
    compared_with_timepoint: str | None = None
    comparison_kind: str | None = None
    correction_deg: float | None = None
    height_gain_ha_mm: float | None = None
    height_gain_hm_mm: float | None = None
    height_gain_hp_mm: float | None = None
    restoration_ha_pct: float | None = None
    restoration_hm_pct: float | None = None
    restoration_hp_pct: float | None = None
    loss_of_correction_deg: float | None = None
    change_within_error: bool | None = None
    #: The clinical outcomes of the timepoint, the same on each of its levels: the last
    #: columns of the row, declared once in :class:`~measure.clinical.ClinicalColumns`.
    clinical: ClinicalColumns = field(default_factory=ClinicalColumns)

    def as_dict(self) -> dict[str, Any]:
        """The row, column name -> cell, in the data dictionary's order."""
        # Every field is a scalar: no deep copy needed (dataclasses.asdict cost 0.4 ms a row).
        row = {name: getattr(self, name) for name in _OWN_FIELDS}
        row.update(vars(self.clinical))
        return row


#: ExportRecord's own columns (all but the clinical ones, which come last).
_OWN_FIELDS = tuple(f.name for f in fields(ExportRecord) if f.name != "clinical")


#: Fields that describe the case or the timepoint rather than the vertebra (JSON nests them).
CASE_FIELDS = (
    "case_id",
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "patient_sex",
    "pseudonymized",
    "study_dates",
)
TIMEPOINT_FIELDS = (
    "timepoint_id",
    "timepoint_kind",
    "timepoint_date",
    "study_description",
    "accession_number",
)


@dataclass(frozen=True)
class RegionalRecord:
    """A regional angle of one timepoint and the two endplates it joins."""

    timepoint_id: str
    upper_level: str
    upper_endplate: str
    lower_level: str
    lower_endplate: str
    angle_deg: float | None
    uncertainty_deg: float | None
    label: str


@dataclass(frozen=True)
class ComparisonRecord:
    """One level compared between two timepoints (numbers from the measurement engine)."""

    level: str
    from_timepoint: str
    to_timepoint: str
    kind: str
    correction_deg: float | None
    height_gain_mm: dict[str, float | None]  # ha, hm, hp
    restoration_pct: dict[str, float | None]  # ha, hm, hp
    loss_of_correction_deg: float | None
    change_within_error: bool | None


@dataclass(frozen=True)
class TimepointInfo:
    id: str
    kind: str
    date: str
    series_uids: tuple[str, ...]


@dataclass
class CaseRecords:
    """Everything exported about one case, already pseudonymised when asked."""

    case_id: str
    identity: PatientIdentity
    patient_sex: str
    timepoints: list[TimepointInfo]
    rows: list[ExportRecord]
    regional: list[RegionalRecord] = field(default_factory=list)
    comparisons: list[ComparisonRecord] = field(default_factory=list)
    #: (timepoint id, level) -> landmark key -> Landmark (LPS mm + image UIDs).
    landmarks: dict[tuple[str, str], dict[str, Landmark]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: The engine's typed results behind the rows (values with their +/- and the
    #: within-error flags the report prints); not a column of any table.
    results: CaseResults | None = None
    #: Does the case hold a STIR series (assigned to one of its timepoints)?
    has_stir_series: bool = False
    #: timepoint id -> what the measurements were made on ("SAG T2 (MR)").
    measured_on: dict[str, str] = field(default_factory=dict)
    #: timepoint id -> its clinical outcomes (the same cells as on each of its rows).
    clinical: dict[str, ClinicalColumns] = field(default_factory=dict)

    def rows_of(self, timepoint_id: str) -> list[ExportRecord]:
        return [r for r in self.rows if r.timepoint_id == timepoint_id]


# -- from the typed results ------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    """A registry cell holds a finite number or nothing (NaN, infinities: not available)."""
    return value if value is not None and math.isfinite(value) else None


def _vertebra_numbers(record: ExportRecord, r: VertebraResult) -> None:
    record.fracture_type = r.fracture_type
    record.genant_grade = r.genant_grade
    record.vka_deg = _finite(r.vka_deg.value)
    record.vka_uncertainty_deg = _finite(r.vka_deg.uncertainty)
    for key in ("ha_mm", "hm_mm", "hp_mm", "wedge_ratio", "biconcave_ratio", "crush_ratio"):
        setattr(record, key, _finite(getattr(r, key).value))
    for ref in ("posterior", "adjacent", "nearest"):
        loss = r.height_loss.get(ref)
        for h in ("ha", "hm", "hp") if ref != "posterior" else ("ha", "hm"):
            setattr(record, f"height_loss_{ref}_{h}_pct", None if loss is None else _finite(loss.pct.get(h)))


def _stir_numbers(record: ExportRecord, stir: StirResult) -> None:
    """The STIR columns, at the precision of ``measure --json`` (:meth:`StirResult.reported`)."""
    r = stir.reported()
    record.stir_ratio = r.sir
    record.stir_edema_fraction = r.edema_fraction
    record.stir_extent_grade = r.extent_grade
    record.stir_flag = r.flag
    if r.reader_decision is not None:
        record.stir_reader_decision = r.reader_decision.decision
        record.stir_reader_note = r.reader_decision.note or None
    record.t1_ratio = r.t1_ratio if r.t1_available else None


def _regional_records(timepoint_id: str, items: Sequence[RegionalResult]) -> list[RegionalRecord]:
    return [
        RegionalRecord(
            timepoint_id=timepoint_id,
            upper_level=r.upper_level,
            upper_endplate=r.upper_endplate,
            lower_level=r.lower_level,
            lower_endplate=r.lower_endplate,
            angle_deg=_finite(r.angle_deg),
            uncertainty_deg=_finite(r.uncertainty_deg),
            label=r.label or "",
        )
        for r in items
    ]


def _regional_spans(r: RegionalRecord, level: str) -> bool:
    """A regional angle is reported on the levels strictly between its two levels
    (on the upper level when they are adjacent or equal)."""
    try:
        up, low, here = level_index(r.upper_level), level_index(r.lower_level), level_index(level)
    except ValueError:
        return False
    if low - up <= 1:
        return here == up
    return up < here < low


def _per_height(values: PerHeight) -> dict[str, float | None]:
    return {h: _finite(values.get(h)) for h in ("ha", "hm", "hp")}


def _comparison_records(items: Sequence[ComparisonResult]) -> list[ComparisonRecord]:
    return [
        ComparisonRecord(
            level=c.level,
            from_timepoint=c.from_id,
            to_timepoint=c.to_id,
            kind=c.kind,
            correction_deg=_finite(c.correction_deg),
            height_gain_mm=_per_height(c.height_gain_mm),
            restoration_pct=_per_height(c.restoration_pct),
            loss_of_correction_deg=None
            if c.loss_of_correction is None
            else _finite(c.loss_of_correction.vka_deg),
            change_within_error=c.headline_within_error,
        )
        for c in items
    ]


def _apply_comparison(record: ExportRecord, comparison: ComparisonRecord) -> None:
    record.compared_with_timepoint = comparison.from_timepoint
    record.comparison_kind = comparison.kind
    record.correction_deg = comparison.correction_deg
    for h in ("ha", "hm", "hp"):
        setattr(record, f"height_gain_{h}_mm", comparison.height_gain_mm.get(h))
        setattr(record, f"restoration_{h}_pct", comparison.restoration_pct.get(h))
    record.loss_of_correction_deg = comparison.loss_of_correction_deg
    record.change_within_error = comparison.change_within_error


def _series_text(ref: SeriesRef | None) -> str:
    if ref is None:
        return ""
    description = ref.description.strip() or "series without description"
    return f"{description} ({ref.modality})" if ref.modality else description


def build_case_records(
    case: Case,
    results: CaseResults,
    identity: PatientIdentity,
    stir: StirResults | None = None,
    notes: Sequence[str] = (),
) -> CaseRecords:
    """Flatten a case, its results and its STIR results into :class:`CaseRecords`.

    Rows follow the clinical timepoint order, then the levels cranial to caudal.  ``notes``
    (e.g. why the STIR analysis is missing) are added to the case's notes.
    """
    ordered = case.ordered_timepoints()
    study_dates = ";".join(identity.date(tp.date) for tp in ordered if tp.date)
    comparisons = _comparison_records(results.comparisons)
    result = CaseRecords(
        case_id=identity.case_id,
        identity=identity,
        patient_sex=case.patient.sex or "",
        timepoints=[
            TimepointInfo(
                tp.id, tp.kind, identity.date(tp.date), tuple(s.series_uid for s in case.series_of(tp.id))
            )
            for tp in ordered
        ],
        rows=[],
        comparisons=comparisons,
        results=results,
        has_stir_series=any(ref.sequence == "STIR" for ref in case.series),
    )
    case_entry = case.reader_entry(None, None)
    seen_tp: list[str] = []
    for tp in ordered:
        tp_result = results.timepoints.get(tp.id)
        regional = _regional_records(tp.id, tp_result.regional if tp_result is not None else ())
        result.regional.extend(regional)
        tp_stir = (stir or {}).get(tp.id) or {}
        main = case.measurement_series(tp.id)
        main_ref = None if main is None else case.series_ref(main)
        identity_ref = main_ref or next(iter(case.series_of(tp.id)), None)
        study = None if identity_ref is None else identity_ref.identity
        if main_ref is not None:
            result.measured_on[tp.id] = _series_text(main_ref)
        clinical_cells = ClinicalColumns.of(case.clinical(tp.id))
        if clinical_cells != ClinicalColumns():
            result.clinical[tp.id] = clinical_cells
        for v in case.vertebrae(tp.id):
            placed = v.landmarks_on(main)
            result.landmarks[(tp.id, v.level)] = {k: placed[k] for k in LANDMARK_KEYS if k in placed}
            record = ExportRecord(
                case_id=identity.case_id,
                patient_name=identity.name,
                patient_id=identity.patient_id,
                patient_birth_date=identity.birth_date,
                patient_sex=case.patient.sex or "",
                pseudonymized=identity.pseudonymized,
                study_dates=study_dates,
                timepoint_id=tp.id,
                timepoint_kind=tp.kind,
                timepoint_date=identity.date(tp.date),
                study_description=(study.study_description if study is not None else None) or "",
                accession_number=identity.accession(
                    (study.accession_number if study is not None else None) or ""
                ),
                level=v.level,
                level_sct_code=LEVEL_SCT_CODES.get(v.level, ""),
                status=v.status,
                landmarks_placed=len(placed),
                measurement_series_uid=main or "",
                measurement_series_description=_series_text(main_ref),
            )
            measured = None if tp_result is None else tp_result.vertebrae.get(v.level)
            if measured is not None:
                _vertebra_numbers(record, measured)
                body_stir = tp_stir.get(v.level)
                if body_stir is not None:
                    _stir_numbers(record, body_stir)
            spanning = [r for r in regional if _regional_spans(r, v.level)]
            if spanning:
                record.regional_angle_deg = ";".join(
                    "" if r.angle_deg is None else repr(r.angle_deg) for r in spanning
                )
                record.regional_upper_level = ";".join(r.upper_level for r in spanning)
                record.regional_upper_endplate = ";".join(r.upper_endplate for r in spanning)
                record.regional_lower_level = ";".join(r.lower_level for r in spanning)
                record.regional_lower_endplate = ";".join(r.lower_endplate for r in spanning)
            decision = case.stir_decision(tp.id, v.level)
            if decision is not None and decision.decision is not None:
                record.stir_reader_decision = decision.decision
                record.stir_reader_note = decision.note or None
            reader = case.reader_entry(tp.id, v.level) or case_entry
            if reader is not None:
                record.procedure = reader.procedure
                record.cement_volume_ml = reader.cement_volume_ml
                record.cement_leakage = ";".join(reader.leakage)
                record.complications = identity.free_text(reader.complications)
                record.reader_notes = identity.free_text(reader.notes)
            mine = [c for c in comparisons if c.level == v.level and c.to_timepoint == tp.id]
            if mine:
                # The previous timepoint in clinical order that has this level, if compared.
                preferred = [c for c in mine if c.from_timepoint in seen_tp]
                preferred.sort(key=lambda c: seen_tp.index(c.from_timepoint), reverse=True)
                _apply_comparison(record, (preferred or mine)[0])
            record.stir_reader_note = identity.free_text(record.stir_reader_note)
            record.clinical = clinical_cells
            result.rows.append(record)
        seen_tp.append(tp.id)
    result.notes.extend(identity.sentence(n) for n in (*results.notes, *notes))
    return result


def record_fields() -> list[str]:
    """The :class:`ExportRecord` field names, in order (equal to :func:`column_names`)."""
    return [*_OWN_FIELDS, *(f.name for f in fields(ClinicalColumns))]
