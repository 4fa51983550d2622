"""Pseudonymisation in every format, --force, and partial failure of `endplate export`."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import subprocess
from pathlib import Path

import pytest

from main import main
from measure.export.pseudonymize import PSEUDONYM_LENGTH, PatientIdentity, birth_year, pseudonym
from session.export_run import export_cases
from tests.measure.test_export_case_builder import BIRTH_DATE, PATIENT_ID, PATIENT_NAME, DemoCase
from tests.measure.test_export_case_builder import demo_case as demo_case

KEY = "registry-secret-2026"
FORBIDDEN = [
    PATIENT_NAME.encode(),
    b"Durand",
    b"Jeanne",
    PATIENT_ID.encode(),
    BIRTH_DATE.encode(),
    BIRTH_DATE.replace("-", "").encode(),
    b"DEMO^SPINE",  # the source images' own patient name (the SR must not copy it)
    b"ENDPLATE-DEMO",  # the source images' patient id
    b"19470612",
]


def _all_bytes(paths: list[Path]) -> bytes:
    data = b""
    for path in paths:
        data += path.read_bytes()
        if path.suffix == ".pdf":  # page streams are compressed: search the text too
            data += subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout
    return data


def test_pseudonym_is_keyed_hmac_sha256() -> None:
    expected = hmac.new(KEY.encode(), b"id:" + PATIENT_ID.encode(), hashlib.sha256).hexdigest()[
        :PSEUDONYM_LENGTH
    ]
    assert pseudonym(PATIENT_ID, KEY, field="id") == expected
    assert pseudonym(PATIENT_ID, "other key", field="id") != expected
    assert pseudonym(PATIENT_ID, KEY, field="name") != expected
    assert birth_year("1947-06-12") == birth_year("19470612") == "1947"
    identity = PatientIdentity.of(PATIENT_NAME, PATIENT_ID, BIRTH_DATE, KEY)
    assert identity.birth_date == "1947" and identity.pseudonymized
    assert len(identity.name) == len(identity.patient_id) == PSEUDONYM_LENGTH


@pytest.mark.parametrize("fmt", ["csv", "json", "sr", "fhir", "pdf"])
def test_pseudonymised_outputs_hold_no_identity(
    fmt: str,
    demo_case: DemoCase,
    tmp_path: Path,
) -> None:
    before = demo_case.case_path.read_bytes()
    out = tmp_path / ("sr" if fmt == "sr" else f"out.{fmt}")
    summary = export_cases([demo_case.case_path], fmt, out, pseudonymize_key=KEY)
    assert summary.exit_status == 0, summary.failed
    data = _all_bytes(summary.written)
    for secret in FORBIDDEN:
        assert secret not in data, (fmt, secret)
    assert pseudonym(PATIENT_ID, KEY, field="id").encode() in data
    assert demo_case.case_path.read_bytes() == before  # the case file is never changed
    # Positive control: without the key the same export does carry the identity.
    plain = export_cases([demo_case.case_path], fmt, tmp_path / ("plain" if fmt == "sr" else f"plain.{fmt}"))
    plain_bytes = _all_bytes(plain.written)
    assert PATIENT_ID.encode() in plain_bytes


def test_pseudonymised_csv_keeps_birth_year(demo_case: DemoCase, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    assert export_cases([demo_case.case_path], "csv", out, pseudonymize_key=KEY).exit_status == 0
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["patient_birth_date"] for r in rows} == {"1947"}
    assert {r["pseudonymized"] for r in rows} == {"true"}


def test_existing_output_needs_force(
    demo_case: DemoCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    out.write_text("precious", encoding="utf-8")
    status = main(["export", str(demo_case.case_path), "--format", "json", "--out", str(out)])
    assert status == 2
    assert out.read_text(encoding="utf-8") == "precious"
    assert "--force" in capsys.readouterr().err
    status = main(["export", str(demo_case.case_path), "--format", "json", "--out", str(out), "--force"])
    assert status == 0
    assert json.loads(out.read_text(encoding="utf-8"))["cases"][0]["case_id"] == "CASE-001"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left


def test_existing_sr_file_needs_force(demo_case: DemoCase, tmp_path: Path) -> None:
    out = tmp_path / "sr"
    assert export_cases([demo_case.case_path], "sr", out).exit_status == 0
    again = export_cases([demo_case.case_path], "sr", out)
    assert again.exit_status == 2 and "--force" in again.failed[0][1]
    assert export_cases([demo_case.case_path], "sr", out, force=True).exit_status == 0


def test_unreadable_case_among_good_ones(
    demo_case: DemoCase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "endplate-case", "version": 2, "timepoints": [', encoding="utf-8")
    out = tmp_path / "all.csv"
    status = main(["export", str(demo_case.case_path), str(broken), "--format", "csv", "--out", str(out)])
    assert status == 1
    err = capsys.readouterr().err
    assert "broken.json" in err and "Traceback" not in err
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and {r["case_id"] for r in rows} == {"CASE-001"}


def test_nothing_exported_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.json"
    status = main(["export", str(missing), "--format", "fhir", "--out", str(tmp_path / "b.json")])
    assert status == 2
    assert "missing.json" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_sr_of_a_case_whose_images_are_gone(demo_case: DemoCase, tmp_path: Path) -> None:
    from measure.casefile import load_case, save_case

    case = load_case(demo_case.case_path)
    for ref in case.series:
        from dataclasses import replace

        case.assign_series(replace(ref, path=str(tmp_path / "gone")))
    orphan = tmp_path / "orphan.json"
    save_case(case, orphan)
    summary = export_cases([demo_case.case_path, orphan], "sr", tmp_path / "sr")
    assert summary.exit_status == 1
    assert summary.failed[0][0] == orphan and "not found" in summary.failed[0][1]


def test_a_failed_write_leaves_the_previous_output_whole(
    demo_case: DemoCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--force over an existing file, and the rename fails (disk error, power cut): the old
    file is intact, no temporary file is left, and nothing is reported as exported."""
    from dicomio import atomic

    out = tmp_path / "out.csv"
    out.write_text("previous export\n", encoding="utf-8")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    summary = export_cases([demo_case.case_path], "csv", out, force=True)
    assert summary.exit_status == 2 and summary.exported == []
    assert summary.error is not None and "Input/output error" in summary.error and str(out) in summary.error
    assert out.read_text(encoding="utf-8") == "previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


#: Identifying attributes real source images carry and highdicom copies into an SR.
SOURCE_IDENTIFIERS = {
    "AccessionNumber": "ACC-4471-SECRET",
    "ReferringPhysicianName": "Referrer^Secret",
    "StudyID": "STUDY-SECRET",
    "OtherPatientIDs": "OTHER-ID-SECRET",
    "PatientBirthTime": "101500.123456",
    "PatientComments": "COMMENT-SECRET",
    "PatientAddress": "1 Secret Street",
}


def test_pseudonymised_sr_drops_the_source_images_identifiers(tmp_path: Path) -> None:
    """The SR's patient and study modules come from the evidence headers: a pseudonymised SR
    must not keep the accession number, physicians, other ids ... (the demo images have
    none, so they are added here), while a plain SR keeps them."""
    import pydicom

    from measure.casefile import load_case
    from tests.measure.test_export_case_builder import build_demo_case

    demo = build_demo_case(tmp_path / "case")
    case = load_case(demo.case_path)
    for uid in demo.series_keys.values():
        for path in sorted(case.series_path(uid).iterdir()):
            ds = pydicom.dcmread(path)
            for keyword, value in SOURCE_IDENTIFIERS.items():
                setattr(ds, keyword, value)
            ds.save_as(path)
    summary = export_cases([demo.case_path], "sr", tmp_path / "sr", pseudonymize_key=KEY)
    assert summary.exit_status == 0, summary.failed
    data = _all_bytes(summary.written)
    for value in SOURCE_IDENTIFIERS.values():
        assert value.encode() not in data, value
    sr = pydicom.dcmread(summary.written[0])
    assert sr.AccessionNumber == "" and sr.ReferringPhysicianName == "" and sr.StudyID == ""
    assert sr.PatientID == pseudonym(PATIENT_ID, KEY, field="id")
    # A plain SR carries what the case holds, not what the source images say (issue 14 #9):
    # the case's patient, and no accession number, comments or physicians it does not hold.
    plain = export_cases([demo.case_path], "sr", tmp_path / "plain")
    assert plain.exit_status == 0, plain.failed
    plain_sr = pydicom.dcmread(plain.written[0])
    assert plain_sr.PatientID == PATIENT_ID
    assert plain_sr.AccessionNumber == "" and "PatientComments" not in plain_sr
    for value in SOURCE_IDENTIFIERS.values():
        assert value.encode() not in _all_bytes(plain.written), value


def test_pseudonymised_fhir_and_sr_replace_the_study_uid_alike(demo_case: DemoCase, tmp_path: Path) -> None:
    """The FHIR derivedFrom names the study by the same keyed UID as the pseudonymised SR
    (HMAC of the study UID, PS3.5 B.2 ``2.25.`` form), never by the original UID."""
    import pydicom

    fhir_out, sr_out = tmp_path / "b.fhir.json", tmp_path / "sr"
    assert (
        main(
            [
                "export",
                str(demo_case.case_path),
                "--format",
                "fhir",
                "--out",
                str(fhir_out),
                "--pseudonymize",
                KEY,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "export",
                str(demo_case.case_path),
                "--format",
                "sr",
                "--out",
                str(sr_out),
                "--pseudonymize",
                KEY,
            ]
        )
        == 0
    )
    originals = {
        str(pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID)
        for f in (demo_case.case_path.parent / "dicom").rglob("*.dcm")
    }
    bundle = json.loads(fhir_out.read_text(encoding="utf-8"))
    cited = {
        d["identifier"]["value"].removeprefix("urn:oid:")
        for e in bundle["entry"]
        for d in e["resource"].get("derivedFrom", [])
    }
    sr_studies = {str(pydicom.dcmread(p).StudyInstanceUID) for p in sr_out.glob("*.dcm")}
    assert cited and not cited & originals
    assert all(uid.startswith("2.25.") for uid in cited)
    assert cited == sr_studies
