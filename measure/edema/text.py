"""STIR edema as text lines for ``endplate measure`` (no validated cut-off: the flag is a tool default)."""

from __future__ import annotations

from measure.edema.constants import STATUS_OK
from measure.results import StirResults


def stir_text(stir: StirResults, timepoint_ids: list[str]) -> str:
    """Text lines of the STIR results of ``timepoint_ids`` (in that order); empty when there are none."""
    lines: list[str] = []
    for tp_id in timepoint_ids:
        rows = list((stir.get(tp_id) or {}).items())
        if not rows:
            continue
        lines += ["", f"STIR edema, timepoint {tp_id} (no validated cut-off: the flag is a tool default)"]
        for lvl, r in rows:
            r = r.reported()
            if r.status != STATUS_OK:
                lines.append(f"  {r.message}")
                continue
            flag = "edema: recent fracture likely" if r.flag else "no edema flag"
            t1 = f", T1 ratio {r.t1_ratio:.2f}" if r.t1_available and r.t1_ratio is not None else ""
            decision = None if r.reader_decision is None else r.reader_decision.decision
            reader = f", reader: {decision}" if decision else ""
            lines.append(
                f"  {lvl}: {flag} (SIR {r.sir:.2f}, bright {100 * (r.edema_fraction or 0.0):.1f}%, "
                f"extent grade {r.extent_grade}{t1}{reader})"
            )
    return "\n".join(lines) + "\n" if lines else ""
