"""PDF report: one page per case, the page a surgeon prints for the file.

Top: case and patient (pseudonymised when asked).  Then the key image of each timepoint
(the slice the landmarks were placed on, in the screen's pixels and window: the session
makes them, :mod:`measure.export.key_images` draws the landmarks and both endplate lines),
the measurement table, the before/after comparison of the treated levels, a small chart
of VKA and anterior height per timepoint, and the STIR result.  Layout with reportlab.
Numbers are derived from landmarks; the footer says it is not a diagnosis.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from measure.export.key_images import KeyImage, render
from measure.export.records import CaseRecords, ExportRecord

#: What a report shows for a timepoint: its key image, or the sentence saying why there is none.
KeyImages = Mapping[str, KeyImage | str]


# -- page -----------------------------------------------------------------------------------


def _fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _measurement_table(rows: list[ExportRecord]) -> list[list[str]]:
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
    for r in rows:
        losses = [
            v
            for v in (
                r.height_loss_adjacent_ha_pct,
                r.height_loss_adjacent_hm_pct,
                r.height_loss_adjacent_hp_pct,
            )
            if v is not None
        ]
        body.append(
            [
                r.timepoint_kind,
                r.level,
                r.status,
                _fmt(r.vka_deg),
                _fmt(r.ha_mm),
                _fmt(r.hm_mm),
                _fmt(r.hp_mm),
                _fmt(r.wedge_ratio, 2),
                _fmt(max(losses) if losses else None),
                _fmt(r.genant_grade),
                r.fracture_type or "-",
            ]
        )
    return body


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
    return lines or ["No STIR analysis is recorded for this case."]


def _case_story(records: CaseRecords, key_images: KeyImages, styles: Any) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Image as RLImage
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    identity = records.identity
    story: list[Any] = []
    story.append(Paragraph(f"Vertebral fracture measurements - case {records.case_id}", styles["Title"]))
    who = (
        f"Patient: {identity.name or '-'} &nbsp; ID: {identity.patient_id or '-'} &nbsp; "
        f"Born: {identity.birth_date or '-'} &nbsp; Sex: {records.patient_sex or '-'}"
    )
    if identity.pseudonymized:
        who += " &nbsp; (pseudonymised)"
    story.append(Paragraph(who, styles["Normal"]))
    tps = "; ".join(f"{tp.kind} {tp.date or '(no date)'}" for tp in records.timepoints)
    story.append(Paragraph(f"Timepoints: {tps}", styles["Normal"]))
    story.append(Spacer(1, 3 * mm))

    cells, captions = [], []
    for tp in records.timepoints[:3]:
        key = key_images.get(tp.id, "no landmarks at this timepoint")
        if isinstance(key, str):
            caption = key
            cells.append(Paragraph(f"<i>{tp.kind}: {caption}</i>", styles["Small"]))
        else:
            caption = key.caption
            image = render(key)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            buffer.seek(0)
            width = 56 * mm
            cells.append(RLImage(buffer, width=width, height=width * image.height / image.width))
        captions.append(Paragraph(f"<b>{tp.kind}</b> {tp.date} - {caption}", styles["Small"]))
    if cells:
        grid = Table([cells, captions], colWidths=[60 * mm] * len(cells))
        grid.setStyle(
            TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])
        )
        story.append(grid)
        story.append(Spacer(1, 3 * mm))

    table = Table(_measurement_table(records.rows), repeatRows=1)
    style = [
        ("FONTSIZE", (0, 0), (-1, -1), 7.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa5b1")),
        ("ALIGN", (3, 1), (-1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    for i, r in enumerate(records.rows, start=1):
        if r.status in ("fractured", "treated"):
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fff3d6")))
    table.setStyle(TableStyle(style))
    story.append(table)
    story.append(Spacer(1, 2 * mm))

    treated = [
        c
        for c in records.comparisons
        if any(r.level == c.level and r.status in ("fractured", "treated") for r in records.rows)
    ]
    if treated:
        body = [
            ["Level", "From -> to", "Correction deg", "Ha gain mm", "Restoration Ha %", "Loss of corr. deg"]
        ]
        for c in treated:
            body.append(
                [
                    c.level,
                    f"{c.from_timepoint} -> {c.to_timepoint}",
                    _fmt(c.correction_deg),
                    _fmt(c.height_gain_mm.get("ha")),
                    _fmt(c.restoration_pct.get("ha"), 0),
                    _fmt(c.loss_of_correction_deg),
                ]
            )
        comp = Table(body)
        comp.setStyle(
            TableStyle(
                [
                    ("FONTSIZE", (0, 0), (-1, -1), 7.5),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa5b1")),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ]
            )
        )
        story.append(comp)
        story.append(Spacer(1, 2 * mm))

    levels = list(dict.fromkeys(r.level for r in records.rows))
    story.append(_chart(records, levels))
    story.append(Paragraph("<b>STIR (marrow edema)</b>", styles["Normal"]))
    for line in _stir_lines(records):
        story.append(Paragraph(line, styles["Small"]))
    for r in records.rows:
        if r.procedure or r.cement_volume_ml is not None:
            story.append(
                Paragraph(
                    f"Treatment {r.level}: {r.procedure or '-'}, cement {_fmt(r.cement_volume_ml)} mL, "
                    f"leakage {r.cement_leakage or 'none'}",
                    styles["Small"],
                )
            )
    return story


def pdf_bytes(cases: Sequence[tuple[CaseRecords, KeyImages]]) -> bytes:
    """The report of all cases (one page each) as PDF bytes; each case with its key images."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepInFrame, PageBreak, SimpleDocTemplate

    styles = getSampleStyleSheet()
    styles["Title"].fontSize = 14
    styles["Title"].spaceAfter = 4
    styles.add(ParagraphStyle("Small", parent=styles["Normal"], fontSize=7.5, leading=9))
    buffer = io.BytesIO()

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
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
