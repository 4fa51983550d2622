"""STIR results reach every export, on a case whose pre-op landmarks sit on the demo MR T1.

The demo set's pre-op MR study has a sagittal T1 and a STIR in one frame of reference; the
phantom gives L1 (the fractured level) marrow edema and every other body none
(ground_truth.json: ``edema_fraction`` > 0 for L1 only).  The exported numbers must be the
STIR analysis' own (``session.case_images.CaseImages.stir_results``), in every format, and the follow-up
must carry the known loss of correction.
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
from pathlib import Path

import highdicom as hd
import pytest

from dicomio.sr import read_sr_contents
from measure.casefile import load_case
from measure.results_json import stir_json
from session.case_images import CaseImages
from session.export_run import export_cases
from tests.handcalc import signed_vka_deg
from tests.measure.test_export_case_builder import FOLLOW_UP_HA_LOSS_MM, MrCase
from tests.measure.test_export_case_builder import mr_case as mr_case

LEVELS = ("T11", "T12", "L1", "L2", "L3")


@pytest.fixture(scope="module")
def stir(mr_case: MrCase) -> dict[str, dict]:
    """The STIR analysis of the pre-op timepoint, computed independently of the exporters."""
    results = CaseImages(load_case(mr_case.case_path)).stir_results()["pre"]
    return {level: stir_json(r) for level, r in results.items()}


def test_the_stir_analysis_sees_the_phantom_edema(stir: dict[str, dict], mr_case: MrCase) -> None:
    truth = mr_case.truth["timepoints"]["pre"]["levels"]
    assert truth["L1"]["edema_fraction"] > 0.2
    for level in LEVELS:
        s = stir[level]
        assert s["status"] == "ok", s["message"]
        edematous = truth[level]["edema_fraction"] > 0
        assert s["flag"] is edematous, level
        assert (s["edema_fraction"] > 0.1) is edematous and (s["extent_grade"] >= 1) is edematous
        assert (s["t1_ratio"] < 0.8) is edematous  # dark on T1: supports edema
    assert stir["L1"]["sir"] > 3.0 and all(abs(stir[lv]["sir"] - 1.0) < 0.05 for lv in LEVELS if lv != "L1")
    assert stir["L1"]["reader_decision"] == {"decision": "confirmed", "note": "band-like edema"}


def test_csv_and_json_carry_the_stir_numbers(stir: dict[str, dict], mr_case: MrCase, tmp_path: Path) -> None:
    assert export_cases([mr_case.case_path], "csv", tmp_path / "a.csv").exit_status == 0
    assert export_cases([mr_case.case_path], "json", tmp_path / "a.json").exit_status == 0
    with (tmp_path / "a.csv").open(newline="", encoding="utf-8") as handle:
        rows = {(r["timepoint_id"], r["level"]): r for r in csv.DictReader(handle)}
    doc = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    pre = next(tp for tp in doc["cases"][0]["timepoints"] if tp["id"] == "pre")
    vertebrae = {v["level"]: v for v in pre["vertebrae"]}
    for level in LEVELS:
        s, row, v = stir[level], rows[("pre", level)], vertebrae[level]
        assert float(row["stir_ratio"]) == v["stir_ratio"] == s["sir"]
        assert float(row["stir_edema_fraction"]) == v["stir_edema_fraction"] == s["edema_fraction"]
        assert int(row["stir_extent_grade"]) == v["stir_extent_grade"] == s["extent_grade"]
        assert row["stir_flag"] == ("true" if s["flag"] else "false") and v["stir_flag"] is s["flag"]
        assert float(row["t1_ratio"]) == v["t1_ratio"] == s["t1_ratio"]
    assert rows[("pre", "L1")]["stir_reader_decision"] == "confirmed"
    assert rows[("pre", "L1")]["stir_reader_note"] == "band-like edema"
    # Post-op and follow-up are CT only: no STIR, so the cells are empty (not "false").
    assert rows[("post", "L1")]["stir_flag"] == "" and rows[("fu", "L1")]["stir_ratio"] == ""
    # The follow-up row carries the loss of correction against post-op.
    fu = rows[("fu", "L1")]
    assert (fu["compared_with_timepoint"], fu["comparison_kind"]) == ("post", "loss_of_correction")
    case = load_case(mr_case.case_path)

    def ha(tp: str) -> float:
        sup, inf = case.landmark(tp, "L1", "sup_ant"), case.landmark(tp, "L1", "inf_ant")
        assert sup is not None and inf is not None
        return math.dist(sup.position_mm, inf.position_mm)  # both on one sagittal slice

    assert ha("post") - ha("fu") == pytest.approx(FOLLOW_UP_HA_LOSS_MM, abs=0.05)  # sank 2 mm along z
    assert float(fu["height_gain_ha_mm"]) == pytest.approx(ha("fu") - ha("post"), abs=1e-9)
    assert float(fu["loss_of_correction_deg"]) > 0  # anterior height lost: kyphosis came back

    def vka(tp: str) -> float:  # hand computation on the landmarks (one sagittal slice)
        return signed_vka_deg({k: lm.position_mm for k, lm in case.landmarks(tp, "L1").items()})

    # Loss of correction = VKA_follow-up - VKA_post (clinical reference), signed.
    assert float(fu["loss_of_correction_deg"]) == pytest.approx(vka("fu") - vka("post"), abs=1e-9)
    assert float(rows[("post", "L1")]["correction_deg"]) == pytest.approx(vka("pre") - vka("post"), abs=1e-6)


def test_fhir_has_stir_observations(stir: dict[str, dict], mr_case: MrCase, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    assert export_cases([mr_case.case_path], "fhir", out).exit_status == 0
    entries = [e["resource"] for e in json.loads(out.read_text(encoding="utf-8"))["entry"]]
    by_code: dict[tuple[str, str, str], dict] = {}
    for r in entries:
        if r["resourceType"] == "Observation":
            key = (
                r["code"]["coding"][0]["code"],
                r["bodySite"].get("text", ""),
                r.get("effectiveDateTime", ""),
            )
            by_code[key] = r
    pre_date = "2026-03-03"
    for level in LEVELS:
        s = stir[level]
        assert by_code[("STIR-SIR", level, pre_date)]["valueQuantity"]["value"] == s["sir"]
        assert by_code[("STIR-EDEMA", level, pre_date)]["valueQuantity"]["value"] == s["edema_fraction"]
        assert by_code[("STIR-EXTENT", level, pre_date)]["valueInteger"] == s["extent_grade"]
        assert by_code[("STIR-FLAG", level, pre_date)]["valueBoolean"] is s["flag"]
        assert by_code[("T1-SIR", level, pre_date)]["valueQuantity"]["value"] == s["t1_ratio"]
    note = [{"text": "reader decision: confirmed (band-like edema)"}]
    assert by_code[("STIR-FLAG", "L1", pre_date)]["note"] == note
    assert not any(code == "STIR-SIR" and date != pre_date for code, _, date in by_code)
    loss = by_code[("VKA-LOSS", "L1", "2026-06-10")]
    assert loss["valueQuantity"]["code"] == "deg" and loss["valueQuantity"]["value"] > 0
    fracture = by_code[("FX-TYPE", "L1", pre_date)]["valueCodeableConcept"]["coding"][0]
    assert fracture["code"] in {"FX-WEDGE", "FX-BICONCAVE", "FX-CRUSH"}


def test_sr_on_the_mr_t1_carries_stir_and_reads_back(
    stir: dict[str, dict], mr_case: MrCase, tmp_path: Path
) -> None:
    summary = export_cases([mr_case.case_path], "sr", tmp_path / "sr")
    assert summary.exit_status == 0, summary.failed
    pre = tmp_path / "sr" / "CASE-MR_pre.dcm"
    assert sorted(p.name for p in summary.written) == ["CASE-MR_fu.dcm", "CASE-MR_post.dcm", pre.name]
    contents = read_sr_contents(pre)
    case = load_case(mr_case.case_path)
    for level in LEVELS:
        values = contents.measurements[level]
        assert values["STIR-SIR"] == (stir[level]["sir"], "1")
        assert values["STIR-EXTENT"] == (float(stir[level]["extent_grade"]), "{grade}")
        flag = contents.qualitative[level]["STIR-FLAG"]
        assert flag.value == ("52101004" if stir[level]["flag"] else "2667000")
        # The landmarks come back exactly, referencing the T1 images they were placed on.
        for key, position in contents.landmarks_mm[level].items():
            expected = case.landmark("pre", level, key)
            assert expected is not None and math.dist(position, expected.position_mm) < 1e-3
        assert {series for series, _ in contents.source_images[level]} == {mr_case.t1_uid}
    assert contents.frame_of_reference_uids == {
        mr_case.truth["series"][mr_case.t1_uid]["frame_of_reference_uid"]
    }
    sr = hd.sr.srread(pre)
    assert sr.Modality == "SR" and isinstance(sr.content, hd.sr.MeasurementReport)
    dump = subprocess.run(["dsrdump", "-Ee", str(pre)], capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0 and "E:" not in dump.stderr and "W:" not in dump.stderr, dump.stderr
    assert "STIR edema: recent fracture likely" in dump.stdout and '"Present"' in dump.stdout


def test_pdf_is_one_page_with_the_stir_result(stir: dict[str, dict], mr_case: MrCase, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    assert export_cases([mr_case.case_path], "pdf", out).exit_status == 0
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.MULTILINE)  # three timepoints, five levels: one page
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    s = stir["L1"]
    expected = (
        f"pre-op L1: SIR {s['sir']:.2f}, edema fraction {100 * s['edema_fraction']:.0f}%, "
        f"extent grade {s['extent_grade']}, edema: recent fracture likely; "
        "reader: confirmed (band-like edema)"
    )
    assert expected in " ".join(text.split())
    assert "pre-op L2: SIR 1.01" in " ".join(text.split()) and "no edema flag" in text
