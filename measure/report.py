"""``endplate measure CASE [--json]``: every measurement of a case, for a person or a program.

The numbers come from :meth:`measure.case.Case.measure` (the engine); this module only
shapes them: :func:`measurements_dict` is the JSON contract (docs/data-dictionary.md),
also written as the snapshot in saved case files, and :func:`format_text` prints aligned
tables with units and the one-pixel placement uncertainty as ``+/-``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from measure.case import Case
from measure.comparison import ChangeThresholds

#: Printed in place of a value that could not be computed (missing landmark or reference).
MISSING = "-"
#: Marks a change smaller than the measurement error in the comparison table.
WITHIN_ERROR_MARK = "*"


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null, tuples become lists, numpy scalars floats."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def measurements_dict(
    case: Case, measured: dict[str, Any] | None = None, thresholds: ChangeThresholds | None = None
) -> dict[str, Any]:
    """The ``measure --json`` object: ``{"timepoints": {id: {...}}, "comparisons": [...],
    "notes": [...]}``; keys and units are listed in docs/data-dictionary.md.

    ``thresholds`` (used when ``measured`` is not given) set what "within measurement
    error" means; default: the clinical reference's limits."""
    measured = case.measure(thresholds) if measured is None else measured
    timepoints: dict[str, Any] = {}
    for tp in case.ordered_timepoints():
        result = measured["timepoints"].get(tp.id)
        if result is None:
            continue
        entry = {"kind": tp.kind, "date": tp.date, "label": tp.label}
        entry.update(result.as_dict())
        timepoints[tp.id] = entry
    out = {
        "timepoints": timepoints,
        "comparisons": [c.as_dict() for c in measured["comparisons"]],
        "notes": list(measured["notes"]),
    }
    cleaned: dict[str, Any] = _clean(out)
    return cleaned


# -- text ---------------------------------------------------------------------------


