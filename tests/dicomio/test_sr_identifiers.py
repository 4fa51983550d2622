"""Hole #9 of issue 14: what an SR says about people, places, devices, dates and UIDs.

Source images carry planted identifiers (institution, station, device serial, operators,
physicians, accession, patient comments and history, issuer of patient id, study id and
dates, an equipment sequence); the SR is written through ``endplate export`` and read
back with plain pydicom (attribute by attribute, every nested dataset), highdicom and
dcmtk's dsrdump.  Pseudonymised: DICOM PS3.15 Basic Profile (UIDs replaced consistently,
source dates replaced, identifiers gone); plain: exactly what the case holds.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from dicomio.sr import replaced_uid
from measure.casefile import load_case
from measure.export.pseudonymize import PatientIdentity
from session.export_run import export_cases
from tests.measure.test_export_case_builder import BIRTH_DATE, PATIENT_ID, PATIENT_NAME, build_demo_case

KEY = "registry-secret-2026"
PLANTED_TEXT = {
    "InstitutionName": "St Secret Hospital",
    "InstitutionAddress": "7 Hidden Road, Secretville",
    "InstitutionalDepartmentName": "Secret Radiology",
    "StationName": "SECRETSTATION1",
    "DeviceSerialNumber": "SN-SECRET-0042",
    "OperatorsName": "Operator^Secret",
    "PerformingPhysicianName": "Performer^Secret",
    "ReferringPhysicianName": "Referrer^Secret",
    "PhysiciansOfRecord": "Record^Secret",
    "NameOfPhysiciansReadingStudy": "Reader^Secret",
    "RequestingPhysician": "Requester^Secret",
    "AccessionNumber": "ACC-SECRET-9",
    "StudyID": "STUDYSECRET",
    "PatientComments": "COMMENT-SECRET",
    "AdditionalPatientHistory": "HISTORY-SECRET",
    "IssuerOfPatientID": "ISSUER-SECRET",
    "OtherPatientIDs": "OTHERID-SECRET",
    "PatientAddress": "1 Secret Street",
    "StudyTime": "134501.123456",
}
SOURCE_STUDY_DATE = "20190417"


def _walk(ds: Dataset) -> list[Dataset]:
    out, stack = [], [ds]
    while stack:
        item = stack.pop()
        out.append(item)
        for element in item:
            if element.VR == "SQ":
                stack.extend(element.value)
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("sr_ids")
    demo = build_demo_case(folder / "case")
    case = load_case(demo.case_path)
    sources: dict[str, Dataset] = {}
    for uid in demo.series_keys.values():
        for path in sorted(case.series_path(uid).iterdir()):
            ds = pydicom.dcmread(path)
            for keyword, value in PLANTED_TEXT.items():
                setattr(ds, keyword, value)
            ds.StudyDate = SOURCE_STUDY_DATE
            equipment = Dataset()
            equipment.Manufacturer = "Secret Vendor"
            equipment.InstitutionName = PLANTED_TEXT["InstitutionName"]
            equipment.StationName = PLANTED_TEXT["StationName"]
            equipment.DeviceSerialNumber = PLANTED_TEXT["DeviceSerialNumber"]
            ds.ContributingEquipmentSequence = [equipment]
            ds.save_as(path)
            sources[str(ds.SOPInstanceUID)] = ds
    pseudo = export_cases([demo.case_path], "sr", folder / "pseudo", pseudonymize_key=KEY)
    plain = export_cases([demo.case_path], "sr", folder / "plain")
    assert pseudo.exit_status == 0 and plain.exit_status == 0, (pseudo.failed, plain.failed)
    return {"pseudo": pseudo.written, "plain": plain.written, "sources": sources, "case": case}


def _datasets(paths: object) -> list[Dataset]:
    return [pydicom.dcmread(p) for p in paths]  # type: ignore[attr-defined]


#: A plain SR keeps the study's own date and time (the study it belongs to).
CASES = [
    (m, k) for m in ("pseudo", "plain") for k in sorted(PLANTED_TEXT) if (m, k) != ("plain", "StudyTime")
]


@pytest.mark.parametrize(("mode", "keyword"), CASES)
def test_no_planted_identifier_is_in_the_sr(exported: dict[str, object], mode: str, keyword: str) -> None:
    value = PLANTED_TEXT[keyword]
    for path in exported[mode]:  # type: ignore[attr-defined]
        assert value.encode() not in Path(path).read_bytes(), (keyword, path)
        for item in _walk(pydicom.dcmread(path)):
            assert str(item.get(keyword, "") or "") == "", (keyword, path)


def test_pseudonymised_sr_replaces_uids_consistently_and_dates(exported: dict[str, object]) -> None:
    sources: dict[str, Dataset] = exported["sources"]  # type: ignore[assignment]
    source_uids = {str(ds.SOPInstanceUID) for ds in sources.values()}
    source_uids |= {str(ds.SeriesInstanceUID) for ds in sources.values()}
    source_uids |= {str(ds.StudyInstanceUID) for ds in sources.values()}
    source_uids |= {str(ds.FrameOfReferenceUID) for ds in sources.values()}
    identity = PatientIdentity.of(PATIENT_NAME, PATIENT_ID, BIRTH_DATE, KEY)
    import hashlib
    import hmac

    secret = hmac.new(KEY.encode(), b"dicom-uids", hashlib.sha256).hexdigest()
    case = exported["case"]
    for ds in _datasets(exported["pseudo"]):
        raw = Path(ds.filename).read_bytes()
        for uid in source_uids:
            assert uid.encode() not in raw, uid
        assert SOURCE_STUDY_DATE.encode() not in raw
        # The evidence references the replaced UIDs of the very images the landmarks are on.
        evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
        study = next(
            s
            for s in sources.values()
            if replaced_uid(str(s.StudyInstanceUID), secret) == evidence.StudyInstanceUID
        )
        assert ds.StudyInstanceUID == evidence.StudyInstanceUID
        referenced = {
            str(r.ReferencedSOPInstanceUID)
            for s in evidence.ReferencedSeriesSequence
            for r in s.ReferencedSOPSequence
        }
        expected = {
            replaced_uid(u, secret)
            for u, s in sources.items()
            if s.StudyInstanceUID == study.StudyInstanceUID
        }
        assert referenced and referenced <= expected
        tp = next(t for t in case.timepoints if t.kind.startswith(ds.SeriesDescription.split()[-1][:4]))  # type: ignore[attr-defined]
        assert ds.StudyDate == identity.date(tp.date).replace("-", "")
        assert ds.StudyTime == "" and ds.AccessionNumber == identity.accession("") == ""
        assert ds.PatientIdentityRemoved == "YES"
        assert "DeidentificationMethod" in ds


def test_pseudonymised_sr_reads_back_with_highdicom_and_dsrdump(exported: dict[str, object]) -> None:
    from highdicom.sr import srread

    for path in exported["pseudo"]:  # type: ignore[attr-defined]
        sr = srread(path)
        assert len(list(sr.content.get_image_measurement_groups())) >= 5
        if shutil.which("dsrdump") is None:
            pytest.fail("dcmtk's dsrdump is missing: run scripts/setup.sh --dev")
        result = subprocess.run(["dsrdump", "-Ee", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "Error" not in result.stderr
        for value in PLANTED_TEXT.values():
            assert value not in result.stdout


def test_plain_sr_keeps_the_source_uids_and_the_study_date(exported: dict[str, object]) -> None:
    sources: dict[str, Dataset] = exported["sources"]  # type: ignore[assignment]
    for ds in _datasets(exported["plain"]):
        evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
        referenced = {
            str(r.ReferencedSOPInstanceUID)
            for s in evidence.ReferencedSeriesSequence
            for r in s.ReferencedSOPSequence
        }
        assert referenced <= set(sources)
        assert ds.StudyDate == SOURCE_STUDY_DATE and ds.PatientID == PATIENT_ID
        assert "PatientIdentityRemoved" not in ds
