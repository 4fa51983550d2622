"""A clinical series from case files: per-case summaries, streamed into the results table.

:func:`summarize_case` keeps of one case only what the table needs (a few numbers per
treated level and timepoint, the clinical outcomes), so a cohort of 10,000 cases never holds
10,000 cases.  :class:`CohortAccumulator` collects the summaries and :meth:`~CohortAccumulator.table`
computes the statistics (:mod:`measure.cohort_stats`).

Conventions, as the clinical series report them:

* timepoints: the first pre-op, the first post-op and the last follow-up of a case;
* imaging statistics over the treated levels (``fractured`` at pre-op, ``treated`` after),
  or every measured level with ``all_levels``;
* correction = VKA_pre - VKA_post, height gain = H_post - H_pre, restoration of Ha against
  the adjacent reference (the engine's), loss of correction = VKA_follow-up - VKA_post;
  changes are paired: only levels (or patients) with both values count;
* VAS and ODI per patient; complications per patient (any at the procedure), cement leakage
  per treated level (recorded leakage type or a leakage complication at that level);
  adjacent fracture per patient with a follow-up; regions thoracic T1-T10, hinge T11-L2,
  lumbar L3-L5.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from measure.case import Case
from measure.cohort_stats import describe, paired, wilson
from measure.landmarks import level_index
from measure.results import CaseResults

KINDS: tuple[str, ...] = ("pre-op", "post-op", "follow-up")
IMAGING_VARIABLES: tuple[str, ...] = ("vka_deg", "ha_mm", "hm_mm", "hp_mm", "height_loss_adjacent_ha_pct")
CLINICAL_VARIABLES: tuple[str, ...] = ("vas", "odi", "analgesic_step")


def region_of(level: str) -> str:
    """ "thoracic" (T1-T10), "hinge" (T11-L2), "lumbar" (L3-L5), else "other"."""
    if level in ("T11", "T12", "L1", "L2"):
        return "hinge"
    if level.startswith("T"):
        return "thoracic"
    if level in ("L3", "L4", "L5"):
        return "lumbar"
    return "other"


@dataclass(frozen=True)
class CohortFilters:
    """Which levels and cases a report covers (empty: all)."""

    devices: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    all_levels: bool = False

    def __post_init__(self) -> None:
        for value, what in ((self.date_from, "--from"), (self.date_to, "--to")):
            if value is not None:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise ValueError(f"{what} must be a date written YYYY-MM-DD, got {value!r}") from None


@dataclass
class LevelSummary:
    level: str
    device: str | None
    #: (variable, timepoint kind) -> value
    values: dict[tuple[str, str], float] = field(default_factory=dict)
    restoration_ha_pct: float | None = None
    leakage_locations: tuple[str, ...] = ()
    leaked: bool = False


@dataclass
class CaseSummary:
    case_id: str
    sex: str | None
    age_years: float | None
    procedure_date: str | None
    levels: list[LevelSummary]
    #: (variable, timepoint kind) -> value, per patient
    clinical: dict[tuple[str, str], float] = field(default_factory=dict)
    complications: tuple[str, ...] = ()  # kinds at the procedure timepoint
    has_follow_up: bool = False
    adjacent_fracture: bool = False
    lost_to_follow_up: bool = False
    operating_time_min: float | None = None
    length_of_stay_days: float | None = None
    symptom_duration_days: float | None = None
    discharge_destination: str | None = None


def _age_years(birth: str | None, on: str | None) -> float | None:
    if not birth or not on:
        return None
    try:
        b, d = date.fromisoformat(birth), date.fromisoformat(on)
    except ValueError:
        return None
    return (d - b).days / 365.25


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def summarize_case(case: Case, results: CaseResults, filters: CohortFilters) -> CaseSummary | None:
    """The numbers of one case the table needs, or None when the filters exclude it."""
    ordered = case.ordered_timepoints()
    chosen: dict[str, str] = {}
    for tp in ordered:
        if tp.kind in ("pre-op", "post-op"):
            chosen.setdefault(tp.kind, tp.id)
        elif tp.kind == "follow-up":
            chosen["follow-up"] = tp.id  # the last one
    dates = {tp.id: tp.date for tp in ordered}
    procedure_tp = chosen.get("post-op") or chosen.get("pre-op")
    procedure_date = dates.get(procedure_tp) if procedure_tp else None
    if filters.date_from or filters.date_to:
        if procedure_date is None:
            return None
        if filters.date_from and procedure_date < filters.date_from:
            return None
        if filters.date_to and procedure_date > filters.date_to:
            return None

    status: dict[tuple[str, str], str] = {}
    for kind, tp_id in chosen.items():
        for v in case.vertebrae(tp_id):
            status[(kind, v.level)] = v.status
    all_levels = sorted({lv for _, lv in status}, key=level_index)
    if filters.all_levels:
        levels = all_levels
    else:
        levels = [
            lv
            for lv in all_levels
            if status.get(("pre-op", lv)) == "fractured"
            and any(status.get((k, lv)) == "treated" for k in ("post-op", "follow-up"))
        ]
    if filters.levels:
        levels = [lv for lv in levels if lv in filters.levels]

    case_entry = case.reader_entry(None, None)
    procedure_record = case.clinical(procedure_tp) if procedure_tp else None
    summaries: list[LevelSummary] = []
    for lv in levels:
        entry = (case.reader_entry(procedure_tp, lv) if procedure_tp else None) or case_entry
        device = entry.procedure if entry is not None else None
        if filters.devices and device not in filters.devices:
            continue
        s = LevelSummary(lv, device)
        for kind, tp_id in chosen.items():
            r = results.vertebra(tp_id, lv)
            if r is None or not r.measured:
                continue
            adjacent = r.height_loss.get("adjacent")
            for name, value in (
                ("vka_deg", r.vka_deg.value),
                ("ha_mm", r.ha_mm.value),
                ("hm_mm", r.hm_mm.value),
                ("hp_mm", r.hp_mm.value),
                ("height_loss_adjacent_ha_pct", None if adjacent is None else adjacent.pct.get("ha")),
            ):
                if (val := _finite(value)) is not None:
                    s.values[(name, kind)] = val
        pre, post = chosen.get("pre-op"), chosen.get("post-op")
        for c in results.comparisons:
            if c.level == lv and c.from_id == pre and c.to_id == post:
                s.restoration_ha_pct = _finite(c.restoration_pct.get("ha"))
        leak_locations = tuple(
            c.location
            for c in (procedure_record.complications if procedure_record else ())
            if c.kind == "cement_leakage" and c.location and c.level in (lv, None)
        )
        s.leakage_locations = leak_locations
        s.leaked = bool(leak_locations) or bool(entry is not None and entry.leakage)
        summaries.append(s)
    if (filters.devices or filters.levels) and not summaries:
        return None

    summary = CaseSummary(
        case_id=case.case_id,
        sex=case.patient.sex,
        age_years=_age_years(case.patient.birth_date, procedure_date),
        procedure_date=procedure_date,
        levels=summaries,
        has_follow_up="follow-up" in chosen,
    )
    for kind, tp_id in chosen.items():
        record = case.clinical(tp_id)
        if record is None:
            continue
        for name in CLINICAL_VARIABLES:
            value = getattr(record, name)
            if value is not None:
                summary.clinical[(name, kind)] = float(value)
        if kind == "follow-up":
            summary.adjacent_fracture = any(n.adjacent for n in record.new_fractures)
    for record in case.clinical_records().values():
        if record.lost_to_follow_up:
            summary.lost_to_follow_up = True
        if any(n.adjacent for n in record.new_fractures) and summary.has_follow_up:
            summary.adjacent_fracture = True
    if procedure_record is not None:
        summary.complications = tuple(c.kind for c in procedure_record.complications)
        summary.operating_time_min = procedure_record.operating_time_min
        summary.length_of_stay_days = procedure_record.length_of_stay_days
        summary.discharge_destination = procedure_record.discharge_destination
    pre_record = case.clinical(chosen["pre-op"]) if "pre-op" in chosen else None
    if pre_record is not None and pre_record.symptom_duration_days is not None:
        summary.symptom_duration_days = float(pre_record.symptom_duration_days)
    return summary


def _description_dict(values: list[float | None]) -> dict[str, Any]:
    d = describe(values)
    return {k: getattr(d, k) for k in ("n", "mean", "sd", "median", "q1", "q3", "min", "max")}


def _paired_dict(before: list[float | None], after: list[float | None]) -> dict[str, Any]:
    p = paired(before, after)
    return {
        "n": p.n,
        "mean": p.mean,
        "sd": p.sd,
        "ci95": None if p.ci95 is None else list(p.ci95),
        "p_paired_t": p.p_paired_t,
        "p_wilcoxon": p.p_wilcoxon,
    }


def _rate_dict(k: int, n: int) -> dict[str, Any]:
    r = wilson(k, n)
    return {"k": r.k, "n": r.n, "proportion": r.proportion, "ci95": None if r.ci95 is None else list(r.ci95)}


@dataclass
class CohortAccumulator:
    """Summaries added one case at a time; :meth:`table` is the results table as a dict
    (the ``--out X.json`` shape)."""

    cases: list[CaseSummary] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, summary: CaseSummary) -> None:
        self.cases.append(summary)

    def skip(self, path: str, reason: str) -> None:
        self.skipped.append((path, reason))

    def _levels(self) -> list[LevelSummary]:
        return [lv for c in self.cases for lv in c.levels]

    def table(self) -> dict[str, Any]:
        levels = self._levels()
        variables: dict[str, Any] = {}
        for name in IMAGING_VARIABLES:
            variables[name] = {
                k: _description_dict([lv.values.get((name, k)) for lv in levels]) for k in KINDS
            }
        for name in CLINICAL_VARIABLES:
            variables[name] = {
                k: _description_dict([c.clinical.get((name, k)) for c in self.cases]) for k in KINDS
            }
        variables["restoration_ha_pct"] = {
            "post-op": _description_dict([lv.restoration_ha_pct for lv in levels])
        }

        def lv_values(name: str, kind: str) -> list[float | None]:
            return [lv.values.get((name, kind)) for lv in levels]

        def pt_values(name: str, kind: str) -> list[float | None]:
            return [c.clinical.get((name, kind)) for c in self.cases]

        restoration = [lv.restoration_ha_pct for lv in levels]
        comparisons = {
            # correction = VKA_pre - VKA_post: the change from post to pre
            "correction_deg": _paired_dict(lv_values("vka_deg", "post-op"), lv_values("vka_deg", "pre-op")),
            "height_gain_ha_mm": _paired_dict(lv_values("ha_mm", "pre-op"), lv_values("ha_mm", "post-op")),
            "height_gain_hm_mm": _paired_dict(lv_values("hm_mm", "pre-op"), lv_values("hm_mm", "post-op")),
            "restoration_ha_pct": _paired_dict(
                [0.0 if v is not None else None for v in restoration], restoration
            ),
            "loss_of_correction_deg": _paired_dict(
                lv_values("vka_deg", "post-op"), lv_values("vka_deg", "follow-up")
            ),
            "vas_change_post_op": _paired_dict(pt_values("vas", "pre-op"), pt_values("vas", "post-op")),
            "vas_change_follow_up": _paired_dict(pt_values("vas", "pre-op"), pt_values("vas", "follow-up")),
            "odi_change_follow_up": _paired_dict(pt_values("odi", "pre-op"), pt_values("odi", "follow-up")),
        }
        n_cases = len(self.cases)
        leak_counts = Counter(loc for lv in levels for loc in lv.leakage_locations)
        follow_up = [c for c in self.cases if c.has_follow_up]
        sexes = Counter(c.sex or "unknown" for c in self.cases)
        return {
            "n_cases": n_cases,
            "n_levels": len(levels),
            "demographics": {
                "age_years": _description_dict([c.age_years for c in self.cases]),
                "sex": dict(sorted(sexes.items())),
                "symptom_duration_days": _description_dict([c.symptom_duration_days for c in self.cases]),
            },
            "levels_by_region": dict(sorted(Counter(region_of(lv.level) for lv in levels).items())),
            "levels_by_device": dict(sorted(Counter(lv.device or "not recorded" for lv in levels).items())),
            "levels_per_session": _description_dict([float(len(c.levels)) for c in self.cases]),
            "operating_time_min": _description_dict([c.operating_time_min for c in self.cases]),
            "length_of_stay_days": _description_dict([c.length_of_stay_days for c in self.cases]),
            "discharge_destination": dict(
                sorted(Counter(c.discharge_destination or "not recorded" for c in self.cases).items())
            ),
            "variables": variables,
            "comparisons": comparisons,
            "rates": {
                "complication_per_patient": _rate_dict(
                    sum(1 for c in self.cases if c.complications), n_cases
                ),
                "cement_leakage_per_level": _rate_dict(sum(1 for lv in levels if lv.leaked), len(levels)),
                "adjacent_fracture_at_follow_up": _rate_dict(
                    sum(1 for c in follow_up if c.adjacent_fracture), len(follow_up)
                ),
                "lost_to_follow_up": _rate_dict(sum(1 for c in self.cases if c.lost_to_follow_up), n_cases),
            },
            "leakage_by_location": dict(sorted(leak_counts.items())),
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }
