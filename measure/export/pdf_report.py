"""PDF report: one page per case, the page a surgeon prints for the file.

Top: case and patient (pseudonymised when asked).  Then the key image of each timepoint
(the sagittal slice the landmarks were placed on, bone window for CT) with the landmarks
and both endplate lines of every vertebra drawn, the measurement table, the before/after
comparison of the treated levels, a small chart of VKA and anterior height per timepoint,
and the STIR result.  Images are rendered with numpy + Pillow (no Qt); layout with
reportlab.  Numbers are derived from landmarks; the footer says it is not a diagnosis.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from dicomio.geometry import ImageGeometry
from measure.export.records import CaseRecords, ExportRecord

if TYPE_CHECKING:
    from measure.case import Case
    from measure.export.sources import CaseSources

#: CT bone window (centre, width) in HU.
BONE_WINDOW = (500.0, 2000.0)
_IMAGE_PX = 360
_LANDMARK_RGB = (255, 214, 0)
_LINE_RGB = (0, 200, 255)
_LABEL_RGB = (255, 255, 255)


# -- key images --------------------------------------------------------------------------


def _frame_pixels(path: Any, frame_index: int | None) -> tuple[np.ndarray, Any]:
    import pydicom

    ds = pydicom.dcmread(path)
    pixels = np.asarray(ds.pixel_array, dtype=float)
    if pixels.ndim == 3:
        pixels = pixels[frame_index or 0]
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    pixels = pixels * slope + intercept
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        pixels = pixels.max() + pixels.min() - pixels
    return pixels, ds


def _window(pixels: np.ndarray, modality: str) -> np.ndarray:
    if modality == "CT":
        centre, width = BONE_WINDOW
        low, high = centre - width / 2, centre + width / 2
    else:
        low, high = (float(v) for v in np.percentile(pixels, [1.0, 99.5]))
        if high <= low:
            high = low + 1.0
    return (np.clip((pixels - low) / (high - low), 0.0, 1.0) * 255).astype(np.uint8)


def key_image(
    records: CaseRecords, timepoint_id: str, sources: CaseSources
) -> tuple[Image.Image | None, str]:
    """The annotated key image of a timepoint and its caption (None + reason if unavailable)."""
    landmarks = {level: lms for (tp, level), lms in records.landmarks.items() if tp == timepoint_id and lms}
    sops = Counter(lm.sop_uid for lms in landmarks.values() for lm in lms.values() if lm.sop_uid)
    if not sops:
        return None, "no landmarks on an original image"
    sop_uid = sops.most_common(1)[0][0]
    source = sources.by_sop.get(sop_uid)
    if source is None:
        return None, "source image not found"
    header = source.header
    try:
        geometry = ImageGeometry.from_dicom(
            header.ImagePositionPatient,
            header.ImageOrientationPatient,
            header.PixelSpacing,
            int(header.Rows),
            int(header.Columns),
        )
        frame = next(
            (lm.frame_index for lms in landmarks.values() for lm in lms.values() if lm.sop_uid == sop_uid),
            None,
        )
        pixels, _ = _frame_pixels(source.path, frame)
    except (AttributeError, ValueError, OSError, RuntimeError) as exc:
        return None, f"image could not be read ({exc})"
    modality = str(header.get("Modality", ""))
    grey = _window(pixels, modality)
    # Square pixels on paper: resample to the physical aspect ratio (row, column spacing).
    width_mm, height_mm = geometry.size_mm
    scale = _IMAGE_PX / max(width_mm, height_mm)
    size = (max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))
    image = Image.fromarray(grey, mode="L").resize(size, Image.Resampling.BILINEAR).convert("RGB")
    draw = ImageDraw.Draw(image)
    sx, sy = size[0] / geometry.columns, size[1] / geometry.rows

    def to_screen(point: Sequence[float]) -> tuple[float, float]:
        column, row, _ = geometry.lps_to_pixel(np.asarray(point, dtype=float))
        return ((float(column) + 0.5) * sx, (float(row) + 0.5) * sy)

    for level, lms in landmarks.items():
        on_image = {k: lm for k, lm in lms.items() if lm.sop_uid == sop_uid or lm.sop_uid is None}
        for a, b in (("sup_ant", "sup_post"), ("inf_ant", "inf_post")):
            if a in on_image and b in on_image:
                draw.line(
                    [to_screen(on_image[a].position_mm), to_screen(on_image[b].position_mm)],
                    fill=_LINE_RGB,
                    width=2,
                )
        for lm in on_image.values():
            x, y = to_screen(lm.position_mm)
            draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=_LANDMARK_RGB)
        if "sup_post" in on_image and "inf_post" in on_image:
            x1, y1 = to_screen(on_image["sup_post"].position_mm)
            x2, y2 = to_screen(on_image["inf_post"].position_mm)
            draw.text(((x1 + x2) / 2 + 6, (y1 + y2) / 2 - 5), level, fill=_LABEL_RGB)
    window = "bone window" if modality == "CT" else "auto window"
    caption = f"{modality} {header.get('SeriesDescription', '')}, {window}".strip()
    return image, caption


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


def _case_story(records: CaseRecords, case: Case, sources: CaseSources, styles: Any) -> list[Any]:
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
        image, caption = key_image(records, tp.id, sources)
        if image is None:
            cells.append(Paragraph(f"<i>{tp.kind}: {caption}</i>", styles["Small"]))
        else:
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


def pdf_bytes(cases: Sequence[tuple[CaseRecords, Case, CaseSources]]) -> bytes:
    """The report of all cases (one page each) as PDF bytes."""
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
    for i, (records, case, sources) in enumerate(cases):
        if i:
            story.append(PageBreak())
        # One page per case, whatever its size: a case with many levels and timepoints is
        # scaled down to fit the page rather than spilling onto a second one.
        content = _case_story(records, case, sources, styles)
        story.append(KeepInFrame(doc.width, doc.height, content, mode="shrink", name=f"case {i + 1}"))
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
