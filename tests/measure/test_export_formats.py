"""Round trips of every export format on a real case built from the demo DICOM set."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest

from dicomio.synthetic import phantom
from measure.export.codes import LEVEL_SCT_CODES
from measure.export.records import column_names, data_dictionary, record_fields
from session.export_run import export_cases
from tests.handcalc import heights_mm, signed_vka_deg
from tests.measure.test_export_case_builder import BIRTH_DATE, PATIENT_ID, PATIENT_NAME, DemoCase
from tests.measure.test_export_case_builder import demo_case as demo_case

HEIGHT_KEYS = {"ha_mm": "Ha", "hm_mm": "Hm", "hp_mm": "Hp"}


def _truth_heights(demo: DemoCase, tp: str, level: str) -> dict[str, float]:
    return demo.truth["timepoints"][tp]["levels"][level]["heights_mm"]


def test_dictionary_and_record_agree() -> None:
    names = column_names()
    assert names == record_fields()
    assert len(names) == len(set(names))
    for column in data_dictionary()["columns"]:
        assert set(column) == {"name", "type", "unit", "definition", "allowed_values"}
        assert column["type"] in ("string", "integer", "number", "boolean")
        assert column["definition"].strip()


def test_dictionary_is_documented_in_markdown() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    section = text[text.index("## Export columns") :]
    for name in column_names():
        assert f"`{name}`" in section, name


def test_csv_round_trip(demo_case: DemoCase, tmp_path: Path) -> None:
    out = tmp_path / "registry.csv"
    summary = export_cases([demo_case.case_path], "csv", out)
    assert summary.exit_status == 0 and summary.written == [out]
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        assert reader.fieldnames == column_names()
    assert len(rows) == 10  # 2 timepoints x 5 levels
    assert [(r["timepoint_id"], r["level"]) for r in rows[:5]] == [
        ("pre", lv) for lv in ("T11", "T12", "L1", "L2", "L3")
    ]
    for row in rows:
        assert row["patient_name"] == PATIENT_NAME and row["patient_id"] == PATIENT_ID
        assert row["patient_birth_date"] == BIRTH_DATE
        assert row["level_sct_code"] == LEVEL_SCT_CODES[row["level"]]
        truth = _truth_heights(demo_case, row["timepoint_id"], row["level"])
        for key, truth_key in HEIGHT_KEYS.items():
            assert float(row[key]) == pytest.approx(truth[truth_key], abs=1e-6)
        # Signed VKA and the wedge ratio, by hand from the phantom's landmark positions.
        landmarks = phantom.truth(row["timepoint_id"])[row["level"]]
        assert float(row["vka_deg"]) == pytest.approx(signed_vka_deg(landmarks), abs=1e-6)
        hand = heights_mm(landmarks)
        assert float(row["wedge_ratio"]) == pytest.approx(hand["Ha"] / hand["Hp"], abs=1e-6)
    l1_post = next(r for r in rows if r["timepoint_id"] == "post" and r["level"] == "L1")
    assert l1_post["procedure"] == "kyphoplasty"
    assert float(l1_post["cement_volume_ml"]) == 4.5
    assert l1_post["cement_leakage"] == "B;D"
    assert l1_post["compared_with_timepoint"] == "pre"
    gain = _truth_heights(demo_case, "post", "L1")["Ha"] - _truth_heights(demo_case, "pre", "L1")["Ha"]
    assert float(l1_post["height_gain_ha_mm"]) == pytest.approx(gain, abs=1e-6)
    l1_pre = next(r for r in rows if r["timepoint_id"] == "pre" and r["level"] == "L1")
    assert l1_pre["stir_reader_decision"] == "confirmed"
    assert l1_pre["stir_reader_note"] == "band under the superior endplate"
    assert l1_post["stir_reader_note"] == ""  # no decision at post-op: an empty cell
    assert l1_pre["regional_upper_level"] == "T12" and l1_pre["regional_lower_endplate"] == "inferior"
    assert l1_pre["status"] == "fractured" and l1_pre["genant_grade"] in {"1", "2", "3"}


def test_json_round_trip_matches_csv(demo_case: DemoCase, tmp_path: Path) -> None:
    assert export_cases([demo_case.case_path], "csv", tmp_path / "a.csv").exit_status == 0
    assert export_cases([demo_case.case_path], "json", tmp_path / "a.json").exit_status == 0
    with (tmp_path / "a.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    doc = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert doc["format"] == "endplate-export" and len(doc["cases"]) == 1
    case = doc["cases"][0]
    assert case["patient"] == {
        "name": PATIENT_NAME,
        "id": PATIENT_ID,
        "birth_date": BIRTH_DATE,
        "sex": "F",
        "pseudonymized": False,
    }
    flat = [(tp["id"], v) for tp in case["timepoints"] for v in tp["vertebrae"]]
    assert len(flat) == len(rows)
    for (tp_id, vertebra), row in zip(flat, rows, strict=True):
        assert row["timepoint_id"] == tp_id and row["level"] == vertebra["level"]
        for key in ("vka_deg", "ha_mm", "hm_mm", "hp_mm", "wedge_ratio", "height_loss_adjacent_ha_pct"):
            assert (row[key] == "") == (vertebra[key] is None)
            if vertebra[key] is not None:
                assert float(row[key]) == vertebra[key]
    assert {(c["from_timepoint"], c["to_timepoint"]) for c in case["comparisons"]} == {("pre", "post")}
    regional = case["timepoints"][0]["regional"]
    assert [
        (r["upper_level"], r["upper_endplate"], r["lower_level"], r["lower_endplate"]) for r in regional
    ] == [("T12", "superior", "L2", "inferior")]


def test_fhir_bundle_validates_and_carries_the_numbers(demo_case: DemoCase, tmp_path: Path) -> None:
    from fhir.resources.R4B.bundle import Bundle

    out = tmp_path / "bundle.json"
    assert export_cases([demo_case.case_path], "fhir", out).exit_status == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    bundle = Bundle.model_validate(data)
    assert bundle.type == "collection"
    # FHIR R4 (4.0.1) proper: fhirclient's R4 models check types, cardinality and unknown
    # elements on construction (strict), and must give back the same JSON.
    from fhirclient.models.bundle import Bundle as R4Bundle

    r4 = R4Bundle(data, strict=True)
    assert r4.as_json() == data
    resources = [e["resource"] for e in data["entry"]]
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    assert len(patients) == 1 and patients[0]["birthDate"] == BIRTH_DATE
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    patient_url = data["entry"][0]["fullUrl"]
    study_uids = {
        tp: demo_case.truth["series"][uid]["study_instance_uid"] for tp, uid in demo_case.series_keys.items()
    }
    found = 0
    for obs in observations:
        assert obs["subject"]["reference"] == patient_url
        if "valueQuantity" in obs:
            assert obs["valueQuantity"]["system"] == "http://unitsofmeasure.org"
        if obs["code"]["coding"][0]["code"] == "HA" and obs["bodySite"]["text"] == "L1":
            tp = "pre" if obs["effectiveDateTime"] == "2026-03-02" else "post"
            assert obs["valueQuantity"]["value"] == pytest.approx(
                _truth_heights(demo_case, tp, "L1")["Ha"], abs=1e-6
            )
            assert obs["valueQuantity"]["code"] == "mm"
            assert obs["bodySite"]["coding"][0] == {
                "system": "http://snomed.info/sct",
                "code": "66794005",
                "display": "L1 vertebra",
            }
            assert obs["derivedFrom"][0]["identifier"]["value"] == f"urn:oid:{study_uids[tp]}"
            found += 1
    assert found == 2
    cobb = [o for o in observations if o["code"]["coding"][0]["code"] == "285285000"]
    assert len(cobb) == 2 and all(o["valueQuantity"]["code"] == "deg" for o in cobb)


def test_pdf_opens_and_renders(demo_case: DemoCase, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    summary = export_cases([demo_case.case_path, demo_case.case_path], "pdf", out)
    assert summary.exit_status == 0
    assert out.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+2$", info, re.MULTILINE)  # one page per case
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(out), str(tmp_path / "page")], check=True
    )
    png = tmp_path / "page-1.png"
    assert png.stat().st_size > 10_000
    from PIL import Image

    with Image.open(png) as image:
        assert image.size[0] > 300 and image.getextrema() != ((255, 255), (255, 255), (255, 255))
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "CASE-001" in text and "kyphoplasty" in text and "L1" in text


def test_series_sharing_a_folder_read_it_once(demo_case: DemoCase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two series whose case paths are one study folder: it is scanned once, and each
    series still gets exactly its own images."""
    from dataclasses import replace

    from measure.casefile import load_case
    from session import case_images

    case = load_case(demo_case.case_path)
    separate = case_images.CaseImages(case)
    folders = {case.series_path(uid) for uid in demo_case.series_keys.values()}
    (study_folder,) = {f.parent for f in folders}
    for ref in case.series:
        case.assign_series(replace(ref, path=str(study_folder)))
    calls: list[list[Path]] = []
    real = case_images.scan_paths

    def counting(paths: list[Path], **kwargs: object) -> object:
        calls.append(list(paths))
        return real(paths, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(case_images, "scan_paths", counting)
    shared = case_images.CaseImages(case)
    assert calls == [[study_folder]]
    assert len(demo_case.series_keys) == 2 and shared.missing_series == []
    for uid in demo_case.series_keys.values():
        expected = sorted(f.sop_instance_uid for s in separate.library.stacks_of([uid]) for f in s.frames)
        got = sorted(f.sop_instance_uid for s in shared.library.stacks_of([uid]) for f in s.frames)
        assert expected and got == expected
        for sop in expected[:3]:
            image = shared.image(sop)
            assert image is not None and str(image.header.SeriesInstanceUID) == uid
