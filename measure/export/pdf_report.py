"""PDF report: one page per case, the page a surgeon prints for the file.

Top: case and patient (pseudonymised when asked).  Then the key image of each timepoint
(the slice the landmarks were placed on, in the screen's pixels and window: the session
makes them, :mod:`measure.export.key_images` draws the landmarks and both endplate lines),
the measurement table, the before/after comparison of the treated levels, a small chart
of VKA and anterior height per timepoint, and the STIR result.  Layout with reportlab.
Values are written as the app writes them (:mod:`measure.results_text`): with their
one-pixel +/-, a change within measurement error marked ``≈``.  Numbers are derived from
landmarks; the footer says it is not a diagnosis.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from measure.export.key_images import KeyImage, render
from measure.export.records import CaseRecords, ExportRecord
from measure.results import ComparisonResult, VertebraResult
from measure.results_text import comparison_row, fmt, loss_text

#: The report's font: DejaVu Sans when the system has it (it has ±, ≈, → and †), else
#: reportlab's Helvetica, whose WinAnsi encoding lacks ≈ and → (written ~ and ->).
_DEJAVU = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)
NO_STIR_SERIES = "No STIR series in this case: the fracture's age (marrow edema) was not assessed."
RESTORATION_NOTE = (
    "† Restoration above 100 %: the height after treatment exceeds the reference height (mean of "
    "the adjacent unfractured vertebrae); check the reference levels and the landmarks."
)

#: What a report shows for a timepoint: its key image, or the sentence saying why there is none.
KeyImages = Mapping[str, KeyImage | str]


# -- page -----------------------------------------------------------------------------------


def _fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _table_style(font: str, bold: str) -> list[tuple[Any, ...]]:
    """The look of the report's tables: bold shaded header, thin grid, numbers right-aligned
    from the fourth column."""
    from reportlab.lib import colors

    return [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTNAME", (0, 0), (-1, 0), bold),
        ("FONTSIZE", (0, 0), (-1, -1), 7.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa5b1")),
        ("ALIGN", (3, 1), (-1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]


def _fonts() -> tuple[str, str]:
    """(regular, bold) font names, registering DejaVu Sans once when it is installed."""
    from pathlib import Path

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if all(Path(f).is_file() for f in _DEJAVU):
        if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("DejaVuSans", _DEJAVU[0]))
            pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", _DEJAVU[1]))
            pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold")
        return "DejaVuSans", "DejaVuSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def _plain(text: str, font: str) -> str:
    """Text the font can draw: Helvetica has no ≈ or →."""
    if font.startswith("DejaVu"):
        return text
    return text.replace("≈", "~").replace("→", "->")


def _vertebra(records: CaseRecords, r: ExportRecord) -> VertebraResult | None:
    return None if records.results is None else records.results.vertebra(r.timepoint_id, r.level)


def _measurement_table(records: CaseRecords) -> list[list[str]]:
    header = [
        "Time",
        "Level",
        "Status",
        "VKA deg",
        "Ha mm",
        "Hm mm",
        "Hp mm",
        "Ha/Hp",
        "Loss adj %",
        "Genant",
        "Type",
    ]
    body = [header]
    for r in records.rows:
        v = _vertebra(records, r)
        if v is None or not v.measured:
            why = "not measured" if r.landmarks_placed == 6 else f"{r.landmarks_placed}/6 points"
            if r.landmarks_placed == 6 and v is not None and v.notes:
                why += ": " + " ".join(v.notes)
            body.append([r.timepoint_kind, r.level, r.status, why, "", "", "", "", "", "", ""])
            continue
        body.append(
            [
                r.timepoint_kind,
                r.level,
                r.status,
                fmt(v.vka_deg.value, v.vka_deg.uncertainty),
                fmt(v.ha_mm.value, v.ha_mm.uncertainty),
                fmt(v.hm_mm.value, v.hm_mm.uncertainty),
                fmt(v.hp_mm.value, v.hp_mm.uncertainty),
                fmt(v.wedge_ratio.value, v.wedge_ratio.uncertainty, digits=2),
                loss_text(v.height_loss.get("adjacent")),
                _fmt(v.genant_grade),
                v.fracture_type or "–",
            ]
        )
    return body


def _comparison_table(comparisons: Sequence[ComparisonResult]) -> tuple[list[list[str]], bool]:
    """The before/after rows (every delta with its +/-, ``≈`` within error) and whether a
    restoration above 100 % was marked † (the report then explains it)."""
    header = [
        "Level",
        "From → to",
        "Kind",
        "Correction\ndeg",
        "ΔHa\nmm",
        "ΔHm\nmm",
        "ΔHp\nmm",
        "Restoration\nHa %",
        "Restoration\nHm %",
        "Loss of\ncorrection deg",
    ]
    body, marked = [header], False
    for c in comparisons:
        row = comparison_row(c)
        for col, key in ((7, "ha"), (8, "hm")):
            value = c.restoration_pct.get(key)
            if value is not None and value > 100.0:
                row[col] += " †"
                marked = True
        body.append(row)
    return body, marked


def _chart(records: CaseRecords, levels: list[str]) -> Any:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    drawing = Drawing(500, 120)
    palette = [colors.HexColor("#1f77b4"), colors.HexColor("#ff7f0e"), colors.HexColor("#2ca02c")]
    for i, (key, title) in enumerate((("vka_deg", "VKA (deg)"), ("ha_mm", "Anterior height Ha (mm)"))):
        chart = VerticalBarChart()
        chart.x, chart.y, chart.width, chart.height = 30 + i * 225, 20, 170, 80
        data = []
        for tp in records.timepoints:
            by_level = {r.level: getattr(r, key) for r in records.rows_of(tp.id)}
            data.append([float(by_level.get(level) or 0.0) for level in levels])
        chart.data = data or [[0.0]]
        chart.categoryAxis.categoryNames = levels or ["-"]
        chart.categoryAxis.labels.fontSize = 7
        chart.categoryAxis.labelAxisMode = "low"
        chart.valueAxis.labels.fontSize = 7
        values = [v for row in data for v in row] or [0.0]
        low, high = min(0.0, min(values)), max(0.0, max(values))
        pad = 0.1 * (high - low or 1.0)
        chart.valueAxis.valueMin = low - (pad if low < 0 else 0.0)
        chart.valueAxis.valueMax = high + pad
        for j in range(len(data)):
            chart.bars[j].fillColor = palette[j % len(palette)]
        drawing.add(chart)
        drawing.add(String(30 + i * 225, 108, title, fontSize=8))
    legend = Legend()
    legend.x, legend.y = 440, 95  # right of both charts, never over a bar
    legend.alignment = "right"  # swatch first, then the timepoint kind
    legend.fontSize = 7
    legend.colorNamePairs = [(palette[j % len(palette)], tp.kind) for j, tp in enumerate(records.timepoints)]
    drawing.add(legend)
    return drawing


def _stir_lines(records: CaseRecords) -> list[str]:
    lines = []
    for r in records.rows:
        if r.stir_ratio is None and r.stir_flag is None and r.stir_reader_decision is None:
            continue
        flag = {True: "edema: recent fracture likely", False: "no edema flag", None: "not computed"}[
            r.stir_flag
        ]
        if r.stir_ratio is None and r.stir_flag is None:
            lines.append(
                f"{r.timepoint_kind} {r.level}: STIR numbers not in this export; "
                f"reader: {r.stir_reader_decision or 'not decided'}"
            )
            continue
        lines.append(
            f"{r.timepoint_kind} {r.level}: SIR {_fmt(r.stir_ratio, 2)}, edema fraction "
            f"{_fmt(None if r.stir_edema_fraction is None else r.stir_edema_fraction * 100, 0)}%, "
            f"extent grade {_fmt(r.stir_extent_grade)}, {flag}; "
            f"reader: {r.stir_reader_decision or 'not decided'}"
            + (f" ({r.stir_reader_note})" if r.stir_reader_note else "")
        )
    if lines:
        return lines
    return [NO_STIR_SERIES if not records.has_stir_series else "No STIR analysis is recorded for this case."]


def _plain_cells(rows: list[list[str]], font: str) -> list[list[str]]:
    return [[_plain(cell, font) for cell in row] for row in rows]


def _case_story(records: CaseRecords, key_images: KeyImages, styles: Any) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Image as RLImage
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    identity = records.identity
    story: list[Any] = []
    title = "Vertebral fracture measurements"
    if records.case_id:
        title += f" - case {escape(records.case_id)}"
    story.append(Paragraph(title, styles["Title"]))
    who = (
        f"Patient: {escape(identity.name or '-')} &nbsp; ID: {escape(identity.patient_id or '-')} &nbsp; "
        f"Born: {escape(identity.birth_date or '-')} &nbsp; Sex: {escape(records.patient_sex or '-')}"
    )
    if identity.pseudonymized:
        who += " &nbsp; (pseudonymised)"
    story.append(Paragraph(who, styles["Normal"]))
    for tp in records.timepoints:
        on = records.measured_on.get(tp.id)
        where = f": measured on {escape(on)}" if on else ": no measurement series"
        story.append(
            Paragraph(f"<b>{escape(tp.kind)}</b> {escape(tp.date or '(no date)')}{where}", styles["Normal"])
        )
    story.append(Spacer(1, 3 * mm))

    cells, captions = [], []
    for tp in records.timepoints[:3]:
        key = key_images.get(tp.id, "no landmarks at this timepoint")
        if isinstance(key, str):
            caption = key
            cells.append(Paragraph(f"<i>{escape(tp.kind)}: {escape(caption)}</i>", styles["Small"]))
        else:
            caption = key.caption
            image = render(key)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            buffer.seek(0)
            width = 56 * mm
            cells.append(RLImage(buffer, width=width, height=width * image.height / image.width))
        about = "" if isinstance(key, str) else f" - {escape(caption)}"  # a reason is in the cell
        captions.append(Paragraph(f"<b>{escape(tp.kind)}</b> {escape(tp.date)}{about}", styles["Small"]))
    if cells:
        grid = Table([cells, captions], colWidths=[60 * mm] * len(cells))
        grid.setStyle(
            TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])
        )
        story.append(grid)
        story.append(Spacer(1, 3 * mm))

    font, bold = _fonts()
    table = Table(_plain_cells(_measurement_table(records), font), repeatRows=1)
    style = _table_style(font, bold)
    for i, r in enumerate(records.rows, start=1):
        if r.status in ("fractured", "treated"):
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fff3d6")))
    table.setStyle(TableStyle(style))
    story.append(table)
    story.append(Spacer(1, 2 * mm))

    treated_levels = {r.level for r in records.rows if r.status in ("fractured", "treated")}
    treated = [
        c
        for c in (records.results.comparisons if records.results is not None else ())
        if c.level in treated_levels
    ]
    if treated:
        body, marked = _comparison_table(treated)
        t = treated[0].thresholds
        comp = Table(_plain_cells(body, font))
        comp.setStyle(TableStyle(_table_style(font, bold)))
        story.append(comp)
        story.append(
            Paragraph(
                escape(
                    _plain(
                        "Values ± one-pixel placement uncertainty; ≈ marks a change smaller than the "
                        f"measurement error (angle {t.angle_deg:g} deg, height {t.height_mm:g} mm, "
                        f"height loss {t.height_loss_pct:g} %).",
                        font,
                    )
                ),
                styles["Small"],
            )
        )
        if marked:
            story.append(Paragraph(escape(_plain(RESTORATION_NOTE, font)), styles["Small"]))
        story.append(Spacer(1, 2 * mm))

    levels = list(dict.fromkeys(r.level for r in records.rows))
    story.append(_chart(records, levels))
    story.append(Paragraph("<b>STIR (marrow edema)</b>", styles["Normal"]))
    for line in _stir_lines(records):
        story.append(Paragraph(escape(_plain(line, font)), styles["Small"]))
    for r in records.rows:
        if r.procedure or r.cement_volume_ml is not None:
            story.append(
                Paragraph(
                    escape(
                        f"Treatment {r.level}: {r.procedure or '-'}, cement {_fmt(r.cement_volume_ml)} mL, "
                        f"leakage {r.cement_leakage or 'none'}"
                    ),
                    styles["Small"],
                )
            )
    for tp in records.timepoints:
        outcome = records.clinical.get(tp.id)
        if outcome is None:
            continue
        parts = [
            f"{label} {value:g}" if isinstance(value, float) else f"{label} {value}"
            for label, value in (
                ("VAS", outcome.vas),
                ("ODI", outcome.odi),
                ("analgesic step", outcome.analgesic_step),
                ("symptoms (days)", outcome.symptom_duration_days),
                ("operating time (min)", outcome.operating_time_min),
                ("stay (days)", outcome.length_of_stay_days),
                ("discharge", outcome.discharge_destination),
                ("complications", outcome.complication_codes),
                ("new fractures", outcome.new_fracture_levels),
            )
            if value is not None
        ]
        if outcome.lost_to_follow_up:
            parts.append("lost to follow-up")
        if outcome.death:
            parts.append("death")
        story.append(Paragraph(escape(f"Clinical {tp.kind}: " + ", ".join(parts)), styles["Small"]))
    return story


def pdf_bytes(cases: Sequence[tuple[CaseRecords, KeyImages]]) -> bytes:
    """The report of all cases (one page each) as PDF bytes; each case with its key images."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepInFrame, PageBreak, SimpleDocTemplate

    font, bold = _fonts()
    styles = getSampleStyleSheet()
    styles["Title"].fontSize = 14
    styles["Title"].spaceAfter = 4
    styles["Title"].fontName = bold
    styles["Normal"].fontName = font
    styles.add(ParagraphStyle("Small", parent=styles["Normal"], fontSize=7.5, leading=9, fontName=font))

    buffer = io.BytesIO()

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(
            15 * mm,
            8 * mm,
            "Endplate - measurements derived from reader-placed landmarks; distances in mm, angles in deg "
            "(kyphosis positive). Not a diagnosis.",
        )
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title="Endplate report",
        author="Endplate",
    )
    story: list[Any] = []
    for i, (records, key_images) in enumerate(cases):
        if i:
            story.append(PageBreak())
        # One page per case, whatever its size: a case with many levels and timepoints is
        # scaled down to fit the page rather than spilling onto a second one.
        content = _case_story(records, key_images, styles)
        story.append(KeepInFrame(doc.width, doc.height, content, mode="shrink", name=f"case {i + 1}"))
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
