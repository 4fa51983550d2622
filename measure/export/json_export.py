"""JSON: the CSV's content nested per case -> timepoint -> vertebra, plus every regional
angle and comparison (the CSV carries one of each per row).

Field names and units are the data dictionary's; ``null`` = not available.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from measure.export.records import CASE_FIELDS, TIMEPOINT_FIELDS, CaseRecords, ExportRecord

JSON_FORMAT = "endplate-export"
JSON_VERSION = 1

#: Row fields that the JSON holds in the "regional" and "comparisons" lists instead.
_LISTED_ELSEWHERE = (
    "regional_angle_deg",
    "regional_upper_level",
    "regional_upper_endplate",
    "regional_lower_level",
    "regional_lower_endplate",
    "compared_with_timepoint",
    "comparison_kind",
    "correction_deg",
    "height_gain_ha_mm",
    "height_gain_hm_mm",
    "height_gain_hp_mm",
    "restoration_ha_pct",
    "restoration_hm_pct",
    "restoration_hp_pct",
    "loss_of_correction_deg",
    "change_within_error",
)


def _vertebra(record: ExportRecord) -> dict[str, Any]:
    skip = set(CASE_FIELDS) | set(TIMEPOINT_FIELDS) | set(_LISTED_ELSEWHERE)
    return {k: v for k, v in record.as_dict().items() if k not in skip}


def case_json(case: CaseRecords) -> dict[str, Any]:
    """One case as a JSON-ready dict."""
    identity = case.identity
    return {
        "case_id": case.case_id,
        "patient": {
            "name": identity.name,
            "id": identity.patient_id,
            "birth_date": identity.birth_date,
            "sex": case.patient_sex,
            "pseudonymized": identity.pseudonymized,
        },
        "study_dates": [tp.date for tp in case.timepoints if tp.date],
        "timepoints": [
            {
                "id": tp.id,
                "kind": tp.kind,
                "date": tp.date,
                "series_uids": list(tp.series_uids),
                "vertebrae": [_vertebra(r) for r in case.rows_of(tp.id)],
                "regional": [
                    {k: v for k, v in asdict(r).items() if k != "timepoint_id"}
                    for r in case.regional
                    if r.timepoint_id == tp.id
                ],
            }
            for tp in case.timepoints
        ],
        "comparisons": [asdict(c) for c in case.comparisons],
        "notes": list(case.notes),
    }


def _indented(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.split("\n"))


def json_head() -> str:
    """The document up to its first case (streaming: head, cases joined by ``",\n"``, tail)."""
    return f'{{\n  "format": {json.dumps(JSON_FORMAT)},\n  "version": {JSON_VERSION},\n  "cases": [\n'


def json_case_text(case: CaseRecords) -> str:
    """One case as it sits in the document's ``cases`` list (indented, no separator)."""
    return _indented(json.dumps(case_json(case), indent=2, ensure_ascii=False, allow_nan=False), "    ")


JSON_TAIL = "\n  ]\n}\n"
