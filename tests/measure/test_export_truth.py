"""The demo case's CSV and PDF exports carry the phantom's analytic truth.

The demo case (``app.demo_case.ensure_demo_case``) has its landmarks at the exact phantom
positions: pre-op on the sagittal T1 MR, post-op on the CT.  Every expected number here is
computed in the test from ``dicomio.synthetic.phantom`` (landmark positions and the phantom's own
analytic heights and angles) with the hand formulas of ``tests/handcalc.py``, never from
``measure``; the exports are made through the command line (``main.main``).
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import main
from dicomio.synthetic import phantom
from measure.casefile import load_case
from tests.handcalc import adjacent_loss_pct, adjacent_references, heights_mm, signed_vka_deg

LEVELS = ("T11", "T12", "L1", "L2", "L3")
#: demo timepoint id -> the phantom timepoint its landmarks come from.
TIMEPOINTS = {"pre-op": "pre", "post-op": "post"}


@dataclass
class Expected:
    """Per (timepoint id, level): what a correct export shows, from the phantom."""

    heights: dict[tuple[str, str], dict[str, float]]
    vka: dict[tuple[str, str], float]
    adjacent_loss: dict[tuple[str, str], dict[str, float] | None]
    references: tuple[str, ...]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("demo_truth"), small=True)


@pytest.fixture(scope="module")
def expected(demo: Path) -> Expected:
    case = load_case(demo)
    # Which levels the demo marks as reference: every level the phantom leaves unfractured.
    statuses = {(tp, lv): case.vertebra(tp, lv).status for tp in TIMEPOINTS for lv in LEVELS}
    assert statuses[("pre-op", "L1")] == "fractured" and statuses[("post-op", "L1")] == "treated"
    references = tuple(lv for lv in LEVELS if lv != "L1")
    assert all(statuses[(tp, lv)] == "reference" for tp in TIMEPOINTS for lv in references)
    heights, vka, loss = {}, {}, {}
    for tp, phantom_tp in TIMEPOINTS.items():
        truth = phantom.truth(phantom_tp)  # type: ignore[arg-type]
        analytic = phantom.level_truth(phantom_tp)  # type: ignore[arg-type]
        for lv in LEVELS:
            h = heights_mm(truth[lv])
            # The hand formulas agree with the phantom's analytic definition.
            assert h == pytest.approx(analytic[lv].heights_mm, abs=1e-9)
            assert signed_vka_deg(truth[lv]) == pytest.approx(analytic[lv].vka_deg, abs=1e-9)
            heights[(tp, lv)] = h
            vka[(tp, lv)] = signed_vka_deg(truth[lv])
        per_level = {lv: heights[(tp, lv)] for lv in LEVELS}
        for lv in LEVELS:
            loss[(tp, lv)] = adjacent_loss_pct(lv, per_level, references)
    # Signs and sizes that a sign or reference mix-up would break.
    assert vka[("pre-op", "L1")] > 15.0 and vka[("pre-op", "L3")] < 0.0
    assert adjacent_references("L1", references) == ("T12", "L2")
    assert loss[("pre-op", "T11")] is None and loss[("pre-op", "L3")] is None
    return Expected(heights, vka, loss, references)


def _export(demo: Path, fmt: str, out: Path) -> Path:
    status = main.main(["export", str(demo), "--format", fmt, "--out", str(out)])
    assert status == 0 and out.is_file()
    return out


def _float(cell: str) -> float:
    assert cell != "", "an empty cell where a number was expected"
    return float(cell)


def test_csv_rows_are_the_phantom_truth(demo: Path, expected: Expected, tmp_path: Path) -> None:
    out = _export(demo, "csv", tmp_path / "demo.csv")
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {(r["timepoint_id"], r["level"]): r for r in csv.DictReader(handle)}
    assert set(rows) == {(tp, lv) for tp in TIMEPOINTS for lv in LEVELS}
    for key, row in rows.items():
        h = expected.heights[key]
        assert _float(row["vka_deg"]) == pytest.approx(expected.vka[key], abs=1e-6), key
        assert _float(row["ha_mm"]) == pytest.approx(h["Ha"], abs=1e-6), key
        assert _float(row["hm_mm"]) == pytest.approx(h["Hm"], abs=1e-6), key
        assert _float(row["hp_mm"]) == pytest.approx(h["Hp"], abs=1e-6), key
        assert _float(row["wedge_ratio"]) == pytest.approx(h["Ha"] / h["Hp"], abs=1e-6), key
        assert _float(row["biconcave_ratio"]) == pytest.approx(h["Hm"] / h["Hp"], abs=1e-6), key
        assert _float(row["height_loss_posterior_ha_pct"]) == pytest.approx(
            (1 - h["Ha"] / h["Hp"]) * 100, abs=1e-6
        ), key
        loss = expected.adjacent_loss[key]
        for kind in ("Ha", "Hm", "Hp"):
            cell = row[f"height_loss_adjacent_{kind.lower()}_pct"]
            if loss is None:
                assert cell == "", key  # no reference on one side: no number
            else:
                assert _float(cell) == pytest.approx(loss[kind], abs=1e-6), (key, kind)
    # The fractured level before and after: correction = VKA_pre - VKA_post (positive: less
    # kyphosis), height gain, and restoration against the pre-op adjacent reference.
    post = rows[("post-op", "L1")]
    assert post["compared_with_timepoint"] == "pre-op" and post["comparison_kind"] == "correction"
    correction = expected.vka[("pre-op", "L1")] - expected.vka[("post-op", "L1")]
    analytic = phantom.level_truth("pre")["L1"].vka_deg - phantom.level_truth("post")["L1"].vka_deg
    assert correction == pytest.approx(analytic, abs=1e-9) and correction > 5.0
    assert _float(post["correction_deg"]) == pytest.approx(correction, abs=1e-6)
    pre_h, post_h = expected.heights[("pre-op", "L1")], expected.heights[("post-op", "L1")]
    assert _float(post["height_gain_ha_mm"]) == pytest.approx(post_h["Ha"] - pre_h["Ha"], abs=1e-6)
    up, low = adjacent_references("L1", expected.references)
    ref_ha = (expected.heights[("pre-op", up)]["Ha"] + expected.heights[("pre-op", low)]["Ha"]) / 2
    restoration = (post_h["Ha"] - pre_h["Ha"]) / (ref_ha - pre_h["Ha"]) * 100
    assert _float(post["restoration_ha_pct"]) == pytest.approx(restoration, abs=1e-6)
    assert post["loss_of_correction_deg"] == ""  # pre -> post is a correction, not a loss


def _printed(value: float, digits: int) -> set[str]:
    """What a report rounding ``value`` to ``digits`` decimals may print: the rounded value,
    and its neighbour when ``value`` lies within 1e-6 of a rounding boundary (the export's
    float may land on either side); never "-0.0"."""
    step = 10.0**-digits
    out = set()
    for v in (value - 1e-6, value, value + 1e-6):
        text = f"{round(v, digits) + 0.0:.{digits}f}"
        out.add(f"{0.0:.{digits}f}" if float(text) == 0 else text)
    assert len(out) <= 2 and all(abs(float(t) - value) <= step / 2 + 1e-6 for t in out)
    return out


def _ha_sigma_mm(lm: dict[str, tuple[float, float, float]], image_dir: Path) -> float:
    """One-pixel uncertainty of Ha by hand: Ha = |a - b| moves by u . d per mm that a point
    moves along d (u the unit vector between them); each of the two points may move one
    row (row spacing along the column cosine) and one column (column spacing along the row
    cosine), independently.  Spacing and cosines from the image's own header (pydicom)."""
    import numpy as np
    import pydicom

    ds = pydicom.dcmread(next(image_dir.glob("*.dcm")), stop_before_pixels=True)
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_cos, col_cos = iop[:3], iop[3:]
    u = np.subtract(lm["sup_ant"], lm["inf_ant"])
    u = u / np.linalg.norm(u)
    per_point = (float(u @ col_cos) * row_spacing) ** 2 + (float(u @ row_cos) * col_spacing) ** 2
    return float(np.sqrt(2 * per_point))


