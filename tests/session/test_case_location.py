"""Where a new case is offered to be saved (session.case_location)."""

from __future__ import annotations

from pathlib import Path

from measure.case import Case, SeriesRef, Timepoint
from measure.case_values import Patient
from session.case_location import DEFAULT_FOLDER_NAME, suggested_case_path, suggested_file_name


def _case(images: Path) -> Case:
    case = Case("c1")
    case.add_timepoint(Timepoint("pre-op", "pre-op", "2026-03-02"))
    case.assign_series(SeriesRef("1.2.3", "pre-op", str(images), "SAG CT", "CT"))
    case.set_patient(Patient(name="DOE^JANE", id="PAT/0042 x"))
    return case


def test_the_name_is_the_patient_id_and_first_date() -> None:
    case = _case(Path("/nowhere"))
    assert suggested_file_name(case) == "PAT-0042-x_2026-03-02.json"
    assert suggested_file_name(Case("anonymous")) == "case.json"


def test_a_new_case_goes_to_the_last_cases_folder_with_a_free_name(tmp_path: Path) -> None:
    cases, images = tmp_path / "cases", tmp_path / "dicom" / "pre"
    cases.mkdir()
    images.mkdir(parents=True)
    case = _case(images)
    (cases / "PAT-0042-x_2026-03-02.json").write_text("{}")  # that patient's earlier case
    path = suggested_case_path(case, [cases / "other.json"], tmp_path / "home")
    assert path == cases / "PAT-0042-x_2026-03-02-2.json"


def test_without_a_last_case_folder_next_to_the_dicom_folder_never_in_it(tmp_path: Path) -> None:
    images = tmp_path / "dicom" / "pre"
    images.mkdir(parents=True)
    case = _case(images)
    home = tmp_path / "home"
    # The last case was saved inside the DICOM folder (by another tool): not offered; the
    # DICOM folder's parent is.
    assert suggested_case_path(case, [images / "old.json"], home).parent == tmp_path / "dicom"
    # No recent case (or its folder is gone): next to the DICOM folder too.
    gone = tmp_path / "gone" / "x.json"
    assert suggested_case_path(case, [gone], home).parent == tmp_path / "dicom"
    # A one-file series: its folder holds the images, the folder above is offered.
    one_file = _case(images / "IM0001.dcm")
    (images / "IM0001.dcm").write_bytes(b"")
    assert suggested_case_path(one_file, [], home).parent == tmp_path / "dicom"
    # Images that are not there any more: the default folder.
    assert (
        suggested_case_path(_case(tmp_path / "nowhere" / "x"), [], home).parent == home / DEFAULT_FOLDER_NAME
    )


def test_a_saved_case_keeps_its_file(tmp_path: Path) -> None:
    case = _case(tmp_path / "dicom" / "pre")
    home = tmp_path / "home"
    case.file_path = tmp_path / "saved.json"
    assert suggested_case_path(case, [], home) == tmp_path / "saved.json"
