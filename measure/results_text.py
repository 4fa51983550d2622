"""How numbers are written for a reader: values with their +/-, table rows, the text beside a vertebra.

Plain functions of the typed results (:mod:`measure.results`), no Qt, shared by the
measurement panel, the compare view, the overlays and the PDF report, so that screen and
paper say the same thing.  Values are shown with their
one-pixel placement uncertainty (``12.3 ± 0.4``), and a change within measurement error
is marked ``≈``, as the clinical reference asks.
"""

from __future__ import annotations

import math

from measure.results import ComparisonResult, HeightLoss, Measured, VertebraResult


def fmt(value: float | None, sigma: float | None = None, digits: int = 1) -> str:
    """``12.3 ± 0.4`` (or ``12.3``, or ``–`` when missing)."""
    if value is None or not math.isfinite(value):
        return "–"
    if round(value, digits) == 0:
        value = 0.0  # no "-0.0"
    text = f"{value:.{digits}f}"
    if sigma is not None and math.isfinite(sigma):
        text += f" ± {sigma:.{digits}f}"
    return text


def _measured(m: Measured, digits: int = 1) -> str:
    return fmt(m.value, m.uncertainty, digits)


def loss_text(loss: HeightLoss | None) -> str:
    """Largest height loss against one reference, with its +/- and which height it is."""
    if loss is None:
        return "–"
    values = [(h, v) for h in loss.heights if (v := loss.pct.get(h)) is not None]
    if not values:
        return "–"
    key, value = max(values, key=lambda kv: kv[1])
    return f"{fmt(value, loss.sigma_pct.get(key), digits=0)} ({key})"


def vertebra_row(timepoint: str, r: VertebraResult) -> list[str]:
    grade = "–" if r.genant_grade is None else f"{r.genant_grade}"
    if r.genant_grade is not None and r.genant_reference:
        grade += f" ({r.genant_reference})"
    return [
        timepoint,
        r.level,
        r.status,
        _measured(r.vka_deg),
        _measured(r.ha_mm),
        _measured(r.hm_mm),
        _measured(r.hp_mm),
        _measured(r.wedge_ratio, 2),
        _measured(r.biconcave_ratio, 2),
        _measured(r.crush_ratio, 2),
        *(loss_text(r.height_loss.get(ref)) for ref in ("posterior", "adjacent", "nearest")),
        grade,
        r.fracture_type or "–",
    ]


def within_mark(text: str, within: bool | None) -> str:
    """``≈ 1.2`` for a change smaller than the measurement error (the clinical reference's
    "shown as such"); the text unchanged otherwise."""
    return f"≈ {text}" if within and text != "–" else text


def comparison_row(c: ComparisonResult) -> list[str]:
    """Level, timepoints, kind, correction, the three height gains, Ha/Hm restoration and the
    VKA loss of correction, each with its +/- and ``≈`` when within measurement error."""
    loss = c.loss_of_correction
    flags = c.loss_of_correction_within_error
    return [
        c.level,
        f"{c.from_id} → {c.to_id}",
        c.kind.replace("_", " "),
        within_mark(fmt(c.correction_deg, c.correction_sigma_deg), c.correction_within_error),
        *(
            within_mark(
                fmt(c.height_gain_mm.get(h), c.height_gain_sigma_mm.get(h)), c.height_gain_within_error.get(h)
            )
            for h in ("ha", "hm", "hp")
        ),
        fmt(c.restoration_pct.get("ha"), c.restoration_sigma_pct.get("ha"), digits=0),
        fmt(c.restoration_pct.get("hm"), c.restoration_sigma_pct.get("hm"), digits=0),
        "–" if loss is None else within_mark(fmt(loss.vka_deg), None if flags is None else flags.vka_deg),
    ]


def vertebra_value_text(r: VertebraResult | None) -> str:
    """The lines drawn beside a vertebra: angle, then heights, then the grade."""
    if r is None or not r.measured:
        return ""
    lines = [f"VKA {fmt(r.vka_deg.value, r.vka_deg.uncertainty)}°"]
    lines.append(f"Ha {fmt(r.ha_mm.value)} · Hm {fmt(r.hm_mm.value)} · Hp {fmt(r.hp_mm.value)}")
    if r.genant_grade:
        lines.append(f"Genant {r.genant_grade} {r.fracture_type or ''}".rstrip())
    return "\n".join(lines)