def _cells(line: str) -> list[str]:
    """The cells of a table line as pdftotext -layout prints them (two or more spaces apart)."""
    return [c for c in re.split(r"\s{2,}", line.strip()) if c]


def _value(cell: str) -> tuple[str, str | None]:
    """``'21.9 ± 2.1'`` -> ('21.9', '2.1'); ``'≈ 0.0 ± 3.0'`` -> ('0.0', '3.0')."""
    m = re.fullmatch(r"(?:≈ )?(-?[\d.]+)(?: ± ([\d.]+))?(?: †)?", cell)
    assert m, cell
    return m.group(1), m.group(2)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_pdf_prints_the_phantom_truth_rounded(demo: Path, expected: Expected, tmp_path: Path) -> None:
    out = _export(demo, "pdf", tmp_path / "demo.pdf")
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    # Measurement table: Time Level Status VKA Ha Hm Hp Ha/Hp "Loss adj %" Genant Type,
    # values with their one-pixel +/-.
    table = {}
    for line in text.splitlines():
        cells = _cells(line)
        if len(cells) == 11 and cells[0] in TIMEPOINTS and cells[1] in LEVELS:
            table[(cells[0], cells[1])] = cells
    assert set(table) == {(tp, lv) for tp in TIMEPOINTS for lv in LEVELS}, text
    image_dirs = {"pre-op": demo.parent / "images" / "pre_t1", "post-op": demo.parent / "images" / "post_ct"}
    for key, cells in table.items():
        h = expected.heights[key]
        status = cells[2]
        assert status == (
            "reference" if key[1] != "L1" else {"pre-op": "fractured", "post-op": "treated"}[key[0]]
        )
        (vka, vka_sigma), (ha, ha_sigma), (hm, _), (hp, _), (wedge, _) = (_value(c) for c in cells[3:8])
        assert vka in _printed(expected.vka[key], 1), (key, vka)
        assert vka_sigma is not None and float(vka_sigma) > 0, (key, cells[3])
        assert ha in _printed(h["Ha"], 1), (key, ha)
        truth = phantom.truth(TIMEPOINTS[key[0]])[key[1]]  # type: ignore[arg-type]
        assert ha_sigma in _printed(_ha_sigma_mm(truth, image_dirs[key[0]]), 1), (key, cells[4])
        assert hm in _printed(h["Hm"], 1), (key, hm)
        assert hp in _printed(h["Hp"], 1), (key, hp)
        assert wedge in _printed(h["Ha"] / h["Hp"], 2), (key, wedge)
        loss = expected.adjacent_loss[key]
        if loss is None:
            assert cells[8] == "–", key
        else:  # the largest of the three adjacent-reference losses, 0 dp, and which height
            largest = max(loss, key=lambda k: loss[k])
            m = re.fullmatch(r"(-?\d+) ± \d+ \((ha|hm|hp)\)", cells[8])
            assert m, (key, cells[8])
            assert m.group(1) in _printed(loss[largest], 0) and m.group(2) == largest.lower(), (key, cells[8])
    # The comparison table: L1 pre-op -> post-op, correction, the three height gains, Ha and
    # Hm restoration (0 dp), each with its +/-; no loss of correction on pre -> post.
    rows = [_cells(line) for line in text.splitlines()]
    (row,) = [c for c in rows if c[:2] == ["L1", "pre-op → post-op"]]
    assert row[2] == "correction"
    pre_h, post_h = expected.heights[("pre-op", "L1")], expected.heights[("post-op", "L1")]
    correction = expected.vka[("pre-op", "L1")] - expected.vka[("post-op", "L1")]
    assert correction > 4.9  # beyond the measurement error: no ≈ mark
    assert not row[3].startswith("≈") and _value(row[3])[0] in _printed(correction, 1)
    for i, k in enumerate(("Ha", "Hm", "Hp")):
        gain, sigma = _value(row[4 + i])
        assert gain in _printed(post_h[k] - pre_h[k], 1) and sigma is not None, (k, row)
    # Hp does not change under the phantom's kyphoplasty: within error, marked ≈.
    assert post_h["Hp"] - pre_h["Hp"] == pytest.approx(0.0, abs=1e-9) and row[6].startswith("≈ ")
    up, low = adjacent_references("L1", expected.references)
    for i, k in enumerate(("Ha", "Hm")):
        ref = (expected.heights[("pre-op", up)][k] + expected.heights[("pre-op", low)][k]) / 2
        restoration = (post_h[k] - pre_h[k]) / (ref - pre_h[k]) * 100
        assert restoration < 100 and _value(row[7 + i])[0] in _printed(restoration, 0), (k, row)
    assert row[9] == "–"  # no loss of correction on pre -> post
    assert "†" not in text  # no restoration above 100 %: no footnote
    # Each timepoint names the series it was measured on; the demo has a STIR series.
    assert "pre-op 2026-03-02: measured on SAG T1 TSE (MR)" in text
    assert "post-op 2026-03-10: measured on SAG BONE 2.0 POST (CT)" in text
    assert "No STIR series" not in text
