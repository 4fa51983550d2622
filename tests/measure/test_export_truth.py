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


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_pdf_prints_the_phantom_truth_rounded(demo: Path, expected: Expected, tmp_path: Path) -> None:
    out = _export(demo, "pdf", tmp_path / "demo.pdf")
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    # Measurement table: Time Level Status VKA Ha Hm Hp Ha/Hp "Loss adj %" Genant Type.
    pattern = re.compile(r"^\s*(pre-op|post-op)\s+(T11|T12|L1|L2|L3)\s+(\w+)\s+(.*)$", re.MULTILINE)
    table = {}
    for m in pattern.finditer(text):
        cells = m.group(4).split()
        if len(cells) == 8:  # a table row (the STIR lines have other words)
            table[(m.group(1), m.group(2))] = (m.group(3), cells)
    assert set(table) == {(tp, lv) for tp in TIMEPOINTS for lv in LEVELS}, text
    for key, (status, cells) in table.items():
        h = expected.heights[key]
        assert status == (
            "reference" if key[1] != "L1" else {"pre-op": "fractured", "post-op": "treated"}[key[0]]
        )
        vka, ha, hm, hp, wedge, loss_cell = cells[:6]
        assert vka in _printed(expected.vka[key], 1), (key, vka)
        assert ha in _printed(h["Ha"], 1), (key, ha)
        assert hm in _printed(h["Hm"], 1), (key, hm)
        assert hp in _printed(h["Hp"], 1), (key, hp)
        assert wedge in _printed(h["Ha"] / h["Hp"], 2), (key, wedge)
        loss = expected.adjacent_loss[key]
        if loss is None:
            assert loss_cell == "-", key
        else:  # the report shows the largest of the three adjacent-reference losses
            assert loss_cell in _printed(max(loss.values()), 1), (key, loss_cell)
    # The comparison table: L1 pre-op -> post-op, correction, Ha gain, restoration (0 dp).
    m = re.search(r"^\s*L1\s+pre-op -> post-op\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", text, re.MULTILINE)
    assert m, text
    pre_h, post_h = expected.heights[("pre-op", "L1")], expected.heights[("post-op", "L1")]
    correction = expected.vka[("pre-op", "L1")] - expected.vka[("post-op", "L1")]
    assert m.group(1) in _printed(correction, 1)
    assert m.group(2) in _printed(post_h["Ha"] - pre_h["Ha"], 1)
    up, low = adjacent_references("L1", expected.references)
    ref_ha = (expected.heights[("pre-op", up)]["Ha"] + expected.heights[("pre-op", low)]["Ha"]) / 2
    assert m.group(3) in _printed((post_h["Ha"] - pre_h["Ha"]) / (ref_ha - pre_h["Ha"]) * 100, 0)
    assert m.group(4) == "-"  # no loss of correction on pre -> post