def _num(value: float | None, decimals: int, uncertainty: float | None = None, signed: bool = False) -> str:
    if value is None:
        return MISSING
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if uncertainty is not None:
        text += f" +/- {uncertainty:.{decimals}f}"
    return text


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> list[str]:
    """Aligned columns: the first ``right_from`` columns left-aligned, numbers right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i < right_from else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _vertebra_rows(vertebrae: dict[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    shape, loss = [], []
    for level, v in vertebrae.items():
        u = v["uncertainty"]
        shape.append(
            [
                level,
                v["status"],
                _num(v["vka_deg"], 1, u["vka_deg"], signed=True),
                _num(v["ha_mm"], 1, u["ha_mm"]),
                _num(v["hm_mm"], 1, u["hm_mm"]),
                _num(v["hp_mm"], 1, u["hp_mm"]),
                _num(v["wedge_ratio"], 2, u["wedge_ratio"]),
                _num(v["biconcave_ratio"], 2, u["biconcave_ratio"]),
                _num(v["crush_ratio"], 2, u["crush_ratio"]),
            ]
        )
        hl, uhl = v["height_loss_pct"], u["height_loss_pct"]
        grade = MISSING if v["genant_grade"] is None else str(v["genant_grade"])
        loss.append(
            [
                level,
                _num(hl["posterior"], 1, uhl["posterior"]),
                _num(hl["adjacent"], 1, uhl["adjacent"]),
                _num(hl["nearest"], 1, uhl["nearest"]),
                grade,
                v["type"] or MISSING,
                v["genant_reference"] or MISSING,
            ]
        )
    return shape, loss


def _marked(value: float | None, decimals: int, within: bool | None, uncertainty: float | None = None) -> str:
    text = _num(value, decimals, uncertainty, signed=True)
    return text + WITHIN_ERROR_MARK if within else text


def format_text(case: Case, data: dict[str, Any], source: Path | None = None) -> str:
    """Human-readable report of :func:`measurements_dict` output."""
    lines: list[str] = []
    title = f"Case {case.case_id}" if case.case_id else "Case"
    who = ", ".join(x for x in (case.patient.name, case.patient.id) if x)
    lines.append(title + (f" ({who})" if who else "") + (f"  [{source}]" if source else ""))
    lines.append(
        "Angles in degrees (kyphosis positive), heights in mm, losses in %; "
        "+/- is the effect of a one-pixel placement error."
    )
    for tp_id, tp in data["timepoints"].items():
        lines.append("")
        header = f"Timepoint {tp_id}: {tp['kind']}" + (f", {tp['date']}" if tp["date"] else "")
        lines.append(header + (f" ({tp['label']})" if tp["label"] else ""))
        if not tp["vertebrae"]:
            lines.append("  no vertebrae")
        else:
            shape, loss = _vertebra_rows(tp["vertebrae"])
            headers = ["Level", "Status", "VKA (deg)", "Ha (mm)", "Hm (mm)", "Hp (mm)", "Wedge Ha/Hp"]
            headers += ["Biconcave Hm/Hp", "Crush Hp/adj"]
            lines += ["  " + s for s in _table(headers, shape, right_from=2)]
            lines.append("")
            headers = ["Level", "Loss vs own Hp (%)", "Loss vs adjacent (%)", "Loss vs nearest (%)", "Genant"]
            headers += ["Type", "Graded against"]
            lines += ["  " + s for s in _table(headers, loss, right_from=1)]
        if tp["regional"]:
            lines.append("")
            rows = [
                [r["label"], _num(r["angle_deg"], 1, r["uncertainty_deg"], signed=True)]
                for r in tp["regional"]
            ]
            lines += ["  " + s for s in _table(["Regional angle", "Angle (deg)"], rows)]
        for note in tp["notes"]:
            lines.append(f"  note: {note}")
        for v in tp["vertebrae"].values():
            for note in v["notes"]:
                lines.append(f"  note: {note}")

    lines.append("")
    lines.append("Comparisons")
    if not data["comparisons"]:
        lines.append("  none (a comparison needs the same level measured at two timepoints)")
    else:
        rows, more = [], []
        thresholds = data["comparisons"][0]["thresholds"]
        for c in data["comparisons"]:
            within = c["within_error"]
            gain, wg = c["height_gain_mm"], within["height_gain_mm"]
            ug = c["uncertainty"]["height_gain_mm"]
            rest, ur = c["restoration_pct"], c["uncertainty"]["restoration_pct"]
            pair = [c["level"], f"{c['from']} -> {c['to']}", c["kind"].replace("_", " ")]
            rows.append(
                [
                    *pair,
                    _marked(
                        c["correction_deg"], 1, within["correction_deg"], c["uncertainty"]["correction_deg"]
                    ),
                    _marked(gain["ha"], 1, wg["ha"], ug["ha"]),
                    _marked(gain["hm"], 1, wg["hm"], ug["hm"]),
                    _marked(gain["hp"], 1, wg["hp"], ug["hp"]),
                ]
            )
            loss, wl = c["loss_of_correction"], within.get("loss_of_correction") or {}
            ul = c["uncertainty"].get("loss_of_correction") or {}
            change, wc = c["height_loss_change_pct"], within["height_loss_change_pct"]
            more.append(
                [
                    *pair,
                    " / ".join(_num(rest[h], 0, ur[h]) for h in ("ha", "hm", "hp")),
                    MISSING
                    if loss is None
                    else _marked(loss["vka_deg"], 1, wl.get("vka_deg"), ul.get("vka_deg")),
                    MISSING
                    if loss is None
                    else " / ".join(
                        _marked(loss[f"{h}_mm"], 1, wl.get(f"{h}_mm")) for h in ("ha", "hm", "hp")
                    ),
                    " / ".join(_marked(change[h], 1, wc[h]) for h in ("ha", "hm", "hp")),
                ]
            )
        headers = ["Level", "From -> To", "Kind", "Correction (deg)", "Gain Ha (mm)", "Gain Hm (mm)"]
        headers += ["Gain Hp (mm)"]
        lines += ["  " + s for s in _table(headers, rows, right_from=3)]
        lines.append("")
        headers = ["Level", "From -> To", "Kind", "Restoration Ha / Hm / Hp (%)", "Loss of corr. VKA (deg)"]
        headers += ["Loss of corr. Ha / Hm / Hp (mm)", "Loss change vs adjacent Ha / Hm / Hp (pp)"]
        lines += ["  " + s for s in _table(headers, more, right_from=3)]
        lines.append(
            f"  {WITHIN_ERROR_MARK} smaller than the measurement error "
            f"({thresholds['angle_deg']:g} deg, {thresholds['height_mm']:g} mm, "
            f"{thresholds['height_loss_pct']:g} percentage points of height loss): not a real change."
        )
        lines.append(
            "  Restoration = gain / (adjacent reference - height before) x 100; loss of correction = "
            "value at follow-up - value post-op (positive VKA = kyphosis came back)."
        )
        for c in data["comparisons"]:
            for note in c["notes"]:
                lines.append(f"  note: {note}")
    for note in data["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def run_measure(case_path: Path, as_json: bool, thresholds: ChangeThresholds | None = None) -> int:
    """Print every measurement of a case file; exit 2 with one line on stderr if it is bad.

    ``thresholds`` override the measurement-error defaults used to mark a change as
    "within measurement error" (``endplate measure --angle-error-deg ...``).
    """
    from measure.casefile import CaseFileError, load_case
    from measure.edema import add_stir_to_measurements, stir_text

    try:
        case = load_case(case_path)
        data = measurements_dict(case, thresholds=thresholds)
        add_stir_to_measurements(case, data)  # a "stir" object per vertebra (measure/edema.py)
    except CaseFileError as exc:
        print(f"endplate: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the engine refused the landmarks: a problem of the case's content
        print(f"endplate: error: cannot measure {case_path}: {exc}", file=sys.stderr)
        return 2
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_text(case, data, case_path) + stir_text(data))
    return 0
