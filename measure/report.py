"""``endplate measure`` as text: aligned tables of every measurement of a case, for a person.

The numbers are the typed results of :meth:`measure.case.Case.measure`; the JSON form of
the same numbers is :mod:`measure.results_json`.  Values carry their one-pixel placement
uncertainty as ``+/-``; a change smaller than the measurement error is marked ``*``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from measure.case import Case
from measure.results import CaseResults, ComparisonResult, HeightFlags, Measured, PerHeight, VertebraResult

#: Printed in place of a value that could not be computed (missing landmark or reference).
MISSING = "-"
#: Marks a change smaller than the measurement error in the comparison table.
WITHIN_ERROR_MARK = "*"


def _num(value: float | None, decimals: int, uncertainty: float | None = None, signed: bool = False) -> str:
    if value is None:
        return MISSING
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if uncertainty is not None:
        text += f" +/- {uncertainty:.{decimals}f}"
    return text


def _finite(value: float | None) -> float | None:
    """None for missing and non-finite values (they print as missing)."""
    return value if value is not None and math.isfinite(value) else None


def _measured(m: Measured, decimals: int, signed: bool = False) -> str:
    return _num(m.value, decimals, m.uncertainty, signed)


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


def _vertebra_rows(vertebrae: Sequence[VertebraResult]) -> tuple[list[list[str]], list[list[str]]]:
    shape, loss = [], []
    for v in vertebrae:
        shape.append(
            [
                v.level,
                v.status,
                _measured(v.vka_deg, 1, signed=True),
                _measured(v.ha_mm, 1),
                _measured(v.hm_mm, 1),
                _measured(v.hp_mm, 1),
                _measured(v.wedge_ratio, 2),
                _measured(v.biconcave_ratio, 2),
                _measured(v.crush_ratio, 2),
            ]
        )
        cells = []
        for ref in ("posterior", "adjacent", "nearest"):
            hl = v.height_loss.get(ref)
            cells.append(
                MISSING if hl is None else _num(_finite(hl.largest_pct), 1, _finite(hl.largest_sigma_pct))
            )
        grade = MISSING if v.genant_grade is None else str(v.genant_grade)
        loss.append([v.level, *cells, grade, v.fracture_type or MISSING, v.genant_reference or MISSING])
    return shape, loss


def _marked(value: float | None, decimals: int, within: bool | None, uncertainty: float | None = None) -> str:
    text = _num(_finite(value), decimals, _finite(uncertainty), signed=True)
    return text + WITHIN_ERROR_MARK if within else text


def _per_height_marked(values: PerHeight, flags: HeightFlags, decimals: int) -> str:
    return " / ".join(_marked(values.get(h), decimals, flags.get(h)) for h in ("ha", "hm", "hp"))


def _comparison_rows(comparisons: Sequence[ComparisonResult]) -> tuple[list[list[str]], list[list[str]]]:
    rows, more = [], []
    for c in comparisons:
        pair = [c.level, f"{c.from_id} -> {c.to_id}", c.kind.replace("_", " ")]
        gain, wg, ug = c.height_gain_mm, c.height_gain_within_error, c.height_gain_sigma_mm
        rows.append(
            [
                *pair,
                _marked(c.correction_deg, 1, c.correction_within_error, c.correction_sigma_deg),
                *(_marked(gain.get(h), 1, wg.get(h), ug.get(h)) for h in ("ha", "hm", "hp")),
            ]
        )
        rest, ur = c.restoration_pct, c.restoration_sigma_pct
        loss, wl = c.loss_of_correction, c.loss_of_correction_within_error
        if loss is None or wl is None:
            loss_vka = loss_heights = MISSING
        else:
            loss_vka = _marked(loss.vka_deg, 1, wl.vka_deg, c.correction_sigma_deg)
            loss_heights = " / ".join(
                _marked(getattr(loss, f"{h}_mm"), 1, getattr(wl, f"{h}_mm")) for h in ("ha", "hm", "hp")
            )
        more.append(
            [
                *pair,
                " / ".join(_num(_finite(rest.get(h)), 0, _finite(ur.get(h))) for h in ("ha", "hm", "hp")),
                loss_vka,
                loss_heights,
                _per_height_marked(c.height_loss_change_pct, c.height_loss_change_within_error, 1),
            ]
        )
    return rows, more


def format_text(case: Case, results: CaseResults, source: Path | None = None) -> str:
    """Human-readable report of the measurements of ``case`` (``endplate measure``)."""
    lines: list[str] = []
    title = f"Case {case.case_id}" if case.case_id else "Case"
    who = ", ".join(x for x in (case.patient.name, case.patient.id) if x)
    lines.append(title + (f" ({who})" if who else "") + (f"  [{source}]" if source else ""))
    lines.append(
        "Angles in degrees (kyphosis positive), heights in mm, losses in %; "
        "+/- is the effect of a one-pixel placement error."
    )
    for tp in case.ordered_timepoints():
        result = results.timepoints.get(tp.id)
        if result is None:
            continue
        lines.append("")
        header = f"Timepoint {tp.id}: {tp.kind}" + (f", {tp.date}" if tp.date else "")
        lines.append(header + (f" ({tp.label})" if tp.label else ""))
        vertebrae = list(result.vertebrae.values())
        if not vertebrae:
            lines.append("  no vertebrae")
        else:
            shape, loss = _vertebra_rows(vertebrae)
            headers = ["Level", "Status", "VKA (deg)", "Ha (mm)", "Hm (mm)", "Hp (mm)", "Wedge Ha/Hp"]
            headers += ["Biconcave Hm/Hp", "Crush Hp/adj"]
            lines += ["  " + s for s in _table(headers, shape, right_from=2)]
            lines.append("")
            headers = ["Level", "Loss vs own Hp (%)", "Loss vs adjacent (%)", "Loss vs nearest (%)", "Genant"]
            headers += ["Type", "Graded against"]
            lines += ["  " + s for s in _table(headers, loss, right_from=1)]
        if result.regional:
            lines.append("")
            rows = [
                [r.label, _num(_finite(r.angle_deg), 1, _finite(r.uncertainty_deg), signed=True)]
                for r in result.regional
            ]
            lines += ["  " + s for s in _table(["Regional angle", "Angle (deg)"], rows)]
        for note in result.notes:
            lines.append(f"  note: {note}")
        for v in vertebrae:
            for note in v.notes:
                lines.append(f"  note: {note}")

    lines.append("")
    lines.append("Comparisons")
    if not results.comparisons:
        lines.append("  none (a comparison needs the same level measured at two timepoints)")
    else:
        rows, more = _comparison_rows(results.comparisons)
        thresholds = results.comparisons[0].thresholds
        headers = ["Level", "From -> To", "Kind", "Correction (deg)", "Gain Ha (mm)", "Gain Hm (mm)"]
        headers += ["Gain Hp (mm)"]
        lines += ["  " + s for s in _table(headers, rows, right_from=3)]
        lines.append("")
        headers = ["Level", "From -> To", "Kind", "Restoration Ha / Hm / Hp (%)", "Loss of corr. VKA (deg)"]
        headers += ["Loss of corr. Ha / Hm / Hp (mm)", "Loss change vs adjacent Ha / Hm / Hp (pp)"]
        lines += ["  " + s for s in _table(headers, more, right_from=3)]
        lines.append(
            f"  {WITHIN_ERROR_MARK} smaller than the measurement error "
            f"({thresholds.angle_deg:g} deg, {thresholds.height_mm:g} mm, "
            f"{thresholds.height_loss_pct:g} percentage points of height loss): not a real change."
        )
        lines.append(
            "  Restoration = gain / (adjacent reference - height before) x 100; loss of correction = "
            "value at follow-up - value post-op (positive VKA = kyphosis came back)."
        )
        for c in results.comparisons:
            for note in c.notes:
                lines.append(f"  note: {note}")
    for note in results.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"
