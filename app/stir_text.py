"""What the STIR edema analysis says, in the app's words: badges, colours, panel cells.

Plain functions of :class:`measure.results.StirResult` (no Qt): the badge beside a
vertebra, its colour (the recency as finally read: the reader's override wins), its
tooltip, and the measurement panel's STIR columns.  No validated numeric cut-off exists
for STIR edema: every badge and cell says so (:data:`measure.edema.NO_CUTOFF_NOTE`).
"""

from __future__ import annotations

from measure.edema import NO_CUTOFF_NOTE, STATUS_NO_STIR, STATUS_OK
from measure.results import StirResult

#: Badge / label colours (RGB): recent fracture likely, no edema, recency unknown.
RECENT_COLOUR = (255, 84, 64)
NOT_RECENT_COLOUR = (120, 225, 150)
UNKNOWN_COLOUR = (190, 190, 190)
DECISION_TEXT = {
    "confirmed": "confirmed",
    "overridden-recent": "override: recent",
    "overridden-not-recent": "override: not recent",
}


# -- text ------------------------------------------------------------------------------------


def _decision_of(result: StirResult) -> tuple[str | None, str]:
    d = result.reader_decision
    return (None, "") if d is None else (d.decision, d.note or "")


def _tool_parts(result: StirResult) -> tuple[str, str]:
    """(verdict, numbers) of the tool: e.g. ("edema: recent likely", "SIR 6.44, 54%")."""
    if result.status == STATUS_OK and result.sir is not None and result.edema_fraction is not None:
        numbers = f"SIR {result.sir:.2f}, {100 * result.edema_fraction:.0f}%"
        return ("edema: recent likely" if result.flag else "no edema"), numbers
    if result.status == STATUS_NO_STIR:
        return "recency unknown: no STIR", ""
    return "edema: not measured", ""


def badge_text(result: StirResult, multiline: bool = False) -> str:
    """The badge beside a vertebra: the tool's flag, then the reader's decision.

    ``multiline`` puts the numbers on a second line (labels beside the spine stay narrow).
    """
    verdict, numbers = _tool_parts(result)
    decision, _note = _decision_of(result)
    if decision == "confirmed":
        verdict += " · confirmed"
    elif decision in ("overridden-recent", "overridden-not-recent"):
        short = {"edema: recent likely": "edema likely"}.get(verdict, verdict)
        numbers = f"tool: {short}" + (f", {numbers}" if numbers else "")
        verdict = "reader: recent" if decision == "overridden-recent" else "reader: not recent"
    if not numbers:
        return verdict
    return f"{verdict}\n({numbers})" if multiline else f"{verdict} ({numbers})"


def badge_colour(result: StirResult) -> tuple[int, int, int]:
    """Colour of the recency as finally read (the reader's override wins)."""
    recent = result.recent
    if recent is None:
        return UNKNOWN_COLOUR
    return RECENT_COLOUR if recent else NOT_RECENT_COLOUR


def badge_tooltip(result: StirResult) -> str:
    """The full sentence of the analysis, the reader's note, and the no-cut-off warning."""
    parts = [result.message]
    decision, note = _decision_of(result)
    if decision:
        parts.append(f"Reader: {DECISION_TEXT.get(decision, decision)}" + (f" — {note}" if note else "."))
    if NO_CUTOFF_NOTE not in result.message:
        parts.append(NO_CUTOFF_NOTE)
    return "\n".join(parts)


#: Panel columns (appended to the vertebra table) and what each cell says.
STIR_COLUMNS = ("SIR (STIR)", "Edema % (grade)", "T1 ratio", "Edema flag", "Reader (STIR)")


def stir_cells(result: StirResult | None) -> list[str]:
    """SIR, bright fraction with extent grade, T1 ratio (supporting evidence, when a T1 in
    the STIR's frame of reference exists), flag, reader decision (``–`` when absent)."""
    if result is None:
        return ["–"] * len(STIR_COLUMNS)
    ok = result.status == STATUS_OK
    sir = f"{result.sir:.2f}" if ok and result.sir is not None else "–"
    extent = (
        f"{100 * result.edema_fraction:.0f}% ({result.extent_grade})"
        if ok and result.edema_fraction is not None
        else "–"
    )
    if ok:
        flag = "recent likely" if result.flag else "no"
    elif result.status == STATUS_NO_STIR:
        flag = "recency unknown: no STIR series"
    else:
        flag = "not measured"
    t1 = f"{result.t1_ratio:.2f}" if ok and result.t1_ratio is not None else "–"
    decision, _note = _decision_of(result)
    return [sir, extent, t1, flag, DECISION_TEXT.get(decision or "", "")]
